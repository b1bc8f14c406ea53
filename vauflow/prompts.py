"""Prompts and training targets, verbatim from upstream VAU-R1 @ 845c33b (spec vau-r1.md §3).

Training (SFT and RFT) puts the text before the video; inference puts the video first. `chat()` builds the
conversation with a bare `{"type": "video"}` block: the frames come from the cache through the one input builder
(vauflow.model.inputs), never from a path inside the message.

Deviations from upstream, on purpose (spec §11):
- the TAG SFT target has no trailing "." after </glue> (it failed the RFT format check, defect 15);
- a `think` SFT target uses the RFT prompt, which asks for <think>…</think>, so prompt and target agree.
"""

from vauflow.vaubench.schema import CLASSES

# -- RFT templates (also the prompt of `think` SFT targets) --------------------------------------------------
QA_RFT = (
    'Answer the question: "[QUESTION]" according to the content of the video. Select the answer from :[OPTION].\n'
    "\n"
    "Output your thought process within the <think> </think> tags, including analysis with either specific time "
    "ranges (xx.xx to xx.xx).\n"
    "\n"
    "Then, provide your answer within the <answer> </answer> tags, output the corresponding letter of the option.\n"
    "\n"
    "For example: <think> your detailed reasoning process here </think><answer> your final answer here </answer>. \n"
)
TAG_RFT = (
    'Answer the question: "[QUESTION]" according to the content of the video. Select the answer from :[OPTION].\n'
    "\n"
    "Output your thought process within the <think> </think> tags with detailed analysis.\n"
    "\n"
    "Then, provide your answer within the <answer> </answer> tags, output the corresponding letter of the option. "
    "At the same time, in the <glue> </glue> tags, present the precise time period in seconds of the video clips "
    "on which you base your answer to this question in the format of [s1, e1]. \n"
    "\n"
    "For example: <think> your detailed reasoning process here </think><answer> your final answer here </answer>"
    "<glue>[5.2, 10.4]</glue>. \n"
    "\n"
)
CLS_RFT = (
    'Answer the question: "[QUESTION]" according to the content of the video. Select the answer from :[OPTION].\n'
    "\n"
    "Output your thought process within the <think> </think> tags.\n"
    "\n"
    "Then, provide your answer within the <answer> </answer> tags, output the corresponding letter of the option.\n"
    "\n"
    "For example: <think> your reasoning process here </think><answer> your final answer here </answer>. \n"
)

# -- SFT templates (answer-only targets) ---------------------------------------------------------------------
QA_SFT = (
    'Answer the question: "[QUESTION]" according to the content of the video. Select the answer from :[OPTION]. '
    "The expected format is:<answer> Output the corresponding letter of the option. (A, B, C, or D) </answer>. "
)
TAG_SFT = (
    'Answer the question: "[QUESTION]" according to the content of the video.\n'
    "\n"
    "Provide your answer within the <glue> </glue> tags, present the precise time period in seconds of the video "
    "clips on which you base your answer to this question in the format of [s1, e1]. \n"
    "\n"
    "For example: <glue>[5.2, 10.4]</glue>."
)
CLS_SFT = (
    'Answer the question: "[QUESTION]" according to the content of the video. Select the answer from :[OPTION]. '
    "The expected format is: <answer> Output the corresponding option here </answer> "
)

TAG_QUESTION_RFT = (
    "Is there any anomaly in the video? If yes, please answer 'Anomaly' and present the precise anomaly time "
    "period. If no, please answer 'Normal' and output time period as <glue>[-1.0, -1.0]</glue>."
)
TAG_QUESTION_SFT = (
    "Is there any anomaly in the video? If yes, output time period as <glue>[start_time, end_time]</glue>, replace "
    "start_time and end_time with the actual time period in seconds. If no anomaly, output <glue>[-1.0, -1.0]</glue>."
)
TAG_OPTIONS = ["Normal", "Anomaly"]
CLS_QUESTION = "What type of anomaly appears in the video? If no anomaly appears, please answer 'Normal'."

# -- moving ball (Qwen2.5VL-R1): the peer's question and options, our canonical <answer>(X) Label</answer> -------
BALL_ANSWER = (
    "In which direction is the ball moving?\nOptions:\n[OPTION]\n"
    "The expected format is: <answer> (letter) option </answer>"
)
BALL_THINK = (
    "In which direction is the ball moving?\nOptions:\n[OPTION]\n"
    "Output your thought process within the <think> </think> tags, then the option within the <answer> </answer> "
    "tags. For example: <think> your reasoning here </think><answer> (letter) option </answer>"
)

TARGETS = ("answer", "think")


def fill(template, question="", options=""):
    return template.replace("[QUESTION]", question).replace("[OPTION]", options)


def qa_options(row):
    return [f"{letter}. {text}" for letter, text in zip("ABCD", row["options"])]


def prompt_text(task, row, target):
    """The user text of a training prompt (SFT and RFT) for one row."""
    think = target == "think"
    if task == "qa":
        opts = qa_options(row)
        return fill(QA_RFT, row["question"], str(opts)) if think else fill(QA_SFT, row["question"], " ".join(opts))
    if task == "tag":
        return fill(TAG_RFT, TAG_QUESTION_RFT, str(TAG_OPTIONS)) if think else fill(TAG_SFT, TAG_QUESTION_SFT)
    if task == "cls":
        return fill(CLS_RFT if think else CLS_SFT, CLS_QUESTION, str(CLASSES))
    if task == "ball":
        return fill(BALL_THINK if think else BALL_ANSWER, options="\n".join(row["options"]))
    raise ValueError(f"unknown task {task!r}")


