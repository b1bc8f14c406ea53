"""Inference of one model over its evaluation cells (task x test split x think/no-think), the paper's way:
inference prompts verbatim, video first, the inference frame budgets (QA and reasoning 1 fps, TAG/CLS 2 fps),
batched greedy decoding with left padding. The reasoning task runs two turns in one conversation (a description,
then an analysis with the video attached again), as upstream.

Finished batches are appended to a partial file outside Snakemake's outputs, so an interrupted job resumes where it
stopped; each cell's predictions are written atomically when complete, as our JSONL
(`{"video", "response"}`, the `vauflow eval metrics` contract) and in the upstream CSV layout."""

import csv
import io
import json
from pathlib import Path

from vauflow import tasks
from vauflow.evaluate import predict
from vauflow.examples import frame_cache, load_rows
from vauflow.frames.budget import VideoBudget
from vauflow.io import read_jsonl, stable_hash, write_jsonl, write_text
from vauflow.model.folder import identity
from vauflow.model.inputs import Example
from vauflow.plan import cell_name
from vauflow.tasks.task import chat


def video_name(row):
    return row.get("video_name", row["video"])  # VAU rows keep the CSV's Video Name; ball rows their file


def cell_rows(task, split, data):
    return load_rows(task, data[tasks.get(task).source], split, unlabelled=True)[0]


def upstream_csv(task, predictions):
    """The CSV the original inference script writes, which its evaluation script reads as it is (the task's
    columns; QA holds the cleaned letter, as inference_qa_qwen.py writes it); our JSONL keeps every raw reply."""
    t = tasks.get(task)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(t.csv_columns)
    w.writerows([p["video"]] + [t.csv_cell(p[k]) for k in t.prediction_keys] for p in predictions)
    return buf.getvalue()


def messages_for(task, row, think, prompts):
    """(messages, add_vision_id): the paper's inference prompt, or the prompt the model was trained with."""
    t = tasks.get(task)
    if prompts == "paper" or t.prompt is None:
        return t.inference(row, think)
    return chat(t.prompt(row, "think" if think else "answer")), False


def predict_batch(model, processor, task, rows, clips, think, prompts, limit, repetition_penalty=1.05):
    """One batch of prediction fields (the task's `prediction_keys`: {"response"}, or the reasoning's two turns)."""

    def generate(items):
        examples = [Example(chat=messages, clip=clip, vision_id=vision_id) for messages, clip, vision_id in items]
        return predict.generate(model, processor, examples, limit, repetition_penalty=repetition_penalty)

    t = tasks.get(task)
    if t.predict is not None:
        return t.predict(generate, rows, clips, think, prompts)
    items = []
    for r, c in zip(rows, clips):
        messages, vision_id = messages_for(task, r, think, prompts)
        items.append((messages, c, vision_id))
    return [{"response": text} for text in generate(items)]


