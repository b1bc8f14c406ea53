"""Download stage: a manifest of files/archives per dataset, fetched with resume, bounded retries, sha256
verification (mismatch -> quarantined, refused) and safe archive extraction.

Manifest (YAML): {datasets: {name: {gated: "message" | absent, files: [{url, sha256 | null, name?, extract?}]}}}.
A null sha256 means no source can be cited: the first download records it in the lock file with a warning, and
later downloads are checked against the lock.
"""

import fcntl
import json
import logging
import os
import shutil
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath

import yaml

from vauflow.commands import Command, arg
from vauflow.io import UsageError, atomic_path, sha256_file

log = logging.getLogger(__name__)


class DownloadError(UsageError):
    pass


def load_manifest(path):
    m = yaml.safe_load(Path(path).read_text())
    if not isinstance(m, dict) or not isinstance(m.get("datasets"), dict):
        raise UsageError(f"{path}: a manifest needs a top-level 'datasets' mapping")
    return m["datasets"]


def _name(entry):
    return entry.get("name") or PurePosixPath(urllib.parse.urlparse(entry["url"]).path).name


class _SameHostCredentials(urllib.request.HTTPRedirectHandler):
    """Redirects keep the Authorization header only on the same host (the Hub answers large files with a redirect
    to a CDN, which must not see the token)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and urllib.parse.urlsplit(newurl).netloc != urllib.parse.urlsplit(req.full_url).netloc:
            new.remove_header("Authorization")
        return new


_OPENER = urllib.request.build_opener(_SameHostCredentials)


def fetch(url, dest, retries=3, timeout=30.0, backoff=1.0, headers=None):
    """Download `url` to `dest`, resuming from `dest.part` with HTTP Range; bounded retries with backoff."""
    dest = Path(dest)
    part = dest.with_name(dest.name + ".part")
    last = None
    for attempt in range(1, retries + 1):
        have = part.stat().st_size if part.exists() else 0
        req = urllib.request.Request(url, headers=(headers or {}) | ({"Range": f"bytes={have}-"} if have else {}))
        try:
            with _OPENER.open(req, timeout=timeout) as resp:
                if have and resp.status != 206:
                    have = 0  # server ignored the range: start over
                mode = "ab" if have else "wb"
                expected = resp.headers.get("Content-Length")
                got = 0
                with open(part, mode) as f:
                    while block := resp.read(1 << 16):
                        f.write(block)
                        got += len(block)
                if expected is not None and got < int(expected):
                    raise ConnectionError(f"connection closed after {got} of {expected} bytes")
            os.replace(part, dest)
            return dest
        except urllib.error.HTTPError as e:
            if e.code == 416 and have:  # range past the end: the partial file is complete
                os.replace(part, dest)
                return dest
            last = f"HTTP {e.code} {e.reason}"
            if e.code in (401, 403, 404, 410):
                break  # retrying will not help
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as e:
            last = " ".join(str(getattr(e, "reason", e)).split())
        log.warning("download %s: attempt %d/%d failed: %s", url, attempt, retries, last)
        if attempt < retries:
            time.sleep(backoff * attempt)
    raise DownloadError(f"download failed: {url}: {last} (after {attempt} attempt(s))")


class Lock:
    """sha256 values recorded on first download, for entries whose manifest cites none."""

    def __init__(self, path):
        self.path = Path(path)

    def update(self, key, sha):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".flock"), "w") as lk:
            fcntl.flock(lk, fcntl.LOCK_EX)  # several download jobs may record at once
            data = json.loads(self.path.read_text()) if self.path.exists() else {}
            old = data.get(key)
            if old is None:
                data[key] = sha
                with atomic_path(self.path) as tmp:
                    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
            return old


def safe_extract(archive, target):
    """Extract a tar or zip archive, refusing absolute paths, '..' and links that leave `target`."""
    target = Path(target).resolve()

    def check(name, link=None):
        p = PurePosixPath(name)
        if p.is_absolute() or ".." in p.parts:
            raise DownloadError(f"{archive}: refused: unsafe member path '{name}'")
        if link is not None:
            dest = (target / p.parent / link).resolve()
            if PurePosixPath(link).is_absolute() or not dest.is_relative_to(target):
                raise DownloadError(f"{archive}: refused: link '{name}' -> '{link}' leaves the target")

    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            for info in z.infolist():
                check(info.filename)
                if (info.external_attr >> 16) & 0o170000 == 0o120000:
                    raise DownloadError(f"{archive}: refused: symlink member '{info.filename}'")
            z.extractall(target)
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive) as t:
            members = t.getmembers()
            for m in members:
                check(m.name, m.linkname if (m.issym() or m.islnk()) else None)
                if not (m.isfile() or m.isdir() or m.issym() or m.islnk()):
                    raise DownloadError(f"{archive}: refused: special member '{m.name}'")
            t.extractall(target, members=members, filter="data")
    else:
        raise DownloadError(f"{archive}: not a zip or tar archive")


def download_dataset(manifest_path, dataset, out_dir, lock_path, partial_dir, quarantine_dir, retries=3, timeout=30.0):
    """Fetch every file of `dataset` into `out_dir` (archives extracted). Raises DownloadError with one line."""
    datasets = load_manifest(manifest_path)
    if dataset not in datasets:
        raise UsageError(f"{manifest_path}: no dataset '{dataset}' (have: {', '.join(sorted(datasets))})")
    spec = datasets[dataset] or {}
    if spec.get("gated"):
        raise DownloadError(f"dataset '{dataset}' is gated: {' '.join(str(spec['gated']).split())}")
    files = spec.get("files") or []
    if not files:
        raise DownloadError(f"dataset '{dataset}' lists no files in {manifest_path}")
    lock = Lock(lock_path)
    partial = Path(partial_dir) / dataset  # outside the Snakemake output: survives a failed job, so we resume
    partial.mkdir(parents=True, exist_ok=True)
    staging = Path(out_dir).with_name(Path(out_dir).name + ".staging")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for entry in files:
        name = _name(entry)
        if "/" in name or name.startswith("."):
            raise UsageError(f"{manifest_path}: bad file name '{name}' in dataset '{dataset}'")
        local = partial / name
        if not local.exists():
            fetch(entry["url"], local, retries=retries, timeout=timeout)
        sha = sha256_file(local)
        expected = entry.get("sha256")
        if expected is None:
            recorded = lock.update(f"{dataset}/{name}", sha)
            if recorded is None:
                log.warning("%s/%s: no citable sha256; recorded %s in %s", dataset, name, sha, lock_path)
            expected = recorded or sha
        if sha != expected:
            q = Path(quarantine_dir) / dataset
            q.mkdir(parents=True, exist_ok=True)
            os.replace(local, q / name)
            (q / f"{name}.reason.json").write_text(
                json.dumps({"url": entry["url"], "expected": expected, "got": sha}) + "\n"
            )
            raise DownloadError(
                f"sha256 mismatch for {dataset}/{name}: expected {expected}, got {sha}; quarantined in {q}"
            )
        if entry.get("extract"):
            safe_extract(local, staging)
        else:
            shutil.copy2(local, staging / name)
    shutil.rmtree(out_dir, ignore_errors=True)
    os.replace(staging, out_dir)
    return sorted(str(p.relative_to(out_dir)) for p in Path(out_dir).rglob("*") if p.is_file())


def main(a):
    """`vauflow download`."""
    files = download_dataset(
        a.manifest, a.dataset, a.out, a.lock, a.partial_dir, a.quarantine_dir, retries=a.retries, timeout=a.timeout
    )
    print(f"download {a.dataset}: {len(files)} file(s) -> {a.out}")


COMMANDS = [
    Command(
        ("download",),
        "fetch one dataset of a download manifest",
        "vauflow.download:main",
        args=(
            arg("--manifest", required=True),
            arg("--dataset", required=True),
            arg("--out", required=True),
            arg("--lock", required=True, help="JSON file recording sha256 values the manifest cannot cite"),
            arg("--partial-dir", default="resources/partial"),
            arg("--quarantine-dir", default="resources/quarantine"),
            arg("--retries", type=int, default=3),
            arg("--timeout", type=float, default=30.0),
        ),
    ),
]
