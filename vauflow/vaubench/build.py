"""Normalise VAU-Bench annotation CSVs (real or synthetic) into per-split, per-task JSONL.

Every row either becomes a task row or is excluded with a counted reason; for every split and task
rows = usable + excluded. A file that is not VAU-Bench at all (missing columns) is refused with one line.
"""

import collections
import csv
import io
import re
from pathlib import Path

from jsonschema import Draft202012Validator

from vauflow import tasks
from vauflow.annotation import COLUMNS, parse_time
from vauflow.io import UsageError, write_json, write_jsonl

PAPER_SOURCES = {
    "msad": {"prefix": "msad_", "test_split": "test_msad", "dataset": "msad"},
    "ucf_crime": {"prefix": "ucf_", "test_split": "test_ucf_crime", "dataset": "ucf_crime"},
    "ecva": {"prefix": "ecva_", "test_split": "test_ecva", "dataset": "ecva"},
}

_COMMON = {
    "id": {"type": "string"},
    "split": {"type": "string"},
    "video_name": {"type": "string"},
    "dataset": {"type": "string"},
    "video": {"type": "string", "minLength": 1},
    "start": {"type": "number"},
    "end": {"type": "number"},
}
# the tasks whose rows come from the VAU-Bench CSVs, each with its own fields (vauflow/tasks/<task>.py)
CSV_TASKS = [t for t in tasks.TASKS.values() if t.from_csv is not None]
VALIDATORS = {
    t.name: Draft202012Validator(
        {
            "type": "object",
            "properties": _COMMON | t.row_fields,
            "required": sorted(_COMMON.keys() - {"start", "end"}) + sorted(t.row_fields),
        }
    )
    for t in CSV_TASKS
}


def read_csv(path):
    """(header, records) with undecodable bytes kept as surrogates so that rows, not files, get excluded."""
    text = Path(path).read_bytes().decode("utf-8", errors="surrogateescape").lstrip("\ufeff")
    csv.field_size_limit(1 << 26)
    try:
        records = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as e:
        raise UsageError(f"{path}: not a readable CSV file ({e})") from None
    if not records:
        raise UsageError(f"{path}: empty file, expected the 13-column VAU-Bench header")
    header = [h.strip() for h in records[0]]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise UsageError(f"{path}: missing column(s) {', '.join(repr(m) for m in missing)}")
    return header, records[1:]


def route(split, name, sources):
    """(dataset, relpath) of a row's video, or raise ValueError(reason)."""
    for src in sources.values():
        if split == src["test_split"]:
            dataset, video = src["dataset"], name
            break
    else:
        for src in sources.values():
            if name.startswith(src["prefix"]):
                dataset, video = src["dataset"], name[len(src["prefix"]) :]
                break
        else:
            raise ValueError("unknown_source")
    if "/" in video or "\\" in video or video in (".", "..") or video.startswith("."):
        raise ValueError("bad_video_name")
    if not re.search(r"\.[A-Za-z0-9]{2,4}$", video):
        video += ".mp4"  # upstream loaders append .mp4 when missing
    return dataset, video


def task_rows(row, base):
    """{task: row dict | exclusion reason} for one CSV row."""
    return {t.name: t.from_csv(row, base) for t in CSV_TASKS}


def build(annotations_dir, out_dir, sources=None):
    sources = sources or PAPER_SOURCES
    files = sorted(Path(annotations_dir).glob("*.csv"))
    if not files:
        raise UsageError(f"--annotations {annotations_dir}: no *.csv files")
    summary = {}
    for path in files:
        split = path.stem
        header, records = read_csv(path)
        col = {c: header.index(c) for c in COLUMNS}
        rows = {t.name: [] for t in CSV_TASKS}
        excluded = {t.name: collections.Counter() for t in CSV_TASKS}
        seen = set()
        for rec in records:
            if not any(f.strip() for f in rec):
                continue  # blank line, not a row
            reason, tr = None, None
            if len(rec) != len(header):
                reason = "malformed_row"
            elif any(re.search("[\udc80-\udcff]", f) for f in rec):
                reason = "non_utf8_bytes"
            else:
                row = {c: rec[i] for c, i in col.items()}
                name = row["Video Name"].strip()
                if not name or name == "-1":
                    reason = "missing_video_name"
                elif name in seen:
                    reason = "duplicate_video"
                else:
                    seen.add(name)
                    try:
                        dataset, video = route(split, name, sources)
                    except ValueError as e:
                        reason = str(e)
                    else:
                        base = {
                            "id": f"{split}/{name}",
                            "split": split,
                            "video_name": name,
                            "dataset": dataset,
                            "video": video,
                        }
                        for k, field in (("start", "Start Time"), ("end", "End Time")):
                            try:
                                base[k] = parse_time(row[field])
                            except ValueError:
                                pass
                        tr = task_rows(row, base)
            for t in rows:
                r = reason if tr is None else tr[t]
                if isinstance(r, str):
                    excluded[t][r] += 1
                else:
                    VALIDATORS[t].validate(r)
                    rows[t].append(r)
        n = sum(1 for rec in records if any(f.strip() for f in rec))
        for t in rows:
            assert len(rows[t]) + sum(excluded[t].values()) == n, (split, t)
            write_jsonl(Path(out_dir) / split / f"{t}.jsonl", rows[t])
        summary[split] = {
            "rows": n,
            "usable": {t: len(rows[t]) for t in rows}
            | {
                "tag_scored": sum(r["scored"] for r in rows["tag"]),
                "cls_labelled": sum(r["labelled"] for r in rows["cls"]),
            },
            "excluded": {t: dict(sorted(excluded[t].items())) for t in rows},
        }
    write_json(Path(out_dir) / "summary.json", summary)
    return summary


def main(a):
    """`vauflow vaubench build`."""
    for split, v in build(a.annotations, a.out, sources=a.sources).items():
        print(f"vaubench {split}: {v['rows']} rows, usable {v['usable']}")
