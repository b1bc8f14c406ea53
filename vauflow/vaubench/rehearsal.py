"""The rehearsal of the paper preset (presets/rehearsal.yaml): the real VAU-Bench annotations, placeholder clips.

The public annotations have no train.csv: train = `ucf_subset_train.csv` plus val's `msad_` / `ecva_` rows (TAG trains
on MSAD + ECVA and needs them), val = the rest of val.csv; the test files are used as they are. For a seeded sample of
`rows_per_split` rows of every split (always with its longest interval), a placeholder clip is written under the row's
real name, in its dataset's folder (UCF-Crime in class sub-folders, the layout its archive unpacks into), lasting past
its interval. Rows without a clip are lost at the link step as "video missing", counted like a real missing video.
The folders are the rule's own (resources/rehearsal/videos/<dataset>, rewritten on a rerun): to rehearse on your
videos, point the datasets' paths at your folders instead; the rule never writes outside its own folders.
"""

import collections
import csv
import io
import json
import random
from pathlib import Path

import numpy as np

from vauflow.annotation import COLUMNS, parse_time
from vauflow.io import UsageError, write_json, write_text
from vauflow.vaubench.build import route

TRAIN_FROM_VAL = ("msad_", "ecva_")  # val rows that become training rows (TAG's sources)
CLIP_FPS = 1  # placeholder frame rate: a 94-minute ECVA clip is 5,640 small frames
CLIP_HW = (48, 64)
MIN_CLIP_S = 4.0


def read_rows(path):
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise UsageError(f"{path}: missing column(s) {', '.join(map(repr, missing))}")
        return list(reader)


def csv_text(rows):
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def splits_of(source):
    """{split: rows} of the rehearsal from the public annotation folder."""
    source = Path(source)
    need = ["val.csv", "ucf_subset_train.csv"]
    missing = [n for n in need if not (source / n).is_file()]
    if missing:
        raise UsageError(f"rehearsal source {source}: missing {', '.join(missing)} (the public VAU-Bench annotations)")
    val = read_rows(source / "val.csv")
    out = {
        "train": read_rows(source / "ucf_subset_train.csv")
        + [r for r in val if r["Video Name"].startswith(TRAIN_FROM_VAL)],
        "val": [r for r in val if not r["Video Name"].startswith(TRAIN_FROM_VAL)],
    }
    for path in sorted(source.glob("test_*.csv")):
        out[path.stem] = read_rows(path)
    return out


def end_time(row):
    try:
        return max(0.0, parse_time(row["End Time"]))
    except ValueError:
        return 0.0


def sample(rows, k, seed, split):
    """A seeded sample of k rows, always holding the row with the longest interval."""
    if not rows:
        return []
    longest = max(range(len(rows)), key=lambda i: end_time(rows[i]))
    rest = [i for i in range(len(rows)) if i != longest]
    rng = random.Random(f"{seed}/{split}")
    return sorted([longest] + rng.sample(rest, min(k - 1, len(rest))))


def class_folder(row):
    """UCF-Crime's archive keeps each video in a folder of its class (normal videos in their own folder)."""
    cls = row["Anomaly Class"].strip()
    return "Normal_Videos" if cls in ("Normal", "-1", "") else cls.replace(" ", "_")


def placeholder_frames(seconds, seed):
    """A small moving pattern, one frame per second; nothing a model could learn the labels from."""
    h, w = CLIP_HW
    base = np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)
    for t in range(int(np.ceil(seconds * CLIP_FPS))):
        yield np.roll(base, t % w, axis=1)


def prepare(source, annotations_dir, videos_root, sources, rows_per_split, seed, nested=("ucf_crime",), datasets=None):
    """Write the rehearsal's annotation CSVs and placeholder clips; returns the manifest (also written beside the
    annotations): sampled rows per split, clips per dataset, and the names shared between splits."""
    from vauflow.synth.encode import write_mp4

    splits = splits_of(source)
    clips = {}  # (dataset, relative path) -> seconds the clip must last
    sampled, shared = {}, collections.defaultdict(set)
    for split, rows in splits.items():
        write_text(Path(annotations_dir) / f"{split}.csv", csv_text(rows))
        picked = sample(rows, rows_per_split, seed, split)
        sampled[split] = [rows[i]["Video Name"] for i in picked]
        for i in picked:
            row = rows[i]
            try:
                dataset, video = route(split, row["Video Name"].strip(), sources)
            except ValueError:
                continue  # the build step excludes and counts it
            rel = f"{class_folder(row)}/{video}" if dataset in nested else video
            clips[dataset, rel] = max(clips.get((dataset, rel), 0.0), end_time(row) + 2.0, MIN_CLIP_S)
        for row in rows:
            try:
                shared[route(split, row["Video Name"].strip(), sources)].add(split)
            except ValueError:
                pass
    if datasets is not None:
        clips = {k: v for k, v in clips.items() if k[0] in datasets}
    for k, ((dataset, rel), seconds) in enumerate(sorted(clips.items())):
        write_mp4(Path(videos_root) / dataset / rel, placeholder_frames(seconds, seed + k), CLIP_FPS)
    for dataset in datasets if datasets is not None else {s["dataset"] for s in sources.values()}:
        (Path(videos_root) / dataset).mkdir(parents=True, exist_ok=True)
    overlaps = {f"{d}/{v}": sorted(s) for (d, v), s in sorted(shared.items()) if len(s) > 1}
    manifest = {
        "source": str(source),
        "seed": seed,
        "rows_per_split": rows_per_split,
        "rows": {s: len(r) for s, r in splits.items()},
        "sampled": sampled,
        "clips": {f"{d}/{rel}": round(sec, 1) for (d, rel), sec in sorted(clips.items())},
        "names_in_several_splits": overlaps,
    }
    write_json(Path(annotations_dir).parent / "rehearsal.json", manifest)
    return manifest


def summary_line(manifest):
    longest = max(manifest["clips"].values()) if manifest["clips"] else 0
    return (
        f"rehearsal: {sum(map(len, manifest['sampled'].values()))} sampled rows of "
        f"{json.dumps(manifest['rows'])}; {len(manifest['clips'])} placeholder clips (longest {longest:.0f} s); "
        f"{len(manifest['names_in_several_splits'])} video names in several splits"
    )


def main(a):
    """`vauflow rehearsal`."""
    print(
        summary_line(
            prepare(a.source, a.annotations, a.videos_root, a.sources, a.rows_per_split, a.seed, datasets=a.datasets)
        )
    )
