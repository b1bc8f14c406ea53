"""Inference of one model over its evaluation cells (task x test split x think/no-think), the paper's way:
inference prompts verbatim, video first, the inference frame budgets (QA 1 fps, TAG/CLS 2 fps), batched greedy
decoding with left padding.

Finished batches are appended to a partial file outside Snakemake's outputs, so an interrupted job resumes where it
stopped; each cell's predictions are written atomically when complete, as our JSONL
(`{"video", "response"}`, the `vauflow eval metrics` contract) and in the upstream CSV layout."""

import csv
import io
import json
from pathlib import Path

from vauflow.evaluate import predict
from vauflow.frames.budget import VideoBudget
from vauflow.io import read_jsonl, write_jsonl, write_text
from vauflow.model.inputs import Example
from vauflow.prompts import chat, inference_chat, prompt_text
from vauflow.sft.data import frame_cache, load_rows

# the upstream CSV columns per task (cross-checks with the original evaluation scripts)
CSV_COLUMNS = {"qa": ("Video Name", "QA answer"), "tag": ("Video Name", "Grounding answer"),
               "cls": ("Video Name", "Classification answer"), "ball": ("Video Name", "Answer")}
BUDGET_OF = {"qa": "infer_qa", "tag": "infer_tag", "cls": "infer_tag", "ball": "train"}


def video_name(row):
    return row.get("video_name", row["video"])  # VAU rows keep the CSV's Video Name; ball rows their file


def cell_name(task, split, think):
    return f"{task}_{split}_{'think' if think else 'nothink'}"


def cell_rows(task, split, data):
    root = data["ball"] if task == "ball" else data["vau"]
    return load_rows(task, root, split)[0]


def upstream_csv(task, predictions):
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS[task])
    w.writerows((p["video"], p["response"]) for p in predictions)
    return buf.getvalue()


def messages_for(task, row, think, prompts):
    """(messages, add_vision_id): the paper's inference prompt, or the prompt the model was trained with."""
    if prompts == "paper":
        return inference_chat(task, row, think)
    return chat(prompt_text(task, row, "think" if think else "answer")), False


def run_cells(model_dir, cells, data, budgets, out_dir, partial_dir, batch_size=16, max_new_tokens=None,
              prompts="paper"):
    """cells: [(task, split, think)]. Writes <out_dir>/<cell>.jsonl and .csv; returns {cell: rows predicted}."""
    from vauflow.model.load import load_model, load_processor

    model, _ = load_model(model_dir)
    model.eval()
    processor = load_processor(model_dir)
    out_dir, partial_dir = Path(out_dir), Path(partial_dir)
    partial_dir.mkdir(parents=True, exist_ok=True)
    counts = {}
    for task, split, think in cells:
        name = cell_name(task, split, think)
        rows = cell_rows(task, split, data)
        cache, budget = frame_cache(rows), VideoBudget.from_dict(budgets[BUDGET_OF[task]])
        partial = partial_dir / f"{name}.jsonl"
        done = {p["id"]: p for p in (read_jsonl(partial) if partial.exists() else [])}
        todo = [r for r in rows if r["id"] not in done]
        limit = (max_new_tokens or {}).get("think" if think else "answer", 1024 if think else 64)
        for start in range(0, len(todo), batch_size):
            chunk = todo[start:start + batch_size]
            examples = []
            for r in chunk:
                messages, vision_id = messages_for(task, r, think, prompts)
                examples.append(Example(chat=messages, clip=cache.clip(r["dataset"], r["video"], budget),
                                        vision_id=vision_id))
            texts = predict.generate(model, processor, examples, limit)
            with open(partial, "a", encoding="utf-8") as f:  # one finished batch at a time: resumable
                for r, t in zip(chunk, texts):
                    f.write(json.dumps({"id": r["id"], "video": video_name(r), "response": t}) + "\n")
            done.update({r["id"]: {"id": r["id"], "video": video_name(r), "response": t} for r, t in zip(chunk, texts)})
        predictions = [{"video": done[r["id"]]["video"], "response": done[r["id"]]["response"]} for r in rows]
        write_jsonl(out_dir / f"{name}.jsonl", predictions)
        write_text(out_dir / f"{name}.csv", upstream_csv(task, predictions))
        counts[name] = len(predictions)
    return counts
