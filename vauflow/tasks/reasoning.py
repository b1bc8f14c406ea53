"""Anomaly reasoning (Table A's VAU-Eval columns): the paper's two-turn inference, a description of the clip and
then an analysis of whether and how an anomaly occurs, with the video attached to both turns (as upstream).

Judged by VAU-Eval (vauflow.tasks.vau_eval: an LLM judge, or the offline reference-based proxy) against the clip's
Description and Reasoning annotations, in one mode (no think).

Trained by SFT in the same two-turn form (our deviation from upstream's `sft_description.py`, which fine-tunes one
turn, the description): each annotated clip gives two examples, turn 1 (target: its Description) and turn 2 (the
GT description as the history, the video again, target: its Reasoning cell). No GRPO reward: the judge is the
only scorer, and an LLM judge in the loop is not what the paper trains."""

from collections import Counter

from vauflow.annotation import canonical_class, parse_reasoning
from vauflow.tasks.task import LearningCheck, Task

TURNS = (
    "You are an advanced anomaly detector assigned to analyze a video. Please identify any unusual or suspicious "
    "events that occur in the scene. Do not focus on any text or watermarks that might appear. Provide a description "
    "in five sentences.",
    "Explain in detail whether (and how) any anomaly occurs in the video, and the reasoning behind it.",
)


def conversation(description=None):
    """Turn 1 asks for a description; with the model's `description`, turn 2 asks for the analysis and attaches the
    video again (two copies in one conversation, as upstream)."""
    msgs = [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": TURNS[0]}]}]
    if description is not None:
        msgs += [
            {"role": "assistant", "content": [{"type": "text", "text": description}]},
            {"role": "user", "content": [{"type": "video"}, {"type": "text", "text": TURNS[1]}]},
        ]
    return msgs


def inference(row, think):
    """The first turn (the second needs the model's description: `predict`)."""
    return conversation(), True


def predict(generate, rows, clips, think, prompts):
    """Both turns of a batch (`generate` takes [(messages, clip, add_vision_id)]): "Video 1:" / "Video 2:" as
    upstream (add_vision_id, the video again in turn 2)."""
    descriptions = generate([(conversation(), c, True) for c in clips])
    analyses = generate([(conversation(d), c, True) for d, c in zip(descriptions, clips)])
    return [{"description": d, "analysis": a} for d, a in zip(descriptions, analyses)]


# -- training (SFT) ------------------------------------------------------------------------------------------
def training_rows(row):
    """Both turns of an annotated clip; none for a clip whose texts are "-1" (nothing to learn)."""
    if row["description"] == "-1" or row["gt_analysis"].strip() == "-1":
        return []
    return [row | {"turn": 1}, row | {"turn": 2}]


def training_chat(row):
    """The evaluation's conversation: turn 2 carries the GT description as the model's turn 1."""
    return conversation(row["description"] if row["turn"] == 2 else None), True


def target(row, target):
    return row["description"] if row["turn"] == 1 else row["gt_analysis"].strip()


def learning_scores(gt_rows, predictions, train_rows, scorer):
    """The learning check's numbers (held-out rows, the offline proxy): per row the Total (an empty answer scores
    0: a model that answers nothing cannot look good) and whether the class is named; and the baseline of a model
    blind to the video, an analysis naming the training majority class, scored by the same proxy."""
    from vauflow.tasks.vau_eval import gt_fields

    majority = Counter(r["class"] for r in train_rows if r.get("class") not in (None, "-1")).most_common(1)[0][0]
    totals, named, blind = [], [], []
    for g, p in zip(gt_rows, predictions):
        fields = (p.get("description") or "", p.get("analysis") or "")
        s = scorer(g, *gt_fields(g), *fields) if all(fields) else None
        totals.append(s["total_score"] if s else 0.0)
        named.append(float(bool(s) and s["classification_score"] == 10.0))
        constant = scorer(g, *gt_fields(g), majority, f"Specific Anomaly Type: {majority}")
        blind.append(float(constant["classification_score"] == 10.0))
    return {"total": totals, "named": named, "baseline": sum(blind) / len(blind), "majority": majority}


def score_cell(gt_rows, pred_rows, settings):
    """Scored by VAU-Eval (the vau_eval job), not here: the cell records how many rows were predicted."""
    return {"n": len(pred_rows)}


def corpus(row):
    """The annotation's texts (the tiny tokenizer's corpus)."""
    return [row["description"], *row["reasoning"].values()]


# -- rows ----------------------------------------------------------------------------------------------------
ROW_FIELDS = {
    "description": {"type": "string", "minLength": 1},
    "key_object": {"type": "string"},
    "reasoning": {"type": "object"},
    "reasoning_format": {"enum": ["dict", "markdown", "plain"]},
    "gt_description": {"type": "string"},
    "gt_analysis": {"type": "string"},
}


def from_csv(row, base):
    """The VAU-Eval ground truth of a CSV row: the judge gets the cells byte for byte; like upstream, only empty
    cells leave ("-1" is text, and is judged)."""
    if not row["Description"].strip() or not row["Reasoning"].strip():
        return "missing_text"
    sections, fmt = parse_reasoning(row["Reasoning"])
    return base | {
        "description": row["Description"].strip(),
        "key_object": row["Key Object"].strip(),
        "reasoning": sections or {},
        "reasoning_format": fmt,
        "class": canonical_class(row["Anomaly Class"]),
        "gt_description": row["Description"],
        "gt_analysis": row["Reasoning"],
    }


TASK = Task(
    from_csv=from_csv,
    row_fields=ROW_FIELDS,
    name="reasoning",
    doc=__doc__,
    source="vau",
    eval_split="test",
    budget="infer_qa",
    training_rows=training_rows,
    training_chat=training_chat,
    target=target,
    csv_columns=("Video Name", "Description", "Analysis"),
    prediction_keys=("description", "analysis"),
    inference=inference,
    predict=predict,
    turns=2,
    generation_limit="reasoning",
    score_cell=score_cell,
    corpus=corpus,
    # SFT only, checked against the untrained base (its proxy Total) and the majority class (the class named)
    learning=LearningCheck(("none", "blank"), max_new_tokens=40, think_tokens=0, chance=0.0, scores=learning_scores),
)
