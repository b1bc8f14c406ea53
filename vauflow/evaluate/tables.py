"""The paper's tables from the evaluation jobs: which model feeds which table (the matrix), each number with its n
and 95 % interval (Wilson for accuracies, seeded bootstrap for mIoU), trivial baselines, the published VAU-R1
numbers in a separate labelled block, and a provenance footer without timestamps (two runs, identical files)."""

import collections
import csv
import hashlib
import io
import json
from pathlib import Path

import yaml

from vauflow.config import active_datasets, grpo_init_run, grpo_runs, model_folder, sft_runs
from vauflow.evaluate import metrics
from vauflow.evaluate.metrics import bootstrap_mean, wilson
from vauflow.io import read_jsonl

BALL_SPLIT = "val"
TABLE_TASK = {"A": "qa", "B": "tag", "C": "cls", "ball": "ball"}
TITLE = {"A": "Table A: multiple-choice QA accuracy (%)", "B": "Table B: temporal anomaly grounding (%)",
         "C": "Table C: anomaly classification, test splits pooled (%)", "ball": "Ball: direction accuracy (%)"}


def test_splits(config):
    """The test splits of the sources whose dataset is in use."""
    on = active_datasets(config)
    return [s["test_split"] for s in config["vaubench"]["sources"].values() if s["dataset"] in on]


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
    rows += [] if table == "ball" else [(f"ext-{m}", f"{m} (external)") for m in config["eval"]["extra_models"]]
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
        return model_folder(config, config["model"]["base"])
    if model.startswith(("zs-", "ext-")):  # a zero-shot baseline or a model trained elsewhere, as it is
        return model_folder(config, model.split("-", 1)[1])
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


def score_cells(cells, pred_dir, vau_linked, ball_linked, settings=None):
    """{cell: metrics} over the linked rows (a row whose video is missing was never predicted: it is counted as
    lost in the tables, not scored). Scored as the original scripts score (`upstream`), with our stricter parsers'
    numbers beside them under "strict"; TAG cells keep their per-row IoUs (bootstrap intervals)."""
    settings = settings or {}
    population = settings.get("cls_population", "upstream")
    out = {}
    for task, split, think in cells:
        name = cell_name(task, split, think)
        gt, preds = gt_rows(task, split, vau_linked, ball_linked), read_jsonl(Path(pred_dir) / f"{name}.jsonl")
        if task == "reasoning":  # scored by VAU-Eval (the vau_eval job), not here
            out[name] = {"n": len(preds)}
        elif task == "ball":
            out[name] = metrics.ball_metrics(gt, preds)
        else:
            kw = {"population": population} if task == "cls" else {}
            out[name] = metrics.PAPER_METRICS[task](gt, preds, scoring="upstream", **kw)
            out[name]["strict"] = metrics.PAPER_METRICS[task](gt, preds, scoring="strict", **kw)
        if task == "tag":
            out[name]["ious"] = metrics.tag_ious(gt, preds)
    return out


def losses(linked_summary, split, task):
    """{reason: rows} a cell lost before inference (missing or quarantined video; for TAG an interval past the
    video's end), from the link step's counts."""
    ex = ((linked_summary or {}).get(split, {}).get(task, {}) or {}).get("excluded", {})
    return {k: v for k, v in sorted(ex.items()) if v}


def lost_text(lost):
    return "; lost " + ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in lost.items()) if lost else ""


# -- formatting ---------------------------------------------------------------------------------------------
def acc_cell(pct, n, valid=None, lost=None):
    if n == 0:
        return "n/a"
    k = round(pct * (n if valid is None else valid) / 100)
    lo, hi = wilson(k, n if valid is None else valid)
    shown = "" if valid is None or valid == n else f", valid={valid}"
    return f"{pct:.2f} [{100 * lo:.1f}, {100 * hi:.1f}] (n={n}{shown}{lost_text(lost or {})})"


def miou_cell(m, seed, lost=None):
    if not m or m["n"] == 0:
        return "n/a"
    lo, hi = bootstrap_mean(m["ious"], seed)
    return f"{m['miou']:.2f} [{100 * lo:.1f}, {100 * hi:.1f}] (n={m['n']}{lost_text(lost or {})})"


