"""Fetch a released checkpoint from the Hugging Face Hub into the models folder (a local rule: GPU jobs stay
offline and load from that folder)."""

import os

from vauflow.io import UsageError, atomic_dir, write_json
from vauflow.model.build import MANIFEST, manifest

PATTERNS = ["*.json", "*.safetensors", "*.jinja", "*.txt", "*.model", "*.tiktoken"]


def fetch(spec, out_dir):
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
        raise UsageError(f"cannot fetch {spec['repo']}: HF_HUB_OFFLINE is set; unset it on a machine with "
                         f"internet, or put the model folder at {out_dir}")
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    with atomic_dir(out_dir) as tmp:
        try:
            snapshot_download(spec["repo"], revision=spec.get("revision") or "main", local_dir=tmp,
                              allow_patterns=PATTERNS)
        except (HfHubHTTPError, LocalEntryNotFoundError, OSError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise UsageError(f"cannot fetch {spec['repo']} (offline or no access?): {first}") from None
        write_json(tmp / MANIFEST, manifest(spec))
