"""The command registry. Each part of the package declares its `vauflow` subcommands beside its code, as a
`COMMANDS` list of `Command` records in its (light) `__init__`; vauflow.cli assembles them into one parser. A
command's function is named by its module path and imported only when that command runs, so a data stage never
imports torch."""

import argparse
import importlib
import json
from dataclasses import dataclass

# where the declarations are, in the order `vauflow --help` lists them
DECLARED_IN = (
    "vauflow.frames",
    "vauflow.vaubench",
    "vauflow.synth",
    "vauflow.download",
    "vauflow.plan",
    "vauflow.bases",
    "vauflow.sft",
    "vauflow.grpo",
    "vauflow.evaluate",
    "vauflow.ops",
)


@dataclass(frozen=True)
class Command:
    words: tuple[str, ...]  # ("eval", "run"): `vauflow eval run`
    help: str
    run: str  # "module:function" taking the parsed arguments; returns an exit status or None
    args: tuple = ()  # arg(...) records: argparse's add_argument parameters
    group_help: str | None = None  # the help of the command's group (`vauflow eval`), given by one of its commands

    def function(self):
        module, name = self.run.split(":")
        return getattr(importlib.import_module(module), name)


def arg(*flags, **kwargs):
    """One argument of a command, as argparse's add_argument takes it."""
    return flags, kwargs


def json_value(text):
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise argparse.ArgumentTypeError(f"not valid JSON: {e}") from None


def shard(text):
    """'i/K': this job's share of K."""
    try:
        i, k = (int(x) for x in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected i/K, got '{text}'") from None
    if not 0 <= i < k:
        raise argparse.ArgumentTypeError(f"shard {text}: need 0 <= i < K")
    return i, k


DTYPE = arg(
    "--dtype",
    default="float32",
    choices=["float32", "bfloat16", "float16"],
    help="model.dtype: the compute dtype on GPUs (the CPU computes in float32)",
)


def data_args(what="linked rows"):
    """The two linked sets a stage reads rows from (a task's `source`)."""
    return (
        arg("--vau-data", required=True, help=f"VAU-Bench {what} (results/vaubench/linked)"),
        arg("--ball-data", required=True, help=f"ball {what} (results/ball/linked)"),
    )


def data_of(a):
    """{task source: linked folder} from data_args."""
    return {"vau": a.vau_data, "ball": a.ball_data}


def all_commands():
    out = []
    for module in DECLARED_IN:
        out += importlib.import_module(module).COMMANDS
    return out


def build_parser(commands, prog="vauflow", description=None):
    p = argparse.ArgumentParser(prog=prog, description=description)
    p.add_argument("-v", "--verbose", action="store_true")
    groups = {(): p.add_subparsers(dest="group", required=True)}
    for c in commands:
        for depth in range(1, len(c.words)):  # a group (`vauflow eval`) the first time one of its commands comes
            key = c.words[:depth]
            if key not in groups:
                g = groups[key[:-1]].add_parser(key[-1], help=c.group_help)
                groups[key] = g.add_subparsers(dest="cmd", required=True)
        x = groups[c.words[:-1]].add_parser(c.words[-1], help=c.help)
        for flags, kwargs in c.args:
            x.add_argument(*flags, **kwargs)
        x.set_defaults(vauflow_command=c)  # not `command`: launch and budget take a positional of that name
    return p
