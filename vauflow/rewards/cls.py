"""Anomaly classification: format (QA's) + the exact class name in <answer> (case-insensitive, `_` = space)."""

from vauflow.parse import first_answer, same_class, text_of
from vauflow.rewards.qa import format_reward  # noqa: F401  (same format rule as QA)


def answer_reward(completions, **columns):
    out = []
    for c, gt in zip(completions, columns["class"]):
        out.append(float(same_class(first_answer(text_of(c)), gt)))
    return out