def baselines(config, table, built, vau_linked, ball_linked, population="upstream"):
    """References blind to the video, each from the training split (as the learning check's): the training
    majority letter / class / direction scored on the test rows, and the best constant interval."""
    task, out = TABLE_TASK[table], {}
    splits = [BALL_SPLIT] if task == "ball" else test_splits(config)
    train = (read_jsonl(Path(ball_linked) / "train.jsonl") if task == "ball" else
             read_jsonl(Path(built) / "train" / f"{task}.jsonl") if (Path(built) / "train").is_dir() else [])
    if task == "cls":
        train = [r for r in train if r.get("labelled", True)]
    for split in splits:
        gt = gt_rows(task, split, vau_linked, ball_linked)
        if task == "qa" and train:
            value, top = metrics.majority_baseline("qa", train, gt)
            out[split] = (f"always {top} (train majority)", 100 * value, len(gt))
        elif task == "tag" and train:
            value, interval = metrics.best_constant_interval(train, gt)
            out[split] = (f"always {list(interval)} (best on train)", 100 * value, sum(g["scored"] for g in gt))
        elif task == "ball" and train:
            value, top = metrics.majority_baseline("ball", train, gt)
            out[split] = (f"always {top} (train majority)", 100 * value, len(gt))
    if task == "cls" and train:
        pooled = [g for s in splits for g in metrics.cls_population(gt_rows("cls", s, vau_linked, ball_linked),
                                                                      population)]
        top = collections.Counter(r["class"] for r in train).most_common(1)[0][0]
        value = sum(g["class"] == top for g in pooled) / max(1, len(pooled))
        out["pooled"] = (f"always {top} (train majority)", 100 * value, len(pooled))
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


def render(config, results, built, vau_linked, ball_linked, provenance, seed=0, vau_eval=None):
    """(markdown, json object, rows for csv/tex) of every table. `vau_eval`: {model: `vauflow eval judge` output}.
    Accuracies are scored as the original scripts score them (QA over its `valid` rows); tables.json carries the
    accuracy over all rows and our stricter parsers' numbers beside them."""
    modes = config["eval"]["think"]
    population = config["eval"]["cls_population"]
    mode_name = {False: "w/o think", True: "w/ think"}
    how = {"paper": "inference prompts verbatim, video first", "training": "the prompt each model was trained with"}
    linked_summary = json.loads((Path(vau_linked) / "summary.json").read_text())
    md = [f"Evaluation prompts: {config['eval']['prompts']} ({how[config['eval']['prompts']]}). Scored as the "
          f"original VAU-R1 scripts score (README, Evaluation); CLS population: {population}.", ""]
    data, flat = {}, []
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
                lost = {} if task == "ball" else losses(linked_summary, split, task)
                for model, label in rows:
                    cells = []
                    for think in modes:
                        m = results.get(model, {}).get(cell_name(task, split, think))
                        data[table].setdefault(split, {}).setdefault(label, {})[mode_name[think]] = (
                            {k: v for k, v in m.items() if k != "ious"} | {"lost": lost} if m else None)
                        if task == "tag":
                            values = [miou_cell(m, seed, lost)] + ([f"{m[f'r@{k}']:.2f}" if m else "n/a"
                                                                     for k in (0.3, 0.5, 0.7)])
                            for key, metric in (("miou", "mIoU"), ("r@0.3", "R@0.3"), ("r@0.5", "R@0.5"),
                                                ("r@0.7", "R@0.7")):
                                flat.append((table, split, label, mode_name[think], metric, m[key] if m else None,
                                             m["n"] if m else 0))
                        else:
                            values = [acc_cell(m["accuracy"], m["n"], m.get("valid"), lost) if m else "n/a"]
                            flat.append((table, split, label, mode_name[think], "accuracy",
                                         m["accuracy"] if m else None, m.get("valid", m["n"]) if m else 0))
                            if m and "accuracy_all" in m:  # QA: over all n (unparsed = wrong)
                                flat.append((table, split, label, mode_name[think], "accuracy over all n",
                                             m["accuracy_all"], m["n"]))
                        cells += values
                    if judged:
                        extra, summary = vau_eval_cells((vau_eval or {}).get(model), split, seed)
                        cells += extra
                        data[table][split][label]["VAU-Eval"] = summary
                        if summary:
                            flat += [(table, split, label, "VAU-Eval", dim, summary["means"][dim], summary["n"])
                                     for dim in ("CLS", "KM", "FLU", "INF", "FAC", "Total")]
                    md.append(f"| {split} | {label} ({model}) | " + " | ".join(cells) + " |")
        else:  # CLS: pooled over the test splits
            header = ["model"] + [f"{c} {mode_name[t]}" for t in modes for c in ("binary", "multi")]
            md += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            lost = collections.Counter()
            for split in test_splits(config):
                lost.update(losses(linked_summary, split, "cls"))
            for model, label in rows:
                cells = []
                for think in modes:
                    parts = [results.get(model, {}).get(cell_name("cls", s, think))
                             for s in test_splits(config)]
                    if any(p is None for p in parts):
                        cells += ["n/a", "n/a"]
                        continue
                    n = sum(p["n"] for p in parts)
                    pooled = {}
                    for key, src in (("upstream", parts), ("strict", [p["strict"] for p in parts])):
                        pooled[key] = {k: sum(p[k] * p["n"] for p in src) / max(1, n)
                                       for k in ("binary_acc", "multi_acc")}
                    data[table].setdefault(label, {})[mode_name[think]] = pooled["upstream"] | {
                        "n": n, "strict": pooled["strict"], "lost": dict(lost)}
                    cells += [acc_cell(pooled["upstream"]["binary_acc"], n, lost=lost),
                              acc_cell(pooled["upstream"]["multi_acc"], n, lost=lost)]
                    for k in ("binary_acc", "multi_acc"):
                        flat.append((table, "pooled", label, mode_name[think], k, pooled["upstream"][k], n))
                md.append(f"| {label} ({model}) | " + " | ".join(cells) + " |")
        base = baselines(config, table, built, vau_linked, ball_linked, population)
        data[table]["baselines"] = base
        md += ["", "Trivial baselines: " + ("; ".join(f"{s}: {name} = {v:.2f} (n={n})" for s, (name, v, n)
                                                       in base.items()) or "n/a (no training split)"), ""]
    md += [overlap_footer(built, config)] if overlap_footer(built, config) else []
    md += reference_block(config) + [""]
    md += ["## Provenance", ""] + [f"- {k}: {v}" for k, v in provenance.items()]
    data["provenance"] = provenance
    return "\n".join(md) + "\n", data, flat


