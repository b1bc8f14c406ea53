"""Whole-DAG runs: the default workflow once (with its budget report), a no-op rerun, and determinism (smoke)."""

import hashlib
import json
import time
from pathlib import Path

import pytest

from conftest import REPO, run, snakemake


def tree_digest(root, patterns=("results/vaubench/**/*.jsonl", "results/vaubench/**/summary.json",
                                "results/ball/**/*", "resources/annotations/**/*", "resources/videos/**/*",
                                "results/frames/**/*.json*", "results/frames/**/*.npy")):
    h = {}
    for pat in patterns:
        for p in sorted(Path(root).glob(pat)):
            if p.is_file():
                h[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return h


@pytest.mark.workflow
def test_default_workflow_within_budget_then_noop(workdir, capsys):
    report = workdir / "logs" / "budget.json"
    p = run(["vauflow", "budget", "--report", str(report), "--benchmarks", str(workdir / "benchmarks"), "--",
             "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(workdir), "--cores", "2"], cwd=workdir)
    with capsys.disabled():  # CI's log records the budget lines
        print("\n" + "\n".join(line for line in p.stdout.splitlines() if line.startswith("budget:")))
    r = json.loads(report.read_text())
    assert r["returncode"] == 0
    assert r["rss_samples"] >= 5 * r["wall_s"] * 0.8  # sampled at >= 5 Hz
    assert r["wall_s"] <= 600 and r["peak_rss_mb"] <= 4096
    assert r["stages"]["data + frames"]["s"] <= 60, r["stages"]
    assert "budget: wall" in p.stdout
    linked = json.loads((workdir / "results/vaubench/linked/summary.json").read_text())
    built = json.loads((workdir / "results/vaubench/built/summary.json").read_text())
    for split, tasks in linked.items():
        for task, v in tasks.items():
            assert v["rows"] == built[split]["usable"][task] == v["linked"] + sum(v["excluded"].values())
    assert linked["test_msad"]["qa"]["linked"] == 48
    ball = json.loads((workdir / "results/ball/linked/summary.json").read_text())
    assert ball["train"]["linked"] == 64 and ball["val"]["linked"] == 64
    again = snakemake(workdir=workdir)
    assert "Nothing to be done" in again.stdout + again.stderr


@pytest.mark.workflow
def test_smoke_full_dag_deterministic_and_fast(tmp_path):
    digests = []
    for name in ("a", "b"):
        wd = tmp_path / name
        wd.mkdir()
        (wd / "config.yaml").write_text((REPO / "config.yaml").read_text())
        t0 = time.monotonic()
        snakemake(workdir=wd, configfiles=[REPO / "config.yaml", REPO / "tests/smoke/config.yaml"])
        assert time.monotonic() - t0 <= 90
        digests.append(tree_digest(wd))
    assert digests[0] and digests[0] == digests[1]
