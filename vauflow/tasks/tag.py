"""Temporal anomaly grounding (Table B): the anomaly's [start, end] in seconds, or [-1, -1] for a normal clip.

Prompts verbatim from upstream VAU-R1 @ 845c33b (spec vau-r1.md §3), with one deviation (spec §11): the SFT target
has no trailing "." after </glue> (it failed the RFT format check, defect 15). Rewards: format (think, answer, glue,
a valid [s, e]) + tIoU + Normal/Anomaly; the metric is mIoU and R@0.3/0.5/0.7 over the rows with a real interval,
scored as evaluation_tag.py does; the baseline the best constant interval on the training split."""

import math
import re

import numpy as np

from vauflow.annotation import canonical_class, parse_time
from vauflow.parse import GLUE_ONLY, THINK_ANSWER_GLUE, first_answer, first_glue, text_of, well_formed
from vauflow.stats import responses_by_video, video_key
from vauflow.tasks.task import (
    DEFAULT_SYSTEM,
    LearningCheck,
    Table,
    Task,
    annotation_rationale,
    chat,
    fill,
    format_rewards,
    with_rationale,
)

RFT = (
    'Answer the question: "[QUESTION]" according to the content of the video. Select the answer from :[OPTION].\n'
    "\n"
    "Output your thought process within the <think> </think> tags with detailed analysis.\n"
    "\n"
    "Then, provide your answer within the <answer> </answer> tags, output the corresponding letter of the option. "
    "At the same time, in the <glue> </glue> tags, present the precise time period in seconds of the video clips "
    "on which you base your answer to this question in the format of [s1, e1]. \n"
    "\n"
    "For example: <think> your detailed reasoning process here </think><answer> your final answer here </answer>"
    "<glue>[5.2, 10.4]</glue>. \n"
    "\n"
)
SFT = (
    'Answer the question: "[QUESTION]" according to the content of the video.\n'
    "\n"
    "Provide your answer within the <glue> </glue> tags, present the precise time period in seconds of the video "
    "clips on which you base your answer to this question in the format of [s1, e1]. \n"
    "\n"
    "For example: <glue>[5.2, 10.4]</glue>."
)
QUESTION_RFT = (
    "Is there any anomaly in the video? If yes, please answer 'Anomaly' and present the precise anomaly time "
    "period. If no, please answer 'Normal' and output time period as <glue>[-1.0, -1.0]</glue>."
)
QUESTION_SFT = (
    "Is there any anomaly in the video? If yes, output time period as <glue>[start_time, end_time]</glue>, replace "
    "start_time and end_time with the actual time period in seconds. If no anomaly, output <glue>[-1.0, -1.0]</glue>."
)
OPTIONS = ["Normal", "Anomaly"]
INFER_THINK = (
    'Answer the question: "[QUESTION]" according to the content of the video. Select the answer from :[OPTION].\n'
    "\n"
    "Output your thought process within the <think> </think> tags with detailed analysis.\n"
    "\n"
    "Then, provide your answer within the <answer> </answer> tags, output the corresponding option. At the same "
    "time, in the <glue> </glue> tags, present the precise time period in seconds of the video clips on which you "
    "base your answer to this question in the format of [s1, e1]. \n"
    "\n"
    "For example: <think> your detailed reasoning process here </think><answer> your final answer here </answer>"
    "<glue>[5.2, 10.4]</glue>.\n"
)
# inference_tag_qwen.py's no-think template: the SFT one, with the newline its triple-quoted string ends with
INFER = SFT + "\n"
INTERVAL = re.compile(r"^\[\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*\]$")
NO_INTERVAL = (-1.0, -1.0)


def prompt(row, target):
    return fill(RFT, QUESTION_RFT, str(OPTIONS)) if target == "think" else fill(SFT, QUESTION_SFT)


def interval_text(gt):
    return f"[{round(gt[0], 1)}, {round(gt[1], 1)}]"


def target(row, target):
    glue = f"<glue>{interval_text(row['gt'])}</glue>"
    return with_rationale(row, f"<answer>{row['label']}</answer>{glue}" if target == "think" else glue, target)


def inference(row, think):
    text = fill(INFER_THINK, QUESTION_RFT, "[Anomaly, Normal]") if think else fill(INFER, QUESTION_SFT)
    return chat(text, video_first=True, system=DEFAULT_SYSTEM), False


# -- parsers -------------------------------------------------------------------------------------------------
def interval(content):
    """[s, e] in seconds from a strict '[s, e]' string with s <= e, else None (the rewards' parser)."""
    m = INTERVAL.match((content or "").strip())
    if not m:
        return None
    s, e = float(m.group(1)), float(m.group(2))
    return (s, e) if s <= e else None