def overlap_footer(built, config):
    """Test videos whose name also appears in a training or validation split (flagged, not removed)."""
    names = {}
    for split in ("train", "val"):
        f = Path(built) / split / "cls.jsonl"
        if f.exists():
            names |= {(r["dataset"], r["video"]): split for r in read_jsonl(f)}
    hits = []
    for split in test_splits(config):
        f = Path(built) / split / "cls.jsonl"
        if f.exists():
            hits += [f"{split}/{r['video']} (also in {names[(r['dataset'], r['video'])]})" for r in read_jsonl(f)
                     if (r["dataset"], r["video"]) in names]
    return ("Test videos also named in train/val (not removed): " + ", ".join(hits) + "\n") if hits else ""


def tables_csv(flat):
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["table", "split", "model", "mode", "metric", "value", "n"])
    w.writerows([*r[:5], "" if r[5] is None else f"{r[5]:.4f}", r[6]] for r in flat)
    return buf.getvalue()


def tables_tex(flat):
    """Every number as a booktabs table (one per paper table)."""
    out = []
    for table in dict.fromkeys(r[0] for r in flat):
        rows = [r for r in flat if r[0] == table]
        out += [f"% {TITLE[table]}", r"\begin{tabular}{lllllr}", r"\toprule",
                r"split & model & mode & metric & value & $n$ \\", r"\midrule"]
        for _, split, label, mode, metric, value, n in rows:
            cell = "--" if value is None else f"{value:.2f}"
            out.append(" & ".join(_tex(x) for x in (split, label, mode, metric)) + f" & {cell} & {n} \\\\")
        out += [r"\bottomrule", r"\end{tabular}", ""]
    return "\n".join(out)


def _tex(text):
    return "".join("\\" + c if c in "&%$#_{}" else c for c in str(text))


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


def model_provenance(folder):
    """A base model's revision and folder hash: the locked commit of a fetched model, else a hash of the folder's
    configs and weights (sizes only for weights over 64 MB: a local 7B folder is not read through for a table)."""
    from vauflow.model.build import MANIFEST

    folder = Path(folder)
    if not folder.is_dir():
        return "absent"
    made = json.loads((folder / MANIFEST).read_text()) if (folder / MANIFEST).is_file() else {}
    if made.get("commit"):
        return (f"{made['source']} revision {made['revision']} = commit {made['commit']}, folder sha256 "
                f"{made['folder_sha256'][:16]}")
    h = hashlib.sha256()
    for f in sorted(folder.iterdir()):
        if f.is_file() and f.suffix in (".json", ".safetensors", ".jinja"):
            big = f.suffix == ".safetensors" and f.stat().st_size > 64 << 20
            h.update(f.name.encode() + (str(f.stat().st_size).encode() if big else f.read_bytes()))
    return f"{made.get('source', 'local folder')} folder sha256 {h.hexdigest()[:16]}"


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
    bases = [config["model"]["base"], *config["model"]["other_bases"], *config["eval"]["zero_shot"],
             *config["eval"]["extra_models"]]
    for name in dict.fromkeys(bases):
        out[f"model {name}"] = model_provenance(model_folder(config, name))
    for pkg in ("vauflow", "torch", "transformers", "trl", "peft"):
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out
