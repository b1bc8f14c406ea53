"""Anomaly classification (Table C): which of the 20 classes (or Normal) the clip shows, pooled over the test splits.

Prompts verbatim from upstream VAU-R1 @ 845c33b (spec vau-r1.md §3). Rewards: QA's format + the exact class name in
<answer> (case-insensitive, `_` = space). The metric is binary (Normal vs anomaly) and multi-class accuracy, read as
evaluation_cls.py reads a class; the population is the paper's (N = 932) or the labelled rows (N = 929)."""

import re

from vauflow.annotation import CLASSES, canonical_class, parse_time
from vauflow.parse import first_answer, same_class, text_of
from vauflow.stats import majority_baseline, responses_by_video, video_key
from vauflow.tasks.qa import format_reward
from vauflow.tasks.task import (
    DEFAULT_SYSTEM,
    LearningCheck,
    Table,
    Task,
    annotation_rationale,
    chat,
    fill,
    with_rationale,
)

RFT = (
    'Answer the question: "[QUESTION]" according to the content of the video. Select the answer from :[OPTION].\n'
    "\n"
    "Output your thought process within the <think> </think> tags.\n"
    "\n"
    "Then, provide your answer within the <answer> </answer> tags, output the corresponding letter of the option.\n"
    "\n"
    "For example: <think> your reasoning process here </think><answer> your final answer here </answer>. \n"
)
SFT = (
    'Answer the question: "[QUESTION]" according to the content of the video. Select the answer from :[OPTION]. '
    "The expected format is: <answer> Output the corresponding option here </answer> "
)
QUESTION = "What type of anomaly appears in the video? If no anomaly appears, please answer 'Normal'."
INFER_THINK = (
    'Answer the question: "[QUESTION]" according to the content of the video. Select one of the answer from '
    ":[OPTION]. When the user asks a question, you should first carefully reason through the problem internally, and "
    "then present the final option. The expected format is: <think> Your detailed reasoning process here </think>"
    "<answer> Output the corresponding option here </answer> "
)
INFER = (
    'Answer the question: "[QUESTION]" according to the content of the video. Select one of the answer from '
    ":[OPTION]. The expected format is: <answer> Output the corresponding option here </answer> "
)
POPULATIONS = ("upstream", "labelled")


def prompt(row, target):
    return fill(RFT if target == "think" else SFT, QUESTION, str(CLASSES))


def target(row, target):
    return with_rationale(row, f"<answer>{row['class']}</answer>", target)


def inference(row, think):
    return chat(
        fill(INFER_THINK if think else INFER, QUESTION, str(CLASSES)), video_first=True, system=DEFAULT_SYSTEM
    ), False


# -- parsers -------------------------------------------------------------------------------------------------
CLASS_PATTERNS = [
    (c, re.compile(r"\b" + r"[_\s]*".join(map(re.escape, re.split(r"[_\s]+", c))) + r"\b", re.I)) for c in CLASSES
]


def class_lenient(text):
    """The first of the 20 class names found in the first <answer> (or the whole text without one)."""
    content = first_answer(text)
    content = text if content is None else content
    hits = [(m.start(), c) for c, p in CLASS_PATTERNS if (m := p.search(content))]
    return min(hits)[1] if hits else None


def _class_alternation():
    parts = ["(?:" + r"[_\s]*".join(map(re.escape, re.split(r"[_\s]+", c))) + ")" for c in CLASSES]
    return re.compile(r"\b(" + "|".join(parts) + r")\b", re.I), {re.sub(r"[\s_]+", "_", c.lower()): c for c in CLASSES}


_CLS_PATTERN, _CLS_BY_NORM = _class_alternation()


def class_upstream(text):
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


# -- rewards (TRL style; the format rule is QA's) ------------------------------------------------------------
def answer_reward(completions, **columns):
    return [float(same_class(first_answer(text_of(c)), gt)) for c, gt in zip(completions, columns["class"])]


