"""GRPO: our own loop (see loop.py for why not TRL's GRPOTrainer), each row rewarded by its task's functions."""

from vauflow.training import training_command

COMMANDS = [training_command("grpo", "vauflow.grpo.loop:main", "model folder to start from (a base, or the SFT run)")]
