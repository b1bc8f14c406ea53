"""Does training learn from the video? Held-out scores of every SFT and GRPO run, with the frames as they are,
shuffled in time and blanked, against the baselines a model without the video could reach.

The check uses the training prompt and frame budget (the paper's inference protocol is the eval stage's), on
rows no run trained on: the VAU test splits (all three sources) and the ball val split. Accuracies get Wilson
intervals and a one-sided binomial p-value against the larger of chance and the majority label; mIoU and every
SFT-vs-GRPO difference get paired bootstrap intervals (seeded)."""

import collections

import numpy as np

from vauflow import stats, tasks
from vauflow.examples import frame_cache, load_rows
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


def check_model(folder, task_think, data, budget, seed=0, batch_size=LEARNING_CHECK_BATCH, dtype="float32"):
    """One trained model on the held-out rows of its tasks, with the frames as they are, shuffled and blanked;
    `task_think`: {task: also with the think prompt, as "think/<frames>"}. Returns {task: {"baseline", "modes":
    {mode: summary}, "scores": per-row scores with the frames as they are (for the paired GRPO - SFT)}}. On the job's
    GPU the model computes in `dtype` (model.dtype), on the CPU in float32."""
    import torch

    from vauflow.evaluate.predict import predict  # torch: not at import (the memory plan reads this module's sizes)
    from vauflow.model.load import load_model

    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = load_model(folder, dtype=dtype if device == "cuda" else "float32", device=device)[0]
    report = {}
    for task, think in task_think.items():
        t = tasks.get(task)
        train = load_rows(task, data[t.source], "train")[0]
        test = heldout_rows(task, data)
        base = baseline(task, train, test)
        entry = {"baseline": base, "modes": {}, "scores": []}
        modes = [("", test, t.learning.max_new_tokens)]
        if think:  # the same rows with the think prompt (the rows' targets pick the training prompt)
            modes.append(("think/", [r | {"target": "think"} for r in test], t.learning.think_tokens))
        for prefix, rows, limit in modes:
            for how in t.learning.transforms:
                texts = predict(
                    folder,
                    rows,
                    budget,
                    batch_size=batch_size,
                    max_new_tokens=limit,
                    transform=how,
                    seed=seed,
                    model=model,
                )
                scores = row_scores(t, rows, texts)
                if prefix + how == "none":
                    entry["scores"] = scores
                entry["modes"][prefix + how] = summarise(task, scores, base, seed) | {
                    "example": texts[0][:80] if texts else ""
                }
        report[task] = entry
    return report


def pair(task_names, checked, think, seed=0):
    """One run's report from its models' checks (`checked`: {"sft": check_model of its SFT start, if any, "grpo":
    of the GRPO model}): per task, each stage's modes (the think ones where the run was trained to think) and the
    paired GRPO - SFT difference with the frames as they are."""
    report = {}
    for task in task_names:
        entry = {"baseline": checked["grpo"][task]["baseline"], "stages": {}}
        for stage, by in checked.items():
            modes = by[task]["modes"]
            entry["stages"][stage] = {m: s for m, s in modes.items() if think or not m.startswith("think/")}
        if "sft" in checked:
            diff = [g - s for g, s in zip(checked["grpo"][task]["scores"], checked["sft"][task]["scores"])]
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
        if "think/none" in final:
            out[f"{task}: reads the video w/ think (held-out score above baseline)"] = final["think/none"][
                "above_baseline"
            ]
        for prefix, mode in (("", ""), ("think/", " w/ think")):
            for how, done in (("shuffle", "shuffled"), ("blank", "blanked")):
                for stage, by in e["stages"].items():
                    if prefix + how in by:
                        out[f"{task}: {done} frames fall back to baseline{mode} ({stage})"] = not by[prefix + how][
                            "above_baseline"
                        ]
        if "grpo_minus_sft" in e:
            out[f"{task}: GRPO lowers no held-out score beyond noise"] = e["grpo_minus_sft"]["ci95"][1] >= 0
    return out


