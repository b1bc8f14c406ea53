"""Deterministic H.264 encoding of uint8 frames, in process (no ffmpeg process per clip)."""

from pathlib import Path

import av
import numpy as np

from vauflow.io import atomic_path


def write_mp4(path, frames, fps):
    """Encode [T,H,W,3] uint8 RGB frames as H.264/yuv420p MP4. Single-threaded x264: byte-identical reruns."""
    frames = np.asarray(frames, dtype=np.uint8)
    t, h, w, _ = frames.shape
    with atomic_path(path) as tmp:
        with av.open(str(tmp), mode="w", format="mp4") as c:
            s = c.add_stream("libx264", rate=int(fps))
            s.width, s.height, s.pix_fmt = w, h, "yuv420p"
            s.codec_context.thread_count = 1
            s.options = {"crf": "18", "preset": "veryfast", "x264-params": "threads=1:sliced-threads=0"}
            for img in frames:
                for pkt in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                    c.mux(pkt)
            for pkt in s.encode():
                c.mux(pkt)
    return Path(path)
