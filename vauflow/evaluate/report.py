"""Figures for `snakemake --report`: training curves (SFT loss; GRPO reward per function, KL, zero-std group
fraction, completion length), per-task accuracy with 95 % intervals, TAG IoU histograms and a CLS confusion matrix.

SVGs are written without a date and with a fixed id salt, so two runs give identical files."""

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend)

from vauflow import (
    stats,  # noqa: E402
    tasks,  # noqa: E402
)
from vauflow.annotation import CLASSES  # noqa: E402
from vauflow.io import read_jsonl  # noqa: E402
from vauflow.plan import cell_name, eval_splits, table_rows, test_splits  # noqa: E402
from vauflow.tasks.cls import pairs as cls_pairs  # noqa: E402

# text stays text (searchable, smaller files)
plt.rcParams.update({"svg.hashsalt": "vauflow", "svg.fonttype": "none", "font.size": 8, "figure.dpi": 100})
MODE = {False: "w/o think", True: "w/ think"}


def save(fig, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="svg", metadata={"Date": None}, bbox_inches="tight")
    plt.close(fig)


def sft_curve(run_dir, path):
    m = json.loads((Path(run_dir) / "manifest.json").read_text())
    steps, loss = zip(*m["loss_curve"]) if m["loss_curve"] else ((), ())
    fig, ax = plt.subplots(figsize=(4, 2.5))
    ax.plot(steps, loss, marker=".")
    ax.set(xlabel="step", ylabel="training loss (completion tokens)", title=f"SFT {m['run']} ({m['steps']} steps)")
    save(fig, path)


def grpo_curves(run_dir, path):
    log = read_jsonl(Path(run_dir) / "log.jsonl")
    steps = [r["step"] for r in log]
    fig, axes = plt.subplots(1, 4, figsize=(13, 2.5))
    for key in sorted({k for r in log for k in r if k.startswith("rewards/")}):
        axes[0].plot(steps, [r.get(key) for r in log], label=key.split("/", 1)[1])
    axes[0].plot(steps, [r["reward"] for r in log], color="black", label="total")
    axes[0].legend(fontsize=6)
    for ax, key, label in zip(
        axes[1:],
        ("kl", "frac_zero_std_groups", "completion_length"),
        ("KL to the reference", "zero-std group fraction", "completion length (tokens)"),
    ):
        ax.plot(steps, [r[key] for r in log])
        ax.set_title(label)
    axes[0].set_title(f"GRPO {Path(run_dir).name}: mean reward")
    for ax in axes:
        ax.set(xlabel="step")
    fig.tight_layout()
    save(fig, path)


def accuracy_plot(config, tables, path):
    """Per task and split, every model's accuracy (or mIoU) with its 95 % interval and the trivial baseline."""
    panels = [
        (t, split) for t in tasks.tabled() for split in ([None] if t.table.pooled else eval_splits(config, t.name))
    ]
    fig, axes = plt.subplots(1, len(panels), figsize=(2.6 * len(panels), 3), sharey=True)
    for ax, (t, split) in zip(axes, panels):
        table = t.table.key
        block = tables[table] if split is None else tables[table].get(split, {})
        labels = [label for _, label in table_rows(config, t.name)]
        for k, think in enumerate(config["eval"]["think"]):
            values, errors = [], [[], []]
            for label in labels:
                m = (block.get(label) or {}).get(MODE[think]) or {}
                v, n = m.get("miou", m.get("multi_acc", m.get("accuracy", 0.0))), m.get("valid", m.get("n", 0))
                lo, hi = stats.wilson(round(v * n / 100), n) if t.graded_by == "accuracy" and n else (v / 100, v / 100)
                values.append(v)
                errors[0].append(max(0.0, v - 100 * lo))
                errors[1].append(max(0.0, 100 * hi - v))
            x = [i + 0.4 * k for i in range(len(labels))]
            ax.bar(x, values, width=0.4, yerr=errors, label=MODE[think], capsize=2)
        base = tables[table]["baselines"].get(split or "pooled")
        if base:
            ax.axhline(base[1], color="grey", linestyle="--", linewidth=1, label=f"baseline ({base[0]})")
        ax.set_xticks([i + 0.2 for i in range(len(labels))], labels, rotation=45, ha="right")
        ax.set_title(f"{t.table.short}\n{split or 'pooled'}")
        ax.legend(fontsize=5)
    axes[0].set(ylabel="% (95 % interval)")
    save(fig, path)


