"""The base models a run starts from: a tiny Qwen2.5-VL / Qwen2-VL built locally (its tokenizer trained on the
workflow's own text), or a released checkpoint fetched from the hub with its commit and hashes locked. Reading and
running a model folder is vauflow.model's."""

from vauflow.commands import Command, arg, json_value

COMMANDS = [
    Command(
        ("model", "build"),
        "build a tiny model locally: tokenizer trained on the workflow's text",
        "vauflow.bases.build:main",
        group_help="base models",
        args=(
            arg("--name", required=True),
            arg("--spec", type=json_value, required=True, help="JSON models.<name> entry of the config"),
            arg("--vau-linked", required=True),
            arg("--ball-linked", required=True),
            arg("--seed", type=int, required=True),
            arg("--out", required=True),
        ),
    ),
    Command(
        ("model", "fetch"),
        "download a released checkpoint (needs internet), its commit and hashes locked",
        "vauflow.bases.fetch:main",
        args=(
            arg("--spec", type=json_value, required=True),
            arg("--out", required=True),
            arg("--lock", default="models.lock.json", help="the model lock file (commit + sha256s)"),
        ),
    ),
]
