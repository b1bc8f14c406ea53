"""The text the tiny tokenizer is trained on: every prompt and target the workflow writes, plus annotations."""

from pathlib import Path

from vauflow.prompts import TARGETS, prompt_text, target_text
from vauflow.io import read_jsonl
from vauflow.sft.data import TASKS, load_rows
from vauflow.vaubench.schema import CLASSES


def corpus_lines(vau_linked, ball_linked, splits=("train", "val")):
    lines = list(CLASSES) + [str(d) for d in range(10)] + ["[-1.0, -1.0]"]
    for task in TASKS:
        root = Path(ball_linked if task == "ball" else vau_linked)
        for split in splits:
            if not (root / (f"{split}.jsonl" if task == "ball" else split)).exists():
                continue
            for target in TARGETS:
                rows, _ = load_rows(task, root, split, target=target)
                for r in rows:
                    lines += [prompt_text(task, r, target), target_text(task, r, target)]
    for split in splits:
        path = Path(vau_linked) / split / "reasoning.jsonl"
        if path.exists():
            for r in read_jsonl(path):
                lines += [r["description"], *r["reasoning"].values()]
    return lines
