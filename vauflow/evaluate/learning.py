"""Does training learn from the video? Held-out scores of every SFT and GRPO run, with the frames as they are,
shuffled in time and blanked, against the baselines a model without the video could reach.

The check uses the training prompt and frame budget (the paper's inference protocol is the eval stage's), on
rows no run trained on: the VAU test splits (all three sources) and the ball val split. Accuracies get Wilson
intervals and a one-sided binomial p-value against the larger of chance and the majority label; mIoU and every
SFT-vs-GRPO difference get paired bootstrap intervals (seeded)."""

import collections

import numpy as np

from vauflow import stats, tasks
from vauflow.examples import load_rows
from vauflow.io import read_jsonl
from vauflow.plan import LEARNING_CHECK_BATCH
from vauflow.stats import bootstrap_mean, wilson

ALPHA = 0.01  # "above the baseline" means p < ALPHA (accuracy) or a bootstrap interval clear of it (mIoU)
HELDOUT_SPLITS = {"test": ("test_msad", "test_ecva", "test_ucf_crime"), "val": ("val",)}


def heldout_rows(task, data):
    t = tasks.get(task)
    return [r for split in HELDOUT_SPLITS[t.eval_split] for r in load_rows(task, data[t.source], split)[0]]


def baseline(task, train, test):
    """What a model blind to the video can reach, from the training labels alone: the task's baseline (the best
    constant interval), or for accuracies the larger of the training majority and chance."""
    t = tasks.get(task)
    _, value, _, answer = t.baseline(train, test)
    if t.graded_by == "iou":
        return {"kind": "best constant interval", "value": value, "interval": answer}
    chance = t.learning.chance
    return {
        "kind": "max(majority, chance)",
        "value": max(value, chance),
        "majority": answer,
        "majority_rate": value,
        "chance": chance,
    }


def summarise(task, scores, base, seed):
    n, mean = len(scores), float(np.mean(scores)) if scores else 0.0
    out = {"n": n, "score": mean}
    if tasks.get(task).graded_by == "iou":
        out["ci95"] = bootstrap_mean(scores, seed)
        out["above_baseline"] = out["ci95"][0] > base["value"]
    else:
        k = int(sum(scores))
        out |= {"correct": k, "ci95": wilson(k, n), "p_vs_baseline": stats.binomial_p_above(k, n, base["value"])}
        out["above_baseline"] = out["p_vs_baseline"] < ALPHA
    return out


def row_scores(task, rows, texts):
    """One number per scored row: 1/0 correct, or tIoU (rows with a real interval only)."""
    return [float(task.row_score(r, text)) for r, text in zip(rows, texts) if r.get("scored", True)]


def train_reward(grpo_dir, frac=0.2):
    """Mean training reward over the first and the last `frac` of GRPO steps."""
    log = read_jsonl(grpo_dir / "log.jsonl")
    k = max(1, int(len(log) * frac))
    first, last = [h["reward"] for h in log[:k]], [h["reward"] for h in log[-k:]]
    return {"steps": len(log), "first": float(np.mean(first)), "last": float(np.mean(last))}


def check_run(run, task_names, models, data, budget, seed=0, batch_size=LEARNING_CHECK_BATCH, dtype="float32"):
    """models: {"sft": dir, "grpo": dir}. Returns {task: report} for every task of the run. On the job's GPU the
    models compute in `dtype` (model.dtype), on the CPU in float32."""
    import torch

    from vauflow.evaluate.predict import predict  # torch: not at import (the memory plan reads this module's sizes)
    from vauflow.model.load import load_model

    device = "cuda" if torch.cuda.is_available() else "cpu"
    loaded = {
        stage: load_model(d, dtype=dtype if device == "cuda" else "float32", device=device)[0]
        for stage, d in models.items()
    }
    report = {}
    for task in task_names:
        t = tasks.get(task)
        train = load_rows(task, data[t.source], "train")[0]
        test = heldout_rows(task, data)
        base = baseline(task, train, test)
        entry = {"baseline": base, "stages": {}}
        raw = {}
        for stage, model in loaded.items():
            entry["stages"][stage] = {}
            for how in t.learning.transforms:
                texts = predict(
                    models[stage],
                    test,
                    budget,
                    batch_size=batch_size,
                    max_new_tokens=t.learning.max_new_tokens,
                    transform=how,
                    seed=seed,
                    model=model,
                )
                scores = row_scores(t, test, texts)
                raw[stage, how] = scores
                entry["stages"][stage][how] = summarise(task, scores, base, seed)
                entry["stages"][stage][how]["example"] = texts[0][:80] if texts else ""
        if "sft" in loaded and "grpo" in loaded:
            diff = [g - s for g, s in zip(raw["grpo", "none"], raw["sft", "none"])]
            entry["grpo_minus_sft"] = {
                "mean": float(np.mean(diff)) if diff else 0.0,
                "ci95": bootstrap_mean(diff, seed),
            }
        report[task] = entry
    return report


