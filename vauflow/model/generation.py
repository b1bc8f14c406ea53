"""Generation and compute settings that never come from a model folder: the folder's generation_config.json (the
Qwen-VL checkpoints' says top-p 0.001, repetition_penalty 1.05) is set aside while we generate, and mixed precision
is an autocast context over fp32 master weights."""

import contextlib

import torch

HALF = {"bfloat16": torch.bfloat16, "float16": torch.float16}


@contextlib.contextmanager
def explicit_generation(model):
    """Inside, `model.generate` sees only the settings passed to it (plus transformers' global defaults)."""
    from transformers import GenerationConfig

    folder_config, model.generation_config = model.generation_config, GenerationConfig()
    try:
        yield model
    finally:
        model.generation_config = folder_config


def compute(device, dtype):
    """bf16/fp16 compute over fp32 weights (autocast) for `model.dtype` bfloat16/float16; nothing for float32."""
    if dtype not in HALF:
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=HALF[dtype])
