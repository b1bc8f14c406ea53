"""The SLURM profile on a real single-node cluster (../shared/slurm-ci: slurmdbd accounting, an oversized node with
one fake GPU). Runs as root in CI; elsewhere it is skipped with the reason. The cluster's daemons are stopped
whatever happens, and every command runs under `timeout -k`."""

import collections
import json
import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from conftest import REPO, SHARED, env, run

CLUSTER = SHARED / "slurm-ci"
PROFILE = REPO / "profiles" / "slurm"
PORTS = (6817, 6818, 6819, 3306)  # slurmctld, slurmd, slurmdbd, MariaDB
pytestmark = pytest.mark.workflow


def local_rules():
    block = re.search(r"^localrules:\n((?:    \w+,\n)+)", (REPO / "Snakefile").read_text(), re.M).group(1)
    return set(re.findall(r"(\w+),", block))


SLURM_FILES = ("/etc/slurm/slurm.conf", "/etc/slurm/slurmdbd.conf", "/etc/slurm/gres.conf")


def port_in_use(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def sh(cmd, timeout, env_extra=None, **kw):
    """A command under `timeout -k` (Snakemake treats SIGTERM as "wait for running jobs": -k ends it)."""
    return subprocess.run(
        ["timeout", "-k", "30", str(timeout), *map(str, cmd)],
        capture_output=True,
        text=True,
        env=env() | (env_extra or {}),
        **kw,
    )


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("needs root: starts munged, MariaDB, slurmdbd, slurmctld and slurmd")
    if not (CLUSTER / "start-cluster.sh").exists():
        pytest.skip(f"{CLUSTER} is absent: no cluster scripts")
    if not shutil.which("slurmctld") and not shutil.which("apt-get"):
        pytest.skip("SLURM is not installed and there is no apt-get to install it")
    busy = [p for p in PORTS if port_in_use(p)]
    if busy:
        pytest.skip(f"ports {busy} are in use (another cluster or database runs here)")
    here = tmp_path_factory.mktemp("cluster") / "slurm-ci"
    shutil.copytree(CLUSTER, here)  # the shared folder is read-only; the scripts record PIDs beside themselves
    for p in here.rglob("*"):
        p.chmod(0o755 if p.is_dir() or p.suffix == ".sh" else 0o644)
    account = yaml.safe_load(PROFILE.joinpath("config.yaml").read_text())["default-resources"]["slurm_account"]
    start_env = env() | {"WITH_SLURMDBD": "1", "SLURM_ACCOUNT": account, "SLURM_CONF_NAME": "slurm-acct-big.conf"}
    # the scripts install /etc/slurm/*.conf; left behind with no controller, every later `snakemake` waits 9 s on
    # the SLURM plugin's `scontrol show config` at import (measured): put back what was there
    saved = {f: f.read_bytes() if f.exists() else None for f in map(Path, SLURM_FILES)}
    try:
        p = subprocess.run(
            ["timeout", "-k", "10", "600", "bash", str(here / "start-cluster.sh")],
            capture_output=True,
            text=True,
            env=start_env,
        )
        assert p.returncode == 0, f"cluster did not start:\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}"
        yield here
    finally:
        subprocess.run(["timeout", "-k", "10", "120", "bash", str(here / "stop-cluster.sh")], capture_output=True)
        for f, data in saved.items():
            if data is None:
                f.unlink(missing_ok=True)
            else:
                f.write_bytes(data)


def sacct(since, ids):
    """{job id: (state, timelimit)} of the given jobs, submitted since `since` (a fresh controller restarts job ids,
    so older runs in the same database could collide; records also reach the database with a delay)."""
    p = sh(["sacct", "-n", "-X", "-P", "-a", "-S", since, "-j", ",".join(ids), "--format", "JobID,State,Timelimit"], 60)
    assert p.returncode == 0, p.stderr
    return {
        jid: (state.split()[0], limit)
        for jid, state, limit in (line.split("|") for line in p.stdout.splitlines() if line)
    }


def submitted(p):
    """SLURM job ids of one Snakemake run, from its own report of each submission."""
    return re.findall(r"has been submitted with SLURM jobid (\d+)", p.stdout + p.stderr)


def now():
    return time.strftime("%Y-%m-%dT%H:%M:%S")


def jobs_by_rule(workdir):
    """{rule: [job ids]} from the per-job SLURM logs (logs/slurm/rule_<rule>/<wildcards>/<job id>.log)."""
    out = collections.defaultdict(list)
    for log in (workdir / "logs/slurm").rglob("*.log"):
        rule = log.relative_to(workdir / "logs/slurm").parts[0].removeprefix("rule_")
        out[rule].append(log.stem)
    return out


def job_stats(stdout):
    """{rule: count} from Snakemake's "Job stats" table."""
    block = stdout.split("Job stats:", 1)[1].split("total", 1)[0]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", block, re.M)}


def slurm_workflow(workdir, *args, timeout=900, env_extra=None):
    return sh(
        [
            "snakemake",
            "-s",
            REPO / "Snakefile",
            "--directory",
            workdir,
            "--profile",
            PROFILE,
            "--slurm-init-seconds-before-status-checks",
            "2",
            *args,
        ],
        timeout,
        cwd=workdir,
        env_extra=env_extra,
    )


def test_smoke_workflow_through_the_slurm_profile(cluster, tmp_path):
    """The smoke DAG through profiles/slurm, unchanged: the training rules with gpu=0 on the fake node, the canary
    with gpu=1. Every job that is not a local rule ran as a SLURM job and completed (sacct); the canary saw exactly
    the GPU SLURM gave it; a rule that fails fails the run after the profile's retries, each with a longer runtime."""
    wd = tmp_path / "wd"
    wd.mkdir()
    start = now()
    time.sleep(1)
    p = slurm_workflow(
        wd,
        "--set-resources",
        "sft:gpu=0",
        "grpo:gpu=0",
        "evaluate:gpu=0",
        "learning_check:gpu=0",
        "--config",
        "gpu_canary=True",
        "--configfile",
        REPO / "config.yaml",
        REPO / "tests/smoke/config.yaml",
    )
    assert p.returncode == 0, f"{p.stdout[-4000:]}\n{p.stderr[-4000:]}"
    stats = job_stats(p.stdout + p.stderr)
    remote = {r: n for r, n in stats.items() if r not in local_rules()}
    assert {"sft", "grpo", "evaluate", "gpu_canary", "extract_frames"} <= set(remote)
    by_rule = jobs_by_rule(wd)
    assert {r: len(ids) for r, ids in by_rule.items()} == remote  # one SLURM job per non-local job
    ids = submitted(p)
    assert sorted(ids) == sorted(j for js in by_rule.values() for j in js)
    for _ in range(30):  # accounting records arrive asynchronously
        accounted = sacct(start, ids)
        if set(accounted) == set(ids) and all(state == "COMPLETED" for state, _ in accounted.values()):
            break
        time.sleep(1)
    assert set(accounted) == set(ids), "a job has no accounting record"
    assert all(state == "COMPLETED" for state, _ in accounted.values()), accounted
    # (this cluster's accounting stores no GPU TRES: the canary reads the allocation from scontrol instead)
    (canary_id,) = by_rule["gpu_canary"]
    canary = json.loads((wd / "results/canary/gpu.json").read_text())
    assert canary["slurm_job"] == canary_id and canary["slurm_allocated"] == 1
    assert canary["cuda_visible_devices"] == ["0"]

    # the canary fails loudly when the allocation differs from what the rule asked for
    p = sh(
        [
            "srun",
            "--gpus=1",
            "-t",
            "5",
            str(REPO / ".venv/bin/vauflow"),
            "gpu-canary",
            "--expected",
            "2",
            "--out",
            tmp_path / "canary.json",
        ],
        120,
        cwd=wd,
    )
    assert p.returncode != 0 and "SLURM allocated 1 GPU(s)" in p.stderr and "asked for 2" in p.stderr

    # a GRPO job that meets its time limit (one minute here; VAUFLOW_SAVE_MARGIN_S 40 s) saves the step it is at and
    # exits 75; the profile's retry resumes from that checkpoint (no other: save_steps is beyond the run) and finishes
    start = now()
    time.sleep(1)
    longer = tmp_path / "longer-grpo.yaml"
    longer.write_text("grpo: {max_steps: 120, save_steps: 1000, log_steps: 20}\n")
    p = slurm_workflow(
        wd,
        "results/grpo/qa",
        "--forcerun",
        "grpo",
        "--set-resources",
        "grpo:gpu=0",
        "grpo:runtime=1",
        "--configfile",
        REPO / "config.yaml",
        REPO / "tests/smoke/config.yaml",
        longer,
        timeout=600,
        env_extra={"VAUFLOW_SAVE_MARGIN_S": "40"},
    )
    assert p.returncode == 0, f"{p.stdout[-4000:]}\n{p.stderr[-4000:]}"
    ids = submitted(p)
    log = (wd / "logs/grpo/qa.log").read_text()  # the last attempt's
    print(f"\ntime-limited GRPO: SLURM jobs {ids}\n" + "\n".join(log.splitlines()[-6:]))
    resumed = int(re.search(r"resuming from \S*checkpoint-(\d+)", log).group(1))
    assert 0 < resumed < 120 and '"step": 120' in log
    assert len((wd / "results/grpo/qa/log.jsonl").read_text().splitlines()) == 120
    for _ in range(30):
        states = sacct(start, ids)
        if len(states) == len(ids) and all(state in ("COMPLETED", "FAILED") for state, _ in states.values()):
            break
        time.sleep(1)
    attempts = [states[i][0] for i in ids if states[i][1] == "00:01:00"]  # the GRPO jobs (a one-minute limit)
    assert len(attempts) >= 2 and attempts[0] == "FAILED" and attempts[-1] == "COMPLETED", states

    # a failing rule fails the run: a broken model folder makes its evaluation job fail, three times (the profile's
    # two retries), each with a longer runtime limit (the profile's default 30 min * attempt; memory is fixed here,
    # as the profile's 32 GB * attempt outgrows this test node on the third try)
    (wd / "resources/models/tiny/config.json").write_text("{not json")
    start = now()
    time.sleep(1)
    p = slurm_workflow(
        wd,
        "results/eval/base",
        "--forcerun",
        "evaluate",
        "--set-resources",
        "evaluate:gpu=0",
        "evaluate:mem_mb=2000",
        "--configfile",
        REPO / "config.yaml",
        REPO / "tests/smoke/config.yaml",
        timeout=600,
    )
    assert p.returncode != 0 and "Error in rule evaluate" in p.stdout + p.stderr
    ids = submitted(p)
    assert len(ids) == 3  # the first try and the profile's two retries
    for _ in range(30):
        new = sacct(start, ids)
        if len(new) == 3 and all(state == "FAILED" for state, _ in new.values()):
            break
        time.sleep(1)
    assert [state for state, _ in new.values()] == ["FAILED"] * 3, new
    assert sorted(limit for _, limit in new.values()) == ["00:30:00", "01:00:00", "01:30:00"]


def test_profile_dry_runs_list_the_slurm_resources(workdir):
    """Without a cluster: the paper preset through profiles/slurm lists its jobs with their SLURM resources, and the
    local-gpu profile dry-runs. In a working directory of their own: the checkout's results (after `make run`)
    must not change what a test sees."""
    where = ["-s", str(REPO / "Snakefile"), "--directory", str(workdir)]
    paper = ["snakemake", "-n", *where, "--profile", str(PROFILE), "--configfile", str(REPO / "presets/paper.yaml")]
    # as shipped (gpu_mem_gb 80): the paper's 3B GRPO cannot fit an 80-GB card, and the memory plan says so first
    p = run(paper, cwd=workdir, timeout=300, check=False)
    assert p.returncode != 0 and (p.stdout + p.stderr).strip().splitlines()[-1].startswith("vauflow: grpo qa: needs ~")
    # on 141-GB cards (an H200: the profile's EDIT lines) it plans
    h200 = workdir.parent / "slurm-h200"
    shutil.copytree(PROFILE, h200)
    text = (h200 / "config.yaml").read_text()
    assert text.count("gpu_mem_gb: 80  # EDIT") == 2
    (h200 / "config.yaml").write_text(text.replace("gpu_mem_gb: 80  # EDIT", "gpu_mem_gb: 141  # EDIT"))
    p = run(
        ["snakemake", "-n", *where, "--profile", str(h200), "--configfile", str(REPO / "presets/paper.yaml")],
        cwd=workdir,
        timeout=300,
    )
    out = p.stdout + p.stderr
    stats = job_stats(out)
    assert stats["sft"] == 5 and stats["grpo"] == 7 and stats["gpu_canary"] == 1 and stats["evaluate"] == 15
    jobs = re.split(r"\n(?=\[)", out)
    sft = next(j for j in jobs if "rule sft:" in j)
    assert "gpu=1" in sft and "cpus_per_gpu=8" in sft and "slurm_account=vauflow" in sft and "runtime=480" in sft
    frames = next(j for j in jobs if "rule extract_frames:" in j)
    assert "gpu=0" in frames and "cpus_per_task=4" in frames
    p = run(["snakemake", "-n", *where, "--profile", str(REPO / "profiles/local-gpu")], cwd=workdir, timeout=300)
    sft = next(j for j in re.split(r"\n(?=\[)", p.stdout + p.stderr) if "rule sft:" in j)
    assert "gpu=1" in sft and "--gpus 1" in sft


def test_profiles_comment_every_key():
    for profile in ("slurm", "local-gpu"):
        lines = (REPO / "profiles" / profile / "config.yaml").read_text().splitlines()
        for i, line in enumerate(lines):
            if re.match(r"\s*[\w-]+:", line) and not re.match(r"\s*[\w-]+:\s*$", line):
                assert "#" in line or lines[i - 1].strip().startswith("#"), f"{profile}: uncommented: {line}"
