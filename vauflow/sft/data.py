"""Training rows for one task: linked annotations → (chat, clip, target text). Shared by SFT and GRPO."""

import collections
import os
from pathlib import Path

from vauflow.frames.cache import FrameCache
from vauflow.io import read_jsonl
from vauflow.prompts import chat, prompt_text, rationale, target_text

VAU_TASKS = ("qa", "tag", "cls")
TASKS = VAU_TASKS + ("ball",)


def load_rows(task, linked_dir, split, datasets=None, target="answer", unlabelled=False):
    """(rows, Counter of exclusion reasons). Rows get `task`, `target` and, for think targets, `rationale`.
    CLS rows whose class is "-1" are kept only with `unlabelled` (the paper's evaluation population scores them)."""
    linked_dir = Path(linked_dir)
    excluded = collections.Counter()
    if task == "ball":
        rows = read_jsonl(linked_dir / f"{split}.jsonl")
        reasons = {}
    else:
        rows = read_jsonl(linked_dir / split / f"{task}.jsonl")
        reasons = {r["id"]: r for r in read_jsonl(linked_dir / split / "reasoning.jsonl")}
    out = []
    for r in rows:
        if datasets is not None and r["dataset"] not in datasets:
            excluded["other_dataset"] += 1
            continue
        if not unlabelled and not r.get("labelled", True):
            excluded["unlabelled_class"] += 1
            continue
        # the cache location is stored relative to the linked folder: resolve it from wherever we run
        r = r | {"task": task, "target": target,
                 "frames": r["frames"] | {"shard": os.path.join(linked_dir, r["frames"]["shard"])}}
        if target == "think":
            source = r if task == "ball" else reasons.get(r["id"])
            if source is None or (task != "ball" and not source.get("reasoning")):  # none, "-1" or unparsed
                excluded["no_rationale"] += 1
                continue
            r["rationale"] = rationale(task, source)
        out.append(r)
    return out, excluded


def run_rows(tasks, data, datasets, target):
    """Training rows of every task of a run (a task or a mix): ({task: excluded counts}, rows). `data` maps
    "vau" and "ball" to linked folders; `datasets` maps a task to the datasets it trains on."""
    rows, excluded = [], {}
    for task in tasks:
        root = data["ball"] if task == "ball" else data["vau"]
        r, ex = load_rows(task, root, "train", datasets=(datasets or {}).get(task), target=target)
        rows += r
        excluded[task] = dict(ex)
        sources = collections.Counter(x["dataset"] for x in r)  # e.g. TAG: MSAD + ECVA, or ECVA alone without MSAD
        print(f"{task}: trains on {', '.join(f'{d} ({n} rows)' for d, n in sorted(sources.items())) or 'no rows'}"
              + (f"; only {', '.join((datasets or {})[task])} by config" if (datasets or {}).get(task) else ""),
              flush=True)
    return rows, excluded


def frame_cache(rows):
    return FrameCache(sorted({r["frames"]["shard"] for r in rows}))


def example(row, cache, budget):
    """The model-facing example: training prompt (text before video, as upstream) + the clip at `budget`."""
    from vauflow.model.inputs import Example  # torch: not needed to read rows

    clip = cache.clip(row["dataset"], row["video"], budget)
    return Example(chat=chat(prompt_text(row["task"], row, row["target"])), clip=clip)


def target(row):
    return target_text(row["task"], row, row["target"])
