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


def row_seed(*keys):
    """A 63-bit seed from integers (seed, step, prompt index, completion index)."""
    import numpy as np

    return int(np.random.SeedSequence(list(keys)).generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def seeded_sampler(seeds, temperature, top_k, top_p, device):
    """A logits processor that samples each row from its own generator (Gumbel-max over the temperature / top-k /
    top-p distribution, then greedy decoding takes the arg-max): a row's sample depends on its seed and logits only,
    never on the batch it shares or the process it runs in, so GRPO's rollouts are the same on 1 or N processes.
    Returns a list for `generate(logits_processor=...)`, used with `do_sample=False`."""
    from transformers import LogitsProcessor
    from transformers.generation.logits_process import TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

    warpers = (
        ([TemperatureLogitsWarper(temperature)] if temperature != 1.0 else [])
        + ([TopKLogitsWarper(top_k)] if top_k else [])
        + ([TopPLogitsWarper(top_p)] if top_p < 1.0 else [])
    )
    generators = [torch.Generator(device=device).manual_seed(s) for s in seeds]

    class SeededGumbel(LogitsProcessor):
        def __call__(self, input_ids, scores):
            for warp in warpers:
                scores = warp(input_ids, scores)
            uniform = torch.stack(
                [
                    torch.rand(scores.shape[-1], generator=g, device=scores.device, dtype=torch.float64)
                    for g in generators
                ]
            )
            gumbel = -torch.log(-torch.log(uniform.clamp_min(1e-300)))
            return torch.log_softmax(scores.double(), -1) + gumbel

    return [SeededGumbel()]
