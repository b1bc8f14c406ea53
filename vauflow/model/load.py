"""Load a model folder (built, fetched or trained): the class named in its manifest, which came from the config."""

import torch

from vauflow.io import UsageError
from vauflow.model.folder import read_manifest

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def load_processor(model_dir):
    from transformers import AutoProcessor

    read_manifest(model_dir)  # a clear one-line error for a folder that is not a model
    processor = AutoProcessor.from_pretrained(model_dir)
    processor.tokenizer.padding_side = "left"
    return processor


def load_model(model_dir, dtype="float32", device="cpu", attn_implementation="sdpa", class_name=None):
    """`class_name` for a trainer's raw save, which has no manifest yet."""
    import transformers

    m = {"class": class_name} if class_name else read_manifest(model_dir)
    model_cls = getattr(transformers, m["class"])
    try:
        model = model_cls.from_pretrained(model_dir, dtype=DTYPES[dtype], attn_implementation=attn_implementation)
    except (OSError, ValueError) as e:  # a broken folder: one line, not transformers' traceback
        raise UsageError(f"{model_dir}: not a loadable model folder: {str(e).strip().splitlines()[0]}") from None
    arch = (model.config.architectures or [m["class"]])[0]
    if arch != m["class"]:
        raise UsageError(f"{model_dir}: config says {arch}, the workflow config says {m['class']}")
    return model.to(device), m
