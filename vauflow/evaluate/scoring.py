"""Scoring evaluation cells: a cell's ground-truth rows (the linked rows of its task and split), its predictions,
and its task's metric. `vauflow eval metrics` scores any prediction file the same way."""

import json
from pathlib import Path

from vauflow import tasks
from vauflow.io import UsageError, read_jsonl
from vauflow.plan import cell_name, eval_splits, test_splits

PRED_KEYS = ("video", "response")


def gt_rows(task, split, data):
    """The linked rows of a task's split; `data` maps a task's source ("vau", "ball") to its linked folder."""
    t = tasks.get(task)
    return read_jsonl(t.rows_file(data[t.source], split))


def score_cells(cells, pred_dir, data, settings):
    """{cell: metrics} over the linked rows (a row whose video is missing was never predicted: it is counted as
    lost in the tables, not scored). Scored as the original scripts score (`upstream`), with our stricter parsers'
    numbers beside them under "strict"; TAG cells keep their per-row IoUs (bootstrap intervals). `settings`: the
    EvalSettings (CLS reads its population)."""
    out = {}
    for task, split, think in cells:
        name = cell_name(task, split, think)
        out[name] = tasks.get(task).score_cell(
            gt_rows(task, split, data), read_jsonl(Path(pred_dir) / f"{name}.jsonl"), settings
        )
    return out


def load_checked(path, keys, what):
    """JSONL rows, each with `keys`; anything else stops with one line naming the file and line."""
    if not Path(path).is_file():
        raise UsageError(f"{what} {path}: no such file")
    rows = []
    for i, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise UsageError(f"{what} {path}:{i}: not JSON ({e.msg})") from None
        missing = [k for k in keys if not isinstance(row, dict) or k not in row]
        if missing:
            raise UsageError(f"{what} {path}:{i}: missing {', '.join(missing)}")
        rows.append(row)
    return rows


def paper_metrics(task, pred_path, gt_path, scoring="upstream"):
    """A task's paper metric over one prediction file and its ground truth (both JSONL)."""
    t = tasks.get(task)
    gt = load_checked(gt_path, t.gt_keys, f"{task} ground truth")
    return t.paper_metrics(gt, load_checked(pred_path, PRED_KEYS, "predictions"), scoring=scoring)


def main(a):
    """`vauflow eval metrics`."""
    print(json.dumps(paper_metrics(a.task, a.pred, a.gt, scoring=a.scoring)))


def main_judge(a):
    """`vauflow eval judge`."""
    from vauflow.io import write_json
    from vauflow.tasks.vau_eval import vau_eval

    files = {s: Path(a.eval) / "predictions" / f"{cell_name('reasoning', s, False)}.jsonl" for s in a.splits}
    result = vau_eval(files, a.vau_data, a.scorer, llm=a.llm, cache=a.cache)
    write_json(a.out, result)
    for split, r in result["splits"].items():
        means = {k: (round(v, 2) if v is not None else None) for k, v in r["means"].items()}
        print(
            f"{split}: {result['label']}: n={r['n']} skipped={len(r['skipped'])} failed={len(r['failed'])} "
            f"{json.dumps(means)}"
        )


# -- the tables' inputs ------------------------------------------------------------------------------------
def baselines(config, task, built, data, population="upstream"):
    """The task's reference blind to the video, from the training split (as the learning check's): the training
    majority letter / class / direction, or the best constant interval, scored on each test split (pooled tables:
    on the pooled population). `built` holds the VAU rows before linking; the ball's training rows are its linked
    ones."""
    t = tasks.get(task)
    train_file = Path(t.rows_file(built if t.source == "vau" else data[t.source], "train"))
    if not train_file.is_file():
        return {}
    train = read_jsonl(train_file)
    if not train:
        return {}
    gts = {split: read_jsonl(t.rows_file(data[t.source], split)) for split in eval_splits(config, task)}
    if t.table.pooled:
        gts = {"pooled": [g for gt in gts.values() for g in t.population(gt, population)]}
    out = {}
    for split, gt in gts.items():
        name, value, n, _ = t.baseline(train, gt)
        out[split] = (name, 100 * value, n)
    return out


def overlaps(built, config):
    """Test videos whose name also appears in a training or validation split (flagged in the tables, not removed):
    ["<split>/<video> (also in <split>)"]. Every VAU row names its video in each task's file: CLS's is read."""
    names = {}
    for split in ("train", "val"):
        f = Path(built) / split / "cls.jsonl"
        if f.exists():
            names |= {(r["dataset"], r["video"]): split for r in read_jsonl(f)}
    hits = []
    for split in test_splits(config):
        f = Path(built) / split / "cls.jsonl"
        if f.exists():
            hits += [
                f"{split}/{r['video']} (also in {names[(r['dataset'], r['video'])]})"
                for r in read_jsonl(f)
                if (r["dataset"], r["video"]) in names
            ]
    return hits


def write_tables(config, eval_dir, vau_eval_dir, built, data, repo, out, seed=0):
    """Every table of the config's models from their metrics.json (and VAU-Eval files): tables.md, .json, .csv and
    .tex under `out`; returns the markdown."""
    from vauflow.evaluate.provenance import provenance
    from vauflow.evaluate.tables import render, tables_csv, tables_tex
    from vauflow.io import write_json, write_text
    from vauflow.plan import eval_models, judged_models, scored_files

    results = {m: json.loads((Path(eval_dir) / m / "metrics.json").read_text())["cells"] for m in eval_models(config)}
    judged = {m: json.loads((Path(vau_eval_dir) / f"{m}.json").read_text()) for m in judged_models(config)}
    data_files = [f for f in scored_files(config, built, data) if Path(f).exists()]
    population = config["eval"]["cls_population"]
    base = {t.name: baselines(config, t.name, built, data, population) for t in tasks.tabled()}
    summaries = {source: json.loads((Path(folder) / "summary.json").read_text()) for source, folder in data.items()}
    md, obj, flat = render(
        config,
        results,
        base,
        summaries,
        overlaps(built, config),
        provenance(config, repo, data_files),
        seed=seed,
        vau_eval=judged,
    )
    obj["vau_eval_scorer"] = {m: {k: j.get(k) for k in ("scorer", "label", "judge")} for m, j in judged.items()}
    write_text(Path(out) / "tables.md", md)
    write_json(Path(out) / "tables.json", obj)
    write_text(Path(out) / "tables.csv", tables_csv(flat))
    write_text(Path(out) / "tables.tex", tables_tex(flat))
    return md


def main_tables(a):
    """`vauflow eval tables`."""
    from vauflow.commands import data_of

    print(write_tables(a.config, a.eval, a.vau_eval, a.built, data_of(a), a.repo, a.out, a.seed))