def verdict(report):
    """The held-out criteria, each true or false, for one run (the training-reward criterion is over all runs)."""
    out = collections.OrderedDict()
    for task, e in report.items():
        final = e["stages"].get("grpo") or e["stages"]["sft"]
        out[f"{task}: reads the video (held-out score above baseline)"] = final["none"]["above_baseline"]
        for how, done in (("shuffle", "shuffled"), ("blank", "blanked")):
            for stage, by in e["stages"].items():
                if how in by:
                    out[f"{task}: {done} frames fall back to baseline ({stage})"] = not by[how]["above_baseline"]
        if "grpo_minus_sft" in e:
            out[f"{task}: GRPO lowers no held-out score beyond noise"] = e["grpo_minus_sft"]["ci95"][1] >= 0
    return out


def check_all(runs, sft_root, grpo_root, data, budget, seed=0, dtype="float32"):
    """runs: {GRPO run: {"tasks": [...], "sft": the SFT run it started from or None}}; each GRPO model is compared
    with that SFT model on the run's tasks."""
    from pathlib import Path

    out = {"alpha": ALPHA, "runs": {}}
    for run, spec in runs.items():
        task_names = spec["tasks"]
        models = ({"sft": Path(sft_root) / spec["sft"]} if spec["sft"] else {}) | {"grpo": Path(grpo_root) / run}
        report = check_run(run, task_names, models, data, budget, seed, dtype=dtype)
        reward = train_reward(models["grpo"])
        out["runs"][run] = {
            "sft_run": spec["sft"],
            "tasks": report,
            "grpo_train_reward": reward,
            "verdict": verdict(report),
        }
    rewards = [r["grpo_train_reward"] for r in out["runs"].values() if r["grpo_train_reward"]]
    out["grpo_raised_train_reward_somewhere"] = any(r["last"] > r["first"] for r in rewards)
    return out


def markdown(summary):
    lines = [
        "| run | task | baseline | stage | frames | n | score | 95% interval | p | above |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run, r in summary["runs"].items():
        for task, e in r["tasks"].items():
            base = e["baseline"]
            for stage, by in e["stages"].items():
                label = f"sft ({r['sft_run']})" if stage == "sft" else stage
                for how, s in by.items():
                    p = f"{s['p_vs_baseline']:.2g}" if "p_vs_baseline" in s else ""
                    lines.append(
                        f"| {run} | {task} | {base['value']:.3f} | {label} | {how} | {s['n']} | "
                        f"{s['score']:.3f} | [{s['ci95'][0]:.3f}, {s['ci95'][1]:.3f}] | {p} | "
                        f"{'yes' if s['above_baseline'] else 'no'} |"
                    )
    lines += [
        "",
        "| run | GRPO - SFT (held-out, frames as they are) | GRPO train reward first -> last 20 % |",
        "|---|---|---|",
    ]
    for run, r in summary["runs"].items():
        diffs = "; ".join(
            f"{t} {e['grpo_minus_sft']['mean']:+.3f} [{e['grpo_minus_sft']['ci95'][0]:+.3f}, "
            f"{e['grpo_minus_sft']['ci95'][1]:+.3f}]"
            for t, e in r["tasks"].items()
            if "grpo_minus_sft" in e
        )
        rw = r["grpo_train_reward"]
        lines.append(f"| {run} | {diffs} | {rw['first']:.3f} -> {rw['last']:.3f} |" if rw else f"| {run} | {diffs} | |")
    failed = [f"{run}: {k}" for run, r in summary["runs"].items() for k, ok in r["verdict"].items() if not ok]
    if not summary["grpo_raised_train_reward_somewhere"]:
        failed.append("GRPO raised the mean training reward of no run")
    lines += ["", "All criteria hold." if not failed else "Criteria that do not hold:", *[f"- {f}" for f in failed]]
    return "\n".join(lines) + "\n"


def main(a):
    """`vauflow learning`."""
    from pathlib import Path

    from vauflow.commands import data_of
    from vauflow.io import write_json, write_text

    summary = check_all(a.runs, a.sft, a.grpo, data_of(a), a.budget, seed=a.seed, dtype=a.dtype)
    write_json(Path(a.out) / "summary.json", summary)
    write_text(Path(a.out) / "summary.md", markdown(summary))
    print(markdown(summary))
