"""Task scores from completions, with the parser the rewards use, plus baselines and significance."""

import collections
import math
import re

import numpy as np

from vauflow import parse


def qa_correct(row, text):
    return parse.qa_letter_lenient(text) == row["answer"]


def cls_correct(row, text):
    return parse.same_class(parse.cls_class_lenient(text), row["class"])


def ball_correct(row, text):
    return parse.ball_letter_strict(parse.first_answer(text), row["options"]) == row["letter"]


def tag_iou(row, text):
    pred = parse.tag_interval_lenient(text)
    return 0.0 if pred is None else parse.tiou(pred, row["gt"])


def row_scores(task, rows, texts):
    """One number per scored row: 1/0 correct, or tIoU for TAG (rows with a real interval only)."""
    if task == "tag":
        return [tag_iou(r, t) for r, t in zip(rows, texts) if r["scored"]]
    fn = {"qa": qa_correct, "cls": cls_correct, "ball": ball_correct}[task]
    return [float(fn(r, t)) for r, t in zip(rows, texts)]


def score(task, rows, texts):
    """{"n", "score"} — accuracy for qa/cls/ball; for tag, mIoU over rows with a real interval (plus R@k)."""
    values = row_scores(task, rows, texts)
    out = {"n": len(values), "score": sum(values) / max(1, len(values))}
    if task == "tag":
        for k in (0.3, 0.5, 0.7):
            out[f"R@{k}"] = sum(i >= k for i in values) / max(1, len(values))
    else:
        out["correct"] = int(sum(values))
    return out


LABEL = {"qa": "answer", "cls": "class", "ball": "letter"}


def label_of(task, row):
    return row[LABEL[task]]


def majority_baseline(task, train_rows, test_rows):
    """Accuracy on the test rows of always answering the training set's most common label."""
    top = collections.Counter(label_of(task, r) for r in train_rows).most_common(1)[0][0]
    return sum(label_of(task, r) == top for r in test_rows) / max(1, len(test_rows)), top


def best_constant_interval(train_rows, test_rows, grid=0.5):
    """mIoU on the test rows of the single interval that maximises mIoU on the training rows: the answer of the
    grid search `_best_constant_interval_grid` (the same interval, the first maximum in (start, end) order, and the
    same value), found by branch and bound instead of trying every pair of grid points."""
    train = [r["gt"] for r in train_rows if r["scored"]]
    hi = max(e for _, e in train)
    points = [i * grid for i in range(int(hi / grid) + 1)]
    best = _best_pair(points, train)
    test = [r["gt"] for r in test_rows if r["scored"]]
    return sum(parse.tiou(best, g) for g in test) / max(1, len(test)), best


def _best_constant_interval_grid(train_rows, test_rows, grid=0.5):
    """Reference for `best_constant_interval` (tests only): every pair of grid points, e > s; hours on VAU-Bench."""
    train = [r["gt"] for r in train_rows if r["scored"]]
    hi = max(e for _, e in train)
    points = [i * grid for i in range(int(hi / grid) + 1)]
    best = max(((s, e) for s in points for e in points if e > s),
               key=lambda c: sum(parse.tiou(c, g) for g in train))
    test = [r["gt"] for r in test_rows if r["scored"]]
    return sum(parse.tiou(best, g) for g in test) / max(1, len(test)), best


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
    """(points[i], points[j]), j > i, maximising key = sum(parse.tiou(c, g) for g in train), the first maximum in
    (i, j) order, exactly as `max` over all pairs returns it.

    Branch and bound over square blocks of (i, j), about `side` blocks a side to begin with: a block whose bound
    (`_tiou_bound`) is below the best value found so far, less a margin for float summation error, cannot hold the
    maximum and is dropped; the others are split in four until single candidates remain. Every candidate within
    the margin of the best is then scored with `key` itself, in (i, j) order, so the answer and its tie-breaking
    are the grid search's."""
    def key(c):
        return sum(parse.tiou(c, g) for g in train)

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


def binomial_p_above(k, n, p0):
    """One-sided P(X >= k) for X ~ Binomial(n, p0)."""
    return sum(math.comb(n, i) * p0 ** i * (1 - p0) ** (n - i) for i in range(k, n + 1))


# -- the paper's metrics over a prediction file (CLI contract: `vauflow eval metrics`) ------------------------
# scoring="upstream" scores as the original scripts do (GVCLab/VAU-R1 src/evaluation, evaluate_qa.py as fixed in
# 3356ef3); "strict" with this project's parsers (vauflow.parse, the rewards' rules). Both give the same keys.
SCORINGS = ("upstream", "strict")
CLS_POPULATIONS = ("upstream", "labelled")


