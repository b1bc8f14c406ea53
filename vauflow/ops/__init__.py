"""What serves the Makefile and the cluster rather than the science: the run budget (`vauflow budget`), the GPU
canary, Snakemake's stale locks, DVC versioning of the boundary data, and `vauflow launch` (accelerate on N GPUs)."""

import argparse

from vauflow.commands import Command, arg

_WORKDIR = arg("--workdir", default=".", help="the workflow's working directory (a git checkout)")

COMMANDS = [
    Command(
        ("gpu-canary",),
        "fail loudly unless this job sees exactly the GPUs it asked for",
        "vauflow.ops.canary:main",
        args=(
            arg("--expected", type=int, required=True, help="GPUs the rule asked for ({resources.gpu})"),
            arg("--out", required=True),
        ),
    ),
    Command(
        ("dvc", "init"),
        "a DVC repository here (a git checkout) with its default remote",
        "vauflow.ops.versioning:main_init",
        group_help="version the boundary data with DVC (inputs in, final outputs out)",
        args=(
            arg(
                "--remote",
                default="../vauflow-dvc-remote",
                help="local path (default: beside the checkout) or s3://bucket/prefix (needs dvc-s3)",
            ),
            _WORKDIR,
        ),
    ),
    Command(
        ("dvc", "add"),
        "track the boundary folders present: videos and annotations in, the frozen VAU-Bench, "
        "final models and tables out (never frames or intermediates)",
        "vauflow.ops.versioning:main_add",
        args=(arg("--what", choices=["inputs", "outputs", "all"], default="all"), _WORKDIR),
    ),
    Command(
        ("dvc", "push"), "upload the tracked data to the remote", "vauflow.ops.versioning:main_push", args=(_WORKDIR,)
    ),
    Command(
        ("dvc", "pull"),
        "download the tracked data, with the modification times it had when added",
        "vauflow.ops.versioning:main_pull",
        args=(_WORKDIR,),
    ),
    Command(
        ("launch",),
        "run a vauflow command on CPU or through accelerate on N GPUs",
        "vauflow.cli:launch",
        args=(
            arg("--gpus", type=int, default=0),
            arg("--accelerate-config", default=None),
            arg("--port", type=int, default=29500),
            arg("command", nargs=argparse.REMAINDER),
        ),
    ),
    Command(
        ("unlock-stale",),
        "remove Snakemake locks left by a killed run (none alive here)",
        "vauflow.ops.locks:main",
        args=(arg("--directory", default="."),),
    ),
    Command(
        ("budget",),
        "run a command, report wall time and peak RSS against the budget",
        "vauflow.ops.budget:main",
        args=(
            arg("--report", default="logs/budget.json"),
            arg("--benchmarks", default="benchmarks"),
            arg("command", nargs=argparse.REMAINDER),
        ),
    ),
]
