"""The ball set's optional LLM-written chain-of-thought (Qwen2.5VL-R1 had an LLM write its rationales).

The LLM sees the facts a viewer could read off the clip (first and last ball centre, frame count) and the true
answer, and writes the reasoning only; the answer tag is ours, so a rationale can never change the label. A reply
that names another direction is asked again, then replaced by the template rationale; the manifest counts each
source and reason, so nothing is replaced silently."""

from vauflow.tasks.ball import CLASSES, LABELS

SYSTEM = "You write short, factual step-by-step reasoning for a video question-answering dataset."
DIRECTION_WORDS = {
    "left_to_right": ("left to right",),
    "right_to_left": ("right to left",),
    "falling": ("falling", "falls", "downward"),
    "ascending": ("ascending", "ascends", "upward"),
}


def prompt(row, size, n_frames):
    (x0, y0), (x1, y1) = row["params"]["start"], row["params"]["end"]
    return (
        f"A ball moves in a {size}x{size} pixel video of {n_frames} frames (x grows to the right, y grows "
        f"downwards). In the first frame its centre is at x={x0:.0f}, y={y0:.0f}; in the last frame at "
        f'x={x1:.0f}, y={y1:.0f}. Question: "{row["question"]}" The correct answer is '
        f'"{row["answer_text"]}". Write two or three sentences of reasoning from these observations that lead '
        f"to this answer. Reply with the reasoning only, without tags."
    )


def names_other_direction(text, cls):
    t = text.lower()
    return any(w in t for other, words in DIRECTION_WORDS.items() if other != cls for w in words)


def rejection(text, cls):
    """Why a reply cannot be a rationale for `cls`, or None."""
    text = (text or "").strip()
    if not text:
        return "empty reply"
    if "<think>" in text or "<answer>" in text:
        return "reply holds tags"
    if names_other_direction(text, cls):
        return "names another direction"
    return None


def write_rationales(rows, client, size, n_frames, template):
    """Replace each row's `cot` by an LLM-written one where the reply is usable; returns {source/reason: count}."""
    counts = {}
    for row in rows:
        messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt(row, size, n_frames)}]
        reason = None
        for attempt in range(2):
            text = client.chat(messages, **({} if attempt == 0 else {"temperature": 0.0, "seed": attempt}))
            reason = rejection(text, row["label"])
            if reason is None:
                label = LABELS[CLASSES.index(row["label"])]
                row["cot"] = f"<think>{text.strip()}</think><answer>{label}</answer>"
                break
        key = "llm" if reason is None else f"template (LLM reply rejected: {reason})"
        if reason is not None:
            row["cot"] = template(row)
        counts[key] = counts.get(key, 0) + 1
    return counts
