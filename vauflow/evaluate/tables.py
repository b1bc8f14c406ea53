"""The paper's tables from the evaluation jobs: which model feeds which table (the matrix), each number with its n
and 95 % interval (Wilson for accuracies, seeded bootstrap for mIoU), trivial baselines, the published VAU-R1
numbers in a separate labelled block, and a provenance footer without timestamps (two runs, identical files)."""

import hashlib
import json
from pathlib import Path

import yaml

from vauflow.config import grpo_init_run, grpo_runs, sft_runs
from vauflow.evaluate import metrics
from vauflow.evaluate.metrics import bootstrap_mean, wilson
from vauflow.io import read_jsonl

BALL_SPLIT = "val"
TABLE_TASK = {"A": "qa", "B": "tag", "C": "cls", "ball": "ball"}
TITLE = {"A": "Table A: multiple-choice QA accuracy (%)", "B": "Table B: temporal anomaly grounding (%)",
         "C": "Table C: anomaly classification, test splits pooled (%)", "ball": "Ball: direction accuracy (%)"}


def test_splits(config):
    return [s["test_split"] for s in config["vaubench"]["sources"].values()]


def sft_for(config, task):
    """The SFT model a task's table row shows: the one its GRPO run started from, else its own SFT run."""
    if task in grpo_runs(config) and grpo_init_run(config, task):
        return f"sft-{grpo_init_run(config, task)}"
    return f"sft-{task}" if task in sft_runs(config) else None


def table_rows(config, table):
    """[(model id, label)] of one table, for the models this config makes: the zero-shot baselines; each other
    base as it is, + SFT, + RFT (on the tasks it trains); the base, + SFT, + RFT; in Table C the RFT ablations."""
    task = TABLE_TASK[table]
    grpo = grpo_runs(config)
    others = [b for b, tasks in config["model"]["other_bases"].items() if task in tasks]
    rows = [] if table == "ball" else [(f"zs-{m}", f"{m} (zero-shot)") for m in config["eval"]["zero_shot"]
                                       if m not in others]
    for other in others:
        run = f"{task}@{other}"
        rows += [(f"zs-{other}", f"{other}"), (sft_for(config, run), f"{other} + SFT"),
                 (f"rft-{run}" if run in grpo else None, f"{other} + RFT")]
    rows += [("base", "base"), (sft_for(config, task), "+ SFT"), (f"rft-{task}" if task in grpo else None, "+ RFT")]
    if table == "C":
        rows += [(f"rft-{r}", f"+ RFT w/ {r.upper()}") for r in config["grpo"]["runs"] if r != "cls" and r != "ball"]
    return [(m, label) for m, label in rows if m is not None]


def model_path(config, model):
    if model == "base":
        return f"resources/models/{config['model']['base']}"
    if model.startswith("zs-"):  # a zero-shot baseline: another base model, as it is
        return f"resources/models/{model[3:]}"
    kind, run = model.split("-", 1)
    return f"results/{'sft' if kind == 'sft' else 'grpo'}/{run}"


def eval_models(config):
    """{model id: [[task, split, think], ...]}: every cell some table needs from that model."""
    cells = {}
    for table, task in TABLE_TASK.items():
        splits = [BALL_SPLIT] if task == "ball" else test_splits(config)
        for model, _ in table_rows(config, table):
            for split in splits:
                for think in config["eval"]["think"]:
                    if [task, split, think] not in cells.setdefault(model, []):
                        cells[model].append([task, split, think])
                if table == "A" and config["eval"]["reasoning"]:  # the VAU-Eval columns: one mode, two turns
                    cells[model].append(["reasoning", split, False])
    return cells


def judged_models(config):
    """Models whose reasoning outputs VAU-Eval scores (Table A's rows)."""
    return [m for m, _ in table_rows(config, "A")] if config["eval"]["reasoning"] else []


def cell_name(task, split, think):
    """A cell's file name: <task>_<split>_<think|nothink>."""
    return f"{task}_{split}_{'think' if think else 'nothink'}"


def gt_rows(task, split, built, ball_linked):
    if task == "ball":
        return read_jsonl(Path(ball_linked) / f"{split}.jsonl")
    return read_jsonl(Path(built) / split / f"{task}.jsonl")


def score_cells(cells, pred_dir, built, ball_linked):
    """{cell: metrics}; TAG cells keep their per-row IoUs (for bootstrap intervals)."""
    out = {}
    for task, split, think in cells:
        name = cell_name(task, split, think)
        gt, preds = gt_rows(task, split, built, ball_linked), read_jsonl(Path(pred_dir) / f"{name}.jsonl")
        if task == "reasoning":  # scored by VAU-Eval (the vau_eval job), not here
            out[name] = {"n": len(preds)}
        elif task == "ball":
            out[name] = metrics.ball_metrics(gt, preds)
        else:
            out[name] = metrics.PAPER_METRICS[task](gt, preds)
        if task == "tag":
            out[name]["ious"] = metrics.tag_ious(gt, preds)
    return out


