"""Evaluation: each model over its cells (batched greedy predictions through the one input builder, scored by each
task's metric), VAU-Eval of the reasoning, the learning check, the paper's tables, the report's figures, and a
one-video demo."""

from vauflow import tasks
from vauflow.commands import DTYPE, Command, arg, data_args, json_value

COMMANDS = [
    Command(
        ("eval", "metrics"),
        "the paper's metrics of one prediction file, as one JSON object (percent)",
        "vauflow.evaluate.scoring:main",
        group_help="evaluation",
        args=(
            arg("--task", required=True, choices=[n for n, t in tasks.TASKS.items() if t.paper_metrics]),
            arg("--pred", required=True, help='JSONL of {"video": <Video Name>, "response": <raw model text>}'),
            arg("--gt", required=True, help="that task's JSONL from `vauflow vaubench build`"),
            arg(
                "--scoring",
                choices=["upstream", "strict"],
                default="upstream",
                help="upstream = as the original VAU-R1 scripts score (the paper tables); strict = our parsers",
            ),
        ),
    ),
    Command(
        ("eval", "run"),
        "one model over its evaluation cells: predictions (JSONL + upstream CSV), metrics",
        "vauflow.evaluate.infer:main",
        args=(
            arg("--model", required=True, help="model folder"),
            arg("--cells", type=json_value, required=True, help="JSON [[task, split, think], ...]"),
            *data_args(),
            arg("--built", required=True, help="results/vaubench/built (the ground truth)"),
            arg("--budgets", type=json_value, required=True, help="JSON frames.budgets"),
            arg("--settings", type=json_value, required=True, help="JSON eval settings"),
            arg("--partial", required=True, help="resumable partial predictions, outside Snakemake outputs"),
            DTYPE,
            arg("--out", required=True),
        ),
    ),
    Command(
        ("eval", "tables"),
        "tables A, B, C and the ball table from the evaluation jobs",
        "vauflow.evaluate.scoring:main_tables",
        args=(
            arg("--config", type=json_value, required=True, help="JSON of the validated config"),
            arg("--eval", required=True, help="results/eval"),
            arg("--vau-eval", required=True, help="results/vau_eval (VAU-Eval of Table A's models)"),
            arg("--built", required=True),
            *data_args("linked rows (the scored rows and what was lost)"),
            arg("--repo", required=True, help="the workflow's checkout (provenance)"),
            arg("--seed", type=int, default=0),
            arg("--out", required=True),
        ),
    ),
    Command(
        ("eval", "judge"),
        "VAU-Eval of one model's reasoning predictions (LLM judge or offline proxy)",
        "vauflow.evaluate.scoring:main_judge",
        args=(
            arg("--eval", required=True, help="the model's evaluation folder (results/eval/<model>)"),
            arg("--vau-data", required=True, help="results/vaubench/linked (the ground truth of the rows run)"),
            arg("--splits", type=json_value, required=True, help="JSON list of test splits"),
            arg("--scorer", choices=["proxy", "llm"], required=True),
            arg(
                "--llm",
                type=json_value,
                default=None,
                help="JSON of the config's llm section (the key stays in the environment variable it names)",
            ),
            arg("--cache", default=None, help="resumable cache of judge replies, outside Snakemake outputs"),
            arg("--out", required=True),
        ),
    ),
    Command(
        ("learning",),
        "held-out check that SFT and GRPO runs learned from the video",
        "vauflow.evaluate.learning:main",
        args=(
            arg(
                "--runs",
                type=json_value,
                required=True,
                help='JSON {grpo run: {"tasks": [...], "sft": the SFT run it started from, or null}}',
            ),
            arg("--sft", required=True, help="folder of SFT run outputs (results/sft)"),
            arg("--grpo", required=True, help="folder of GRPO run outputs (results/grpo)"),
            arg(
                "--sft-alone",
                type=json_value,
                default={},
                help='JSON {sft run: {"tasks": [...], "base": base model folder}}: SFT-only tasks (the reasoning) '
                "checked against the untrained base",
            ),
            *data_args(),
            arg("--budget", type=json_value, required=True, help="JSON video budget (frames.budgets.train)"),
            arg("--seed", type=int, default=0),
            DTYPE,
            arg(
                "--part",
                help="one job of the check (sft-<run> or grpo-<run>, vauflow.plan.learning_parts): --out is then the "
                "file its JSON goes to",
            ),
            arg("--out", required=True, help="folder of summary.json and summary.md (with --part: a JSON file)"),
        ),
    ),
    Command(
        ("learning-summary",),
        "the learning check's summary from its parts (`vauflow learning --part`)",
        "vauflow.evaluate.learning:main_merge",
        args=(
            arg("--runs", type=json_value, required=True, help="the --runs of the parts"),
            arg("--sft-alone", type=json_value, default={}, help="the --sft-alone of the parts"),
            arg("--seed", type=int, default=0),
            arg("--parts", nargs="+", required=True, help="the parts' JSON files"),
            arg("--out", required=True),
        ),
    ),
    Command(
        ("report",),
        "figures for snakemake --report: training curves, accuracy, IoU, confusion",
        "vauflow.evaluate.report:main",
        args=(
            arg("--config", type=json_value, required=True, help="JSON of the validated config"),
            arg("--tables", required=True, help="results/tables/tables.json"),
            arg("--eval", required=True, help="results/eval"),
            arg("--built", required=True, help="results/vaubench/built"),
            arg("--sft", nargs="*", default=[], help="SFT run folders"),
            arg("--grpo", nargs="*", default=[], help="GRPO run folders"),
            arg("--out", required=True),
        ),
    ),
    Command(
        ("demo",),
        "one video through a model: prints the reply and the parsed answer",
        "vauflow.evaluate.demo:main",
        args=(
            arg("--model", required=True, help="model folder (base, SFT or GRPO output)"),
            arg("--video", required=True, help="a video file"),
            arg(
                "--task",
                choices=tasks.demo_tasks(),
                default=None,
                help="default: the task the model was trained on (none: free text)",
            ),
            arg(
                "--prompts",
                choices=["training", "paper"],
                default=None,
                help="default: training for a model trained here (its manifest), paper for any other",
            ),
            arg("--think", action="store_true", default=None, help="the think prompt (default: as trained)"),
            arg("--prompt", default=None, help="free prompt without a task (default: the paper's description one)"),
            arg(
                "--budget",
                type=json_value,
                default=None,
                help="JSON video budget (default: as trained, or the paper's inference budget)",
            ),
            arg("--max-new-tokens", type=int, default=256),
        ),
    ),
]
