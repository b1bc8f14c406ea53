"""The one model-input builder. SFT, GRPO rollouts, every log-prob pass, evaluation and the demo call
`build_inputs`; nothing else turns frames into model inputs.

Frames come from the cache (vauflow.frames.cache.Clip), resized exactly as qwen_vl_utils.fetch_video does, and the
processor only patchifies them (`do_resize=False`). The sampled fps travels in `video_metadata`, so
`second_per_grid_ts` is exact (the processor's fall-back assumes 24 fps). `mm_token_type_ids` is always returned:
without it transformers 5.x silently falls back to 1-D positions. Batches are left-padded, the layout generation
needs, so generate-time and loss-time positions agree."""

from dataclasses import dataclass

import torch
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as TF

from vauflow.model.tokenizer import VISION_TOKENS

MODEL_KEYS = ("input_ids", "attention_mask", "pixel_values_videos", "video_grid_thw", "second_per_grid_ts",
              "mm_token_type_ids")
VIDEO_TYPE = 2  # mm_token_type_ids: text 0, image 1, video 2


class VideoMismatch(RuntimeError):
    """Video tokens, features or timing disagree: never caught, never skipped."""


@dataclass
class Example:
    chat: list  # messages with one bare {"type": "video"} block
    clip: object  # vauflow.frames.cache.Clip


def resize_frames(clip):
    """[T, 3, H, W] float32 (0-255): bicubic antialiased resize to the budget's size, as qwen_vl_utils does."""
    video = torch.from_numpy(clip.frames).permute(0, 3, 1, 2)
    return TF.resize(video, list(clip.resized_hw), interpolation=InterpolationMode.BICUBIC, antialias=True).float()


def video_metadata(clip):
    meta = clip.meta
    return {"fps": meta["fps"], "total_num_frames": meta["total_frames"], "frames_indices": list(clip.indices)}


def build_inputs(processor, examples, completions=None, dtype=None):
    """Model inputs for a batch of examples (videos of any length), optionally followed by completion token ids.

    Returns a dict of tensors: the MODEL_KEYS, plus `completion_mask` (1 on completion tokens) and `labels`
    (completion ids, -100 elsewhere) when `completions` is given."""
    texts = [processor.apply_chat_template(e.chat, tokenize=False, add_generation_prompt=True) for e in examples]
    clips = [e.clip for e in examples]
    out = processor(text=texts, videos=[resize_frames(c) for c in clips],
                    video_metadata=[video_metadata(c) for c in clips], do_resize=False, do_sample_frames=False,
                    return_mm_token_type_ids=True, padding=True, padding_side="left", return_tensors="pt")
    batch = {k: out[k] for k in MODEL_KEYS if k in out}
    if "mm_token_type_ids" not in batch:
        raise VideoMismatch("processor returned no mm_token_type_ids: temporal positions would silently be 1-D")
    check_video(processor, batch, clips)
    if completions is not None:
        batch = append_completions(batch, completions, processor)
    if dtype is not None:
        batch["pixel_values_videos"] = batch["pixel_values_videos"].to(dtype)
    return batch


def check_video(processor, batch, clips):
    """Video tokens == features, per sample; grids and seconds-per-grid as the clips say."""
    merge = processor.video_processor.merge_size ** 2
    patch = processor.video_processor.patch_size
    grids = batch["video_grid_thw"]
    if len(grids) != len(clips):
        raise VideoMismatch(f"{len(clips)} clips but {len(grids)} video grids")
    tokens = (batch["input_ids"] == processor.video_token_id).sum(-1)
    for i, (grid, clip) in enumerate(zip(grids.tolist(), clips)):
        t, h, w = grid
        want = [-(-len(clip.indices) // 2), clip.resized_hw[0] // patch, clip.resized_hw[1] // patch]
        if grid != want:
            raise VideoMismatch(f"sample {i}: video grid {grid}, expected {want} from the clip")
        if tokens[i].item() != t * h * w // merge:
            raise VideoMismatch(f"sample {i}: {tokens[i].item()} video tokens but {t * h * w // merge} features")
    if batch["pixel_values_videos"].shape[0] != int(grids.prod(-1).sum()):
        raise VideoMismatch("pixel_values_videos rows != sum of grid sizes")
    if (batch["mm_token_type_ids"] == VIDEO_TYPE).sum() != tokens.sum():
        raise VideoMismatch("mm_token_type_ids do not mark every video token")
    if "second_per_grid_ts" in batch:
        got = batch["second_per_grid_ts"].tolist()
        want = [c.second_per_grid_ts for c in clips]
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
        types.append(torch.cat([batch["mm_token_type_ids"][i][keep], torch.zeros_like(comp, dtype=batch["mm_token_type_ids"].dtype)]))
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


def vision_token_ids(processor):
    return [processor.tokenizer.convert_tokens_to_ids(t) for t in VISION_TOKENS]


def eos_token_ids(processor):
    """Where a completion ends: <|im_end|> (the chat turn) or <|endoftext|>."""
    return [processor.tokenizer.convert_tokens_to_ids(t) for t in ("<|im_end|>", "<|endoftext|>")]


def model_inputs(batch, device=None):
    """Only what the model's forward/generate take (no labels or masks of ours)."""
    return {k: (v.to(device) if device is not None else v) for k, v in batch.items() if k in MODEL_KEYS}
