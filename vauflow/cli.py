"""`vauflow` command line: what the Snakemake rules call. Each part of the package declares its subcommands beside
its code (vauflow.commands); a command imports what it needs only when it runs (data stages never import torch).
Errors a user can fix print as one line and exit 2."""

import faulthandler
import logging
import os
import signal
import sys

from vauflow.commands import all_commands, build_parser


def launch(a):
    """`vauflow launch`: the command on the CPU in this process, or on N GPUs through accelerate."""
    from vauflow.ops.launch import launch as launch_command

    args = a.command[1:] if a.command[:1] == ["--"] else a.command
    return launch_command(a.gpus, a.accelerate_config, a.port, args, run_here=main)


def without_unused_imports(args=None):
    """Mark absent what a job would import only to find it unused (torch, transformers and TRL then treat it as not
    installed): triton where no NVIDIA GPU is visible (torch._dynamo's availability check, reached through
    torchvision, loads it: 76 MB per process, measured), and wandb unless the job's training reports to it
    (transformers' availability check imports it: 18 MB). CPU jobs run two at a time on the default. `vauflow
    launch` leaves it to the command it runs."""
    if args is not None and args.vauflow_command.words == ("launch",):
        return
    if not os.path.exists("/dev/nvidiactl") or os.environ.get("CUDA_VISIBLE_DEVICES") == "":
        sys.modules.setdefault("triton", None)
    params = getattr(args, "params", None)
    if "wandb" not in str(params.get("report_to") if isinstance(params, dict) else ""):
        sys.modules.setdefault("wandb", None)


def main(argv=None):
    from vauflow.io import UsageError

    args = build_parser(all_commands(), description=__doc__).parse_args(argv)
    without_unused_imports(args)
    # `kill -USR1 <pid>` prints every thread's stack into the job's log: where a stuck job is stuck
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    from vauflow.training import EXIT_RESUME, PREEMPTED_MARKER, Preempted

    try:
        return args.vauflow_command.function()(args) or 0
    except Preempted as e:
        print(f"vauflow: {e}", file=sys.stderr)
        if os.environ.get(PREEMPTED_MARKER):  # under vauflow launch on GPUs: accelerate reports 1, the marker 75
            open(os.environ[PREEMPTED_MARKER], "a").close()
        return EXIT_RESUME
    except UsageError as e:
        print(f"vauflow: error: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # the config module's errors are user errors too
        from vauflow.config import ConfigError
        from vauflow.llm import LLMError

        if isinstance(e, (ConfigError, LLMError)):
            print(f"vauflow: error: {e}", file=sys.stderr)
            return 2
        raise
