"""Moving ball: format (QA's) + the direction: '(A)', 'A' or '(A) Left to Right' with A's own label."""

from vauflow.parse import ball_letter_strict, first_answer, text_of
from vauflow.rewards.qa import format_reward  # noqa: F401  (same format rule as QA)


def answer_reward(completions, letter, options, **_):
    out = []
    for c, gt, opts in zip(completions, letter, options):
        out.append(float(ball_letter_strict(first_answer(text_of(c)), opts) == gt))
    return out