def video_key(name):
    """Prediction rows match GT rows by Video Name; ".mp4" is implied when missing (as upstream)."""
    name = str(name).strip()
    return name if name.lower().endswith(".mp4") else name + ".mp4"


def responses_by_video(pred_rows):
    """{video: raw response}; a duplicated video keeps its first prediction (as upstream)."""
    out = {}
    for r in pred_rows:
        out.setdefault(video_key(r["video"]), r.get("response") or "")
    return out


_STANDALONE = re.compile(r"(?<![A-Za-z0-9])([A-D])(?![A-Za-z0-9])", re.I)


def clean_model_answer(text):
    """inference_qa_qwen.py's clean_model_answer, the letter upstream writes to its CSV: <answer>X</answer>, a
    tag-like <X>, the last standalone letter after the last </think>, the last standalone letter anywhere (all
    case-insensitive: a lone article "a" reads as A), else ""."""
    m = re.search(r"<answer>\s*([A-D])\s*</answer>", text, re.I) or re.search(r"<\s*([A-D])\s*/?\s*>", text, re.I)
    if m:
        return m.group(1).upper()
    parts = re.split(r"</think>", text, flags=re.I)
    for scope in ([parts[-1]] if len(parts) > 1 else []) + [text]:
        found = _STANDALONE.findall(scope)
        if found:
            return found[-1].upper()
    return ""


def qa_metrics(gt_rows, pred_rows, scoring="upstream"):
    """QA accuracy (%). upstream (evaluate_qa.py @ 3356ef3): the cleaned letter against the raw `Correct Option`,
    case-insensitively, over the rows whose cleaned answer is not empty (`valid`; pandas reads "" as NaN): a
    full-text Correct Option ("D. Green trash bin ...") never matches. strict: our parser against the option's
    letter, over all rows. `accuracy_all` is over all n (unparsed = wrong) in both."""
    preds = responses_by_video(pred_rows)
    n, valid, correct = len(gt_rows), 0, 0
    for g in gt_rows:
        text = preds.get(video_key(g["video_name"]))
        if text is None:
            continue
        if scoring == "upstream":
            letter, gt = clean_model_answer(text), str(g.get("correct_option", g["answer"]))
            hit = letter.lower() == gt.lower()
        else:
            letter = parse.qa_letter_lenient(text)
            hit = letter == g["answer"]
        valid += bool(letter)
        correct += bool(letter) and hit
    denominator = valid if scoring == "upstream" else n
    return {"accuracy": 100 * correct / denominator if denominator else 0.0,
            "accuracy_all": 100 * correct / n if n else 0.0, "n": n, "valid": valid, "correct": correct}


def tag_metrics(gt_rows, pred_rows, scoring="upstream"):
    """mIoU and R@0.3/0.5/0.7 (%) over the rows with a real interval (Normal 0/0 and unannotated -1/-1 rows are
    excluded, as the paper's denominators show). upstream (evaluation_tag.py): its parser (`tag_interval_upstream`),
    rows without a prediction left out of the denominator; strict: our parser, a missing prediction scores 0."""
    return tag_summary(tag_ious(gt_rows, pred_rows, scoring))


def tag_summary(ious):
    n = len(ious)
    out = {"miou": 100 * sum(ious) / n if n else 0.0}
    for k in (0.3, 0.5, 0.7):
        out[f"r@{k}"] = 100 * sum(i >= k for i in ious) / n if n else 0.0
    out["n"] = n
    return out


def tag_ious(gt_rows, pred_rows, scoring="upstream"):
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
                out.append(tag_iou(g, text))
                continue
            pred = tag_interval_upstream(text)
            out.append(0.0 if pred is None else parse.tiou(pred, g["gt"]))
    return out


def tag_interval_upstream(text):
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
            return parse.parse_time(fields[0]), parse.parse_time(fields[1])
        return float(fields[0]), float(fields[1])
    except ValueError:
        return None


def _class_pattern():
    from vauflow.vaubench.schema import CLASSES

    parts = [r"(?:%s)" % r"[_\s]*".join(map(re.escape, re.split(r"[_\s]+", c))) for c in CLASSES]
    return re.compile(r"\b(" + "|".join(parts) + r")\b", re.I), {re.sub(r"[\s_]+", "_", c.lower()): c for c in CLASSES}


_CLS_PATTERN, _CLS_BY_NORM = _class_pattern()


def cls_class_upstream(text):
    """evaluation_cls.py's prediction: with "<answer>" in the text, the first <answer> element's text as
    BeautifulSoup's html.parser reads it (everything after an unclosed <answer>); then the first of the 20 class
    names in order of appearance (one alternation, case-insensitive, `_` or spaces between words); None if none."""
    if "<answer>" in text:
        from bs4 import BeautifulSoup

        answer = BeautifulSoup(text, "html.parser").find("answer")
        if answer:
            text = answer.text
    for m in _CLS_PATTERN.finditer(text):  # a match that is no class once normalised ("TrafficAccident") is passed
        cls = _CLS_BY_NORM.get(re.sub(r"[\s_]+", "_", m.group(1).strip().lower()))
        if cls:
            return cls
    return None


