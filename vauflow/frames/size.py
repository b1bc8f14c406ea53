"""Size an extracted frame cache: every consumer's frames stored at the size its budget feeds the model, so that
building model inputs never resizes (`vauflow frames size`).

A sized cache is a frame cache (index.json, summary.json, quarantine.jsonl) whose frames are stored per consumer,
`frames/<key>.<consumer>.npy` (or .npz as the extracted cache's codec): exactly that consumer's frames, resized as
qwen_vl_utils does (vauflow.frames.resize). It is made in its own job from the extracted cache and its budgets:
decoding stays torch-free and at the decoder's speed, and each video is resized once per consumer instead of once per
sample, pass and epoch (docs/performance.md has both costs)."""

import json
import logging
from pathlib import Path

from vauflow.frames.budget import BudgetError, parse_budgets
from vauflow.frames.cache import clip_positions, frames_path, load_frames
from vauflow.frames.extract import write_cache, write_frames
from vauflow.io import UsageError

log = logging.getLogger(__name__)


def size_video(frames_dir, meta, budgets, out_dir, jpeg_quality):
    """Write one video's frames per consumer; returns {consumer: [h, w]}. Frames are read and resized CHUNK at a
    time (memory: one consumer's resized clip). Raises BudgetError or KeyError (a quarantine reason), leaving none
    of the video's files behind."""
    import numpy as np

    from vauflow.frames.resize import CHUNK, resize

    frames, sized, storage = load_frames(frames_dir, meta), {}, meta.get("storage", "raw")
    written = []
    try:
        for name, budget in budgets.items():
            _, positions = clip_positions(meta, budget)
            h, w = budget.resized_hw(*meta["native_hw"], len(positions))
            array = np.empty((len(positions), h, w, 3), np.uint8)
            for start in range(0, len(positions), CHUNK):
                chunk = np.asarray(frames[positions[start : start + CHUNK]])
                array[start : start + CHUNK] = resize(chunk, (h, w)).numpy()
            written.append(frames_path(out_dir, meta, name))
            write_frames(written[-1], array, storage, jpeg_quality)
            sized[name] = [h, w]
    except (BudgetError, KeyError):
        for path in written:
            path.unlink(missing_ok=True)
        raise
    return sized


def size_dir(frames_dir, out_dir, threads=1):
    """Size every video of the extracted cache `frames_dir` into `out_dir`; returns the summary dict."""
    import torch

    frames_dir, out_dir = Path(frames_dir), Path(out_dir)
    missing = [f for f in ("index.json", "summary.json", "quarantine.jsonl") if not (frames_dir / f).is_file()]
    if missing:
        raise UsageError(f"--frames {frames_dir}: not an extracted frame cache (no {', '.join(missing)})")
    if out_dir.resolve() == frames_dir.resolve():
        raise UsageError(f"--out {out_dir}: the extracted cache itself; a sized cache goes to a folder of its own")
    if threads < 1:
        raise UsageError(f"--threads {threads}: at least 1")
    torch.set_num_threads(threads)
    summary = json.loads((frames_dir / "summary.json").read_text())
    if summary.get("sized_from"):
        raise UsageError(f"--frames {frames_dir}: already sized (from {summary['sized_from']})")
    budgets = parse_budgets(summary["budgets"])
    quality = summary.get("jpeg_quality", 95)
    quarantine = [
        json.loads(line) for line in (frames_dir / "quarantine.jsonl").read_text().splitlines() if line.strip()
    ]
    (out_dir / "frames").mkdir(parents=True, exist_ok=True)
    index = {}
    for rel, meta in json.loads((frames_dir / "index.json").read_text()).items():
        try:
            index[rel] = meta | {"sized": size_video(frames_dir, meta, budgets, out_dir, quality)}
        except (BudgetError, KeyError) as e:
            quarantine.append({"video": rel, "reason": f"sizing: {' '.join(str(e).split())}"})
            log.warning("quarantined %s: %s", rel, quarantine[-1]["reason"])
    summary = summary | {"extracted": len(index), "quarantined": len(quarantine), "sized_from": str(frames_dir)}
    return write_cache(out_dir, index, quarantine, summary)


def main(a):
    """`vauflow frames size`."""
    s = size_dir(a.frames, a.out, threads=a.threads)
    print(
        f"frames: {s['extracted']} sized for {', '.join(s['budgets'])}, {s['quarantined']} quarantined of "
        f"{s['videos']} videos -> {a.out}"
    )
