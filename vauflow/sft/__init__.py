"""Supervised fine-tuning (TRL's SFTTrainer, LoRA or full) of one run: a task or a mix of tasks."""

from vauflow.training import training_command

COMMANDS = [
    training_command(
        "sft", "vauflow.sft.train:main", "model folder to start from (a base, or the SFT run it continues)"
    )
]