# -- formatting ---------------------------------------------------------------------------------------------
def acc_cell(pct, n):
    if n == 0:
        return "n/a"
    k = round(pct * n / 100)
    lo, hi = wilson(k, n)
    return f"{pct:.2f} [{100 * lo:.1f}, {100 * hi:.1f}] (n={n})"


def miou_cell(m, seed):
    if not m or m["n"] == 0:
        return "n/a"
    lo, hi = bootstrap_mean(m["ious"], seed)
    return f"{m['miou']:.2f} [{100 * lo:.1f}, {100 * hi:.1f}] (n={m['n']})"


def baselines(config, table, built, ball_linked):
    """Trivial references per split: the majority letter / class of that split, the best constant interval."""
    task, out = TABLE_TASK[table], {}
    splits = [BALL_SPLIT] if task == "ball" else test_splits(config)
    for split in splits:
        gt = gt_rows(task, split, built, ball_linked)
        if task == "qa":
            top = max(sorted({g["answer"] for g in gt}), key=[g["answer"] for g in gt].count) if gt else None
            out[split] = (f"always {top}", 100 * sum(g["answer"] == top for g in gt) / max(1, len(gt)), len(gt))
        elif task == "tag":
            train = read_jsonl(Path(built) / "train" / "tag.jsonl")
            value, interval = metrics.best_constant_interval(train, gt)
            out[split] = (f"always {list(interval)}", 100 * value, sum(g["scored"] for g in gt))
        elif task == "ball":
            top = max(sorted({g["letter"] for g in gt}), key=[g["letter"] for g in gt].count)
            out[split] = (f"always {top}", 100 * sum(g["letter"] == top for g in gt) / len(gt), len(gt))
    if task == "cls":
        pooled = [g for s in splits for g in gt_rows("cls", s, built, ball_linked)]
        classes = [g["class"] for g in pooled]
        top = max(sorted(set(classes)), key=classes.count) if classes else None
        out["pooled"] = (f"always {top}", 100 * classes.count(top) / max(1, len(classes)), len(classes))
    return out


def vau_eval_cells(judged, split, seed):
    """Table A's VAU-Eval columns for one model and split: the five means and the total with its bootstrap
    interval and n (skipped / failed rows named beside it)."""
    r = (judged or {}).get("splits", {}).get(split)
    if r is None or r["n"] == 0:
        return ["n/a"] * 6, None
    means = r["means"]
    lo, hi = bootstrap_mean([row["total_score"] for row in r["rows"]], seed)
    extra = "".join(f", {k} {len(r[k])}" for k in ("skipped", "failed") if r[k])
    cells = [f"{means[c]:.2f}" for c in ("CLS", "KM", "FLU", "INF", "FAC")]
    cells.append(f"{means['Total']:.2f} [{lo:.1f}, {hi:.1f}] (n={r['n']}{extra})")
    return cells, {"means": means, "n": r["n"], "skipped": len(r["skipped"]), "failed": len(r["failed"])}


