"""The paper's tables rendered from the evaluation jobs' scores (which model feeds which table is vauflow.plan's):
each number with its n and 95 % interval (Wilson for accuracies, seeded bootstrap for mIoU), each task's trivial
baseline, the published VAU-R1 numbers in a separate labelled block, and a provenance footer without timestamps
(two runs, identical files)."""

import collections
import csv
import io
from pathlib import Path

import yaml

from vauflow import tasks
from vauflow.plan import cell_name, eval_splits, table_rows
from vauflow.stats import bootstrap_mean, wilson

# the published VAU-R1 numbers (package data: a link to workflow/report/published.yaml in a checkout)
PUBLISHED = Path(__file__).resolve().parents[1] / "data" / "published.yaml"


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


def vau_eval_cells(judged, split, seed):
    """Table A's VAU-Eval columns for one model and split: the five means and the total with its bootstrap
    interval and n (skipped / failed rows counted beside it, and the Total with skipped rows as 0)."""
    r = (judged or {}).get("splits", {}).get(split)
    if r is None:
        return ["n/a"] * 6, None
    if r["n"] == 0:  # nothing judged: every answer empty (or failed); the Total with them as 0 is 0, not n/a
        lost = ", ".join(f"{k} {len(r[k])}" for k in ("skipped", "failed") if r[k])
        return ["—"] * 5 + [f"0.00 (n=0, {lost or 'no rows'})"], None
    means = r["means"]
    lo, hi = bootstrap_mean([row["total_score"] for row in r["rows"]], seed)
    extra = "".join(f", {k} {len(r[k])}" for k in ("skipped", "failed") if r[k])
    if r["skipped"]:  # empty answers: upstream leaves them out of the mean; the Total with them as 0 beside it
        extra += f"; {r['total_with_skipped']:.2f} with skipped as 0"
    cells = [f"{means[c]:.2f}" for c in ("CLS", "KM", "FLU", "INF", "FAC")]
    cells.append(f"{means['Total']:.2f} [{lo:.1f}, {hi:.1f}] (n={r['n']}{extra})")
    summary = {
        "means": means,
        "n": r["n"],
        "skipped": len(r["skipped"]),
        "failed": len(r["failed"]),
        "total_with_skipped": r["total_with_skipped"],
    }
    return cells, summary


MODE_NAME = {False: "w/o think", True: "w/ think"}
HOW = {"paper": "inference prompts verbatim, video first", "training": "the prompt each model was trained with"}
VAU_EVAL_COLUMNS = ("CLS", "KM", "FLU", "INF", "FAC", "Total")


def render(config, results, baselines, summaries, overlaps, provenance, seed=0, vau_eval=None):
    """(markdown, json object, rows for csv/tex) of every table, from what vauflow.evaluate.scoring gathered:
    `results` {model: {cell: metrics}}, `baselines` {task: {split: (name, %, n)}}, `summaries` {task source: the
    link step's counts}, `overlaps` [test videos also named in train/val], `vau_eval` {model: `vauflow eval judge`
    output}. Accuracies are scored as the original scripts score them (QA over its `valid` rows); tables.json
    carries the accuracy over all rows and our stricter parsers' numbers beside them."""
    population = config["eval"]["cls_population"]
    md = [
        f"Evaluation prompts: {config['eval']['prompts']} ({HOW[config['eval']['prompts']]}). Scored as the "
        f"original VAU-R1 scripts score (docs/evaluation.md); CLS population: {population}.",
        "",
    ]
    out, flat = {}, []
    for t in tasks.tabled():
        md += [f"## {t.table.title}", ""]
        out[t.table.key] = {}
        draw = pooled_table if t.table.pooled else split_table
        md += draw(config, t, results, summaries[t.source], out[t.table.key], flat, seed, vau_eval)
        base = baselines.get(t.name, {})
        out[t.table.key]["baselines"] = base
        md += [
            "",
            "Trivial baselines: "
            + (
                "; ".join(f"{s}: {name} = {v:.2f} (n={n})" for s, (name, v, n) in base.items())
                or "n/a (no training split)"
            ),
            "",
        ]
    if overlaps:
        md += ["Test videos also named in train/val (not removed): " + ", ".join(overlaps) + "\n"]
    md += reference_block(config) + [""]
    md += ["## Provenance", ""] + [f"- {k}: {v}" for k, v in provenance.items()]
    out["provenance"] = provenance
    return "\n".join(md) + "\n", out, flat


