"""Video budgets: how many frames, which ones, and at what size each consumer feeds the model.

Mirrors qwen_vl_utils (`smart_nframes`, `smart_resize`, `fetch_video`) so that a consumer's frames derived from
the cache equal a direct decode at that budget. No torch here: the frames stage must not import it.
"""

import math
from dataclasses import asdict, dataclass

import numpy as np

FRAME_FACTOR = 2  # Qwen-VL temporal patch size: frames come in pairs
TEMPORAL_PATCH_SIZE = 2
PIXEL_FACTOR = 28  # 14 px patches merged 2x2
VIDEO_FRAME_MAX_PIXELS = 768 * 28 * 28
VIDEO_FRAME_MIN_PIXELS = 128 * 28 * 28
DEFAULT_TOTAL_PIXELS = 128000 * 28 * 28 * 0.9
MAX_RATIO = 200


class BudgetError(ValueError):
    pass


@dataclass(frozen=True)
class VideoBudget:
    fps: float = 2.0
    min_frames: int = 4
    max_frames: int = 768
    min_pixels: int = VIDEO_FRAME_MIN_PIXELS
    max_pixels: int = VIDEO_FRAME_MAX_PIXELS
    total_pixels: float = DEFAULT_TOTAL_PIXELS

    @classmethod
    def from_dict(cls, d):
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})

    def to_dict(self):
        return asdict(self)

    def nframes(self, total_frames, video_fps):
        """qwen_vl_utils.smart_nframes with `fps`: frames taken from a video of `total_frames`."""
        min_frames = _ceil_by(self.min_frames, FRAME_FACTOR)
        max_frames = _floor_by(min(self.max_frames, total_frames), FRAME_FACTOR)
        n = total_frames / video_fps * self.fps
        n = min(min(max(n, min_frames), max_frames), total_frames)
        n = _floor_by(n, FRAME_FACTOR)
        if not FRAME_FACTOR <= n <= total_frames:
            raise BudgetError(f"video has {total_frames} frame(s); the sampler needs at least {FRAME_FACTOR}")
        return n

    def indices(self, total_frames, video_fps):
        n = self.nframes(total_frames, video_fps)
        # numpy and torch both round half to even, so these equal torch.linspace(...).round()
        return np.linspace(0, total_frames - 1, n).round().astype(np.int64).tolist()

    def sample_fps(self, total_frames, video_fps):
        return self.nframes(total_frames, video_fps) / max(total_frames, 1e-6) * video_fps

    def frame_max_pixels(self, nframes):
        cap = max(min(VIDEO_FRAME_MAX_PIXELS, self.total_pixels / nframes * FRAME_FACTOR), int(self.min_pixels * 1.05))
        return min(self.max_pixels, cap)

    def resized_hw(self, height, width, nframes):
        return smart_resize(height, width, self.min_pixels, self.frame_max_pixels(nframes))


def smart_resize(height, width, min_pixels, max_pixels, factor=PIXEL_FACTOR):
    if max(height, width) / min(height, width) > MAX_RATIO:
        raise BudgetError(f"aspect ratio {max(height, width) / min(height, width):.0f} exceeds {MAX_RATIO}")
    h_bar = max(factor, _round_by(height, factor))
    w_bar = max(factor, _round_by(width, factor))
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = _floor_by(height / beta, factor)
        w_bar = _floor_by(width / beta, factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = _ceil_by(height * beta, factor)
        w_bar = _ceil_by(width * beta, factor)
    return h_bar, w_bar


def _round_by(x, f):
    return round(x / f) * f


def _ceil_by(x, f):
    return math.ceil(x / f) * f


def _floor_by(x, f):
    return math.floor(x / f) * f


def parse_budgets(mapping):
    """{consumer: {fps, ...}} -> {consumer: VideoBudget}."""
    return {name: VideoBudget.from_dict(d) for name, d in mapping.items()}


def paper_budgets():
    """The paper's budgets (vau-r1.md §7: training 2 fps; QA/reasoning inference 1 fps; TAG/CLS inference 2 fps),
    written once: the config schema's default of `frames.budgets`."""
    from vauflow.config import load_schema

    return parse_budgets(load_schema()["properties"]["frames"]["properties"]["budgets"]["default"])
