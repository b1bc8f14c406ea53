"""A byte-level BPE tokenizer trained on the workflow's own text, with Qwen's special tokens and chat template."""

import importlib.util
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from vauflow.model import VISION_TOKENS

# Qwen2-VL / Qwen2.5-VL special tokens, in Qwen's order (ids 0.. here; 151643.. in the real vocabulary)
SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    *VISION_TOKENS,
]


def chat_template():
    """Qwen2-VL/2.5-VL's template, read from TRL's qwen2_5_vl.jinja so it is byte-identical (TRL recognises
    it). Found without importing trl, which takes seconds."""
    trl_dir = Path(importlib.util.find_spec("trl").submodule_search_locations[0])
    return (trl_dir / "chat_templates" / "qwen2_5_vl.jinja").read_text(encoding="utf-8")


def train_tokenizer(lines, vocab_size, template=None):
    """Deterministic: the same lines (sorted, de-duplicated) give the same vocabulary. `template`: a chat template
    instead of TRL's (a machine without TRL: bench/gpu_smoke.py)."""
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    # digits one by one, as Qwen does: timestamps like 12.5 stay compositional
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(sorted(set(lines)), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        padding_side="left",
        model_max_length=32768,
    )
    fast.chat_template = template or chat_template()
    return fast
