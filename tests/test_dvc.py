"""DVC on a real local remote: the boundary data (inputs in, the frozen VAU-Bench out) added, pushed, wiped and
pulled back bit for bit, with the modification times Snakemake needs (0 jobs afterwards)."""

import hashlib
import shutil
import subprocess

import pytest

from conftest import REPO, SMOKE, run, snakemake, vauflow

TARGETS = ("results/vaubench/linked", "results/ball/linked")  # the data stages: videos -> frames -> built -> linked
pytestmark = pytest.mark.workflow


def digest(root, paths):
    out = {}
    for rel in paths:
        for p in sorted((root / rel).rglob("*")):
            if p.is_file():
                out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def jobs(dry_run_output):
    """{rule: count} of a dry run ({} when there is nothing to do)."""
    text = dry_run_output.stdout + dry_run_output.stderr
    if "Nothing to be done" in text:
        return {}
    block = text.split("Job stats:", 1)[1].split("total", 1)[0]
    return {line.split()[0]: int(line.split()[1]) for line in block.splitlines()[3:] if line.strip()}


@pytest.fixture(scope="module")
def tracked(tmp_path_factory):
    """A workdir (a git checkout) that ran the data stages, with its boundary data added and pushed."""
    wd = tmp_path_factory.mktemp("dvc") / "work"
    wd.mkdir()
    remote = wd.parent / "remote"
    shutil.copy(REPO / "config.yaml", wd / "config.yaml")
    for cmd in (
        ["git", "init", "-q"],
        ["git", "config", "user.email", "ci@vauflow"],
        ["git", "config", "user.name", "ci"],
    ):
        run(cmd, cwd=wd)
    snakemake(*TARGETS, workdir=wd, configfiles=[REPO / "config.yaml", SMOKE])
    vauflow("dvc", "init", "--remote", remote, "--workdir", wd)
    p = vauflow("dvc", "add", "--workdir", wd)
    paths = [line.split("tracking ", 1)[1] for line in p.stdout.splitlines() if "tracking " in line]
    run(["git", "add", "-A"], cwd=wd)
    run(["git", "commit", "-qm", "data"], cwd=wd)
    vauflow("dvc", "push", "--workdir", wd)
    return wd, remote, paths


def test_only_the_boundaries_are_tracked(tracked):
    wd, _, paths = tracked
    assert paths == [
        "resources/annotations/ball",
        "resources/annotations/vaubench",
        "resources/videos/ball",
        "resources/videos/ecva",
        "resources/videos/msad",
        "resources/videos/ucf_crime",
        "results/vaubench/built",
    ]
    committed = subprocess.run(["git", "ls-files"], cwd=wd, capture_output=True, text=True).stdout.split()
    assert {f"{p}.dvc" for p in paths} <= set(committed) and ".vauflow-mtimes.json" in committed
    assert not any(f.startswith("results/frames") or f.endswith((".npy", ".mp4")) for f in committed)


def test_wipe_pull_identical_then_nothing_to_do(tracked):
    """Push, delete the tracked data and the cache, pull: the same bytes, and `snakemake -n` schedules 0 jobs."""
    wd, _, paths = tracked
    before = digest(wd, paths)
    assert jobs(snakemake(*TARGETS, "-n", workdir=wd, configfiles=[REPO / "config.yaml", SMOKE])) == {}
    for rel in paths:
        shutil.rmtree(wd / rel)
    shutil.rmtree(wd / ".dvc/cache")
    p = vauflow("dvc", "pull", "--workdir", wd)
    assert "restored the times" in p.stdout
    assert digest(wd, paths) == before
    assert jobs(snakemake(*TARGETS, "-n", workdir=wd, configfiles=[REPO / "config.yaml", SMOKE])) == {}


def test_fresh_clone_reruns_only_the_untracked(tracked, tmp_path):
    """A fresh clone pulls the boundaries; Snakemake then regenerates what is not tracked (the frame cache and the
    linked rows) and nothing else: downloads and the VAU-Bench build are not redone."""
    wd, _, paths = tracked
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(wd), str(clone)], cwd=tmp_path)
    vauflow("dvc", "pull", "--workdir", clone)
    assert digest(clone, paths) == digest(wd, paths)
    todo = jobs(snakemake(*TARGETS, "-n", workdir=clone, configfiles=[REPO / "config.yaml", SMOKE]))
    assert set(todo) == {"extract_frames", "size_frames", "vaubench_link", "ball_link"}, todo