def split_table(config, t, results, linked_summary, table_json, flat, seed, vau_eval):
    """A table with a row per split and model (Tables A and B, the ball): markdown lines; fills `table_json`
    (tables.json)
    and `flat` (csv/tex)."""
    modes, key = config["eval"]["think"], t.table.key
    header = ["split", "model"] + [f"{c} {MODE_NAME[think]}" for think in modes for c in t.table.columns]
    judged = t.table.vau_eval and config["eval"]["reasoning"]
    md = []
    if judged:
        labels = {j["label"] for j in (vau_eval or {}).values()}
        md += [
            f"VAU-Eval (0-10 each, Total 0-50) of the two-turn reasoning, scored by: "
            f"{', '.join(sorted(labels)) or 'n/a'}.",
            "",
        ]
        header += VAU_EVAL_COLUMNS
    md += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for split in eval_splits(config, t.name):
        lost = losses(linked_summary, split, t.name)
        for model, label in table_rows(config, t.name):
            cells = []
            for think in modes:
                m = results.get(model, {}).get(cell_name(t.name, split, think))
                table_json.setdefault(split, {}).setdefault(label, {})[MODE_NAME[think]] = (
                    {k: v for k, v in m.items() if k != "ious"} | {"lost": lost} if m else None
                )
                row = (key, split, label, MODE_NAME[think])
                if t.graded_by == "iou":
                    cells += [miou_cell(m, seed, lost)] + [
                        f"{m[f'r@{k}']:.2f}" if m else "n/a" for k in (0.3, 0.5, 0.7)
                    ]
                    flat += [
                        (*row, metric, m[k] if m else None, m["n"] if m else 0)
                        for k, metric in (("miou", "mIoU"), ("r@0.3", "R@0.3"), ("r@0.5", "R@0.5"), ("r@0.7", "R@0.7"))
                    ]
                else:
                    cells.append(acc_cell(m["accuracy"], m["n"], m.get("valid"), lost) if m else "n/a")
                    flat.append((*row, "accuracy", m["accuracy"] if m else None, m.get("valid", m["n"]) if m else 0))
                    if m and "accuracy_all" in m:  # QA: over all n (unparsed = wrong)
                        flat.append((*row, "accuracy over all n", m["accuracy_all"], m["n"]))
            if judged:
                extra, summary = vau_eval_cells((vau_eval or {}).get(model), split, seed)
                cells += extra
                table_json[split][label]["VAU-Eval"] = summary
                if summary:
                    flat += [
                        (key, split, label, "VAU-Eval", dim, summary["means"][dim], summary["n"])
                        for dim in VAU_EVAL_COLUMNS
                    ]
            md.append(f"| {split} | {label} ({model}) | " + " | ".join(cells) + " |")
    return md


def pooled_table(config, t, results, linked_summary, table_json, flat, seed, vau_eval):
    """A table with a row per model over the test splits pooled (Table C): markdown lines; fills `table_json` and
    `flat`."""
    modes, splits = config["eval"]["think"], eval_splits(config, t.name)
    header = ["model"] + [f"{c} {MODE_NAME[think]}" for think in modes for c in t.table.columns]
    md = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lost = collections.Counter()
    for split in splits:
        lost.update(losses(linked_summary, split, t.name))
    for model, label in table_rows(config, t.name):
        cells = []
        for think in modes:
            parts = [results.get(model, {}).get(cell_name(t.name, s, think)) for s in splits]
            if any(p is None for p in parts):
                cells += ["n/a", "n/a"]
                continue
            n = sum(p["n"] for p in parts)
            pooled = {}
            for scoring, src in (("upstream", parts), ("strict", [p["strict"] for p in parts])):
                pooled[scoring] = {k: sum(p[k] * p["n"] for p in src) / max(1, n) for k in ("binary_acc", "multi_acc")}
            table_json.setdefault(label, {})[MODE_NAME[think]] = pooled["upstream"] | {
                "n": n,
                "strict": pooled["strict"],
                "lost": dict(lost),
            }
            cells += [
                acc_cell(pooled["upstream"]["binary_acc"], n, lost=lost),
                acc_cell(pooled["upstream"]["multi_acc"], n, lost=lost),
            ]
            for k in ("binary_acc", "multi_acc"):
                flat.append((t.table.key, "pooled", label, MODE_NAME[think], k, pooled["upstream"][k], n))
        md.append(f"| {label} ({model}) | " + " | ".join(cells) + " |")
    return md


