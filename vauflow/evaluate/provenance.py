"""What produced the tables: code (git), config, data files and base models (hashes), package versions; no
timestamps, so two runs of one commit give identical footers."""

import hashlib
import json
from pathlib import Path

from vauflow.plan import model_folder


def model_provenance(folder):
    """A base model's revision and folder hash: the locked commit of a fetched model, else a hash of the folder's
    configs and weights (sizes only for weights over 64 MB: a local 7B folder is not read through for a table)."""
    from vauflow.model.folder import MANIFEST

    folder = Path(folder)
    if not folder.is_dir():
        return "absent"
    made = json.loads((folder / MANIFEST).read_text()) if (folder / MANIFEST).is_file() else {}
    if made.get("commit"):
        return (
            f"{made['source']} revision {made['revision']} = commit {made['commit']}, folder sha256 "
            f"{made['folder_sha256'][:16]}"
        )
    h = hashlib.sha256()
    for f in sorted(folder.iterdir()):
        if f.is_file() and f.suffix in (".json", ".safetensors", ".jinja"):
            big = f.suffix == ".safetensors" and f.stat().st_size > 64 << 20
            h.update(f.name.encode() + (str(f.stat().st_size).encode() if big else f.read_bytes()))
    return f"{made.get('source', 'local folder')} folder sha256 {h.hexdigest()[:16]}"


def provenance(config, repo_dir, data_files):
    """What produced the tables: code, config, data and package versions (no timestamps)."""
    import importlib.metadata
    import subprocess

    try:
        sha = subprocess.run(
            ["git", "-C", str(repo_dir), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(repo_dir), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        sha += " (with uncommitted changes)" if dirty else ""
    except (OSError, subprocess.CalledProcessError):
        sha = "unknown (not a git checkout)"
    blob = json.dumps(config, sort_keys=True, default=str).encode()
    out = {"git": sha, "config sha256": hashlib.sha256(blob).hexdigest()}
    for f in sorted(map(str, data_files)):
        out[f"data {f}"] = hashlib.sha256(Path(f).read_bytes()).hexdigest()[:16]
    bases = [
        config["model"]["base"],
        *config["model"]["other_bases"],
        *config["eval"]["zero_shot"],
        *config["eval"]["extra_models"],
    ]
    for name in dict.fromkeys(bases):
        out[f"model {name}"] = model_provenance(model_folder(config, name))
    for pkg in ("vauflow", "torch", "transformers", "trl", "peft"):
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out