def rationale(task, row):
    """A short <think> rationale from the annotation (the reasoning's evidence and conclusion)."""
    if task == "ball":
        return row["cot"].split("<think>", 1)[1].split("</think>", 1)[0]
    r = row.get("reasoning") or {}
    parts = [r.get("Key Evidence", ""), r.get("Conclusion", "")]
    return " ".join(p.strip() for p in parts if p and p.strip()) or row.get("description", "")


def interval_text(gt):
    return f"[{round(gt[0], 1)}, {round(gt[1], 1)}]"


def target_text(task, row, target):
    """The assistant turn SFT learns for one row."""
    think = target == "think"
    if task == "qa":
        body = f"<answer>{row['answer']}</answer>"
    elif task == "tag":
        glue = f"<glue>{interval_text(row['gt'])}</glue>"
        body = f"<answer>{row['label']}</answer>{glue}" if think else glue
    elif task == "cls":
        body = f"<answer>{row['class']}</answer>"
    elif task == "ball":
        body = f"<answer>{row['answer_text']}</answer>"
    else:
        raise ValueError(f"unknown task {task!r}")
    return f"<think>{row['rationale']}</think>{body}" if think else body


def chat(text, video_first=False, system=None):
    """One user turn holding the video and the text; the template adds the default system prompt when none."""
    content = [{"type": "video"}, {"type": "text", "text": text}]
    msgs = [{"role": "user", "content": content if video_first else content[::-1]}]
    return ([{"role": "system", "content": system}] if system else []) + msgs


# -- inference prompts (spec §3; the paper's evaluation: video first) ----------------------------------------
def _indented(lines, indent):
    """An upstream f-string: a leading newline, each non-empty line indented, closing quotes indented."""
    pad = " " * indent
    return "\n" + "\n".join(pad + line if line else "" for line in lines) + "\n" + pad


def qa_inference(row, think):
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
        lines += ["When the user asks a question, you should first carefully reason through the problem internally, "
                  "and then present the final option.",
                  "The expected format is: <think> your detailed reasoning process here </think><answer> Please only "
                  "output one option letter! (A, B, C, or D) </answer>. "]
    else:
        lines += ["Please only output one option letter (A, B, C, or D). Please do not output other words."]
    return _indented(lines, 12)


TAG_INFER_THINK = (
    'Answer the question: "[QUESTION]" according to the content of the video. Select the answer from :[OPTION].\n'
    "\n"
    "Output your thought process within the <think> </think> tags with detailed analysis.\n"
    "\n"
    "Then, provide your answer within the <answer> </answer> tags, output the corresponding option. At the same "
    "time, in the <glue> </glue> tags, present the precise time period in seconds of the video clips on which you "
    "base your answer to this question in the format of [s1, e1]. \n"
    "\n"
    "For example: <think> your detailed reasoning process here </think><answer> your final answer here </answer>"
    "<glue>[5.2, 10.4]</glue>.\n"
)
# inference_tag_qwen.py's no-think template: the SFT one, with the newline its triple-quoted string ends with
TAG_INFER = TAG_SFT + "\n"
CLS_INFER_THINK = (
    'Answer the question: "[QUESTION]" according to the content of the video. Select one of the answer from '
    ":[OPTION]. When the user asks a question, you should first carefully reason through the problem internally, and "
    "then present the final option. The expected format is: <think> Your detailed reasoning process here </think>"
    "<answer> Output the corresponding option here </answer> "
)
CLS_INFER = (
    'Answer the question: "[QUESTION]" according to the content of the video. Select one of the answer from '
    ":[OPTION]. The expected format is: <answer> Output the corresponding option here </answer> "
)
REASONING_TURNS = (
    "You are an advanced anomaly detector assigned to analyze a video. Please identify any unusual or suspicious "
    "events that occur in the scene. Do not focus on any text or watermarks that might appear. Provide a description "
    "in five sentences.",
    "Explain in detail whether (and how) any anomaly occurs in the video, and the reasoning behind it.",
)
DEFAULT_SYSTEM = "You are a helpful assistant."


def reasoning_chat(description=None):
    """The paper's two-turn reasoning inference: turn 1 asks for a description; with the model's `description`,
    turn 2 asks for the analysis, and attaches the video again (two copies in one conversation, as upstream)."""
    msgs = [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": REASONING_TURNS[0]}]}]
    if description is not None:
        msgs += [{"role": "assistant", "content": [{"type": "text", "text": description}]},
                 {"role": "user", "content": [{"type": "video"}, {"type": "text", "text": REASONING_TURNS[1]}]}]
    return msgs


def inference_chat(task, row, think):
    """(messages, add_vision_id) of the paper's inference for one row: video first; QA with "Video 1:" (the
    processor's add_vision_id), TAG and CLS with the default system message given explicitly."""
    if task == "qa":
        return chat(qa_inference(row, think), video_first=True), True
    if task == "tag":
        text = (fill(TAG_INFER_THINK, TAG_QUESTION_RFT, "[Anomaly, Normal]") if think
                else fill(TAG_INFER, TAG_QUESTION_SFT))
        return chat(text, video_first=True, system=DEFAULT_SYSTEM), False
    if task == "cls":
        return chat(fill(CLS_INFER_THINK if think else CLS_INFER, CLS_QUESTION, str(CLASSES)), video_first=True,
                    system=DEFAULT_SYSTEM), False
    if task == "ball":
        return chat(fill(BALL_THINK if think else BALL_ANSWER, options="\n".join(row["options"])),
                    video_first=True), False
    raise ValueError(f"unknown task {task!r}")
