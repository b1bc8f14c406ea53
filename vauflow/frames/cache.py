"""Read the frame cache and derive one consumer's clip from it (no torch).

Frames are stored per video either raw (`<key>.npy`, memory-mapped) or encoded one image per frame (`<key>.npz`
of PNG or JPEG bytes, `frames.codec`), so a consumer decodes only the frames it takes. An extracted cache holds the
union of the consumers' frames at native size; a sized cache (vauflow.frames.size) holds each consumer's frames at
its own size (`<key>.<consumer>.npy`), which the input builder then takes as they are."""

import collections
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vauflow.frames.budget import TEMPORAL_PATCH_SIZE, VideoBudget, parse_budgets
from vauflow.io import UsageError

SUFFIX = {"raw": ".npy", "png": ".npz", "jpeg": ".npz"}  # frames.codec -> file suffix


@dataclass
class Clip:
    frames: np.ndarray  # [T, H, W, 3] uint8, stored resolution (a sized cache's: resized_hw)
    indices: list  # source frame indices
    times: list  # seconds
    sample_fps: float
    second_per_grid_ts: float  # exact, from the sampled fps (never the processor's assumed 2.0 or 24)
    resized_hw: tuple  # (H, W) the model sees, computed from the native size as qwen_vl_utils does
    meta: dict


class FrameCache:
    """All shards of one or more frame-cache directories, keyed by (dataset, video relpath). A row names its video
    by file name; a dataset folder may keep its videos in sub-folders (UCF-Crime unpacks into one per class), so a
    name is found anywhere under the folder, and two files with one name are an error (which one is the row's?)."""

    def __init__(self, shard_dirs):
        self.entries = {}
        self.quarantined = {}
        self.by_name = collections.defaultdict(list)  # (dataset, file name) -> relpaths
        self.folders = collections.defaultdict(set)  # dataset -> the video folders its shards were extracted from
        self.sized = {}  # sized shard dir -> {consumer: VideoBudget}
        for d in map(Path, shard_dirs):
            summary = json.loads((d / "summary.json").read_text())
            ds = summary["dataset"]
            if summary.get("sized_from"):
                self.sized[d] = parse_budgets(summary["budgets"])
            self.folders[ds].add(summary.get("videos_dir", str(d)))
            for rel, meta in json.loads((d / "index.json").read_text()).items():
                self.entries[(ds, rel)] = (d, meta)
                self.by_name[(ds, rel.rsplit("/", 1)[-1])].append(rel)
            for line in (d / "quarantine.jsonl").read_text(encoding="utf-8").splitlines():
                if line.strip():
                    q = json.loads(line)
                    self.quarantined[(ds, q["video"])] = q["reason"]
                    self.by_name[(ds, q["video"].rsplit("/", 1)[-1])].append(q["video"])

    def resolve(self, dataset, relpath):
        """The cached relpath of a row's video: itself, else the one file of that name under the folder; None when
        there is none. Two files of that name: a one-line error."""
        if (dataset, relpath) in self.entries or (dataset, relpath) in self.quarantined:
            return relpath
        found = sorted(set(self.by_name.get((dataset, relpath.rsplit("/", 1)[-1]), [])))
        if len(found) > 1:
            raise UsageError(
                f"dataset {dataset}: {len(found)} videos are named {relpath!r} ({', '.join(found[:3])}): "
                "rename or remove all but one"
            )
        return found[0] if found else None

    def lookup(self, dataset, relpath):
        """(shard_dir, meta) or None."""
        rel = self.resolve(dataset, relpath)
        return None if rel is None else self.entries.get((dataset, rel))

    def quarantine_reason(self, dataset, relpath):
        rel = self.resolve(dataset, relpath)
        return None if rel is None else self.quarantined.get((dataset, rel))

    def clip(self, dataset, relpath, budget: VideoBudget):
        d, meta = self.lookup(dataset, relpath)
        if d not in self.sized:
            return derive_clip(load_frames(d, meta), meta, budget)
        names = [name for name, b in self.sized[d].items() if b == budget]
        if not names:
            raise UsageError(
                f"frame cache {d} holds frames sized for {', '.join(self.sized[d])}; {budget} is none of them: "
                "add it to frames.budgets and re-run the frames stage"
            )
        return sized_clip(d, meta, names[0], budget)


def frames_path(shard_dir, meta, consumer=None):
    name = meta["key"] if consumer is None else f"{meta['key']}.{consumer}"
    return Path(shard_dir) / "frames" / f"{name}{SUFFIX[meta.get('storage', 'raw')]}"


def load_frames(shard_dir, meta, consumer=None):
    """The stored frames of one video (a sized cache: one consumer's), indexable by a list of positions: a memory
    map, or lazily decoded images."""
    path = frames_path(shard_dir, meta, consumer)
    if meta.get("storage", "raw") == "raw":
        return np.load(path, mmap_mode="r")
    return EncodedFrames(path)


class EncodedFrames:
    """One PNG/JPEG image per frame in an uncompressed .npz; `frames[positions]` decodes just those."""

    def __init__(self, path):
        self.path = path

    def __len__(self):
        with np.load(self.path) as z:
            return len(z.files)

    def __getitem__(self, positions):
        from PIL import Image

        with np.load(self.path) as z:
            return np.stack(
                [np.asarray(Image.open(io.BytesIO(z[f"f{k}"].tobytes())).convert("RGB")) for k in positions]
            )


def derive_clip(frames, meta, budget: VideoBudget):
    """One consumer's clip from an extracted cache's frames (native size; the input builder resizes)."""
    want, sel = clip_positions(meta, budget)
    return _clip(np.asarray(frames[sel]), want, sel, meta, budget)


def sized_clip(shard_dir, meta, consumer, budget: VideoBudget):
    """One consumer's clip from a sized cache: its frames as stored, already at the size the model sees."""
    want, sel = clip_positions(meta, budget)
    if want != meta["consumers"][consumer]:
        raise KeyError(f"frame cache sized {consumer} at other indices than budget {budget}: re-run the frames stage")
    clip = _clip(np.asarray(load_frames(shard_dir, meta, consumer)[list(range(len(want)))]), want, sel, meta, budget)
    if clip.frames.shape[1:3] != clip.resized_hw:
        raise KeyError(
            f"frame cache sized {consumer} at {clip.frames.shape[1:3]}, budget {budget} needs {clip.resized_hw}"
        )
    return clip


def clip_positions(meta, budget):
    """(the budget's frame indices, their positions among the extracted (union) frames)."""
    want = budget.indices(meta["total_frames"], meta["fps"])
    pos = {idx: k for k, idx in enumerate(meta["indices"])}
    missing = [i for i in want if i not in pos]
    if missing:
        raise KeyError(f"frame cache lacks indices {missing[:3]} for budget {budget}: re-run the frames stage")
    return want, [pos[i] for i in want]


def _clip(frames, want, sel, meta, budget):
    sample_fps = budget.sample_fps(meta["total_frames"], meta["fps"])
    h, w = meta["native_hw"]
    return Clip(
        frames=frames,
        indices=want,
        times=[meta["times"][k] for k in sel],
        sample_fps=sample_fps,
        second_per_grid_ts=TEMPORAL_PATCH_SIZE / sample_fps,
        resized_hw=budget.resized_hw(h, w, len(want)),
        meta=meta,
    )