def check_alone(task, models, data, budget, seed=0, batch_size=LEARNING_CHECK_BATCH, dtype="float32"):
    """A task no reward trains (the reasoning, two turns), scored by VAU-Eval's offline proxy on the held-out rows:
    models {"base": the untrained base, "sft": the SFT model}; the SFT model also with blanked frames. Per stage:
    the proxy Total (bootstrap interval) and how often the class is named (Wilson interval, p against an analysis
    naming the training majority class)."""
    import torch

    from vauflow.evaluate.infer import predict_batch
    from vauflow.evaluate.predict import transform_clip
    from vauflow.frames.budget import VideoBudget
    from vauflow.model.load import load_model, load_processor
    from vauflow.tasks.vau_eval import proxy_scorer, reference_of

    t = tasks.get(task)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    train, test = load_rows(task, data[t.source], "train")[0], heldout_rows(task, data)
    scorer, cache = proxy_scorer(reference_of(data[t.source])), frame_cache(test)
    video_budget = VideoBudget.from_dict(budget)
    entry, totals = {"stages": {}}, {}
    for stage, folder in models.items():
        model = load_model(folder, dtype=dtype if device == "cuda" else "float32", device=device)[0].eval()
        processor = load_processor(folder)
        entry["stages"][stage] = {}
        for how in t.learning.transforms if stage == "sft" else ("none",):
            predictions = []
            for start in range(0, len(test), batch_size):
                chunk = test[start : start + batch_size]
                clips = [
                    transform_clip(cache.clip(r["dataset"], r["video"], video_budget), how, seed + start + k)
                    for k, r in enumerate(chunk)
                ]
                predictions += predict_batch(
                    model, processor, task, chunk, clips, False, "training", t.learning.max_new_tokens, 1.0
                )
            got = t.learning.scores(test, predictions, train, scorer)
            totals[stage, how] = got["total"]
            entry["baseline"] = {"kind": f"names {got['majority']} (train majority)", "value": got["baseline"]}
            k, n = int(sum(got["named"])), len(got["named"])
            entry["stages"][stage][how] = {
                "n": n,
                "total": float(np.mean(got["total"])) if n else 0.0,
                "total_ci95": bootstrap_mean(got["total"], seed),
                "named": k,
                "score": k / n if n else 0.0,
                "ci95": wilson(k, n),
                "p_vs_baseline": stats.binomial_p_above(k, n, got["baseline"]),
                "example": (predictions[0]["analysis"] or "")[:80] if predictions else "",
            }
            entry["stages"][stage][how]["above_baseline"] = entry["stages"][stage][how]["p_vs_baseline"] < ALPHA
    # the Total also measures the annotation's language, which blanked frames keep: paired, per clip, it must fall
    for how in (h for h in t.learning.transforms if h != "none"):
        diff = [b - a for a, b in zip(totals["sft", "none"], totals["sft", how])]
        entry[f"{how}_minus_none"] = {"mean": float(np.mean(diff)), "ci95": bootstrap_mean(diff, seed)}
    return entry


def verdict_alone(task, e):
    """The criteria of a task checked against the untrained base (check_alone)."""
    sft, base = e["stages"]["sft"], e["stages"]["base"]["none"]
    out = {
        f"{task}: proxy Total above the untrained base's (95 % intervals apart)": sft["none"]["total_ci95"][0]
        > base["total_ci95"][1],
        f"{task}: names the class above the majority baseline": sft["none"]["above_baseline"],
    }
    for how, done in (("shuffle", "shuffled"), ("blank", "blanked")):
        if how in sft:
            out[f"{task}: {done} frames fall back to baseline (sft)"] = not sft[how]["above_baseline"]
            out[f"{task}: {done} frames lower the proxy Total (paired interval below 0)"] = (
                e[f"{how}_minus_none"]["ci95"][1] < 0
            )
    return out