def render(config, results, built, ball_linked, provenance, seed=0, vau_eval=None):
    """(markdown, json object) of every table. `vau_eval`: {model: `vauflow eval judge` output}."""
    modes = config["eval"]["think"]
    mode_name = {False: "w/o think", True: "w/ think"}
    how = {"paper": "inference prompts verbatim, video first", "training": "the prompt each model was trained with"}
    md, data = [f"Evaluation prompts: {config['eval']['prompts']} ({how[config['eval']['prompts']]}).", ""], {}
    for table in ("A", "B", "C", "ball"):
        task = TABLE_TASK[table]
        rows = table_rows(config, table)
        md += [f"## {TITLE[table]}", ""]
        data[table] = {}
        if task in ("qa", "tag", "ball"):
            splits = [BALL_SPLIT] if task == "ball" else test_splits(config)
            metric_cols = ["mIoU", "R@0.3", "R@0.5", "R@0.7"] if task == "tag" else ["accuracy"]
            header = ["split", "model"] + [f"{c} {mode_name[t]}" for t in modes for c in metric_cols]
            judged = table == "A" and config["eval"]["reasoning"]
            if judged:
                labels = {j["label"] for j in (vau_eval or {}).values()}
                md += [f"VAU-Eval (0-10 each, Total 0-50) of the two-turn reasoning, scored by: "
                       f"{', '.join(sorted(labels)) or 'n/a'}.", ""]
                header += ["CLS", "KM", "FLU", "INF", "FAC", "Total"]
            md += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            for split in splits:
                for model, label in rows:
                    cells = []
                    for think in modes:
                        m = results.get(model, {}).get(cell_name(task, split, think))
                        data[table].setdefault(split, {}).setdefault(label, {})[mode_name[think]] = (
                            {k: v for k, v in m.items() if k != "ious"} if m else None)
                        if task == "tag":
                            cells += [miou_cell(m, seed)] + ([f"{m[f'r@{k}']:.2f}" if m else "n/a"
                                                               for k in (0.3, 0.5, 0.7)])
                        else:
                            cells.append(acc_cell(m["accuracy"], m["n"]) if m else "n/a")
                    if judged:
                        extra, summary = vau_eval_cells((vau_eval or {}).get(model), split, seed)
                        cells += extra
                        data[table][split][label]["VAU-Eval"] = summary
                    md.append(f"| {split} | {label} ({model}) | " + " | ".join(cells) + " |")
        else:  # CLS: pooled over the test splits
            header = ["model"] + [f"{c} {mode_name[t]}" for t in modes for c in ("binary", "multi")]
            md += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            for model, label in rows:
                cells = []
                for think in modes:
                    parts = [results.get(model, {}).get(cell_name("cls", s, think))
                             for s in test_splits(config)]
                    if any(p is None for p in parts):
                        cells += ["n/a", "n/a"]
                        continue
                    n = sum(p["n"] for p in parts)
                    binary = sum(p["binary_acc"] * p["n"] for p in parts) / max(1, n)
                    multi = sum(p["multi_acc"] * p["n"] for p in parts) / max(1, n)
                    data[table].setdefault(label, {})[mode_name[think]] = {"binary_acc": binary, "multi_acc": multi,
                                                                          "n": n}
                    cells += [acc_cell(binary, n), acc_cell(multi, n)]
                md.append(f"| {label} ({model}) | " + " | ".join(cells) + " |")
        base = baselines(config, table, built, ball_linked)
        data[table]["baselines"] = base
        md += ["", "Trivial baselines: " + "; ".join(f"{s}: {name} = {v:.2f} (n={n})" for s, (name, v, n)
                                                      in base.items()), ""]
    md += reference_block(config) + [""]
    md += ["## Provenance", ""] + [f"- {k}: {v}" for k, v in provenance.items()]
    data["provenance"] = provenance
    return "\n".join(md) + "\n", data


def reference_block(config):
    """The published numbers, labelled; compared row by row only where model id and dataset match."""
    pub = yaml.safe_load((Path(__file__).resolve().parents[2] / "workflow/report/published.yaml").read_text())
    repo = (config["models"][config["model"]["base"]].get("repo") or "").split("/")[-1].replace("-Instruct", "")
    lines = ["## Reference: published VAU-R1 numbers (not produced by this run)", "",
             f"Source: {pub['source']}. Rows are comparable with this run's only where the base model "
             f"matches ({repo or config['model']['base']}: " + ("a match exists" if any(
                 r["model"].startswith(repo) for r in pub["qa"]) and repo else "no match; for reference only") + ").",
             "", "| table | dataset | model | w/o think | w/ think |", "|---|---|---|---|---|"]
    for r in pub["qa"]:
        lines.append(f"| A (QA acc) | {r['dataset']} | {r['model']} | {r['acc_nothink']:.2f} | {r['acc_think']:.2f} |")
    for r in pub["tag"]:
        lines.append(f"| B (mIoU) | {r['dataset']} | {r['model']} | {r['nothink']['miou']:.2f} | "
                     f"{r['think']['miou']:.2f} |")
    for r in pub["cls"]:
        lines.append(f"| C (binary / multi) | pooled | {r['model']} | {r['nothink']['binary']:.2f} / "
                     f"{r['nothink']['multi']:.2f} | {r['think']['binary']:.2f} / {r['think']['multi']:.2f} |")
    lines += ["", "VAU-Eval (the paper's DeepSeek judge; 0-10 each, Total 0-50):", "",
              "| dataset | model | CLS | KM | FLU | INF | FAC | Total |", "|---|---|---|---|---|---|---|---|"]
    for r in pub["qa"]:
        if r.get("vau_eval"):
            lines.append(f"| {r['dataset']} | {r['model']} | "
                         + " | ".join(f"{r['vau_eval'][c]:.2f}" for c in ("CLS", "KM", "FLU", "INF", "FAC", "Total"))
                         + " |")
    return lines


def provenance(config, repo_dir, data_files):
    """What produced the tables: code, config, data and package versions (no timestamps)."""
    import importlib.metadata
    import subprocess

    try:
        sha = subprocess.run(["git", "-C", str(repo_dir), "rev-parse", "HEAD"], capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(repo_dir), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True).stdout.strip()
        sha += " (with uncommitted changes)" if dirty else ""
    except (OSError, subprocess.CalledProcessError):
        sha = "unknown (not a git checkout)"
    blob = json.dumps(config, sort_keys=True, default=str).encode()
    out = {"git": sha, "config sha256": hashlib.sha256(blob).hexdigest()}
    for f in sorted(map(str, data_files)):
        out[f"data {f}"] = hashlib.sha256(Path(f).read_bytes()).hexdigest()[:16]
    for pkg in ("vauflow", "torch", "transformers", "trl", "peft"):
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out