def tiou(pred, gt):
    """Temporal IoU with the VAU-R1 conventions: [-1, -1] means "no anomaly"; both none → 1, one none → 0;
    a degenerate prediction (start == end) → 0."""
    pred, gt = tuple(map(float, pred)), tuple(map(float, gt))
    if pred == NO_INTERVAL or gt == NO_INTERVAL:
        return float(pred == gt)
    union = max(pred[1], gt[1]) - min(pred[0], gt[0])
    if pred[1] <= pred[0] or union <= 0:
        return 0.0
    inter = max(0.0, min(pred[1], gt[1]) - max(pred[0], gt[0]))
    return inter / union


def interval_lenient(text):
    """First <glue>, else first [...]; seconds or MM:SS / HH:MM:SS; None when unparseable (strict scoring)."""
    content = first_glue(text)
    if content is None:
        m = re.search(r"\[(.*?)\]", text, re.S)
        content = m.group(1) if m else None
    if content is None:
        return None
    fields = re.sub(r"[^0-9:.,-]", "", content).split(",")
    if len(fields) != 2:
        return None
    try:
        return parse_time(fields[0]), parse_time(fields[1])
    except ValueError:
        return None


def interval_upstream(text):
    """evaluation_tag.py's parse_html: the first <glue>…</glue>, else the first […] (both on one line: no DOTALL),
    characters outside [0-9:.,-] deleted, exactly two comma fields, H:M:S / M:S when both hold ':'; unparseable
    (their (0, 0), or a value their script would stop on) is None here, i.e. IoU 0."""
    m = re.search(r"<glue>(.*?)</glue>", text) or re.search(r"\[(.*?)\]", text)
    if not m:
        return None
    fields = re.sub(r"[^0-9:.,-]", "", m.group(1)).split(",")
    if len(fields) != 2:
        return None
    try:
        if ":" in fields[0] and ":" in fields[1]:
            return parse_time(fields[0]), parse_time(fields[1])
        return float(fields[0]), float(fields[1])
    except ValueError:
        return None


# -- rewards (TRL style) -------------------------------------------------------------------------------------
def format_ok(text, target):
    if target == "answer":
        ok = well_formed(text, GLUE_ONLY, ["glue"])
    else:
        ok = well_formed(text, THINK_ANSWER_GLUE, ["think", "answer", "glue"])
    return ok and interval(first_glue(text)) is not None


def format_reward(completions, target=None, **_):
    return format_rewards(completions, target, format_ok)


def iou_reward(completions, gt, **_):
    out = []
    for c, g in zip(completions, gt):
        pred = interval(first_glue(text_of(c)))
        out.append(0.0 if pred is None else tiou(pred, g))
    return out


def answer_reward(completions, label, target=None, **_):
    """Normal/Anomaly in <answer> (think format only: the answer-only format has no <answer>)."""
    targets = target or ["think"] * len(completions)
    out = []
    for c, gt, t in zip(completions, label, targets):
        if t == "answer":
            out.append(0.0)
            continue
        content = first_answer(text_of(c))
        out.append(float(content is not None and content.strip().lower() == gt.lower()))
    return out


# -- metrics -------------------------------------------------------------------------------------------------
def iou(row, text):
    """tIoU of a completion with the row's interval (strict parser; the learning check)."""
    pred = interval_lenient(text)
    return 0.0 if pred is None else tiou(pred, row["gt"])


def metrics(gt_rows, pred_rows, scoring="upstream"):
    """mIoU and R@0.3/0.5/0.7 (%) over the rows with a real interval (Normal 0/0 and unannotated -1/-1 rows are
    excluded, as the paper's denominators show). upstream (evaluation_tag.py): its parser (`interval_upstream`),
    rows without a prediction left out of the denominator; strict: our parser, a missing prediction scores 0."""
    return summary(ious(gt_rows, pred_rows, scoring))


def summary(values):
    n = len(values)
    out = {"miou": 100 * sum(values) / n if n else 0.0}
    for k in (0.3, 0.5, 0.7):
        out[f"r@{k}"] = 100 * sum(i >= k for i in values) / n if n else 0.0
    out["n"] = n
    return out