def run_cells(
    model_dir,
    cells,
    data,
    budgets,
    out_dir,
    partial_dir,
    batch_size=16,
    max_new_tokens=None,
    prompts="paper",
    repetition_penalty=1.05,
    dtype="float32",
):
    """cells: [(task, split, think)]. Writes <out_dir>/<cell>.jsonl and .csv; returns {cell: rows predicted}.

    On GPUs the model computes in `dtype` (model.dtype) on this process's device; on the CPU in float32. Under N
    processes (the job's GPUs), process r predicts batches r, r + N, ... of each cell (a batch holds the rows it
    holds on one process, so predictions do not depend on N), each into its own resumable file; the main process
    merges them in row order and writes the cell (`out_dir` None on the others)."""
    from vauflow.model.load import load_model, load_processor
    from vauflow.processes import barrier, start_processes

    rank, world, device = start_processes()
    compute = dtype if device.startswith("cuda") else "float32"
    model, _ = load_model(model_dir, dtype=compute, device=device)
    model.eval()
    processor = load_processor(model_dir)
    # partial predictions are reused only by the same model and the same settings: a retrained model, another
    # generation length, decoding or compute dtype (fp32 on the CPU, model.dtype on GPUs) starts afresh
    key = stable_hash(
        json.dumps(
            {
                "budgets": budgets,
                "batch_size": batch_size,
                "max_new_tokens": max_new_tokens,
                "prompts": prompts,
                "repetition_penalty": repetition_penalty,
                "compute": [compute, device.split(":")[0]],
            },
            sort_keys=True,
        )
        + identity(model_dir)
    )
    partial_dir = Path(partial_dir) / f"run-{key:016x}"
    partial_dir.mkdir(parents=True, exist_ok=True)
    counts = {}
    for task, split, think in cells:
        name = cell_name(task, split, think)
        rows = cell_rows(task, split, data)
        cache, budget = frame_cache(rows), VideoBudget.from_dict(budgets[tasks.get(task).budget])
        done = finished_predictions(partial_dir, name)
        todo = [r for r in rows if r["id"] not in done]
        barrier(world)  # every process has its list of what is left before any adds to the files
        limits = {"answer": 64, "think": 1024, "reasoning": 512} | (max_new_tokens or {})
        limit = tasks.get(task).limit(think, limits)
        partial = partial_dir / (f"{name}.jsonl" if rank == 0 else f"{name}.rank{rank}.jsonl")
        for start in range(rank * batch_size, len(todo), world * batch_size):
            chunk = todo[start : start + batch_size]
            clips = [cache.clip(r["dataset"], r["video"], budget) for r in chunk]
            fields = predict_batch(model, processor, task, chunk, clips, think, prompts, limit, repetition_penalty)
            finished = [{"id": r["id"], "video": video_name(r)} | f for r, f in zip(chunk, fields)]
            with open(partial, "a", encoding="utf-8") as f:  # one finished batch at a time: resumable
                f.writelines(json.dumps(p) + "\n" for p in finished)
        barrier(world)
        if out_dir is None:
            continue
        done = finished_predictions(partial_dir, name)
        predictions = [{k: v for k, v in done[r["id"]].items() if k != "id"} for r in rows]
        write_jsonl(Path(out_dir) / f"{name}.jsonl", predictions)
        write_text(Path(out_dir) / f"{name}.csv", upstream_csv(task, predictions))
        counts[name] = len(predictions)
    return counts


def finished_predictions(partial_dir, name):
    """{row id: prediction} from every process's file of one cell."""
    done = {}
    for f in sorted(Path(partial_dir).glob(f"{name}.jsonl")) + sorted(Path(partial_dir).glob(f"{name}.rank*.jsonl")):
        done.update({p["id"]: p for p in read_jsonl(f)})
    return done


def evaluate_model(model_dir, cells, data, budgets, out, partial, settings, dtype="float32"):
    """One model over its cells: the predictions and, written atomically with them, metrics.json (every cell
    scored). On N processes each predicts its share; only the main process writes. Returns the scores (main) or
    None."""
    from vauflow.evaluate.scoring import score_cells
    from vauflow.io import atomic_dir, write_json
    from vauflow.processes import start_processes
    from vauflow.settings import EvalSettings

    settings = EvalSettings.of(settings)

    def predict_into(folder):
        return run_cells(
            model_dir,
            cells,
            data,
            budgets,
            folder,
            partial,
            batch_size=settings.batch_size,
            max_new_tokens=settings.max_new_tokens,
            prompts=settings.prompts,
            repetition_penalty=settings.repetition_penalty,
            dtype=dtype,
        )

    if start_processes()[0] > 0:  # another process of the job: its share of the predictions only
        predict_into(None)
        return None
    with atomic_dir(out) as tmp:
        counts = predict_into(tmp / "predictions")
        scores = score_cells(cells, tmp / "predictions", data, settings)
        write_json(Path(tmp) / "metrics.json", {"model": str(model_dir), "cells": scores, "predicted": counts})
    return scores


def main(a):
    """`vauflow eval run`."""
    from vauflow.commands import data_of

    scores = evaluate_model(
        a.model, [tuple(c) for c in a.cells], data_of(a), a.budgets, a.out, a.partial, a.settings, a.dtype
    )
    for name, m in (scores or {}).items():
        print(name, json.dumps({k: v for k, v in m.items() if k not in ("ious", "per_class", "strict")}))
