"""Fetch a released checkpoint from the Hugging Face Hub into the models folder (a local rule: GPU jobs stay
offline and load from that folder), locked like the data downloads.

The revision (a branch, tag or commit; `main` by default) is resolved to a commit through the Hub's API
(`GET /api/models/<repo>/revision/<rev>`), every file is fetched at that commit (`/<repo>/resolve/<commit>/<file>`)
with the download stage's resume and bounded retries, and the commit and each file's sha256 go into the model lock
file. A later fetch takes the locked commit (a branch that moved is not followed silently: naming another revision
is a one-line error until its lock entry is removed) and must reproduce every hash. HF_ENDPOINT and HF_TOKEN are
honoured; the token never enters a log or the lock."""

import fcntl
import fnmatch
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from vauflow.io import UsageError, atomic_dir, atomic_path, sha256_file, write_json
from vauflow.model.folder import MANIFEST, manifest

PATTERNS = ["*.json", "*.safetensors", "*.jinja", "*.txt", "*.model", "*.tiktoken"]


def _headers():
    token = os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN")
    return {"Authorization": f"Bearer {token}"} if token else {}


def resolve(endpoint, repo, revision, timeout=60.0):
    """(commit, [file names]) of `repo` at `revision`."""
    url = f"{endpoint}/api/models/{repo}/revision/{urllib.parse.quote(revision, safe='')}"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=_headers()), timeout=timeout) as r:
            info = json.loads(r.read().decode("utf-8"))
    except urllib.error.HTTPError as e:
        hint = " (gated or private: accept its terms and export HF_TOKEN)" if e.code in (401, 403) else ""
        raise UsageError(f"cannot resolve {repo}@{revision}: HTTP {e.code}{hint}") from None
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise UsageError(f"cannot resolve {repo}@{revision} at {endpoint}: {getattr(e, 'reason', e)}") from None
    files = [s["rfilename"] for s in info.get("siblings", [])]
    return info["sha"], sorted(f for f in files if any(fnmatch.fnmatch(f, p) for p in PATTERNS) and "/" not in f)


def folder_sha256(file_hashes):
    """One hash for a model folder: of its files' names and hashes."""
    import hashlib

    return hashlib.sha256("".join(f"{k}\0{v}\n" for k, v in sorted(file_hashes.items())).encode()).hexdigest()


def fetch(spec, out_dir, lock_path="models.lock.json", retries=3, timeout=60.0):
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
        raise UsageError(
            f"cannot fetch {spec['repo']}: HF_HUB_OFFLINE is set; unset it on a machine with "
            f"internet, or put the model folder at {out_dir}"
        )
    from vauflow.download import fetch as download

    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
    repo = spec["repo"]
    locked = _read_lock(lock_path).get(repo)
    wanted = spec.get("revision") or (locked["commit"] if locked else "main")
    commit, files = resolve(endpoint, repo, wanted, timeout)
    if locked and commit != locked["commit"]:
        raise UsageError(
            f"{repo}: {wanted} is commit {commit[:12]}, but {lock_path} locks {locked['commit'][:12]} "
            f"(fetched as {locked['revision']}): remove its entry from the lock to move to it"
        )
    if not files:
        raise UsageError(f"{repo}@{commit[:12]}: no model files ({', '.join(PATTERNS)})")
    with atomic_dir(out_dir) as tmp:
        hashes = {}
        for name in files:
            url = f"{endpoint}/{repo}/resolve/{commit}/{urllib.parse.quote(name)}"
            download(url, tmp / name, retries=retries, timeout=timeout, headers=_headers())
            hashes[name] = sha256_file(tmp / name)
        if locked and hashes != locked["files"]:
            bad = sorted(k for k in hashes.keys() | locked["files"].keys() if hashes.get(k) != locked["files"].get(k))
            raise UsageError(f"{repo}@{commit[:12]}: {len(bad)} file(s) differ from {lock_path} ({', '.join(bad[:3])})")
        m = manifest(spec) | {"revision": wanted, "commit": commit, "folder_sha256": folder_sha256(hashes)}
        write_json(tmp / MANIFEST, m)
    if not locked:
        _record(lock_path, repo, {"revision": wanted, "commit": commit, "files": hashes})
    return m


def _read_lock(path):
    return json.loads(Path(path).read_text()) if Path(path).exists() else {}


def _record(path, repo, entry):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".flock"), "w") as lk:
        fcntl.flock(lk, fcntl.LOCK_EX)  # several fetch jobs may record at once
        data = _read_lock(path)
        data.setdefault(repo, entry)
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def main(a):
    """`vauflow model fetch`."""
    m = fetch(a.spec, a.out, a.lock)
    print(f"model {a.spec['repo']}@{m['revision']} = commit {m['commit']} -> {a.out} (locked in {a.lock})")
