"""Task scores from completions, with the parser the rewards use, plus baselines and significance."""

import collections
import math

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


def score(task, rows, texts):
    """{"n", "score"} — accuracy for qa/cls/ball; for tag, mIoU over rows with a real interval (plus R@k)."""
    if task == "tag":
        ious = [tag_iou(r, t) for r, t in zip(rows, texts) if r["scored"]]
        out = {"n": len(ious), "score": sum(ious) / max(1, len(ious))}
        for k in (0.3, 0.5, 0.7):
            out[f"R@{k}"] = sum(i >= k for i in ious) / max(1, len(ious))
        return out
    fn = {"qa": qa_correct, "cls": cls_correct, "ball": ball_correct}[task]
    hits = [fn(r, t) for r, t in zip(rows, texts)]
    return {"n": len(hits), "score": sum(hits) / max(1, len(hits)), "correct": sum(hits)}


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