def tables_csv(flat):
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["table", "split", "model", "mode", "metric", "value", "n"])
    w.writerows([*r[:5], "" if r[5] is None else f"{r[5]:.4f}", r[6]] for r in flat)
    return buf.getvalue()


def tables_tex(flat):
    """Every number as a booktabs table (one per paper table)."""
    out, titles = [], {t.table.key: t.table.title for t in tasks.tabled()}
    for table in dict.fromkeys(r[0] for r in flat):
        rows = [r for r in flat if r[0] == table]
        out += [
            f"% {titles[table]}",
            r"\begin{tabular}{lllllr}",
            r"\toprule",
            r"split & model & mode & metric & value & $n$ \\",
            r"\midrule",
        ]
        for _, split, label, mode, metric, value, n in rows:
            cell = "--" if value is None else f"{value:.2f}"
            out.append(" & ".join(_tex(x) for x in (split, label, mode, metric)) + f" & {cell} & {n} \\\\")
        out += [r"\bottomrule", r"\end{tabular}", ""]
    return "\n".join(out)


def _tex(text):
    return "".join("\\" + c if c in "&%$#_{}" else c for c in str(text))


def reference_block(config):
    """The published numbers, labelled; compared row by row only where model id and dataset match."""
    pub = yaml.safe_load(PUBLISHED.read_text())
    repo = (config["models"][config["model"]["base"]].get("repo") or "").split("/")[-1].replace("-Instruct", "")
    lines = [
        "## Reference: published VAU-R1 numbers (not produced by this run)",
        "",
        f"Source: {pub['source']}. Rows are comparable with this run's only where the base model "
        f"matches ({repo or config['model']['base']}: "
        + (
            "a match exists"
            if any(r["model"].startswith(repo) for r in pub["qa"]) and repo
            else "no match; for reference only"
        )
        + ").",
        "",
        "| table | dataset | model | w/o think | w/ think |",
        "|---|---|---|---|---|",
    ]
    for r in pub["qa"]:
        lines.append(f"| A (QA acc) | {r['dataset']} | {r['model']} | {r['acc_nothink']:.2f} | {r['acc_think']:.2f} |")
    for r in pub["tag"]:
        lines.append(
            f"| B (mIoU) | {r['dataset']} | {r['model']} | {r['nothink']['miou']:.2f} | {r['think']['miou']:.2f} |"
        )
    for r in pub["cls"]:
        lines.append(
            f"| C (binary / multi) | pooled | {r['model']} | {r['nothink']['binary']:.2f} / "
            f"{r['nothink']['multi']:.2f} | {r['think']['binary']:.2f} / {r['think']['multi']:.2f} |"
        )
    lines += [
        "",
        "VAU-Eval (the paper's DeepSeek judge; 0-10 each, Total 0-50):",
        "",
        "| dataset | model | CLS | KM | FLU | INF | FAC | Total |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in pub["qa"]:
        if r.get("vau_eval"):
            lines.append(
                f"| {r['dataset']} | {r['model']} | "
                + " | ".join(f"{r['vau_eval'][c]:.2f}" for c in ("CLS", "KM", "FLU", "INF", "FAC", "Total"))
                + " |"
            )
    return lines
