"""Run a `vauflow` training command on CPU (in process) or on GPUs through `accelerate launch`.

The GPU count comes from Snakemake's `{resources.gpu}`; the visible devices must match it (a scheduler that hands
out the wrong devices fails here, loudly). Each job gets its own rendezvous port, so concurrent jobs on one node do
not collide on 29500."""

import os
import sys

from vauflow.training import check_visible_gpus


def command(gpus, accelerate_config, port, args):
    if gpus == 0:
        return [sys.executable, "-m", "vauflow", *args]
    return ["accelerate", "launch", "--config_file", str(accelerate_config), "--num_processes", str(gpus),
            "--num_machines", "1", "--main_process_port", str(port), "-m", "vauflow", *args]


def launch(gpus, accelerate_config, port, args):
    check_visible_gpus(gpus)
    cmd = command(gpus, accelerate_config, port, args)
    print("launch: " + " ".join(cmd), flush=True)
    if gpus == 0:
        from vauflow.cli import main

        return main(args)
    os.execvp(cmd[0], cmd)