# -- metrics -------------------------------------------------------------------------------------------------
def correct(row, text):
    return float(same_class(class_lenient(text), row["class"]))


def population_rows(gt_rows, population="upstream"):
    """The rows a CLS cell scores. upstream (the paper's N = 932, inferred from its published values): every row,
    the "-1"-class ones included, except ECVA's rows without a temporal label (-1/-1); labelled: the rows whose
    class is one of the 20 (N = 929)."""
    if population == "labelled":
        return [g for g in gt_rows if g.get("labelled", True)]
    return [g for g in gt_rows if g.get("interval_annotated", True) or g.get("dataset") != "ecva"]


def metrics(gt_rows, pred_rows, scoring="upstream", population="upstream"):
    """Binary (Normal vs anomaly) and multi-class accuracy (%) of a class name found in the answer: Normal GT needs
    "Normal", any other GT (a "-1" class too) any other class; no class found is wrong on both."""
    preds = responses_by_video(pred_rows)
    rows = population_rows(gt_rows, population)
    parser = class_upstream if scoring == "upstream" else class_lenient
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


def score_cell(gt_rows, pred_rows, settings):
    kw = {"population": settings.cls_population}
    return metrics(gt_rows, pred_rows, "upstream", **kw) | {"strict": metrics(gt_rows, pred_rows, "strict", **kw)}


def pairs(gt_rows, pred_rows):
    """(GT class, predicted class or None) of every row whose class is one of the 20 (figures, confusion)."""
    preds = responses_by_video(pred_rows)
    return [
        (g["class"], class_upstream(preds[video_key(g["video_name"])]) if video_key(g["video_name"]) in preds else None)
        for g in population_rows(gt_rows, "labelled")
    ]


def baseline(train_rows, test_rows):
    """Always the training split's most common class (of the 20 or Normal)."""
    value, top = majority_baseline("class", [r for r in train_rows if r.get("labelled", True)], test_rows)
    return f"always {top} (train majority)", value, len(test_rows), top


# -- rows ----------------------------------------------------------------------------------------------------
ROW_FIELDS = {"class": {"type": "string"}, "labelled": {"type": "boolean"}, "interval_annotated": {"type": "boolean"}}


def from_csv(row, base):
    """A CLS row from a VAU-Bench CSV row, or why it cannot be one. A "-1" class stays (unlabelled): upstream's
    evaluation_cls.py scores those rows (an anomaly that no class name can match), and the paper's denominator
    N = 932 holds them; training never sees them."""
    cls = canonical_class(row["Anomaly Class"])
    if cls:
        return base | {"class": cls, "labelled": True, "interval_annotated": _annotated(row)}
    if row["Anomaly Class"].strip() == "-1":
        return base | {"class": "-1", "labelled": False, "interval_annotated": _annotated(row)}
    return "unknown_class"


def _annotated(row):
    """False for the -1/-1 rows (anomalous, no temporal label)."""
    try:
        return not (parse_time(row["Start Time"]) == -1 and parse_time(row["End Time"]) == -1)
    except ValueError:
        return False


TASK = Task(
    from_csv=from_csv,
    row_fields=ROW_FIELDS,
    name="cls",
    doc=__doc__,
    source="vau",
    eval_split="test",
    budget="infer_tag",
    csv_columns=("Video Name", "CLS answer"),
    prompt=prompt,
    target=target,
    rationale=annotation_rationale,
    inference=inference,
    rewards=(format_reward, answer_reward),
    row_score=correct,
    baseline=baseline,
    population=population_rows,
    score_cell=score_cell,
    paper_metrics=metrics,
    gt_keys=("video_name", "class"),
    demo_answer=class_lenient,
    table=Table(
        "C",
        "Table C: anomaly classification, test splits pooled (%)",
        "CLS multi acc",
        ("binary", "multi"),
        pooled=True,
        ablations=True,
    ),
    learning=LearningCheck(("none", "blank"), max_new_tokens=16, think_tokens=48, chance=1 / len(CLASSES)),
)
