"""Multiple-choice QA: format (<think>…</think><answer>…</answer>, each tag once) + the answer letter."""

from vauflow.parse import ANSWER_ONLY, THINK_ANSWER, first_answer, qa_letter_strict, text_of, well_formed


def _format_ok(text, target):
    if target == "answer":
        return well_formed(text, ANSWER_ONLY, ["answer"])
    return well_formed(text, THINK_ANSWER, ["think", "answer"])


def format_reward(completions, target=None, **_):
    targets = target or ["think"] * len(completions)
    return [float(_format_ok(text_of(c), t)) for c, t in zip(completions, targets)]


def answer_reward(completions, answer, options=None, **_):
    options = options or [None] * len(completions)
    out = []
    for c, gt, opts in zip(completions, answer, options):
        letter = qa_letter_strict(first_answer(text_of(c)), opts)
        out.append(float(letter is not None and letter == gt))
    return out
