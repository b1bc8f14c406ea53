"""Decode each video once into the frame cache.

For every video we take the union of the frame indices that all consumers (training 2 fps, QA inference 1 fps,
TAG/CLS inference 2 fps, ...) will ask for, decode the file a single time with PyAV, and store those frames at
native resolution (downscaled only when larger than any consumer can use). Consumers then pick their own subset
(`vauflow.frames.cache`), so a derived clip equals a direct decode at that budget. Frames are stored raw, or one
PNG (lossless, the same pixels) or JPEG (lossy, smallest) per frame (`frames.codec`).

A file that cannot be used is quarantined with a one-line reason; nothing is skipped silently.
"""

import collections
import hashlib
import json
import logging
import math
import os
from pathlib import Path

import numpy as np

from vauflow.frames.budget import BudgetError, paper_budgets
from vauflow.io import UsageError, atomic_path, shard_of, write_json, write_text

log = logging.getLogger(__name__)

CACHE_FORMAT = 1


class VideoRejected(Exception):
    """The video cannot be used; the message is the quarantine reason."""


def list_videos(videos_dir):
    """Every regular file under `videos_dir` (hidden files and partial downloads excluded), as sorted relpaths."""
    root = Path(videos_dir)
    out = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for f in filenames:
            if f.startswith(".") or f.endswith(".part"):
                continue
            p = Path(dirpath, f)
            if p.is_file():
                out.append(p.relative_to(root).as_posix())
    return sorted(out)


def cache_key(relpath):
    return hashlib.sha1(relpath.encode("utf-8")).hexdigest()[:20]