def ious(gt_rows, pred_rows, scoring="upstream"):
    """Per-row IoUs of the scored rows (for bootstrap intervals)."""
    preds = responses_by_video(pred_rows)
    out = []
    for g in gt_rows:
        if g["scored"]:
            text = preds.get(video_key(g["video_name"]))
            if text is None:
                if scoring == "strict":
                    out.append(0.0)
                continue
            if scoring == "strict":
                out.append(iou(g, text))
                continue
            pred = interval_upstream(text)
            out.append(0.0 if pred is None else tiou(pred, g["gt"]))
    return out


def score_cell(gt_rows, pred_rows, settings):
    return metrics(gt_rows, pred_rows, "upstream") | {
        "strict": metrics(gt_rows, pred_rows, "strict"),
        "ious": ious(gt_rows, pred_rows),
    }


# -- the baseline: the best constant interval ----------------------------------------------------------------
def baseline(train_rows, test_rows):
    """The one interval that maximises mIoU on the training rows, scored on the test rows."""
    value, best = best_constant_interval(train_rows, test_rows)
    return f"always {list(best)} (best on train)", value, sum(g["scored"] for g in test_rows), list(best)


def best_constant_interval(train_rows, test_rows, grid=0.5):
    """mIoU on the test rows of the single interval that maximises mIoU on the training rows: the answer of the
    grid search `_best_constant_interval_grid` (the same interval, the first maximum in (start, end) order, and the
    same value), found by branch and bound instead of trying every pair of grid points."""
    train = [r["gt"] for r in train_rows if r["scored"]]
    hi = max(e for _, e in train)
    points = [i * grid for i in range(int(hi / grid) + 1)]
    best = _best_pair(points, train)
    test = [r["gt"] for r in test_rows if r["scored"]]
    return sum(tiou(best, g) for g in test) / max(1, len(test)), best


def _best_constant_interval_grid(train_rows, test_rows, grid=0.5):
    """Reference for `best_constant_interval` (tests only): every pair of grid points, e > s; hours on VAU-Bench."""
    train = [r["gt"] for r in train_rows if r["scored"]]
    hi = max(e for _, e in train)
    points = [i * grid for i in range(int(hi / grid) + 1)]
    best = max(((s, e) for s in points for e in points if e > s), key=lambda c: sum(tiou(c, g) for g in train))
    test = [r["gt"] for r in test_rows if r["scored"]]
    return sum(tiou(best, g) for g in test) / max(1, len(test)), best


