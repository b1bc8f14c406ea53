"""Deterministic video encoding of uint8 frames, in process (no ffmpeg process per clip)."""

import itertools
from pathlib import Path

import av
import numpy as np

from vauflow.io import atomic_path


def rgb_to_yuv420p(img):
    """BT.601 limited-range RGB -> planar YUV 4:2:0, in numpy.

    Done here rather than by libswscale so the pixels handed to the encoder do not depend on its CPU-specific
    SIMD code paths.
    """
    rgb = img.astype(np.float32)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    y = 16 + 0.256788 * r + 0.504129 * g + 0.097906 * b
    u = 128 - 0.148223 * r - 0.290993 * g + 0.439216 * b
    v = 128 + 0.439216 * r - 0.367788 * g - 0.071427 * b
    h, w = y.shape

    def sub(c):  # 2x2 mean
        return c.reshape(h // 2, 2, w // 2, 2).mean((1, 3))

    planes = [y, sub(u), sub(v)]
    q = [np.clip(np.floor(p + 0.5), 0, 255).astype(np.uint8) for p in planes]
    return np.concatenate([q[0], q[1].reshape(h // 4, w), q[2].reshape(h // 4, w)])


def write_mp4(path, frames, fps):
    """Encode [T,H,W,3] uint8 RGB frames (H divisible by 4, W even; an array or any iterable of frames, so long
    clips need not be held in memory) as MPEG-4 Part 2 / yuv420p MP4."""
    frames = iter(frames)
    first = np.asarray(next(frames), dtype=np.uint8)
    h, w, _ = first.shape
    frames = itertools.chain([first], frames)
    with atomic_path(path) as tmp:
        with av.open(str(tmp), mode="w", format="mp4") as c:
            s = c.add_stream("mpeg4", rate=int(fps))
            s.width, s.height, s.pix_fmt = w, h, "yuv420p"
            s.codec_context.thread_count = 1
            # not libx264: in one process it gave different bytes for the same frames; this native encoder is
            # single-threaded and reruns are byte-identical
            s.options = {"qscale": "3"}
            s.codec_context.flags |= av.codec.context.Flags.qscale
            for img in frames:
                frame = av.VideoFrame.from_ndarray(rgb_to_yuv420p(np.asarray(img, dtype=np.uint8)), format="yuv420p")
                for pkt in s.encode(frame):
                    c.mux(pkt)
            for pkt in s.encode():
                c.mux(pkt)
    return Path(path)
