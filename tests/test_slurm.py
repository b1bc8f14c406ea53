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


def port_in_use(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def sh(cmd, timeout, **kw):
    """A command under `timeout -k` (Snakemake treats SIGTERM as "wait for running jobs": -k ends it)."""
    return subprocess.run(["timeout", "-k", "30", str(timeout), *map(str, cmd)], capture_output=True, text=True,
                          env=env(), **kw)


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
    try:
        p = subprocess.run(["timeout", "-k", "10", "600", "bash", str(here / "start-cluster.sh")],
                           capture_output=True, text=True, env=start_env)
        assert p.returncode == 0, f"cluster did not start:\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}"
        yield here
    finally:
        subprocess.run(["timeout", "-k", "10", "120", "bash", str(here / "stop-cluster.sh")], capture_output=True)


def sacct():
    """{job id: (state, timelimit)} of the last two hours' jobs, from the accounting database."""
    p = sh(["sacct", "-n", "-X", "-P", "-a", "-S", "now-2hours", "--format", "JobID,State,Timelimit"], 60)
    assert p.returncode == 0, p.stderr
    return {jid: (state.split()[0], limit) for jid, state, limit in
            (line.split("|") for line in p.stdout.splitlines() if line)}


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


def slurm_workflow(workdir, *args, timeout=900):
    return sh(["snakemake", "-s", REPO / "Snakefile", "--directory", workdir, "--profile", PROFILE,
               "--slurm-init-seconds-before-status-checks", "2", *args], timeout, cwd=workdir)


def test_smoke_workflow_through_the_slurm_profile(cluster, tmp_path):
    """The smoke DAG through profiles/slurm, unchanged: the training rules with gpu=0 on the fake node, the canary
    with gpu=1. Every job that is not a local rule ran as a SLURM job and completed (sacct); the canary saw exactly
    the GPU SLURM gave it; a rule that fails fails the run after the profile's retries, each with a longer runtime."""
    wd = tmp_path / "wd"
    wd.mkdir()
    p = slurm_workflow(wd, "--set-resources", "sft:gpu=0", "grpo:gpu=0", "evaluate:gpu=0", "learning_check:gpu=0",
                       "--config", "gpu_canary=True",
                       "--configfile", REPO / "config.yaml", REPO / "tests/smoke/config.yaml")
    assert p.returncode == 0, f"{p.stdout[-4000:]}\n{p.stderr[-4000:]}"
    stats = job_stats(p.stdout + p.stderr)
    remote = {r: n for r, n in stats.items() if r not in local_rules()}
    assert {"sft", "grpo", "evaluate", "gpu_canary", "extract_frames"} <= set(remote)
    by_rule = jobs_by_rule(wd)
    assert {r: len(ids) for r, ids in by_rule.items()} == remote  # one SLURM job per non-local job
    ids = [j for js in by_rule.values() for j in js]
    accounted = sacct()
    assert set(ids) <= set(accounted), "a job has no accounting record"
    assert all(accounted[j][0] == "COMPLETED" for j in ids), {j: accounted[j] for j in ids}
    # (this cluster's accounting stores no GPU TRES: the canary reads the allocation from scontrol instead)
    (canary_id,) = by_rule["gpu_canary"]
    canary = json.loads((wd / "results/canary/gpu.json").read_text())
    assert canary["slurm_job"] == canary_id and canary["slurm_allocated"] == 1
    assert canary["cuda_visible_devices"] == ["0"]

    # the canary fails loudly when the allocation differs from what the rule asked for
    p = sh(["srun", "--gpus=1", "-t", "5", str(REPO / ".venv/bin/vauflow"), "gpu-canary", "--expected", "2",
            "--out", tmp_path / "canary.json"], 120, cwd=wd)
    assert p.returncode != 0 and "SLURM allocated 1 GPU(s)" in p.stderr and "asked for 2" in p.stderr

    # a failing rule fails the run: a broken model folder makes its evaluation job fail, three times (the profile's
    # two retries), each attempt with a longer runtime limit (the profile's 4 h * attempt for evaluate)
    (wd / "resources/models/tiny/config.json").write_text("{not json")
    before = set(sacct())
    p = slurm_workflow(wd, "results/eval/base", "--forcerun", "evaluate", "--configfile", REPO / "config.yaml",
                       REPO / "tests/smoke/config.yaml", timeout=600)
    assert p.returncode != 0 and "Error in rule evaluate" in p.stdout + p.stderr
    new = {j: v for j, v in sacct().items() if j not in before}
    assert [state for state, _ in new.values()] == ["FAILED"] * 3, new
    assert sorted(limit for _, limit in new.values()) == ["04:00:00", "08:00:00", "12:00:00"]
