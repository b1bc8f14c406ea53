"""GRPO: our own loop (see loop.py for why not TRL's GRPOTrainer), each row rewarded by its task's functions."""

from vauflow import tasks
from vauflow.commands import Command, arg, data_args, json_value

COMMANDS = [
    Command(
        ("grpo",),
        "GRPO of one run (a task or a mix of tasks)",
        "vauflow.grpo.loop:main",
        args=(
            arg("--run", required=True, help="run name (a task or a mix name)"),
            arg("--tasks", required=True, nargs="+", choices=tasks.trainable()),
            arg("--init", required=True, help="model folder to start from (base or SFT)"),
            *data_args(),
            arg("--out", required=True),
            arg("--checkpoints", required=True, help="checkpoint root, outside Snakemake outputs"),
            arg("--params", type=json_value, required=True, help="JSON resolved grpo settings of this run"),
            arg("--budget", type=json_value, required=True, help="JSON video budget (frames.budgets.train)"),
        ),
    ),
]