def _store_size(height, width, budgets):
    """Native size, unless it exceeds the largest frame any consumer can ask for (then shrink, keep aspect)."""
    cap = max(b.max_pixels for b in budgets.values())
    if height * width <= cap:
        return height, width
    scale = math.sqrt(cap / (height * width))
    return max(2, int(height * scale) // 2 * 2), max(2, int(width * scale) // 2 * 2)


def probe(path):
    """Open the container and return (container, stream, expected frame count, fps); raise VideoRejected."""
    import av

    size = os.path.getsize(path)
    if size == 0:
        raise VideoRejected("empty file (0 bytes)")
    try:
        container = av.open(str(path))
    except av.error.FFmpegError as e:
        raise VideoRejected(f"not a readable media file: {_one_line(e)}") from None
    if not container.streams.video:
        kinds = sorted({s.type for s in container.streams}) or ["none"]
        container.close()
        raise VideoRejected(f"no video stream (streams: {', '.join(kinds)})")
    stream = container.streams.video[0]
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    fps = float(rate) if rate else 0.0
    if not fps or not math.isfinite(fps) or fps <= 0:
        container.close()
        raise VideoRejected("video stream has no frame rate")
    return container, stream, int(stream.frames or 0), fps


def _count_packets(path):
    import av

    with av.open(str(path)) as c:
        s = c.streams.video[0]
        return sum(1 for p in c.demux(s) if p.size)


def _decode(path, wanted, store_hw, threads, expected, into=None):
    """Decode the whole stream once; keep the frames whose index is in `wanted` (sorted), written straight into one
    preallocated array (memory: the kept frames once, whatever the video's length): a memory map of the .npy file
    `into` when given, so the cache write overlaps decoding. Returns (frames in the order of `wanted`,
    {index: row}, {index: time}, n_decoded, rotation); rows of frames that never came are unset."""
    import av

    row = {idx: k for k, idx in enumerate(wanted)}
    frames, times, rotation, n = None, {}, 0, 0
    # kept frames are converted to RGB on a second thread (swscale runs without the GIL) while this one goes on
    # feeding the decoder: the decoder's own threads leave a core partly idle (measured 1.66-1.81 of 2 busy)
    with av.open(str(path)) as c, _RGBConverter(store_hw) as rgb:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        s.codec_context.thread_count = threads
        try:
            for frame in c.decode(s):
                if n in row:
                    rotation = int(getattr(frame, "rotation", 0) or 0)
                    if frames is None:
                        h, w = store_hw  # coded orientation; rotation is applied after scaling
                        shape = (len(wanted), *((w, h) if rotation % 180 else (h, w)), 3)
                        frames = (
                            np.empty(shape, np.uint8)
                            if into is None
                            else np.lib.format.open_memmap(into, mode="w+", dtype=np.uint8, shape=shape)
                        )
                    rgb.convert(frame, rotation, frames, row[n])
                    times[n] = float(frame.time) if frame.time is not None else None
                n += 1
        except av.error.FFmpegError as e:
            raise VideoRejected(
                f"decode error after {n} of {expected} frame(s) (truncated or corrupt): {_one_line(e)}"
            ) from None
    return frames, {i: row[i] for i in times}, times, n, rotation


class _RGBConverter:
    """Kept frames -> RGB rows of the video's array, on one worker thread with one swscale context for the whole
    video (`frame.to_ndarray(format=...)` sets up a new context per frame: a fifth of the decode's wall time on a
    120-s MPEG-4 clip, measured). At most `AHEAD` decoded frames wait for it (a 4K frame holds 12 MB); leaving the
    block waits for every conversion and re-raises its error."""

    AHEAD = 8

    def __init__(self, store_hw):
        from concurrent.futures import ThreadPoolExecutor

        from av.video.reformatter import VideoReformatter

        self.h, self.w = store_hw
        self.reformatter = VideoReformatter()
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rgb")
        self.pending = collections.deque()

    def _convert(self, frame, rotation, frames, k):
        try:
            if (self.h, self.w) == (frame.height, frame.width):
                img = self.reformatter.reformat(frame, format="rgb24").to_ndarray()
            else:
                img = self.reformatter.reformat(
                    frame, format="rgb24", width=self.w, height=self.h, interpolation="AREA"
                ).to_ndarray()
            frames[k] = np.rot90(img, k=rotation // 90) if rotation else img
        except Exception as e:  # noqa: BLE001 - a frame that cannot be converted is a reason to quarantine
            raise VideoRejected(f"frame {k} cannot be converted to RGB: {_one_line(e)}") from None

    def convert(self, frame, rotation, frames, k):
        self.pending.append(self.pool.submit(self._convert, frame, rotation, frames, k))
        while len(self.pending) > self.AHEAD:
            self.pending.popleft().result()

    def __enter__(self):
        return self

    def __exit__(self, kind, *_):
        self.pool.shutdown(wait=True)
        for f in self.pending:
            if kind is None:  # else the block's own error (a quarantine reason) is the one to report
                f.result()


def extract_video(path, budgets, threads=2, into=None):
    """Return (frames uint8 [T,H,W,3], meta) for one file, or raise VideoRejected. With `into` (a path), the frames
    are written there as an .npy file while decoding, and returned memory-mapped from it."""
    container, stream, expected, fps = probe(path)
    try:
        height, width = stream.codec_context.height, stream.codec_context.width
        duration = float(stream.duration * stream.time_base) if stream.duration else None
        codec = stream.codec_context.name
    finally:
        container.close()
    if not height or not width:
        raise VideoRejected("video stream has no frame size")
    if expected <= 0:  # container header without a frame count (e.g. some MPEG-TS): count packets instead
        try:
            expected = _count_packets(path)
        except Exception as e:  # noqa: BLE001 - any demux failure is a reason to quarantine, reported below
            raise VideoRejected(f"cannot count frames: {_one_line(e)}") from None
    if expected < 2:
        raise VideoRejected(f"video has {expected} frame(s); the sampler needs at least 2")

    store_hw = _store_size(height, width, budgets)
    union = _union_indices(budgets, expected, fps)
    frames, keep, times, decoded, rotation = _decode(path, union, store_hw, threads, expected, into)
    if decoded != expected:
        if decoded < expected and decoded < max(2, int(0.98 * expected)):
            raise VideoRejected(f"truncated: the header announces {expected} frames but only {decoded} decode")
        # small disagreements (B-frame delay, VFR edit lists): resample from the real count, decoding again
        # only if the indices changed
        expected = decoded
        if decoded < 2:
            raise VideoRejected(f"video has {decoded} frame(s); the sampler needs at least 2")
        new_union = _union_indices(budgets, expected, fps)
        if set(new_union) - set(keep):
            frames = None  # the file `into` is written anew
            frames, keep, times, decoded, rotation = _decode(path, new_union, store_hw, threads, expected, into)
        union = new_union
    missing = [i for i in union if i not in keep]
    if missing:
        raise VideoRejected(f"frames {missing[:3]} could not be decoded")
    rows = [keep[i] for i in union]
    if rows != list(range(len(frames))):  # the union shrank after a recount: keep its rows only
        frames = np.array(frames[rows])
        if into is not None:
            with open(into, "wb") as f:  # a file object: given a path, np.save would add ".npy" to it
                np.save(f, frames)
    if rotation % 180:
        height, width = width, height
    meta = {
        "format": CACHE_FORMAT,
        "total_frames": expected,
        "fps": fps,
        "duration": expected / fps,
        "container_duration": duration,
        "codec": codec,
        "native_hw": [height, width],
        "stored_hw": list(frames.shape[1:3]),
        "rotation": rotation,
        "indices": union,
        "times": [times[i] if times[i] is not None else i / fps for i in union],
        "consumers": {name: b.indices(expected, fps) for name, b in budgets.items()},
    }
    return frames, meta


def _union_indices(budgets, total, fps):
    try:
        return sorted({i for b in budgets.values() for i in b.indices(total, fps)})
    except BudgetError as e:
        raise VideoRejected(str(e)) from None


def _one_line(e):
    return " ".join(str(e).split())[:300]


def write_frames(path, frames, codec="raw", jpeg_quality=95):
    """Store one video's frames atomically: raw .npy, or an uncompressed .npz of one PNG/JPEG image per frame."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            if codec == "raw":
                np.save(f, frames)
            else:
                np.savez(f, **{f"f{k}": _encode(img, codec, jpeg_quality) for k, img in enumerate(frames)})


def _encode(img, codec, jpeg_quality):
    import io

    from PIL import Image

    buf = io.BytesIO()
    if codec == "png":  # fast deflate: most of PNG's gain at a fraction of its time
        Image.fromarray(img).save(buf, format="PNG", compress_level=1)
    else:  # 4:4:4 chroma: colour edges (a red car, a flame) survive
        Image.fromarray(img).save(buf, format="JPEG", quality=jpeg_quality, subsampling=0)
    return np.frombuffer(buf.getvalue(), np.uint8)


def extract_dir(videos_dir, out_dir, shard=(0, 1), budgets=None, dataset=None, threads=2, codec="raw", jpeg_quality=95):
    """Extract every video of one shard of `videos_dir` into `out_dir`; returns the summary dict."""
    from vauflow.frames.cache import SUFFIX

    if codec not in SUFFIX:  # before any video is decoded
        raise UsageError(f"--codec {codec}: expected one of {', '.join(SUFFIX)}")
    budgets = budgets or paper_budgets()
    videos_dir, out_dir = Path(videos_dir), Path(out_dir)
    if not videos_dir.is_dir():
        raise UsageError(f"--videos {videos_dir}: not a directory")
    i, k = shard
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "frames").mkdir(exist_ok=True)
    mine = [v for v in list_videos(videos_dir) if shard_of(v, k) == i]
    index, quarantine = {}, []
    for rel in mine:
        key = cache_key(rel)
        target = out_dir / "frames" / f"{key}{SUFFIX[codec]}"
        try:
            if codec == "raw":  # written while decoding (the write cost 0.87 s of 7.4 s on 8 videos, measured)
                with atomic_path(target) as tmp:
                    frames, meta = extract_video(videos_dir / rel, budgets, threads=threads, into=tmp)
            else:
                frames, meta = extract_video(videos_dir / rel, budgets, threads=threads)
                write_frames(target, frames, codec, jpeg_quality)
        except VideoRejected as e:
            quarantine.append({"video": rel, "reason": str(e)})
            log.warning("quarantined %s: %s", rel, e)
            continue
        del frames  # before the next video is decoded: one video's frames in memory at a time
        meta["key"] = key
        meta["storage"] = codec  # how the frames are stored ("codec" is the video's own)
        index[rel] = meta
    summary = {
        "dataset": dataset or videos_dir.name,
        "videos_dir": str(videos_dir),
        "shard": [i, k],
        "videos": len(mine),
        "extracted": len(index),
        "quarantined": len(quarantine),
        "storage": codec if codec != "jpeg" else f"jpeg (quality {jpeg_quality})",
        "jpeg_quality": jpeg_quality,
        "budgets": {n: b.to_dict() for n, b in budgets.items()},
    }
    return write_cache(out_dir, index, quarantine, summary)


def write_cache(out_dir, index, quarantine, summary):
    """A cache's index, quarantine list and summary (whose counts must reconcile); returns the summary."""
    assert summary["videos"] == summary["extracted"] + summary["quarantined"]
    write_json(Path(out_dir) / "index.json", index)
    write_text(
        Path(out_dir) / "quarantine.jsonl", "".join(json.dumps(q, ensure_ascii=False) + "\n" for q in quarantine)
    )
    write_json(Path(out_dir) / "summary.json", summary)
    return summary


def main(a):
    """`vauflow frames extract`."""
    from vauflow.frames.budget import paper_budgets, parse_budgets

    budgets = parse_budgets(a.budgets) if a.budgets else paper_budgets()
    s = extract_dir(
        a.videos,
        a.out,
        shard=a.shard,
        budgets=budgets,
        dataset=a.dataset,
        threads=a.threads,
        codec=a.codec,
        jpeg_quality=a.jpeg_quality,
    )
    print(f"frames: {s['extracted']} extracted, {s['quarantined']} quarantined of {s['videos']} videos -> {a.out}")
