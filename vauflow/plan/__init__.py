"""The plan: what a validated config makes. The one place that turns the config into runs (SFT, GRPO, their tasks,
bases and warm starts: `runs`), evaluation cells (which model feeds which table, on which task, split and think
mode: `cells`) and output paths, and the memory each GPU job needs (`memory`: refused at DAG time when it cannot
fit). The Snakefile's helpers (workflow/rules/common.smk) import only this package."""

from vauflow.commands import Command, arg
from vauflow.config import ConfigError, compose
from vauflow.plan.cells import (
    LEARNING_CHECK_BATCH,
    cell_name,
    eval_base,
    eval_model_folder,
    eval_models,
    eval_splits,
    evaluated_as_is,
    judged_models,
    learning_parts,
    scored_files,
    sft_checked_alone,
    sft_for,
    table_rows,
    test_splits,
)
from vauflow.plan.memory import refusal as memory_refusal
from vauflow.plan.runs import (
    active_datasets,
    check_runs,
    grpo_init_run,
    grpo_runs,
    load_config,
    model_folder,
    run_base,
    run_tasks,
    sft_runs,
    validate_config,
)
from vauflow.settings import grpo_params, sft_params, split_run

__all__ = [
    "LEARNING_CHECK_BATCH",
    "ConfigError",
    "compose",
    "active_datasets",
    "cell_name",
    "check_runs",
    "eval_base",
    "eval_model_folder",
    "eval_models",
    "eval_splits",
    "evaluated_as_is",
    "grpo_init_run",
    "grpo_params",
    "grpo_runs",
    "judged_models",
    "learning_parts",
    "load_config",
    "memory_refusal",
    "model_folder",
    "run_base",
    "run_tasks",
    "scored_files",
    "sft_checked_alone",
    "sft_for",
    "sft_params",
    "sft_runs",
    "split_run",
    "table_rows",
    "test_splits",
    "validate_config",
]

COMMANDS = [
    Command(
        ("config", "check"),
        "validate config file(s) merged left to right",
        "vauflow.plan.runs:main_check",
        group_help="configuration",
        args=(
            arg("configfile", nargs="+"),
            arg("--show", action="store_true", help="print the config with defaults filled in"),
        ),
    ),
    Command(
        ("memory",),
        "the memory plan: each GPU job's peak memory per GPU, before any GPU time",
        "vauflow.plan.memory:main",
        args=(
            arg("--configfile", nargs="+", default=[], help="preset and overlays (default: config.yaml)"),
            arg("--gpu-gb", type=float, default=80.0, help="memory of one GPU"),
            arg("--gpus", type=int, default=1, help="GPUs per job (ZeRO-3 shards over them)"),
            arg("--markdown", action="store_true", help="a table instead of JSON"),
            arg("--check", action="store_true", help="exit 1 when a job does not fit"),
        ),
    ),
]
