"""The one model-input builder. SFT, GRPO rollouts, every log-prob pass, evaluation and the demo call
`build_inputs`; nothing else turns frames into model inputs.

Frames come from the cache (vauflow.frames.cache.Clip): a sized cache stores them at each consumer's size, else they are
resized here exactly as qwen_vl_utils.fetch_video does. The processor's own steps after that (rescale, normalise,
patchify) are done here on the uint8 frames: patchifying is a permutation and normalising is elementwise, so the
memo keeps uint8 patches (a quarter of the processor's float32) and normalises on the way out; the first clip per
processor is checked bit for bit against `processor._process_videos` (`check_fast_path`). The sampled fps travels in
`video_metadata`, so `second_per_grid_ts` is exact (the processor's fall-back assumes 24 fps). `mm_token_type_ids`
is always returned: without it transformers 5.x silently falls back to 1-D positions. Batches are left-padded, the
layout generation needs, so generate-time and loss-time positions agree."""

import collections
import hashlib
import weakref
from dataclasses import dataclass

import numpy as np
import torch

from vauflow.frames.resize import resize
from vauflow.model import VISION_TOKENS

MODEL_KEYS = (
    "input_ids",
    "attention_mask",
    "pixel_values_videos",
    "video_grid_thw",
    "second_per_grid_ts",
    "mm_token_type_ids",
)
VIDEO_TYPE = 2  # mm_token_type_ids: text 0, image 1, video 2


class VideoMismatch(RuntimeError):
    """Video tokens, features or timing disagree: never caught, never skipped."""


@dataclass
class Example:
    chat: list  # messages with bare {"type": "video"} blocks, each showing `clip`
    clip: object  # vauflow.frames.cache.Clip
    vision_id: bool = False  # the chat template's add_vision_id ("Video 1: "), as the paper's QA inference

    @property
    def clips(self):
        """One clip per video block, in order: the reasoning inference attaches the video again in turn 2."""
        n = sum(
            1
            for m in self.chat
            if isinstance(m["content"], list)
            for part in m["content"]
            if part.get("type") == "video"
        )
        if n == 0:
            raise VideoMismatch("the chat has no video block")
        return [self.clip] * n


def sized_frames(clip):
    """[T, H, W, 3] uint8 at the budget's size: a sized cache's frames as stored, else resized here."""
    return resize(clip.frames, clip.resized_hw)


def resize_frames(clip):
    """[T, 3, H, W] float32 (0-255) at the budget's size: what qwen_vl_utils hands the processor."""
    return sized_frames(clip).permute(0, 3, 1, 2).float()