def check_part(part, runs, alone, sft_root, grpo_root, data, budget, seed=0, dtype="float32"):
    """One job of the check (vauflow.plan.learning_parts), each trained model checked once: `sft-<run>` scores the SFT
    model on every task of the GRPO runs that start from it (with the think prompt where one of them thinks) and its
    tasks checked alone against the untrained base; `grpo-<run>` scores the GRPO model on its run's tasks."""
    from pathlib import Path

    from vauflow.io import UsageError
    from vauflow.plan import learning_parts

    if part not in learning_parts(runs, alone):
        raise UsageError(f"--part {part}: not a part of these runs ({', '.join(learning_parts(runs, alone))})")
    stage, run = part.split("-", 1)
    if stage == "sft":
        task_think = {}
        for spec in runs.values():
            if spec["sft"] == run:
                for task in spec["tasks"]:
                    task_think[task] = task_think.get(task, False) or spec.get("think", False)
        out = {"sft": {}, "sft_alone": {}}
        if task_think:
            out["sft"][run] = check_model(Path(sft_root) / run, task_think, data, budget, seed, dtype=dtype)
        if run in alone:
            models = {"base": alone[run]["base"], "sft": Path(sft_root) / run}
            report = {t: check_alone(t, models, data, budget, seed, dtype=dtype) for t in alone[run]["tasks"]}
            verdicts = {k: v for task, e in report.items() for k, v in verdict_alone(task, e).items()}
            out["sft_alone"][run] = {"tasks": report, "verdict": verdicts}
        return out
    spec, folder = runs[run], Path(grpo_root) / run
    think = {t: spec.get("think", False) for t in spec["tasks"]}
    return {
        "grpo": {
            run: {"check": check_model(folder, think, data, budget, seed, dtype=dtype), "reward": train_reward(folder)}
        }
    }


def merge(runs, alone, parts, seed=0):
    """The summary from the parts' checks: each GRPO run paired with its SFT start, the runs checked alone."""
    from vauflow.io import UsageError

    got = {"sft": {}, "grpo": {}, "sft_alone": {}}
    for part in parts:
        for key in got:
            got[key] |= part.get(key, {})
    out = {"alpha": ALPHA, "runs": {}, "sft_alone": {}}
    try:
        for run in alone:
            out["sft_alone"][run] = got["sft_alone"][run]
        for run, spec in runs.items():
            checked = ({"sft": got["sft"][spec["sft"]]} if spec["sft"] else {}) | {"grpo": got["grpo"][run]["check"]}
            report = pair(spec["tasks"], checked, spec.get("think", False), seed)
            out["runs"][run] = {
                "sft_run": spec["sft"],
                "tasks": report,
                "grpo_train_reward": got["grpo"][run]["reward"],
                "verdict": verdict(report),
            }
    except KeyError as e:
        raise UsageError(
            f"learning check: no part holds {e.args[0]!r} (pass every part of plan.learning_parts)"
        ) from None
    return with_reward_criterion(out)


def check_all(runs, sft_root, grpo_root, data, budget, seed=0, dtype="float32", alone=None):
    """runs: {GRPO run: {"tasks": [...], "sft": the SFT run it started from or None, "think"}}; each GRPO model is
    compared with that SFT model on the run's tasks. alone: {SFT run: {"tasks", "base"}}: tasks SFT alone trains,
    each compared with the untrained base (check_alone). Every part in this process (the workflow runs each in a job
    of its own)."""
    from vauflow.plan import learning_parts

    alone = alone or {}
    parts = [
        check_part(p, runs, alone, sft_root, grpo_root, data, budget, seed, dtype) for p in learning_parts(runs, alone)
    ]
    return merge(runs, alone, parts, seed)


def with_reward_criterion(summary):
    """The one criterion over all runs: GRPO raised its training reward in at least one."""
    rewards = [r["grpo_train_reward"] for r in summary["runs"].values() if r["grpo_train_reward"]]
    return summary | {"grpo_raised_train_reward_somewhere": any(r["last"] > r["first"] for r in rewards)}


def interval_p(s, baseline):
    """One-sided p of a mean (mIoU) at or below `baseline`, from its bootstrap interval's normal approximation (the
    2,000 resamples cannot resolve p below 5e-4 themselves)."""
    import math

    se = (s["ci95"][1] - s["ci95"][0]) / (2 * 1.96)
    return 0.5 * math.erfc((s["score"] - baseline) / se / math.sqrt(2)) if se > 0 else float(s["score"] <= baseline)


