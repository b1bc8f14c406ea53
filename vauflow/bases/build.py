"""Build a tiny Qwen2.5-VL or Qwen2-VL locally (no hub): tokenizer, processor, randomly initialised model.

The architecture classes come from the config (`models.<name>.class` / `.processor`); the shape is small enough to
train on 2 CPU cores. Embeddings are untied so that LoRA plus a trainable `lm_head` can learn from scratch
(cpu-stack.md §5, gotcha 3)."""

from pathlib import Path

from vauflow.bases.tokenizer import SPECIAL_TOKENS, train_tokenizer
from vauflow.io import UsageError, atomic_dir, write_json
from vauflow.model.folder import MANIFEST, manifest


def build_tiny(spec, corpus_lines, out_dir, seed):
    import torch
    import transformers
    from transformers import GenerationConfig, Qwen2VLImageProcessor, Qwen2VLVideoProcessor

    shape = spec["shape"]
    tok = train_tokenizer(corpus_lines, shape["vocab_size"])
    ids = {t: tok.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    head_dim = shape["hidden_size"] // shape["num_attention_heads"]
    if sum(shape["mrope_section"]) * 2 != head_dim:
        raise UsageError(f"models: mrope_section {shape['mrope_section']} must sum to head_dim/2 = {head_dim // 2}")

    model_cls = getattr(transformers, spec["class"])
    text = {
        "vocab_size": len(tok),
        "hidden_size": shape["hidden_size"],
        "intermediate_size": shape["intermediate_size"],
        "num_hidden_layers": shape["num_hidden_layers"],
        "num_attention_heads": shape["num_attention_heads"],
        "num_key_value_heads": shape["num_key_value_heads"],
        "max_position_embeddings": 32768,
        "bos_token_id": ids["<|endoftext|>"],
        "eos_token_id": ids["<|im_end|>"],
        "pad_token_id": ids["<|endoftext|>"],
        "tie_word_embeddings": False,
        "rope_parameters": {"rope_type": "default", "rope_theta": 1e6, "mrope_section": shape["mrope_section"]},
    }
    v = shape["vision"]
    if spec["family"] == "qwen2_5_vl":
        vision = {
            "depth": v["depth"],
            "hidden_size": v["hidden_size"],
            "intermediate_size": v["intermediate_size"],
            "num_heads": v["num_heads"],
            "out_hidden_size": shape["hidden_size"],
            "patch_size": 14,
            "temporal_patch_size": 2,
            "spatial_merge_size": 2,
            "window_size": 112,
            "fullatt_block_indexes": [v["depth"] - 1],
            "tokens_per_second": 2,
        }
    else:  # qwen2_vl: no window attention, no absolute time; `hidden_size` is the LLM width it projects to
        vision = {
            "depth": v["depth"],
            "embed_dim": v["hidden_size"],
            "hidden_size": shape["hidden_size"],
            "mlp_ratio": v["intermediate_size"] // v["hidden_size"],
            "num_heads": v["num_heads"],
            "patch_size": 14,
            "temporal_patch_size": 2,
            "spatial_merge_size": 2,
        }
    config = model_cls.config_class(
        text_config=text,
        vision_config=vision,
        tie_word_embeddings=False,
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
    )
    torch.manual_seed(seed)
    model = model_cls(config).eval()

    video_size = {"shortest_edge": spec["video_min_pixels"], "longest_edge": spec["video_max_pixels"]}
    processor = getattr(transformers, spec["processor"])(
        image_processor=Qwen2VLImageProcessor(),
        tokenizer=tok,
        video_processor=Qwen2VLVideoProcessor(size=video_size, cap_pixels_per_frame=True),
        chat_template=tok.chat_template,
    )
    generation = GenerationConfig(
        eos_token_id=[ids["<|im_end|>"], ids["<|endoftext|>"]], pad_token_id=ids["<|endoftext|>"], do_sample=False
    )

    with atomic_dir(out_dir) as tmp:
        model.save_pretrained(tmp)
        generation.save_pretrained(tmp)
        processor.save_pretrained(tmp)
        write_json(Path(tmp) / MANIFEST, manifest(spec, model))
    return model


def main(a):
    """`vauflow model build`."""
    from vauflow.bases.corpus import corpus_lines

    model = build_tiny(a.spec, corpus_lines({"vau": a.vau_linked, "ball": a.ball_linked}), a.out, a.seed)
    print(f"model {a.name}: {a.spec['class']}, {sum(p.numel() for p in model.parameters()):,} parameters -> {a.out}")
