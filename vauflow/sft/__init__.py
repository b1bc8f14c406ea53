"""Supervised fine-tuning (TRL's SFTTrainer, LoRA or full) of one run: a task or a mix of tasks."""

from vauflow import tasks
from vauflow.commands import Command, arg, data_args, json_value

COMMANDS = [
    Command(
        ("sft",),
        "SFT of one run (a task or a mix of tasks)",
        "vauflow.sft.train:main",
        args=(
            arg("--run", required=True, help="run name (a task or a mix name)"),
            arg("--tasks", required=True, nargs="+", choices=tasks.trainable()),
            arg("--init", required=True, help="model folder to start from (a base, or the SFT run it continues)"),
            *data_args(),
            arg("--out", required=True),
            arg("--checkpoints", required=True, help="checkpoint root, outside Snakemake outputs"),
            arg("--params", type=json_value, required=True, help="JSON resolved sft settings of this run"),
            arg("--budget", type=json_value, required=True, help="JSON video budget (frames.budgets.train)"),
        ),
    ),
]
