"""Multiple-choice QA (Table A): a question about the clip and four options A-D; the answer is the letter.

Prompts verbatim from upstream VAU-R1 @ 845c33b (spec vau-r1.md §3): training puts the text before the video, the
paper's inference the video first with "Video 1:" (the processor's add_vision_id). The reward parser is strict (one
canonical letter); the paper's metric reads the letter as inference_qa_qwen.py's clean_model_answer does and scores
as evaluate_qa.py (@ 3356ef3) does."""

import re

from vauflow.annotation import answer_letter, is_missing
from vauflow.parse import ANSWER_ONLY, THINK_ANSWER, first_answer, norm, text_of, well_formed
from vauflow.stats import majority_baseline, responses_by_video, video_key
from vauflow.tasks.task import (
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
    "Output your thought process within the <think> </think> tags, including analysis with either specific time "
    "ranges (xx.xx to xx.xx).\n"
    "\n"
    "Then, provide your answer within the <answer> </answer> tags, output the corresponding letter of the option.\n"
    "\n"
    "For example: <think> your detailed reasoning process here </think><answer> your final answer here </answer>. \n"
)
SFT = (
    'Answer the question: "[QUESTION]" according to the content of the video. Select the answer from :[OPTION]. '
    "The expected format is:<answer> Output the corresponding letter of the option. (A, B, C, or D) </answer>. "
)
# upstream extract_characters_regex strips these before looking for the letter
ANSWER_PREFIXES = (
    "The best answer is",
    "The correct answer is",
    "The answer is",
    "The answer",
    "The best option is",
    "The correct option is",
    "Best answer:",
    "Best option:",
)


def options(row):
    return [f"{letter}. {text}" for letter, text in zip("ABCD", row["options"])]


def prompt(row, target):
    if target == "think":  # the RFT prompt asks for <think>…</think>: a think target follows it
        return fill(RFT, row["question"], str(options(row)))
    return fill(SFT, row["question"], " ".join(options(row)))


def target(row, target):
    return with_rationale(row, f"<answer>{row['answer']}</answer>", target)


def _indented(lines, indent):
    """An upstream f-string: a leading newline, each non-empty line indented, closing quotes indented."""
    pad = " " * indent
    return "\n" + "\n".join(pad + line if line else "" for line in lines) + "\n" + pad


def inference_text(row, think):
    lines = [
        "You are a helpful AI assistant performing video anomaly detection reasoning. ",
        "Below is a video description and a reasoning process. Based on this, answer the following multiple-choice "
        "question correctly.",
        "",
        "### Question:",
        row["question"],
        "",
        "### Options:",
        *[f'"{letter}. "{text}' for letter, text in zip("ABCD", row["options"])],
        "",
    ]
    if think:
        lines += [
            "When the user asks a question, you should first carefully reason through the problem internally, "
            "and then present the final option.",
            "The expected format is: <think> your detailed reasoning process here </think><answer> Please only "
            "output one option letter! (A, B, C, or D) </answer>. ",
        ]
    else:
        lines += ["Please only output one option letter (A, B, C, or D). Please do not output other words."]
    return _indented(lines, 12)


def inference(row, think):
    return chat(inference_text(row, think), video_first=True), True


# -- parsers -------------------------------------------------------------------------------------------------
def strip_prefixes(content):
    c = content.strip()
    for p in ANSWER_PREFIXES:
        if c.startswith(p):
            c = c[len(p) :].strip(" :")
    return c


def letter_strict(content, options=None):
    """'B', '(B)', 'B.' or 'B. <option B text>' → 'B'; anything else (an echoed option list, two letters,
    a letter with another option's text) → None. The rewards' parser."""
    if content is None:
        return None
    c = strip_prefixes(content)
    m = re.fullmatch(r"\(?([A-D])\)?\.?", c)
    if m:
        return m.group(1)
    m = re.fullmatch(r"\(?([A-D])[.:)]\s*(.+)", c, re.S)
    if m and options and norm(m.group(2)) == norm(options["ABCD".index(m.group(1))]):
        return m.group(1)
    return None


def letter_lenient(text):
    """<answer>X</answer>, then a tag-like <X>, then the last standalone letter after </think>, then the last
    standalone letter anywhere; '' when nothing is found (scored wrong). The strict scoring's parser."""
    m = re.search(r"<answer>\s*([A-D])\s*</answer>", text, re.I)
    if m:
        return m.group(1).upper()
    m = re.search(r"<\s*([A-D])\s*/?\s*>", text)
    if m:
        return m.group(1)
    standalone = r"(?<![A-Za-z0-9])([A-D])(?![A-Za-z0-9])"
    if "</think>" in text:
        found = re.findall(standalone, text.rsplit("</think>", 1)[1])
        if found:
            return found[-1]
    found = re.findall(standalone, text)
    return found[-1] if found else ""


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


