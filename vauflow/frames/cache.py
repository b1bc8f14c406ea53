"""Read the frame cache and derive one consumer's clip from it (no torch).

Frames are stored per video either raw (`<key>.npy`, memory-mapped) or encoded one image per frame (`<key>.npz`
of PNG or JPEG bytes, `frames.codec`), so a consumer decodes only the frames it takes."""

import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vauflow.frames.budget import TEMPORAL_PATCH_SIZE, VideoBudget

SUFFIX = {"raw": ".npy", "png": ".npz", "jpeg": ".npz"}  # frames.codec -> file suffix


@dataclass
class Clip:
    frames: np.ndarray  # [T, H, W, 3] uint8, stored resolution
    indices: list  # source frame indices
    times: list  # seconds
    sample_fps: float
    second_per_grid_ts: float  # exact, from the sampled fps (never the processor's assumed 2.0 or 24)
    resized_hw: tuple  # (H, W) the model sees, computed from the native size as qwen_vl_utils does
    meta: dict


class FrameCache:
    """All shards of one or more frame-cache directories, keyed by (dataset, video relpath)."""

    def __init__(self, shard_dirs):
        self.entries = {}
        self.quarantined = {}
        for d in map(Path, shard_dirs):
            summary = json.loads((d / "summary.json").read_text())
            ds = summary["dataset"]
            for rel, meta in json.loads((d / "index.json").read_text()).items():
                self.entries[(ds, rel)] = (d, meta)
            for line in (d / "quarantine.jsonl").read_text(encoding="utf-8").splitlines():
                if line.strip():
                    q = json.loads(line)
                    self.quarantined[(ds, q["video"])] = q["reason"]

    def lookup(self, dataset, relpath):
        """(shard_dir, meta) or None."""
        return self.entries.get((dataset, relpath))

    def clip(self, dataset, relpath, budget: VideoBudget):
        d, meta = self.entries[(dataset, relpath)]
        return derive_clip(load_frames(d, meta), meta, budget)


def frames_path(shard_dir, meta):
    return Path(shard_dir) / "frames" / f"{meta['key']}{SUFFIX[meta.get('storage', 'raw')]}"


def load_frames(shard_dir, meta):
    """The stored frames of one video, indexable by a list of positions: a memory map, or lazily decoded images."""
    path = frames_path(shard_dir, meta)
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
            return np.stack([np.asarray(Image.open(io.BytesIO(z[f"f{k}"].tobytes())).convert("RGB"))
                             for k in positions])


def derive_clip(frames, meta, budget: VideoBudget):
    total, fps = meta["total_frames"], meta["fps"]
    want = budget.indices(total, fps)
    pos = {idx: k for k, idx in enumerate(meta["indices"])}
    missing = [i for i in want if i not in pos]
    if missing:
        raise KeyError(f"frame cache lacks indices {missing[:3]} for budget {budget}: re-run the frames stage")
    sel = [pos[i] for i in want]
    sample_fps = budget.sample_fps(total, fps)
    h, w = meta["native_hw"]
    return Clip(
        frames=np.asarray(frames[sel]),
        indices=want,
        times=[meta["times"][k] for k in sel],
        sample_fps=sample_fps,
        second_per_grid_ts=TEMPORAL_PATCH_SIZE / sample_fps,
        resized_hw=budget.resized_hw(h, w, len(want)),
        meta=meta,
    )
