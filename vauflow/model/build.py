"""Build a tiny Qwen2.5-VL or Qwen2-VL locally (no hub): tokenizer, processor, randomly initialised model.

The architecture classes come from the config (`models.<name>.class` / `.processor`); the shape is small enough to
train on 2 CPU cores. Embeddings are untied so that LoRA plus a trainable `lm_head` can learn from scratch
(cpu-stack.md §5, gotcha 3)."""

import json
from pathlib import Path

from vauflow.io import UsageError, atomic_dir, write_json
from vauflow.model.tokenizer import SPECIAL_TOKENS, train_tokenizer

MANIFEST = "vauflow_model.json"


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
    text = {"vocab_size": len(tok), "hidden_size": shape["hidden_size"],
            "intermediate_size": shape["intermediate_size"], "num_hidden_layers": shape["num_hidden_layers"],
            "num_attention_heads": shape["num_attention_heads"], "num_key_value_heads": shape["num_key_value_heads"],
            "max_position_embeddings": 32768, "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|im_end|>"], "pad_token_id": ids["<|endoftext|>"], "tie_word_embeddings": False,
            "rope_parameters": {"rope_type": "default", "rope_theta": 1e6, "mrope_section": shape["mrope_section"]}}
    v = shape["vision"]
    if spec["family"] == "qwen2_5_vl":
        vision = {"depth": v["depth"], "hidden_size": v["hidden_size"], "intermediate_size": v["intermediate_size"],
                  "num_heads": v["num_heads"], "out_hidden_size": shape["hidden_size"], "patch_size": 14,
                  "temporal_patch_size": 2, "spatial_merge_size": 2, "window_size": 112,
                  "fullatt_block_indexes": [v["depth"] - 1], "tokens_per_second": 2}
    else:  # qwen2_vl: no window attention, no absolute time; `hidden_size` is the LLM width it projects to
        vision = {"depth": v["depth"], "embed_dim": v["hidden_size"], "hidden_size": shape["hidden_size"],
                  "mlp_ratio": v["intermediate_size"] // v["hidden_size"], "num_heads": v["num_heads"],
                  "patch_size": 14, "temporal_patch_size": 2, "spatial_merge_size": 2}
    config = model_cls.config_class(
        text_config=text, vision_config=vision, tie_word_embeddings=False,
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"])
    torch.manual_seed(seed)
    model = model_cls(config).eval()

    video_size = {"shortest_edge": spec["video_min_pixels"], "longest_edge": spec["video_max_pixels"]}
    processor = getattr(transformers, spec["processor"])(
        image_processor=Qwen2VLImageProcessor(),
        tokenizer=tok,
        video_processor=Qwen2VLVideoProcessor(size=video_size, cap_pixels_per_frame=True),
        chat_template=tok.chat_template)
    generation = GenerationConfig(eos_token_id=[ids["<|im_end|>"], ids["<|endoftext|>"]],
                                  pad_token_id=ids["<|endoftext|>"], do_sample=False)

    with atomic_dir(out_dir) as tmp:
        model.save_pretrained(tmp)
        generation.save_pretrained(tmp)
        processor.save_pretrained(tmp)
        write_json(Path(tmp) / MANIFEST, manifest(spec, model))
    return model


def manifest(spec, model=None):
    m = {"class": spec["class"], "processor": spec["processor"], "family": spec["family"],
         "source": spec.get("repo") or "built"}
    if model is not None:
        m["parameters"] = sum(p.numel() for p in model.parameters())
    return m


def read_manifest(model_dir):
    """The model's class, processor and family: from our manifest, or, for a folder from elsewhere (a downloaded
    Hugging Face folder, a model trained elsewhere), from its config.json."""
    path = Path(model_dir) / MANIFEST
    if path.is_file():
        return json.loads(path.read_text())
    from vauflow.config import FAMILIES  # jsonschema: not needed for our own folders (bench/gpu_smoke.py)

    cfg = Path(model_dir) / "config.json"
    try:
        folder = json.loads(cfg.read_text())
    except (OSError, ValueError):
        raise UsageError(f"{model_dir}: not a model folder (no {MANIFEST}, no readable config.json)") from None
    family = folder.get("model_type")
    if family not in FAMILIES:
        raise UsageError(f"{model_dir}: a {family!r} model; vauflow runs {', '.join(FAMILIES)}")
    arch = (folder.get("architectures") or [FAMILIES[family][0]])[0]
    return {"class": arch, "processor": FAMILIES[family][1], "family": family, "source": str(model_dir)}
