"""The text the tiny tokenizer is trained on: every prompt and target the workflow writes, plus annotations."""

from pathlib import Path

from vauflow import tasks
from vauflow.annotation import CLASSES
from vauflow.examples import load_rows
from vauflow.io import read_jsonl
from vauflow.tasks.task import TARGETS


def corpus_lines(data, splits=("train", "val")):
    """`data` maps a task's source ("vau", "ball") to its linked folder. Trained tasks give their prompts and
    targets in both formats; the others (reasoning) their annotation texts."""
    lines = list(CLASSES) + [str(d) for d in range(10)] + ["[-1.0, -1.0]"]
    for t in tasks.TASKS.values():
        root = Path(data[t.source])
        for split in splits:
            if not Path(t.rows_file(root, split)).exists():
                continue
            if t.corpus is not None:
                lines += [line for r in read_jsonl(t.rows_file(root, split)) for line in t.corpus(r)]
                continue
            for target in TARGETS:
                rows, _ = load_rows(t.name, root, split, target=target)
                lines += [text for r in rows for text in (t.prompt(r, target), t.target(r, target))]
    return lines