def _tiou_bound(s_lo, s_hi, e_lo, e_hi, gs, ge, chunk=1 << 21):
    """Per block of candidates (s in [s_lo, s_hi], e in [e_lo, e_hi]), the sum over the intervals (gs, ge) of an
    upper bound of tIoU: the largest intersection over the smallest union. Rounding is monotone, so each term is
    >= the float tIoU of every candidate in the block; on a single candidate it is that tIoU, bit for bit."""
    out = np.empty(len(s_lo))
    step = max(1, chunk // max(1, len(gs)))
    for a in range(0, len(s_lo), step):
        b = slice(a, a + step)
        inter = np.minimum(e_hi[b, None], ge) - np.maximum(s_lo[b, None], gs)
        np.maximum(inter, 0.0, out=inter)
        union = np.maximum(e_lo[b, None], ge) - np.minimum(s_hi[b, None], gs)
        inter /= union
        np.minimum(inter, 1.0, out=inter)
        out[b] = inter.sum(1)
    return out


def _best_pair(points, train, side=64):
    """(points[i], points[j]), j > i, maximising key = sum(tiou(c, g) for g in train), the first maximum in
    (i, j) order, exactly as `max` over all pairs returns it.

    Branch and bound over square blocks of (i, j), about `side` blocks a side to begin with: a block whose bound
    (`_tiou_bound`) is below the best value found so far, less a margin for float summation error, cannot hold the
    maximum and is dropped; the others are split in four until single candidates remain. Every candidate within
    the margin of the best is then scored with `key` itself, in (i, j) order, so the answer and its tie-breaking
    are the grid search's."""

    def key(c):
        return sum(tiou(c, g) for g in train)

    m = len(points)
    if m < 2:
        raise ValueError("max() arg is an empty sequence")
    gts = [tuple(map(float, g)) for g in train]
    if not all(math.isfinite(x) for g in gts for x in g):
        return max(((s, e) for s in points for e in points if e > s), key=key)
    # an interval with end <= start has tIoU 0 with every candidate (start >= 0, end > start): no bound term
    gs = np.array([g[0] for g in gts if g[1] > g[0]], dtype=float)
    ge = np.array([g[1] for g in gts if g[1] > g[0]], dtype=float)
    if len(gs) == 0:
        return points[0], points[1]  # every key is 0: the first pair
    pts = np.asarray(points, dtype=float)
    # float sums of <= n terms in [0, 1] are within n * n * 2**-53 of the exact sum, whatever the order
    margin = 1e-9 + 1e-15 * len(gts) ** 2
    size = 1 << max(0, (m - 1).bit_length() - max(1, side).bit_length() + 1)  # a power of two, m / size <= side
    starts = np.arange(0, m, size)
    i0, j0 = (a.ravel() for a in np.meshgrid(starts, starts, indexing="ij"))
    best_lb = -np.inf
    while True:
        i1, j1 = np.minimum(i0 + size, m) - 1, np.minimum(j0 + size, m) - 1  # last indices
        keep = j1 > i0  # holds a pair with j > i
        i0, j0, i1, j1 = i0[keep], j0[keep], i1[keep], j1[keep]
        # the valid pairs of a block have i <= min(i1, j1 - 1) and j >= max(j0, i0 + 1)
        ub = _tiou_bound(pts[i0], pts[np.minimum(i1, j1 - 1)], pts[np.maximum(j0, i0 + 1)], pts[j1], gs, ge)
        if size == 1:
            break
        # a lower bound: the value of one valid pair in each of the most promising blocks
        top = np.argsort(-ub, kind="stable")[:64]
        ri, rj = (i0[top] + i1[top]) // 2, (j0[top] + j1[top]) // 2
        bad = rj <= ri
        ri[bad], rj[bad] = i0[top][bad], j1[top][bad]
        best_lb = max(best_lb, float(_tiou_bound(pts[ri], pts[ri], pts[rj], pts[rj], gs, ge).max()))
        alive = ub >= best_lb - margin
        i0, j0 = i0[alive], j0[alive]
        size //= 2
        i0, j0 = (np.concatenate([i0, i0 + size, i0, i0 + size]), np.concatenate([j0, j0, j0 + size, j0 + size]))
        inside = (i0 < m) & (j0 < m)
        i0, j0 = i0[inside], j0[inside]
    near = np.flatnonzero(ub >= ub.max() - 2 * margin)
    near = near[np.lexsort((j0[near], i0[near]))]
    return max(((points[i], points[j]) for i, j in zip(i0[near].tolist(), j0[near].tolist())), key=key)


def demo_answer(text):
    found = interval_lenient(text)
    return list(found) if found else None


# -- rows ----------------------------------------------------------------------------------------------------
ROW_FIELDS = {
    "label": {"enum": ["Normal", "Anomaly"]},
    "gt": {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2},
    "scored": {"type": "boolean"},
}


def from_csv(row, base):
    """A TAG row from a VAU-Bench CSV row, or why it cannot be one: 0/0 = normal (GT [-1, -1] as the prompt asks),
    -1/-1 = anomalous without a temporal label (excluded); only rows with a real interval are scored."""
    cls = canonical_class(row["Anomaly Class"])
    try:
        s, e = parse_time(row["Start Time"]), parse_time(row["End Time"])
    except ValueError:
        return "bad_time"
    if s == -1 and e == -1:
        return "unannotated_interval"
    if s < 0 or e < 0:
        return "negative_time"
    if s > e:
        return "unordered_interval"
    normal_interval = s == 0 and e == 0
    label = ("Normal" if cls == "Normal" else "Anomaly") if cls else ("Normal" if normal_interval else "Anomaly")
    return base | {
        "label": label,
        "gt": [-1.0, -1.0] if normal_interval else [s, e],
        "scored": not normal_interval,
        "quirk": "normal_with_interval" if cls == "Normal" and not normal_interval else None,
    }


TASK = Task(
    from_csv=from_csv,
    row_fields=ROW_FIELDS,
    name="tag",
    doc=__doc__,
    source="vau",
    eval_split="test",
    budget="infer_tag",
    csv_columns=("Video Name", "Temporal Grounding"),
    has_interval=True,
    prompt=prompt,
    target=target,
    rationale=annotation_rationale,
    inference=inference,
    rewards=(format_reward, iou_reward, answer_reward),
    row_score=iou,
    graded_by="iou",
    baseline=baseline,
    score_cell=score_cell,
    paper_metrics=metrics,
    gt_keys=("video_name", "gt", "scored"),
    demo_answer=demo_answer,
    table=Table("B", "Table B: temporal anomaly grounding (%)", "TAG mIoU", ("mIoU", "R@0.3", "R@0.5", "R@0.7")),
    learning=LearningCheck(("none", "shuffle", "blank"), max_new_tokens=20, think_tokens=56, chance=0.0),
)