# -- rewards (TRL style) -------------------------------------------------------------------------------------
def format_ok(text, target):
    """<think>…</think><answer>…</answer> (think) or <answer>…</answer> alone, each tag once."""
    if target == "answer":
        return well_formed(text, ANSWER_ONLY, ["answer"])
    return well_formed(text, THINK_ANSWER, ["think", "answer"])


def format_reward(completions, target=None, **_):
    return format_rewards(completions, target, format_ok)


def answer_reward(completions, answer, options=None, **_):
    options = options or [None] * len(completions)
    return [
        float((letter := letter_strict(first_answer(text_of(c)), opts)) is not None and letter == gt)
        for c, gt, opts in zip(completions, answer, options)
    ]


# -- metrics -------------------------------------------------------------------------------------------------
def correct(row, text):
    return float(letter_lenient(text) == row["answer"])


def metrics(gt_rows, pred_rows, scoring="upstream"):
    """QA accuracy (%). upstream (evaluate_qa.py @ 3356ef3): the cleaned letter against the raw `Correct Option`,
    case-insensitively, over the rows whose cleaned answer is not empty (`valid`; pandas reads "" as NaN): a
    full-text Correct Option ("D. Green trash bin ...") never matches. strict: our parser against the option's
    letter, over all rows. `accuracy_all` is over all n (unparsed = wrong) in both."""
    preds = responses_by_video(pred_rows)
    n, valid, hits = len(gt_rows), 0, 0
    for g in gt_rows:
        text = preds.get(video_key(g["video_name"]))
        if text is None:
            continue
        if scoring == "upstream":
            letter, gt = clean_model_answer(text), str(g.get("correct_option", g["answer"]))
            hit = letter.lower() == gt.lower()
        else:
            letter = letter_lenient(text)
            hit = letter == g["answer"]
        valid += bool(letter)
        hits += bool(letter) and hit
    denominator = valid if scoring == "upstream" else n
    return {
        "accuracy": 100 * hits / denominator if denominator else 0.0,
        "accuracy_all": 100 * hits / n if n else 0.0,
        "n": n,
        "valid": valid,
        "correct": hits,
    }


def score_cell(gt_rows, pred_rows, settings):
    return metrics(gt_rows, pred_rows, "upstream") | {"strict": metrics(gt_rows, pred_rows, "strict")}


def baseline(train_rows, test_rows):
    """Always the training split's most common letter."""
    value, top = majority_baseline("answer", train_rows, test_rows)
    return f"always {top} (train majority)", value, len(test_rows), top


# -- rows ----------------------------------------------------------------------------------------------------
ROW_FIELDS = {
    "question": {"type": "string", "minLength": 1},
    "options": {"type": "array", "items": {"type": "string"}, "minItems": 4, "maxItems": 4},
    "answer": {"enum": ["A", "B", "C", "D"]},
}


def from_csv(row, base):
    """A QA row from a VAU-Bench CSV row, or why it cannot be one."""
    if is_missing(row["Question"]):
        return "qa_unlabelled"
    if any(is_missing(row[f"Option {i}"]) for i in range(1, 5)):
        return "missing_option"
    if (letter := answer_letter(row["Correct Option"])) is None:
        return "bad_correct_option"
    return base | {
        "question": row["Question"].strip(),
        "options": [row[f"Option {i}"].strip() for i in range(1, 5)],
        "answer": letter,
        "full_text_option": len(row["Correct Option"].strip()) > 1,
        # upstream's evaluate_qa.py compares with this cell as it is (case-insensitive)
        "correct_option": row["Correct Option"],
    }


TASK = Task(
    from_csv=from_csv,
    row_fields=ROW_FIELDS,
    name="qa",
    doc=__doc__,
    source="vau",
    eval_split="test",
    budget="infer_qa",
    csv_columns=("Video Name", "QA answer"),
    csv_cell=clean_model_answer,  # upstream writes the cleaned letter
    prompt=prompt,
    target=target,
    rationale=annotation_rationale,
    inference=inference,
    rewards=(format_reward, answer_reward),
    row_score=correct,
    baseline=baseline,
    score_cell=score_cell,
    paper_metrics=metrics,
    gt_keys=("video_name", "answer"),
    table=Table("A", "Table A: multiple-choice QA accuracy (%)", "QA acc", ("accuracy",), vau_eval=True),
    learning=LearningCheck(("none", "blank"), max_new_tokens=12, think_tokens=48, chance=1 / 4),
)