def video_patches(frames, vp):
    """[T, H, W, 3] uint8 frames -> ([rows, 3 * tps * ps * ps] uint8, [grid_t, grid_h, grid_w]) in the order of the
    video processor's `patchify` (rows: t, h/m, w/m, m, m; columns: channel, t, y, x); a clip of odd length repeats
    its last frame, as the processor does."""
    tps, ps, m = vp.temporal_patch_size, vp.patch_size, vp.merge_size
    if pad := -len(frames) % tps:
        frames = torch.cat([frames, frames[-1:].expand(pad, -1, -1, -1)])
    t, h, w, c = frames.shape
    gt, gh, gw = t // tps, h // ps, w // ps
    x = frames.reshape(gt, tps, gh // m, m, ps, gw // m, m, ps, c).permute(0, 2, 5, 3, 6, 8, 1, 4, 7)
    return x.reshape(gt * gh * gw, c * tps * ps * ps), [gt, gh, gw]


def normalizer(vp):
    """Per-column (mean, std) of the processor's fused rescale-and-normalise: (x - mean / r) / (std / r) in float32,
    one channel per block of columns."""
    if not (vp.do_rescale and vp.do_normalize):
        raise VideoMismatch("the video processor does not rescale and normalise: the uint8 path does not apply")
    per_channel = vp.temporal_patch_size * vp.patch_size**2
    mean = (torch.tensor(vp.image_mean) * (1.0 / vp.rescale_factor)).repeat_interleave(per_channel)
    std = (torch.tensor(vp.image_std) * (1.0 / vp.rescale_factor)).repeat_interleave(per_channel)
    return mean, std


def video_metadata(clip):
    meta = clip.meta
    return {"fps": meta["fps"], "total_num_frames": meta["total_frames"], "frames_indices": list(clip.indices)}


class Memo:
    """A small LRU memo bounded by bytes. Training revisits every clip and prompt each epoch; on CPU, rebuilding
    them was a quarter of a tiny-model step (measured)."""

    def __init__(self, max_bytes):
        self.max_bytes, self.bytes, self.items = max_bytes, 0, collections.OrderedDict()

    def clear(self):
        self.items.clear()
        self.bytes = 0

    def get(self, key, make, size):
        if key in self.items:
            self.items.move_to_end(key)
            return self.items[key]
        value = make()
        n = size(value)
        if n <= self.max_bytes:
            self.items[key] = value
            self.bytes += n
            while self.bytes > self.max_bytes:
                self.bytes -= size(self.items.popitem(last=False)[1])
        return value


VIDEO_MEMO = Memo(256 << 20)
TEXT_MEMO = Memo(32 << 20)
_FINGERPRINTS = weakref.WeakKeyDictionary()


def fingerprint(processor):
    """What the memoised outputs depend on besides the inputs: the tokenizer and the video processor's settings."""
    if processor not in _FINGERPRINTS:
        vp = processor.video_processor
        settings = repr(
            (
                type(processor).__name__,
                vp.patch_size,
                vp.merge_size,
                vp.temporal_patch_size,
                list(vp.image_mean),
                list(vp.image_std),
                vp.rescale_factor,
                vp.do_rescale,
                vp.do_normalize,
                processor.tokenizer.backend_tokenizer.to_str(),
            )
        )
        _FINGERPRINTS[processor] = hashlib.sha256(settings.encode()).hexdigest()
    return _FINGERPRINTS[processor]


def clip_key(clip):
    digest = hashlib.blake2b(np.ascontiguousarray(clip.frames).data, digest_size=16).hexdigest()
    return digest, tuple(clip.resized_hw), tuple(clip.indices), clip.meta["fps"], clip.meta["total_frames"]


def processor_features(processor, clip):
    """The processor's own video outputs for one clip (pixel rows, grid, seconds per grid) and the placeholder text
    its tokens expand to: what `video_features` must equal."""
    processed, replacements = processor._process_videos(
        [resize_frames(clip)],
        video_metadata=[video_metadata(clip)],
        do_resize=False,
        do_sample_frames=False,
        return_metadata=True,
        return_tensors="pt",
    )
    keys = ("pixel_values_videos", "video_grid_thw", "second_per_grid_ts")
    return {k: processed[k] for k in keys if k in processed}, replacements[0]


_CHECKED = set()  # processor fingerprints whose uint8 path was compared with the processor


def video_features(processor, clip):
    """`processor_features` of one clip from its uint8 patches, memoised (uint8) by the clip's content and sampling.
    The first clip per processor is compared with the processor's own outputs: any difference is a VideoMismatch."""
    vp = processor.video_processor

    def make():
        patches, grid = video_patches(sized_frames(clip), vp)
        grid = torch.tensor([grid])
        seconds = None
        if "second_per_grid_ts" in processor.model_input_names:  # Qwen2.5-VL: from the sampled fps, as its processor
            sampled_fps = len(clip.indices) / clip.meta["total_frames"] * clip.meta["fps"]
            seconds = [vp.temporal_patch_size / sampled_fps]
        return patches, grid, seconds, processor.replace_video_token({"video_grid_thw": grid}, video_idx=0)

    key = (fingerprint(processor),) + clip_key(clip)
    patches, grid, seconds, text = VIDEO_MEMO.get(key, make, lambda v: v[0].nbytes + 2 * len(v[3]))
    mean, std = normalizer(vp)
    out = {"pixel_values_videos": patches.to(torch.float32).sub_(mean).div_(std), "video_grid_thw": grid}
    if seconds is not None:
        out["second_per_grid_ts"] = seconds
    if key[0] not in _CHECKED:
        check_fast_path(out, text, processor_features(processor, clip))
        _CHECKED.add(key[0])
    return out, text


def check_fast_path(ours, text, theirs):
    """The uint8 path against the processor, bit for bit (a transformers upgrade that changes its steps stops here)."""
    want, want_text = theirs
    if sorted(ours) != sorted(want) or text != want_text:
        raise VideoMismatch(f"video features: keys {sorted(ours)} vs the processor's {sorted(want)}, or their tokens")
    for k, v in want.items():
        same = torch.equal(ours[k], v) if torch.is_tensor(v) else list(ours[k]) == list(v)
        if not same:
            raise VideoMismatch(f"video features: {k} differs from the processor's (transformers changed its steps?)")


def token_ids(processor, text):
    return TEXT_MEMO.get(
        (fingerprint(processor), text),
        lambda: processor.tokenizer(text)["input_ids"],
        lambda ids: 8 * len(ids) + len(text),
    )


def build_inputs(processor, examples, completions=None, dtype=None):
    """Model inputs for a batch of examples (videos of any length), optionally followed by completion token ids.

    The processor's own steps, per clip and per text (so both can be memoised): its video processor and token
    replacement, its text expansion, its tokenizer and its modality types; then left padding. A test checks that
    this equals one `processor(text=..., videos=...)` call bit for bit.

    Returns a dict of tensors: the MODEL_KEYS, plus `completion_mask` (1 on completion tokens) and `labels`
    (completion ids, -100 elsewhere) when `completions` is given."""
    texts = [
        processor.apply_chat_template(e.chat, tokenize=False, add_generation_prompt=True, add_vision_id=e.vision_id)
        for e in examples
    ]
    clips = [e.clips for e in examples]
    videos = [video_features(processor, c) for per_example in clips for c in per_example]
    texts, _ = processor.get_text_with_replacements(texts, [], [v[1] for v in videos], [])
    ids = [token_ids(processor, t) for t in texts]
    types = processor.create_mm_token_type_ids(ids)
    n = max(len(x) for x in ids)
    pad = processor.tokenizer.pad_token_id
    batch = {
        "input_ids": torch.tensor([[pad] * (n - len(x)) + list(x) for x in ids]),
        "attention_mask": torch.tensor([[0] * (n - len(x)) + [1] * len(x) for x in ids]),
        "mm_token_type_ids": torch.tensor([[0] * (n - len(x)) + list(t) for x, t in zip(ids, types)]),
        "pixel_values_videos": torch.cat([v[0]["pixel_values_videos"] for v in videos]),
        "video_grid_thw": torch.cat([v[0]["video_grid_thw"] for v in videos]),
    }
    if "second_per_grid_ts" in videos[0][0]:
        batch["second_per_grid_ts"] = torch.tensor([t for v in videos for t in v[0]["second_per_grid_ts"]])
    check_video(processor, batch, clips)
    batch["video_rows"] = torch.tensor([i for i, per_example in enumerate(clips) for _ in per_example])
    if completions is not None:
        batch = append_completions(batch, completions, processor)
    if dtype is not None:
        batch["pixel_values_videos"] = batch["pixel_values_videos"].to(dtype)
    return batch


def build_inputs_reference(processor, examples):
    """The same inputs from one processor call (what build_inputs must equal; used by tests)."""
    texts = [
        processor.apply_chat_template(e.chat, tokenize=False, add_generation_prompt=True, add_vision_id=e.vision_id)
        for e in examples
    ]
    clips = [c for e in examples for c in e.clips]
    out = processor(
        text=texts,
        videos=[resize_frames(c) for c in clips],
        video_metadata=[video_metadata(c) for c in clips],
        do_resize=False,
        do_sample_frames=False,
        return_mm_token_type_ids=True,
        padding=True,
        padding_side="left",
        return_tensors="pt",
    )
    return {k: out[k] for k in MODEL_KEYS if k in out}


def check_video(processor, batch, clips):
    """Video tokens == features, per sample; grids and seconds-per-grid as the clips say. `clips`: per sample,
    the clips of its video blocks in order."""
    merge = processor.video_processor.merge_size**2
    patch = processor.video_processor.patch_size
    grids = batch["video_grid_thw"].tolist()
    if len(grids) != sum(map(len, clips)):
        raise VideoMismatch(f"{sum(map(len, clips))} clips but {len(grids)} video grids")
    tokens = (batch["input_ids"] == processor.video_token_id).sum(-1)
    k = 0
    for i, sample in enumerate(clips):
        features = 0
        for clip in sample:
            grid = grids[k]
            want = [-(-len(clip.indices) // 2), clip.resized_hw[0] // patch, clip.resized_hw[1] // patch]
            if grid != want:
                raise VideoMismatch(f"sample {i}: video grid {grid}, expected {want} from the clip")
            features += grid[0] * grid[1] * grid[2] // merge
            k += 1
        if tokens[i].item() != features:
            raise VideoMismatch(f"sample {i}: {tokens[i].item()} video tokens but {features} features")
    if batch["pixel_values_videos"].shape[0] != sum(t * h * w for t, h, w in grids):
        raise VideoMismatch("pixel_values_videos rows != sum of grid sizes")
    if (batch["mm_token_type_ids"] == VIDEO_TYPE).sum() != tokens.sum():
        raise VideoMismatch("mm_token_type_ids do not mark every video token")
    if "second_per_grid_ts" in batch:
        got = batch["second_per_grid_ts"].tolist()
        want = [c.second_per_grid_ts for sample in clips for c in sample]
        if any(abs(a - b) > 1e-5 * b for a, b in zip(got, want)):
            raise VideoMismatch(f"second_per_grid_ts {got} != {want} derived from the sampled fps")


def append_completions(batch, completions, processor):
    """Prompt (unpadded) + completion ids per sample, re-padded on the left; labels on the completion only."""
    vision_ids = set(vision_token_ids(processor))
    pad = processor.tokenizer.pad_token_id
    seqs, types, labels, cmask = [], [], [], []
    for i, comp in enumerate(completions):
        comp = torch.as_tensor(comp, dtype=batch["input_ids"].dtype)
        if vision_ids & set(comp.tolist()):
            raise VideoMismatch(f"sample {i}: completion holds vision special tokens")
        keep = batch["attention_mask"][i].bool()
        prompt = batch["input_ids"][i][keep]
        seqs.append(torch.cat([prompt, comp]))
        kinds = batch["mm_token_type_ids"][i][keep]
        types.append(torch.cat([kinds, torch.zeros_like(comp, dtype=kinds.dtype)]))
        labels.append(torch.cat([torch.full_like(prompt, -100), comp]))
        cmask.append(torch.cat([torch.zeros_like(prompt), torch.ones_like(comp)]))
    n = max(len(s) for s in seqs)

    def left_pad(xs, value):
        return torch.stack([torch.cat([torch.full((n - len(x),), value, dtype=x.dtype), x]) for x in xs])

    out = dict(batch)
    out["input_ids"] = left_pad(seqs, pad)
    out["attention_mask"] = left_pad([torch.ones_like(s) for s in seqs], 0)
    out["mm_token_type_ids"] = left_pad(types, 0)
    out["labels"] = left_pad(labels, -100)
    out["completion_mask"] = left_pad(cmask, 0)
    return out


def select_rows(batch, start, stop):
    """Rows start:stop of a batch from build_inputs, with their videos' pixel rows, grids and timing: a chunk that the
    model scores exactly as it scores those rows inside the whole batch (the same padding)."""
    videos = (batch["video_rows"] >= start) & (batch["video_rows"] < stop)
    index = videos.nonzero().flatten()
    offsets = torch.cat([torch.zeros(1, dtype=torch.long), batch["video_grid_thw"].prod(-1).cumsum(0)])
    pixels = slice(int(offsets[index[0]]), int(offsets[index[-1] + 1])) if len(index) else slice(0, 0)
    out = {}
    for k, v in batch.items():
        if k == "pixel_values_videos":
            out[k] = v[pixels]
        elif k in ("video_grid_thw", "second_per_grid_ts"):
            out[k] = v[videos]
        elif k == "video_rows":
            out[k] = v[videos] - start
        else:
            out[k] = v[start:stop]
    return out


def expand_rows(batch, copies):
    """Each row of a prompt batch `copies` times in a row (a GRPO group), with its videos' grids and timing but not
    their pixels: the rows share their prompt's features (vauflow.model.vision)."""
    per_video = batch["video_rows"]
    out = {
        k: v.repeat_interleave(copies, 0)
        for k, v in batch.items()
        if k not in ("pixel_values_videos", "video_grid_thw", "second_per_grid_ts", "video_rows")
    }
    order = torch.cat(
        [(per_video == row).nonzero().flatten() for row in range(len(batch["input_ids"])) for _ in range(copies)]
    )
    for k in ("video_grid_thw", "second_per_grid_ts"):
        if k in batch:
            out[k] = batch[k][order]
    out["video_rows"] = torch.cat(
        [
            torch.full(((per_video == row).sum(),), row * copies + j)
            for row in range(len(batch["input_ids"]))
            for j in range(copies)
        ]
    )
    return out


def vision_token_ids(processor):
    return [processor.tokenizer.convert_tokens_to_ids(t) for t in VISION_TOKENS]


def eos_token_ids(processor):
    """Where a completion ends: <|im_end|> (the chat turn) or <|endoftext|>."""
    return [processor.tokenizer.convert_tokens_to_ids(t) for t in ("<|im_end|>", "<|endoftext|>")]


def model_inputs(batch, device=None):
    """Only what the model's forward/generate take (no labels or masks of ours)."""
    return {k: (v.to(device) if device is not None else v) for k, v in batch.items() if k in MODEL_KEYS}
