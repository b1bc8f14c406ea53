"""Temporal anomaly grounding: format (think, answer, glue, a valid [s, e] interval) + tIoU + Normal/Anomaly.
GT for a normal video is [-1, -1] (spec §11.5); rows without a temporal label never reach training."""

from vauflow.parse import (GLUE_ONLY, THINK_ANSWER_GLUE, first_answer, first_glue, interval, text_of, tiou,
                           well_formed)


def _format_ok(text, target):
    if target == "answer":
        ok = well_formed(text, GLUE_ONLY, ["glue"])
    else:
        ok = well_formed(text, THINK_ANSWER_GLUE, ["think", "answer", "glue"])
    return ok and interval(first_glue(text)) is not None


def format_reward(completions, target=None, **_):
    targets = target or ["think"] * len(completions)
    return [float(_format_ok(text_of(c), t)) for c, t in zip(completions, targets)]


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
