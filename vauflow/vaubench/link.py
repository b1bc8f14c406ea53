"""Join annotation rows to the frame cache; rows that cannot be joined are excluded with a counted reason."""

import collections
import json
import os
from pathlib import Path

from vauflow import tasks
from vauflow.frames.cache import FrameCache
from vauflow.io import UsageError, read_jsonl, write_json, write_jsonl

END_TOLERANCE_S = 0.5  # annotations are rounded to 0.1 s; containers disagree on duration by a frame or two


def link_rows(rows, cache, tolerance=END_TOLERANCE_S, relative_to=None, check_interval=True):
    """(linked rows, Counter of exclusion reasons). Rows need `dataset`, `video` and optionally `end`. A missing or
    quarantined video excludes a row from every task; an interval past the video's end (`check_interval`) only
    from the task that uses the interval (TAG).
    `frames.shard` is written relative to `relative_to` (the linked folder), so readers find the cache from
    any working directory (vauflow.examples.load_rows resolves it)."""
    linked, excluded = [], collections.Counter()
    for r in rows:
        hit = cache.lookup(r["dataset"], r["video"])
        if hit is None:
            q = cache.quarantine_reason(r["dataset"], r["video"])
            excluded["video_quarantined" if q else "video_missing"] += 1
            continue
        shard, meta = hit
        if check_interval and r.get("end", 0) > meta["duration"] + tolerance:
            excluded["interval_past_end"] += 1
            continue
        shard = os.path.relpath(shard, relative_to) if relative_to is not None else str(shard)
        linked.append(
            r
            | {
                "frames": {
                    "shard": shard,
                    "key": meta["key"],
                    "duration": meta["duration"],
                    "fps": meta["fps"],
                    "total_frames": meta["total_frames"],
                }
            }
        )
    return linked, excluded


def _shard_dirs(frames):
    dirs = [Path(f) for f in frames]
    bad = [str(d) for d in dirs if not (d / "summary.json").is_file()]
    if bad:
        raise UsageError(f"--frames {bad[0]}: not a frame-cache shard (no summary.json)")
    return dirs


def link_vaubench(annotations_dir, frames, out_dir, tolerance=END_TOLERANCE_S, off=()):
    """Join every split's task rows to the frame cache. Rows of a dataset that is off (`datasets.<name>.origin:
    off`) are excluded as such; a dataset whose folder holds none of its rows' videos stops the run with one line
    (a wrong folder or naming scheme, not a few missing files)."""
    cache = FrameCache(_shard_dirs(frames))
    built = json.loads((Path(annotations_dir) / "summary.json").read_text())
    summary, found = {}, collections.Counter()
    wanted = collections.defaultdict(list)
    for split in built:
        summary[split] = {}
        for path in sorted((Path(annotations_dir) / split).glob("*.jsonl")):
            rows = read_jsonl(path)
            dropped = sum(r["dataset"] in off for r in rows)
            rows_on = [r for r in rows if r["dataset"] not in off]
            linked, excluded = link_rows(
                rows_on, cache, tolerance, relative_to=out_dir, check_interval=tasks.get(path.stem).has_interval
            )
            if dropped:
                excluded["dataset_off"] = dropped
            for r in rows_on:
                wanted[r["dataset"]].append(r["video"])
            found.update(r["dataset"] for r in rows_on if cache.resolve(r["dataset"], r["video"]) is not None)
            write_jsonl(Path(out_dir) / split / path.name, linked)
            summary[split][path.stem] = {
                "rows": len(rows),
                "linked": len(linked),
                "excluded": dict(sorted(excluded.items())),
            }
    for dataset, videos in sorted(wanted.items()):
        if dataset in cache.folders and not found[dataset]:
            folders = ", ".join(sorted(cache.folders[dataset]))
            raise UsageError(
                f"dataset {dataset}: none of its {len(set(videos))} videos is under {folders} "
                f"({sum(k[0] == dataset for k in cache.entries)} videos there); expected names like "
                f"{sorted(set(videos))[0]!r} (set datasets.{dataset}.path to the folder holding them)"
            )
    write_json(Path(out_dir) / "summary.json", summary)
    return summary


def link_ball(annotations_dir, frames, out_dir):
    """The ball set's rows, linked as VAU-Bench's are (<split>/ball.jsonl, a summary per split and task)."""
    cache = FrameCache(_shard_dirs(frames))
    summary = {}
    for split in ("train", "val"):
        rows = [r | {"dataset": "ball"} for r in read_jsonl(Path(annotations_dir) / split / "ball.jsonl")]
        linked, excluded = link_rows(rows, cache, relative_to=out_dir)
        write_jsonl(Path(out_dir) / split / "ball.jsonl", linked)
        summary[split] = {
            "ball": {"rows": len(rows), "linked": len(linked), "excluded": dict(sorted(excluded.items()))}
        }
    write_json(Path(out_dir) / "summary.json", summary)
    return summary


def main_vaubench(a):
    """`vauflow vaubench link`."""
    for split, by_task in link_vaubench(a.annotations, a.frames, a.out, off=tuple(a.off)).items():
        print(f"link {split}: " + ", ".join(f"{t} {v['linked']}/{v['rows']}" for t, v in by_task.items()))


def main_ball(a):
    """`vauflow ball link`."""
    s = link_ball(a.annotations, a.frames, a.out)
    print("ball: " + ", ".join(f"{k} {v['ball']['linked']}/{v['ball']['rows']}" for k, v in s.items()))
