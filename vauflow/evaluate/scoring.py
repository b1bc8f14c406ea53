"""Scoring evaluation cells: a cell's ground-truth rows (the linked rows of its task and split), its predictions,
and its task's metric. `vauflow eval metrics` scores any prediction file the same way."""

import json
from pathlib import Path

from vauflow import tasks
from vauflow.io import UsageError, read_jsonl
from vauflow.plan import cell_name

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


def paper_metric_tasks():
    return [n for n, t in tasks.TASKS.items() if t.paper_metrics is not None]


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
