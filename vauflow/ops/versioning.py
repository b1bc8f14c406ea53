"""DVC versions the workflow's boundaries; Snakemake owns the DAG.

Tracked: what comes in (videos, annotation folders under resources/) and what goes out (the frozen VAU-Bench, the
final SFT/GRPO models, the tables). Never frames or other intermediates: they are cheap to regenerate, and many
small files make DVC slow.

DVC does not keep modification times: a pulled file gets the time of the pull, and `dvc add` rewrites them too.
Snakemake would then see pulled inputs as newer than the outputs and rerun everything. So every tracked file's
mtime is recorded at `add` (in MTIMES, committed beside the .dvc files) and restored after `add` and after `pull`.
DVC is imported only here, and only when these commands run."""

import contextlib
import json
import os
from pathlib import Path

INPUTS = ("resources/videos/*", "resources/annotations/*")
OUTPUTS = ("results/vaubench/built", "results/sft/*", "results/grpo/*", "results/tables")
NEVER = ("results/frames", "results/vaubench/linked", "results/ball/linked", "results/eval", "checkpoints")
MTIMES = ".vauflow-mtimes.json"
# results/ and resources/ stay ignored, except the .dvc files (and DVC's own .gitignore files) inside them
GITIGNORE = (
    "/results/**",
    "!/results/**/",
    "!/results/**/*.dvc",
    "!/results/**/.gitignore",
    "/resources/**",
    "!/resources/**/",
    "!/resources/**/*.dvc",
    "!/resources/**/.gitignore",
)


def targets(workdir, which="all"):
    """The boundary paths present in `workdir` (relative, sorted): inputs, outputs or both."""
    workdir = Path(workdir)
    patterns = {"inputs": INPUTS, "outputs": OUTPUTS, "all": INPUTS + OUTPUTS}[which]
    found = sorted({str(p.relative_to(workdir)) for pat in patterns for p in workdir.glob(pat) if p.is_dir()})
    bad = [t for t in found if any(t == n or t.startswith(n + "/") for n in NEVER)]
    if bad:  # a pattern above went wrong: never version intermediates
        raise RuntimeError(f"intermediates must not be tracked: {bad}")
    return found


@contextlib.contextmanager
def _repo(workdir):
    """The DVC repository at `workdir`, entered there (DVC resolves paths against the current directory)."""
    from dvc.repo import Repo

    here = os.getcwd()
    os.chdir(workdir)
    repo = Repo(".")
    try:
        yield repo
    finally:
        repo.close()
        os.chdir(here)


def init(workdir, remote):
    """A DVC repository in `workdir` (a git checkout) with `remote` as its default remote: a local path, or
    s3://bucket/prefix with the dvc-s3 plugin installed."""
    from dvc.repo import Repo

    workdir = Path(workdir).resolve()
    repo = Repo(str(workdir)) if (workdir / ".dvc").is_dir() else Repo.init(str(workdir))
    with repo.config.edit() as c:
        c["remote"] = {"storage": {"url": str(remote)}}
        c["core"]["remote"] = "storage"
        c["core"]["analytics"] = False
        c["core"]["check_update"] = False
    ignore = workdir / ".gitignore"
    lines = ignore.read_text().splitlines() if ignore.exists() else []
    lines = [x for x in lines if x.strip().rstrip("/") not in ("results", "resources", "/results", "/resources")]
    ignore.write_text("\n".join(lines + [g for g in GITIGNORE if g not in lines]) + "\n")
    repo.close()


def _files(workdir, paths):
    for rel in paths:
        root = Path(workdir) / rel
        yield root
        for dirpath, dirnames, filenames in os.walk(root):
            for name in dirnames + filenames:
                yield Path(dirpath) / name


def record_mtimes(workdir, paths):
    workdir = Path(workdir)
    path = workdir / MTIMES
    known = json.loads(path.read_text()) if path.exists() else {}
    known.update({str(p.relative_to(workdir)): p.stat().st_mtime_ns for p in _files(workdir, paths)})
    path.write_text(json.dumps(dict(sorted(known.items())), indent=0) + "\n")


def restore_mtimes(workdir):
    """Put back the recorded times (deepest paths first, so a directory's time is set after its contents)."""
    workdir = Path(workdir)
    path = workdir / MTIMES
    known = json.loads(path.read_text()) if path.exists() else {}
    restored = 0
    for rel in sorted(known, key=lambda r: -r.count("/")):
        p = workdir / rel
        if p.exists():
            os.utime(p, ns=(known[rel], known[rel]), follow_symlinks=False)
            restored += 1
    return restored


def add(workdir, which="all"):
    paths = targets(workdir, which)
    record_mtimes(workdir, paths)
    with _repo(workdir) as repo:
        repo.add(paths)
    restore_mtimes(workdir)
    return paths


def push(workdir):
    with _repo(workdir) as repo:
        return repo.push()


def pull(workdir, paths=None):
    with _repo(workdir) as repo:
        out = repo.pull(targets=paths)
    return out, restore_mtimes(workdir)


def main_init(a):
    """`vauflow dvc init`."""
    init(a.workdir, a.remote)
    print(f"dvc: remote {a.remote}")


def main_add(a):
    """`vauflow dvc add`."""
    for path in add(a.workdir, a.what):
        print(f"dvc: tracking {path}")
    print(f"dvc: commit the .dvc files, .gitignore and {MTIMES} to git, then `vauflow dvc push`")


def main_push(a):
    """`vauflow dvc push`."""
    print(f"dvc: pushed {push(a.workdir)} files")


def main_pull(a):
    """`vauflow dvc pull`."""
    out, restored = pull(a.workdir)
    print(f"dvc: pulled {json.dumps(out.get('stats', {}))}; restored the times of {restored} paths")