def cls_population(gt_rows, population="upstream"):
    """The rows a CLS cell scores. upstream (the paper's N = 932, inferred from its published values): every row,
    the "-1"-class ones included, except ECVA's rows without a temporal label (-1/-1); labelled: the rows whose
    class is one of the 20 (N = 929)."""
    if population == "labelled":
        return [g for g in gt_rows if g.get("labelled", True)]
    return [g for g in gt_rows if g.get("interval_annotated", True) or g.get("dataset") != "ecva"]


def cls_metrics(gt_rows, pred_rows, scoring="upstream", population="upstream"):
    """Binary (Normal vs anomaly) and multi-class accuracy (%) of a class name found in the answer: Normal GT needs
    "Normal", any other GT (a "-1" class too) any other class; no class found is wrong on both."""
    preds = responses_by_video(pred_rows)
    rows = cls_population(gt_rows, population)
    parser = cls_class_upstream if scoring == "upstream" else parse.cls_class_lenient
    binary = multi = 0
    for g in rows:
        text = preds.get(video_key(g["video_name"]))
        pred = parser(text) if text is not None else None
        if pred is None:
            continue
        gt_normal = g["class"].lower() == "normal"
        binary += (pred.lower() == "normal") == gt_normal
        multi += pred.lower() == g["class"].lower()
    n = len(rows)
    return {"binary_acc": 100 * binary / n if n else 0.0, "multi_acc": 100 * multi / n if n else 0.0, "n": n}


def cls_pairs(gt_rows, pred_rows):
    """(GT class, predicted class or None) of every row whose class is one of the 20 (figures, confusion)."""
    preds = responses_by_video(pred_rows)
    return [(g["class"], cls_class_upstream(preds[video_key(g["video_name"])])
             if video_key(g["video_name"]) in preds else None) for g in cls_population(gt_rows, "labelled")]


def ball_metrics(gt_rows, pred_rows):
    """Direction accuracy (%), overall and per class, over the ball rows; the answer must name the right option."""
    preds = responses_by_video(pred_rows)
    per = collections.defaultdict(lambda: [0, 0])
    for g in gt_rows:
        hit = ball_correct(g, preds.get(video_key(g["video"]), ""))
        per[g["label"]][0] += hit
        per[g["label"]][1] += 1
    n = sum(v[1] for v in per.values())
    return {"accuracy": 100 * sum(v[0] for v in per.values()) / n if n else 0.0, "n": n,
            "per_class": {c: {"accuracy": 100 * k / m, "n": m} for c, (k, m) in sorted(per.items())}}


PAPER_METRICS = {"qa": qa_metrics, "tag": tag_metrics, "cls": cls_metrics}
GT_KEYS = {"qa": ("video_name", "answer"), "tag": ("video_name", "gt", "scored"), "cls": ("video_name", "class")}
PRED_KEYS = ("video", "response")


def load_checked(path, keys, what):
    """JSONL rows, each with `keys`; anything else stops with one line naming the file and line."""
    import json
    from pathlib import Path

    from vauflow.io import UsageError

    if not Path(path).is_file():
        raise UsageError(f"{what} {path}: no such file")
    rows = []
    for i, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise UsageError(f"{what} {path}:{i}: not JSON ({e.msg})") from None
        missing = [k for k in keys if not isinstance(row, dict) or k not in row]
        if missing:
            raise UsageError(f"{what} {path}:{i}: missing {', '.join(missing)}")
        rows.append(row)
    return rows


def paper_metrics(task, pred_path, gt_path, scoring="upstream"):
    gt = load_checked(gt_path, GT_KEYS[task], f"{task} ground truth")
    return PAPER_METRICS[task](gt, load_checked(pred_path, PRED_KEYS, "predictions"), scoring=scoring)


def wilson(k, n, z=1.96):
    if n == 0:
        return [0.0, 1.0]
    p = k / n
    centre, half = p + z * z / (2 * n), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return [(centre - half) / (1 + z * z / n), (centre + half) / (1 + z * z / n)]


def bootstrap_mean(values, seed, n_boot=2000):
    """95 % percentile interval of the mean of `values` (paired differences are values too)."""
    v = np.asarray(values, dtype=float)
    if len(v) == 0:
        return [0.0, 0.0]
    idx = np.random.default_rng(seed).integers(0, len(v), (n_boot, len(v)))
    means = v[idx].mean(1)
    return [float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))]