def margins(summary):
    """How far the criteria of the final models (GRPO, else SFT) are from flipping: the largest p of a score above
    its baseline (mIoU: interval_p), the smallest p of a control that must not be (blanked, shuffled), the closest
    mIoU interval to its baseline."""
    above, controls, gaps, uppers = [], [], [], []
    groups = [*summary["runs"].values(), *summary.get("sft_alone", {}).values()]
    for r in summary["runs"].values():
        uppers += [e["grpo_minus_sft"]["ci95"][1] for e in r["tasks"].values() if "grpo_minus_sft" in e]
    for e in (e for r in groups for e in r["tasks"].values()):
        final, base = e["stages"].get("grpo") or e["stages"]["sft"], e["baseline"]["value"]
        for how, s in final.items():
            if not how.endswith("none"):  # a control: accuracies by p, mIoU by its interval's approximation
                controls.append(s["p_vs_baseline"] if "p_vs_baseline" in s else interval_p(s, base))
            elif "p_vs_baseline" in s and s["above_baseline"]:
                above.append(s["p_vs_baseline"])
            elif how.endswith("none") and "p_vs_baseline" not in s:
                gaps.append(s["ci95"][0] - base)
                if s["above_baseline"]:
                    above.append(interval_p(s, base))
    return (
        f"Margins: largest p of a score above its baseline {max(above, default=0):.2g} (criterion p < {ALPHA}); "
        f"smallest p of a frame control {min(controls, default=1):.2g}; closest mIoU interval to its baseline "
        f"{min(gaps, default=0):+.3f}; lowest upper bound of a GRPO - SFT interval {min(uppers, default=0):+.3f} "
        "(criterion >= 0)."
    )


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
    if summary.get("sft_alone"):
        lines += [
            "",
            "| SFT run | task | stage | frames | n | proxy Total (0-50) | 95% interval | class named | 95% interval "
            "| baseline | p | above |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for run, r in summary["sft_alone"].items():
            for task, e in r["tasks"].items():
                for stage, by in e["stages"].items():
                    for how, s in by.items():
                        lines.append(
                            f"| {run} | {task} | {stage} | {how} | {s['n']} | {s['total']:.2f} | "
                            f"[{s['total_ci95'][0]:.2f}, {s['total_ci95'][1]:.2f}] | {s['score']:.3f} | "
                            f"[{s['ci95'][0]:.3f}, {s['ci95'][1]:.3f}] | {e['baseline']['value']:.3f} "
                            f"({e['baseline']['kind']}) | {s['p_vs_baseline']:.2g} | "
                            f"{'yes' if s['above_baseline'] else 'no'} |"
                        )
    verdicts = [*summary["runs"].items(), *summary.get("sft_alone", {}).items()]
    failed = [f"{run}: {k}" for run, r in verdicts for k, ok in r["verdict"].items() if not ok]
    if not summary["grpo_raised_train_reward_somewhere"]:
        failed.append("GRPO raised the mean training reward of no run")
    lines += ["", "All criteria hold." if not failed else "Criteria that do not hold:", *[f"- {f}" for f in failed]]
    lines += ["", margins(summary)]
    return "\n".join(lines) + "\n"


def main(a):
    """`vauflow learning`."""
    from pathlib import Path

    from vauflow.commands import data_of
    from vauflow.io import write_json, write_text

    if a.part:
        part = check_part(a.part, a.runs, a.sft_alone, a.sft, a.grpo, data_of(a), a.budget, seed=a.seed, dtype=a.dtype)
        # in the order checked (a run's tasks, frames, stages): the summary's table keeps it
        write_json(a.out, part, sort_keys=False)
        return
    summary = check_all(a.runs, a.sft, a.grpo, data_of(a), a.budget, seed=a.seed, dtype=a.dtype, alone=a.sft_alone)
    write_json(Path(a.out) / "summary.json", summary)
    write_text(Path(a.out) / "summary.md", markdown(summary))
    print(markdown(summary))


def main_merge(a):
    """`vauflow learning-summary`."""
    import json
    from pathlib import Path

    from vauflow.io import UsageError, write_json, write_text

    if missing := [p for p in a.parts if not Path(p).is_file()]:
        raise UsageError(f"--parts: no file {', '.join(missing)}")
    summary = merge(a.runs, a.sft_alone, [json.loads(Path(p).read_text()) for p in a.parts], a.seed)
    write_json(Path(a.out) / "summary.json", summary)
    write_text(Path(a.out) / "summary.md", markdown(summary))
    print(markdown(summary))
