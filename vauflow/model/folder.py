"""A model folder as the workflow reads it: our manifest (class, processor, family, source) beside the weights, or,
for a folder from elsewhere, the same read from its config.json."""

import json
from pathlib import Path

from vauflow.io import UsageError

MANIFEST = "vauflow_model.json"


def manifest(spec, model=None):
    m = {
        "class": spec["class"],
        "processor": spec["processor"],
        "family": spec["family"],
        "source": spec.get("repo") or "built",
    }
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


def identity(model_dir):
    """What a model folder's outputs depend on: its configs (the manifest too) and weights (the manifest's hashes of
    a folder this workflow wrote, else their sizes and times): the key of evaluation resume files and of training
    checkpoints, so a retrained folder at the same path is never taken for the one a checkpoint or prediction came
    from, while a copy that keeps the bytes (cp, rsync, snakemake --touch) still is."""
    manifest = Path(model_dir) / "manifest.json"
    hashed = manifest.is_file() and "weights_sha256" in json.loads(manifest.read_text(encoding="utf-8"))
    parts = []
    for f in sorted(Path(model_dir).glob("*")):
        if f.suffix == ".json":
            parts.append(f.name + f.read_text(encoding="utf-8"))
        elif f.suffix == ".safetensors" and not hashed:
            st = f.stat()
            parts.append(f"{f.name}:{st.st_size}:{st.st_mtime_ns}")
    return "\n".join(parts)
