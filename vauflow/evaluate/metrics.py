"""Task scores from completions, with the parser the rewards use, plus baselines and significance."""

import collections
import math

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
    """mIoU on the test rows of the single interval that maximises mIoU on the training rows."""
    train = [r["gt"] for r in train_rows if r["scored"]]
    hi = max(e for _, e in train)
    points = [i * grid for i in range(int(hi / grid) + 1)]
    best = max(((s, e) for s in points for e in points if e > s),
               key=lambda c: sum(parse.tiou(c, g) for g in train))
    test = [r["gt"] for r in test_rows if r["scored"]]
    return sum(parse.tiou(best, g) for g in test) / max(1, len(test)), best


def binomial_p_above(k, n, p0):
    """One-sided P(X >= k) for X ~ Binomial(n, p0)."""
    return sum(math.comb(n, i) * p0 ** i * (1 - p0) ** (n - i) for i in range(k, n + 1))


# -- the paper's metrics over a prediction file (CLI contract: `vauflow eval metrics`) ------------------------
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


def qa_metrics(gt_rows, pred_rows):
    """Accuracy (%) over every usable GT row: a missing or unparseable answer is wrong; `parsed` counts letters."""
    preds = responses_by_video(pred_rows)
    letters = [parse.qa_letter_lenient(preds[video_key(g["video_name"])]) if video_key(g["video_name"]) in preds
               else "" for g in gt_rows]
    correct = sum(p == g["answer"] for p, g in zip(letters, gt_rows))
    n = len(gt_rows)
    return {"accuracy": 100 * correct / n if n else 0.0, "n": n, "parsed": sum(bool(p) for p in letters)}


def tag_metrics(gt_rows, pred_rows):
    """mIoU and R@0.3/0.5/0.7 (%) over the rows with a real interval (Normal 0/0 and unannotated -1/-1 rows are
    excluded); a missing or unparseable prediction has IoU 0."""
    return tag_summary(tag_ious(gt_rows, pred_rows))


def tag_summary(ious):
    n = len(ious)
    out = {"miou": 100 * sum(ious) / n if n else 0.0}
    for k in (0.3, 0.5, 0.7):
        out[f"r@{k}"] = 100 * sum(i >= k for i in ious) / n if n else 0.0
    out["n"] = n
    return out


def tag_ious(gt_rows, pred_rows):
    """Per-row IoUs of the scored rows (for bootstrap intervals)."""
    preds = responses_by_video(pred_rows)
    out = []
    for g in gt_rows:
        if g["scored"]:
            text = preds.get(video_key(g["video_name"]))
            out.append(0.0 if text is None else tag_iou(g, text))
    return out


def cls_pairs(gt_rows, pred_rows):
    """(GT class, predicted class or None) of every row whose class is one of the 20: the first class name found
    in the answer is the prediction."""
    from vauflow.vaubench.schema import CLASSES

    preds = responses_by_video(pred_rows)
    out = []
    for g in gt_rows:
        gt = next((c for c in CLASSES if parse.same_class(g["class"], c)), None)
        if gt is not None:
            text = preds.get(video_key(g["video_name"]))
            out.append((gt, parse.cls_class_lenient(text) if text is not None else None))
    return out


def cls_metrics(gt_rows, pred_rows):
    """Binary (Normal vs anomaly) and multi-class accuracy (%) over the rows whose class is one of the 20; no class
    found is wrong on both."""
    pairs = cls_pairs(gt_rows, pred_rows)
    binary = sum(p is not None and (g == "Normal") == parse.same_class(p, "Normal") for g, p in pairs)
    multi = sum(parse.same_class(p, g) for g, p in pairs)
    n = len(pairs)
    return {"binary_acc": 100 * binary / n if n else 0.0, "multi_acc": 100 * multi / n if n else 0.0, "n": n}


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


def paper_metrics(task, pred_path, gt_path):
    gt = load_checked(gt_path, GT_KEYS[task], f"{task} ground truth")
    return PAPER_METRICS[task](gt, load_checked(pred_path, PRED_KEYS, "predictions"))


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
