"""Is a refactor behaviour-preserving? Run the default workflow at two commits on this machine and compare its outputs.

    python bench/byte_identity.py BASE [HEAD]     (HEAD defaults to HEAD; both are git revisions)

Each revision is checked out as a git worktree under .byte-identity/<sha>/ and runs `snakemake --cores 2` with this
checkout's .venv, the worktree first on PYTHONPATH (so its own vauflow package runs, not the editable install). A
finished revision's outputs are kept, so a second comparison against the same base reruns only the head.

Compared byte for byte: results/tables/tables.json without its `provenance` block (git sha, config hash), the
learning summary, and every trained model's weights (*.safetensors under results/sft and results/grpo). Prints one
line per file and exits 1 on any difference. Other CPUs round differently, so no hash is pinned anywhere: the check
is always two runs on one machine.
"""

import argparse
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WORK = REPO / ".byte-identity"


def git(*args, cwd=REPO):
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def run_default(rev):
    """The default workflow's results at `rev` (a worktree of it, run once and kept)."""
    sha = git("rev-parse", rev)
    tree = WORK / sha[:12]
    done = tree / ".byte-identity-done"
    if done.exists():
        print(f"{rev} ({sha[:12]}): kept outputs of an earlier run", flush=True)
        return tree
    if tree.exists():
        git("worktree", "remove", "--force", str(tree))
    git("worktree", "add", "--detach", str(tree), sha)
    env = dict(
        os.environ,
        PYTHONPATH=str(tree),
        PYTHONHASHSEED="0",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        PATH=f"{REPO / '.venv/bin'}:{os.environ['PATH']}",
    )
    print(f"{rev} ({sha[:12]}): running the default workflow in {tree}", flush=True)
    with open(tree / "byte-identity.log", "w") as log:
        subprocess.run(
            ["snakemake", "--cores", "2"], cwd=tree, env=env, check=True, stdout=log, stderr=subprocess.STDOUT
        )
    done.touch()
    return tree


def digests(tree):
    """Relative path -> sha256 of each compared output (tables.json without provenance)."""
    out = {}
    tables = json.loads((tree / "results/tables/tables.json").read_text())
    tables.pop("provenance", None)
    # re-serialised in its own key order: a reordered table counts as a difference
    out["results/tables/tables.json (no provenance)"] = hashlib.sha256(json.dumps(tables).encode()).hexdigest()
    files = [tree / "results/learning/summary.json"]
    files += sorted(p for stage in ("sft", "grpo") for p in (tree / "results" / stage).rglob("*.safetensors"))
    for p in files:
        out[str(p.relative_to(tree))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("base")
    ap.add_argument("head", nargs="?", default="HEAD")
    a = ap.parse_args()
    base, head = digests(run_default(a.base)), digests(run_default(a.head))
    differ = 0
    for name in sorted(set(base) | set(head)):
        same = base.get(name) == head.get(name)
        differ += not same
        state = (
            "identical"
            if same
            else ("missing in head" if name not in head else "missing in base" if name not in base else "DIFFERS")
        )
        print(f"{state:16s} {name}")
    print(f"{len(set(base) | set(head))} files compared, {differ} differ")
    sys.exit(1 if differ else 0)


if __name__ == "__main__":
    main()
