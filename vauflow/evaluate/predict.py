"""Batched greedy predictions on cached frames. `frames` can be transformed (shuffled in time, blanked) to check
that a model reads the video rather than a leak in the text."""

import dataclasses

import numpy as np
import torch

from vauflow.examples import example, frame_cache
from vauflow.frames.budget import VideoBudget
from vauflow.model.generation import explicit_generation
from vauflow.model.inputs import build_inputs, eos_token_ids, model_inputs, vision_token_ids
from vauflow.model.load import load_model, load_processor

TRANSFORMS = ("none", "shuffle", "blank")


def transform_clip(clip, how, seed):
    if how == "none":
        return clip
    frames = np.array(clip.frames)
    if how == "shuffle":  # time order destroyed, content kept
        frames = frames[np.random.default_rng(seed).permutation(len(frames))]
    elif how == "blank":  # content destroyed, length and timing kept
        frames = np.zeros_like(frames)
    else:
        raise ValueError(f"unknown frame transform {how!r}")
    return dataclasses.replace(clip, frames=frames)


@torch.no_grad()
def generate(model, processor, examples, max_new_tokens, repetition_penalty=1.0, token_ids=False):
    """Greedy completions (text) of one batch of examples: left-padded, vision special tokens suppressed. Every
    decoding setting is explicit: nothing comes from the model folder's generation_config.json (the Qwen-VL
    checkpoints' says sampling with top-p 0.001 and repetition_penalty 1.05; fine-tuned folders say what their
    trainer left there)."""
    batch = build_inputs(processor, examples)
    with explicit_generation(model):
        seqs = model.generate(
            **model_inputs(batch, model.device),
            do_sample=False,
            num_beams=1,
            repetition_penalty=repetition_penalty,
            max_new_tokens=max_new_tokens,
            suppress_tokens=vision_token_ids(processor),
            eos_token_id=eos_token_ids(processor),
            pad_token_id=processor.tokenizer.pad_token_id,
        )
    new = seqs[:, batch["input_ids"].shape[1] :].cpu()
    if token_ids:  # (bench/gpu_smoke.py: a random model's ids may decode to nothing)
        return new.tolist()
    return processor.tokenizer.batch_decode(new, skip_special_tokens=True)


def predict(model_dir, rows, budget, batch_size=8, max_new_tokens=64, transform="none", seed=0, model=None):
    """Greedy completions (text) for `rows` (training prompts), in order."""
    if model is None:
        model, _ = load_model(model_dir)
    processor = load_processor(model_dir)
    cache, budget = frame_cache(rows), VideoBudget.from_dict(budget)
    model.eval()
    out = []
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        examples = []
        for k, r in enumerate(chunk):
            ex = example(r, cache, budget)
            examples.append(dataclasses.replace(ex, clip=transform_clip(ex.clip, transform, seed + start + k)))
        out += generate(model, processor, examples, max_new_tokens)
    return out
