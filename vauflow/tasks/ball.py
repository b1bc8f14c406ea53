"""The moving ball (Qwen2.5VL-R1): which of four directions the ball moves in, options "(A) Left to Right" ….

The peer's question and options, our canonical `<answer>(X) Label</answer>`; the rationale of a think target is
the row's own chain of thought (vauflow.synth.ball: from the clip's trajectory). Rewards: QA's format + the right
option ('(A)', 'A' or '(A) Left to Right' with A's own label). Evaluated on the set's val split (it has no test
split), at the training frame budget."""

import collections
import re

from vauflow.parse import first_answer, norm, text_of
from vauflow.stats import majority_baseline, responses_by_video, video_key
from vauflow.tasks.qa import format_reward
from vauflow.tasks.task import LearningCheck, Table, Task, chat, fill, with_rationale

CLASSES = ["left_to_right", "right_to_left", "falling", "ascending"]
LETTERS = ["A", "B", "C", "D"]
LABELS = ["(A) Left to Right", "(B) Right to Left", "(C) Falling Down", "(D) Ascending"]
QUESTION = "In which direction is the ball moving?"
ANSWER = (
    "In which direction is the ball moving?\nOptions:\n[OPTION]\n"
    "The expected format is: <answer> (letter) option </answer>"
)
THINK = (
    "In which direction is the ball moving?\nOptions:\n[OPTION]\n"
    "Output your thought process within the <think> </think> tags, then the option within the <answer> </answer> "
    "tags. For example: <think> your reasoning here </think><answer> (letter) option </answer>"
)


def prompt(row, target):
    return fill(THINK if target == "think" else ANSWER, options="\n".join(row["options"]))


def target(row, target):
    return with_rationale(row, f"<answer>{row['answer_text']}</answer>", target)


def rationale(row, reasoning_row=None):
    return row["cot"].split("<think>", 1)[1].split("</think>", 1)[0]


def inference(row, think):
    return chat(prompt(row, "think" if think else "answer"), video_first=True), False


def letter_strict(content, options):
    """'(A)', 'A' or '(A) Left to Right' (the label must be A's) → 'A'; else None."""
    if content is None:
        return None
    m = re.fullmatch(r"\(?([A-D])\)?\s*(.*)", content.strip(), re.S)
    if not m:
        return None
    letter, rest = m.groups()
    if rest and norm(rest) != norm(re.sub(r"^\([A-D]\)\s*", "", options["ABCD".index(letter)])):
        return None
    return letter


def answer_reward(completions, letter, options, **_):
    return [
        float(letter_strict(first_answer(text_of(c)), opts) == gt) for c, gt, opts in zip(completions, letter, options)
    ]


def correct(row, text):
    return float(letter_strict(first_answer(text), row["options"]) == row["letter"])


def metrics(gt_rows, pred_rows):
    """Direction accuracy (%), overall and per class, over the ball rows; the answer must name the right option."""
    preds = responses_by_video(pred_rows)
    per = collections.defaultdict(lambda: [0, 0])
    for g in gt_rows:
        hit = correct(g, preds.get(video_key(g["video"]), ""))
        per[g["label"]][0] += hit
        per[g["label"]][1] += 1
    n = sum(v[1] for v in per.values())
    return {
        "accuracy": 100 * sum(v[0] for v in per.values()) / n if n else 0.0,
        "n": n,
        "per_class": {c: {"accuracy": 100 * k / m, "n": m} for c, (k, m) in sorted(per.items())},
    }


def score_cell(gt_rows, pred_rows, settings):
    return metrics(gt_rows, pred_rows)


def baseline(train_rows, test_rows):
    value, top = majority_baseline("letter", train_rows, test_rows)
    return f"always {top} (train majority)", value, len(test_rows), top


def demo_answer(text):
    letter = letter_strict(first_answer(text), LABELS)
    return LABELS["ABCD".index(letter)] if letter else None


TASK = Task(
    name="ball",
    doc=__doc__,
    source="ball",
    eval_split="val",
    budget="train",
    csv_columns=("Video Name", "Answer"),
    prompt=prompt,
    target=target,
    rationale=rationale,
    inference=inference,
    rewards=(format_reward, answer_reward),
    row_score=correct,
    baseline=baseline,
    score_cell=score_cell,
    demo_answer=demo_answer,
    table=Table("ball", "Ball: direction accuracy (%)", "ball acc", ("accuracy",)),
    learning=LearningCheck(("none", "shuffle", "blank"), max_new_tokens=20, think_tokens=64, chance=1 / 4),
)