def tag_histograms(config, eval_dir, path):
    """IoU of every scored TAG row, per model of Table B, pooled over the test splits."""
    models = table_rows(config, "tag")
    fig, axes = plt.subplots(1, len(models), figsize=(3 * len(models), 2.5), sharey=True, squeeze=False)
    for ax, (model, label) in zip(axes[0], models):
        cells = json.loads((Path(eval_dir) / model / "metrics.json").read_text())["cells"]
        for think in config["eval"]["think"]:
            ious = [v for s in test_splits(config) for v in cells[cell_name("tag", s, think)]["ious"]]
            ax.hist(ious, bins=[i / 10 for i in range(11)], alpha=0.6, label=f"{MODE[think]} (n={len(ious)})")
        ax.set(title=f"{label} ({model})", xlabel="IoU")
        ax.legend(fontsize=6)
    axes[0][0].set(ylabel="rows")
    save(fig, path)


def cls_confusion(config, eval_dir, built, path):
    """Confusion matrix of Table C's CLS model (its last own row: RFT, else SFT, else base), w/o think when
    evaluated, pooled over the test splits; a column for answers naming no class."""
    model, label = [r for r in table_rows(config, "cls") if not r[1].startswith("+ RFT w/")][-1]
    think = False if False in config["eval"]["think"] else True
    pairs = []
    for split in test_splits(config):
        preds = read_jsonl(Path(eval_dir) / model / "predictions" / f"{cell_name('cls', split, think)}.jsonl")
        pairs += cls_pairs(read_jsonl(tasks.get("cls").rows_file(built, split)), preds)
    cols = CLASSES + ["(none)"]
    counts = [[sum(g == gt and (p or "(none)") == col for g, p in pairs) for col in cols] for gt in CLASSES]
    fig, ax = plt.subplots(figsize=(7, 6))
    ax.imshow(counts, cmap="Blues")
    for i, row in enumerate(counts):
        for j, c in enumerate(row):
            if c:
                ax.text(j, i, str(c), ha="center", va="center", fontsize=5)
    ax.set_xticks(range(len(cols)), cols, rotation=90, fontsize=5)
    ax.set_yticks(range(len(CLASSES)), CLASSES, fontsize=5)
    ax.set(xlabel="predicted", ylabel="ground truth", title=f"CLS {label} ({model}), {MODE[think]}, n={len(pairs)}")
    save(fig, path)


def figures(config, tables_json, eval_dir, built, sft_dirs, grpo_dirs, out_dir):
    """Every figure of the report, under out_dir/training and out_dir/eval; returns the paths written."""
    out_dir = Path(out_dir)
    for d in sft_dirs:
        sft_curve(d, out_dir / "training" / f"sft-{Path(d).name}.svg")
    for d in grpo_dirs:
        grpo_curves(d, out_dir / "training" / f"grpo-{Path(d).name}.svg")
    tables = json.loads(Path(tables_json).read_text())
    accuracy_plot(config, tables, out_dir / "eval" / "accuracy.svg")
    tag_histograms(config, eval_dir, out_dir / "eval" / "tag_iou.svg")
    cls_confusion(config, eval_dir, built, out_dir / "eval" / "cls_confusion.svg")
    return sorted(out_dir.rglob("*.svg"))


def main(a):
    """`vauflow report`."""
    for path in figures(a.config, a.tables, a.eval, a.built, a.sft, a.grpo, a.out):
        print(path)
