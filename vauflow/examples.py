"""Rows → model inputs, for every pass (SFT, GRPO, evaluation, the learning check, the bench): a task's linked rows
with their exclusions counted, and the model-facing example of a row (its task's training prompt + the clip from
the frame cache). The clip itself becomes model inputs in one place: vauflow.model.inputs.build_inputs."""

import collections
import os

from vauflow import tasks
from vauflow.frames.cache import FrameCache
from vauflow.io import read_jsonl
from vauflow.tasks.task import annotation_rationale, chat


def load_rows(task, linked_dir, split, datasets=None, target="answer", unlabelled=False):
    """(rows, Counter of exclusion reasons) of `<linked_dir>/<split>/<task>.jsonl`. Rows get `task`, `target` and,
    for think targets, `rationale` (a row without one is excluded). CLS rows whose class is "-1" are kept only with
    `unlabelled` (the paper's evaluation population scores them)."""
    t = tasks.get(task)
    excluded = collections.Counter()
    rows = read_jsonl(t.rows_file(linked_dir, split))
    # a VAU task's think rationale comes from the clip's reasoning annotation (missing: the run stops, as without rows)
    reasoning_file = tasks.get("reasoning").rows_file(linked_dir, split)
    from_annotation = target == "think" and t.rationale is annotation_rationale
    reasons = {r["id"]: r for r in read_jsonl(reasoning_file)} if from_annotation else {}
    out = []
    for r in rows:
        if datasets is not None and r["dataset"] not in datasets:
            excluded["other_dataset"] += 1
            continue
        if not unlabelled and not r.get("labelled", True):
            excluded["unlabelled_class"] += 1
            continue
        # the cache location is stored relative to the linked folder: resolve it from wherever we run
        r = r | {
            "task": task,
            "target": target,
            "frames": r["frames"] | {"shard": os.path.join(linked_dir, r["frames"]["shard"])},
        }
        if target == "think":
            rationale = t.rationale(r, reasons.get(r.get("id"))) if t.rationale else None
            if rationale is None:  # none, "-1" or unparsed
                excluded["no_rationale"] += 1
                continue
            r["rationale"] = rationale
        out.append(r)
    return out, excluded


def run_rows(task_names, data, datasets, target):
    """Training rows of every task of a run (a task or a mix): (rows, {task: excluded counts}). `data` maps a task's
    source ("vau", "ball") to its linked folder; `datasets` maps a task to the datasets it trains on. Target "both":
    every row twice, with its answer target and with its think target (the prompt says which: each row's format
    follows its prompt), for the tasks that have think targets. A task's `training_rows` expands a row into its
    examples (the reasoning's two turns)."""
    rows, excluded = [], {}
    for task in task_names:
        t = tasks.get(task)
        r, ex = [], collections.Counter()
        both = ("answer", "think") if t.rationale is not None else ("answer",)
        for k, each in enumerate(both if target == "both" else (target,)):
            got, lost = load_rows(task, data[t.source], "train", datasets=(datasets or {}).get(task), target=each)
            # a row left out of both passes counts once; the think pass adds only its own reason
            ex.update(lost if k == 0 else {"no_rationale": lost.get("no_rationale", 0)})
            for row in got:
                examples = t.training_rows(row) if t.training_rows else [row]
                r += examples
                ex["no_training_text"] += not examples  # (the reasoning's "-1" texts)
        rows += r
        excluded[task] = {reason: n for reason, n in ex.items() if n}
        sources = collections.Counter(x["dataset"] for x in r)  # e.g. TAG: MSAD + ECVA, or ECVA alone without MSAD
        print(
            f"{task}: trains on {', '.join(f'{d} ({n} rows)' for d, n in sorted(sources.items())) or 'no rows'}"
            + (f"; only {', '.join((datasets or {})[task])} by config" if (datasets or {}).get(task) else ""),
            flush=True,
        )
    return rows, excluded


def frame_cache(rows):
    return FrameCache(sorted({r["frames"]["shard"] for r in rows}))


def example(row, cache, budget):
    """The model-facing example: training prompt (text before video, as upstream) + the clip at `budget`."""
    from vauflow.model.inputs import Example  # torch: not needed to read rows

    clip = cache.clip(row["dataset"], row["video"], budget)
    t = tasks.get(row["task"])
    if t.training_chat is not None:
        messages, vision_id = t.training_chat(row)
        return Example(chat=messages, clip=clip, vision_id=vision_id)
    return Example(chat=chat(t.prompt(row, row["target"])), clip=clip)


def target(row):
    return tasks.get(row["task"]).target(row, row["target"])
