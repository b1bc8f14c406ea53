"""Synthetic datasets for the embedded default: the moving-ball set and VAU-Bench look-alikes."""

from vauflow.commands import Command, arg, json_value

COMMANDS = [
    Command(
        ("synth", "ball"),
        "the moving-ball set: clips and rows",
        "vauflow.synth.ball:main",
        group_help="synthetic datasets",
        args=(
            arg("--params", type=json_value, required=True),
            arg("--seed", type=int, required=True),
            arg("--videos", required=True),
            arg("--annotations", required=True),
            arg("--llm", type=json_value, default=None, help="JSON of the config's llm section (cot_source: llm)"),
            arg("--llm-cache", default=None, help="resumable cache of LLM replies, outside Snakemake outputs"),
        ),
    ),
    Command(
        ("synth", "vau"),
        "VAU-Bench look-alike clips and annotation CSVs",
        "vauflow.synth.vau:main",
        args=(
            arg("--params", type=json_value, required=True),
            arg("--sources", type=json_value, required=True),
            arg("--seed", type=int, required=True),
            arg("--videos-root", required=True),
            arg("--annotations", required=True),
        ),
    ),
]
