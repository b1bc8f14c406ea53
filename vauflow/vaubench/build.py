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

from vauflow.io import UsageError, write_json, write_jsonl
from vauflow.vaubench.schema import (
    COLUMNS, TASKS, answer_letter, canonical_class, is_missing, parse_reasoning, parse_time,
)

PAPER_SOURCES = {
    "msad": {"prefix": "msad_", "test_split": "test_msad", "dataset": "msad"},
    "ucf_crime": {"prefix": "ucf_", "test_split": "test_ucf_crime", "dataset": "ucf_crime"},
    "ecva": {"prefix": "ecva_", "test_split": "test_ecva", "dataset": "ecva"},
}

_COMMON = {
    "id": {"type": "string"}, "split": {"type": "string"}, "video_name": {"type": "string"},
    "dataset": {"type": "string"}, "video": {"type": "string", "minLength": 1},
    "start": {"type": "number"}, "end": {"type": "number"},
}
_TASK_FIELDS = {
    "qa": {"question": {"type": "string", "minLength": 1},
           "options": {"type": "array", "items": {"type": "string"}, "minItems": 4, "maxItems": 4},
           "answer": {"enum": ["A", "B", "C", "D"]}},
    "tag": {"label": {"enum": ["Normal", "Anomaly"]},
            "gt": {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2},
            "scored": {"type": "boolean"}},
    "cls": {"class": {"type": "string"}, "labelled": {"type": "boolean"}, "interval_annotated": {"type": "boolean"}},
    "reasoning": {"description": {"type": "string", "minLength": 1}, "key_object": {"type": "string"},
                  "reasoning": {"type": "object"}, "reasoning_format": {"enum": ["dict", "markdown", "plain"]},
                  "gt_description": {"type": "string"}, "gt_analysis": {"type": "string"}},
}
VALIDATORS = {
    t: Draft202012Validator({"type": "object", "properties": _COMMON | f, "required": sorted(_COMMON.keys() - {"start", "end"}) + sorted(f)})
    for t, f in _TASK_FIELDS.items()
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
                dataset, video = src["dataset"], name[len(src["prefix"]):]
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
    out = {}
    # QA
    if is_missing(row["Question"]):
        out["qa"] = "qa_unlabelled"
    elif any(is_missing(row[f"Option {i}"]) for i in range(1, 5)):
        out["qa"] = "missing_option"
    elif (letter := answer_letter(row["Correct Option"])) is None:
        out["qa"] = "bad_correct_option"
    else:
        out["qa"] = base | {"question": row["Question"].strip(),
                            "options": [row[f"Option {i}"].strip() for i in range(1, 5)],
                            "answer": letter, "full_text_option": len(row["Correct Option"].strip()) > 1,
                            # upstream's evaluate_qa.py compares with this cell as it is (case-insensitive)
                            "correct_option": row["Correct Option"]}
    # TAG: 0/0 = normal (GT [-1, -1] as the prompt asks), -1/-1 = anomalous without a temporal label
    cls = canonical_class(row["Anomaly Class"])
    try:
        s, e = parse_time(row["Start Time"]), parse_time(row["End Time"])
    except ValueError:
        out["tag"] = "bad_time"
    else:
        if s == -1 and e == -1:
            out["tag"] = "unannotated_interval"
        elif s < 0 or e < 0:
            out["tag"] = "negative_time"
        elif s > e:
            out["tag"] = "unordered_interval"
        else:
            normal_interval = s == 0 and e == 0
            label = ("Normal" if cls == "Normal" else "Anomaly") if cls else ("Normal" if normal_interval else "Anomaly")
            out["tag"] = base | {"label": label, "gt": [-1.0, -1.0] if normal_interval else [s, e],
                                 "scored": not normal_interval,
                                 "quirk": "normal_with_interval" if cls == "Normal" and not normal_interval else None}
    # CLS: a "-1" class stays (unlabelled): upstream's evaluation_cls.py scores those rows (an anomaly that no
    # class name can match), and the paper's denominator N = 932 holds them; training never sees them
    if cls:
        out["cls"] = base | {"class": cls, "labelled": True, "interval_annotated": _annotated(row)}
    elif row["Anomaly Class"].strip() == "-1":
        out["cls"] = base | {"class": "-1", "labelled": False, "interval_annotated": _annotated(row)}
    else:
        out["cls"] = "unknown_class"
    # Reasoning (VAU-Eval ground truth): the judge gets the CSV cells byte for byte; like upstream, only empty
    # cells leave ("-1" is text, and is judged)
    if not row["Description"].strip() or not row["Reasoning"].strip():
        out["reasoning"] = "missing_text"
    else:
        sections, fmt = parse_reasoning(row["Reasoning"])
        out["reasoning"] = base | {
            "description": row["Description"].strip(), "key_object": row["Key Object"].strip(),
            "reasoning": sections or {}, "reasoning_format": fmt, "class": cls,
            "gt_description": row["Description"], "gt_analysis": row["Reasoning"]}
    return out


def _annotated(row):
    """False for the -1/-1 rows (anomalous, no temporal label)."""
    try:
        return not (parse_time(row["Start Time"]) == -1 and parse_time(row["End Time"]) == -1)
    except ValueError:
        return False


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
        rows = {t: [] for t in TASKS}
        excluded = {t: collections.Counter() for t in TASKS}
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
                        base = {"id": f"{split}/{name}", "split": split, "video_name": name,
                                "dataset": dataset, "video": video}
                        for k, field in (("start", "Start Time"), ("end", "End Time")):
                            try:
                                base[k] = parse_time(row[field])
                            except ValueError:
                                pass
                        tr = task_rows(row, base)
            for t in TASKS:
                r = reason if tr is None else tr[t]
                if isinstance(r, str):
                    excluded[t][r] += 1
                else:
                    VALIDATORS[t].validate(r)
                    rows[t].append(r)
        n = sum(1 for rec in records if any(f.strip() for f in rec))
        for t in TASKS:
            assert len(rows[t]) + sum(excluded[t].values()) == n, (split, t)
            write_jsonl(Path(out_dir) / split / f"{t}.jsonl", rows[t])
        summary[split] = {
            "rows": n,
            "usable": {t: len(rows[t]) for t in TASKS} | {"tag_scored": sum(r["scored"] for r in rows["tag"]),
                                                           "cls_labelled": sum(r["labelled"] for r in rows["cls"])},
            "excluded": {t: dict(sorted(excluded[t].items())) for t in TASKS},
        }
    write_json(Path(out_dir) / "summary.json", summary)
    return summary
