"""The record every task fills in (`Task`), the table it feeds (`Table`), and the prompt pieces tasks share.

A stage never asks "which task is this?": it reads the task's record. What differs between tasks (how rows are
prompted, what a completion must look like, how it is rewarded and scored, what a model blind to the video would
reach) is a field here, filled in by the task's own module (vauflow/tasks/<name>.py)."""

from collections.abc import Callable
from dataclasses import dataclass

TARGETS = ("answer", "think")  # SFT/RFT target formats: the answer alone, or <think>…</think> then the answer
DEFAULT_SYSTEM = "You are a helpful assistant."


@dataclass(frozen=True)
class Table:
    """The paper table a task's evaluation cells feed."""

    key: str  # "A", "B", "C", "ball": the key in tables.json
    title: str
    short: str  # a plot panel's title ("QA acc")
    columns: tuple[str, ...]  # metric columns per think mode
    pooled: bool = False  # one row per model over the test splits pooled (Table C); else per split and model
    ablations: bool = False  # also the RFT runs of the other VAU tasks (Table C's "+ RFT w/ QA")
    vau_eval: bool = False  # with the reasoning task's VAU-Eval columns (Table A)


@dataclass(frozen=True)
class LearningCheck:
    """How the learning check probes a trained model on this task (training prompt, held-out rows)."""

    transforms: tuple[str, ...]  # frames as they are, then controls that must fall back to the baseline
    max_new_tokens: int
    think_tokens: int  # the same with the think prompt (a rationale first)
    chance: float  # 1 / number of answers (accuracy tasks); 0 for interval tasks
    # a task scored by VAU-Eval's proxy (the reasoning): (gt rows, predictions, train rows, scorer) -> per-row
    # "total" and "named" (class named 1/0), and the blind "baseline" rate of naming the class
    scores: Callable | None = None


@dataclass(frozen=True)
class Task:
    """One task: its rows, prompts, targets, parser, rewards, metric, baseline, frame budget and upstream CSV.

    Callables take rows as the link step writes them (vauflow.vaubench.build's per-task fields)."""

    name: str
    doc: str
    source: str  # which linked set holds its rows: "vau" (VAU-Bench) or "ball" (the moving-ball set)
    eval_split: str  # "test" (every test split in use) or "val" (the ball set has no test split)
    budget: str  # the frame budget its evaluation and the learning check use (config `frames.budgets`)
    csv_columns: tuple[str, ...]  # the original inference script's CSV header
    score_cell: Callable  # (gt rows, prediction rows, EvalSettings) -> the cell's metrics (tables.json)
    inference: Callable  # (row, think) -> (messages, add_vision_id): the paper's inference prompt
    trainable: bool = True
    from_csv: Callable | None = None  # (VAU-Bench CSV row, common fields) -> the task's row, or an exclusion reason
    row_fields: dict | None = None  # JSON-schema properties of its rows' own fields (checked at the build step)
    prompt: Callable | None = None  # (row, target) -> the user text of a training prompt (SFT and RFT)
    # (row) -> (messages, add_vision_id) of a training example, for a task whose prompt is more than one user text
    # (the reasoning's two turns); None: `prompt` in one user turn
    training_chat: Callable | None = None
    training_rows: Callable | None = None  # (row) -> its training examples (the reasoning: one per turn); None: itself
    target: Callable | None = None  # (row, target) -> the assistant text SFT learns
    rationale: Callable | None = None  # (row, reasoning row or None) -> the <think> text of a think target, or None
    rewards: tuple[Callable, ...] = ()  # TRL style: f(completions, **columns) -> [float]
    row_score: Callable | None = None  # (row, completion) -> 1/0 or tIoU (the learning check)
    graded_by: str = "accuracy"  # "accuracy" (Wilson, binomial p) or "iou" (bootstrap of the mean)
    # (train rows, test rows) -> (name, value 0-1, n, answer): the answer of a model blind to the video (the
    # training majority, the best constant interval) and its score on the test rows
    baseline: Callable | None = None
    population: Callable | None = None  # (gt rows, population) -> the rows a table cell scores (default: all)
    paper_metrics: Callable | None = None  # (gt rows, prediction rows, scoring) -> `vauflow eval metrics` output
    gt_keys: tuple[str, ...] = ()  # fields a ground-truth row must have for `paper_metrics`
    csv_cell: Callable = str  # a response as the upstream CSV holds it
    prediction_keys: tuple[str, ...] = ("response",)  # the fields of one prediction
    generation_limit: str | None = None  # its key in the `max_new_tokens` limits; None: "think" or "answer"
    predict: Callable | None = None  # (generate, rows, clips, think, prompts) -> predictions; None: one turn
    # (`generate` turns [(messages, clip, add_vision_id)] into completions)
    turns: int = 1  # generations per row, each with the video (the memory plan's worst case)
    demo_answer: Callable | None = None  # (completion) -> the parsed answer `vauflow demo` prints
    corpus: Callable | None = None  # (row) -> lines for the tiny tokenizer; None: its prompts and targets
    has_interval: bool = False  # rows carry a [start, end] the link step checks against the video's length
    table: Table | None = None
    learning: LearningCheck | None = None

    def limit(self, think, limits):
        """The max_new_tokens of one cell from the configured limits."""
        return limits[self.generation_limit or ("think" if think else "answer")]

    def rows_file(self, root, split):
        return f"{root}/{split}/{self.name}.jsonl"


# -- prompt pieces the tasks share ---------------------------------------------------------------------------
def fill(template, question="", options=""):
    return template.replace("[QUESTION]", question).replace("[OPTION]", options)


def chat(text, video_first=False, system=None):
    """One user turn holding the video and the text; the template adds the default system prompt when none.
    Training (SFT and RFT) puts the text before the video, inference the video first (as upstream)."""
    content = [{"type": "video"}, {"type": "text", "text": text}]
    msgs = [{"role": "user", "content": content if video_first else content[::-1]}]
    return ([{"role": "system", "content": system}] if system else []) + msgs


def with_rationale(row, body, target):
    """A target: the answer body, after the row's <think> rationale for a think target."""
    return f"<think>{row['rationale']}</think>{body}" if target == "think" else body


def annotation_rationale(row, reasoning_row):
    """A VAU task's <think> text from the clip's reasoning annotation (its evidence and conclusion), or None when
    the clip has none ("-1" or unparsed)."""
    if reasoning_row is None or not reasoning_row.get("reasoning"):
        return None
    r = reasoning_row["reasoning"]
    parts = [r.get("Key Evidence", ""), r.get("Conclusion", "")]
    return " ".join(p.strip() for p in parts if p and p.strip()) or reasoning_row.get("description", "")


def format_rewards(completions, target, ok):
    """A format reward: 1 where `ok(text, target)` holds (target "think" when the rows carry none)."""
    from vauflow.parse import text_of

    targets = target or ["think"] * len(completions)
    return [float(ok(text_of(c), t)) for c, t in zip(completions, targets)]
