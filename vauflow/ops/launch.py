"""Run a `vauflow` training command on CPU (in process) or on GPUs through `accelerate launch`.

The GPU count comes from Snakemake's `{resources.gpu}`; the visible devices must match it (a scheduler that hands
out the wrong devices fails here, loudly). Each job gets its own rendezvous port, so concurrent jobs on one node do
not collide on 29500."""

import importlib.util
import json
import os
import sys

from vauflow.io import UsageError
from vauflow.training import check_visible_gpus, grad_accum

# what each accelerate backend imports in the job's environment
BACKEND_MODULES = {"DEEPSPEED": "deepspeed", "FSDP": "torch.distributed.fsdp"}


def command(gpus, accelerate_config, port, args):
    if gpus == 0:
        return [sys.executable, "-m", "vauflow", *args]
    return [
        "accelerate",
        "launch",
        "--config_file",
        str(accelerate_config),
        "--num_processes",
        str(gpus),
        "--num_machines",
        "1",
        "--main_process_port",
        str(port),
        "-m",
        "vauflow",
        *args,
    ]


def check_settings(gpus, accelerate_config, args):
    """Before anything loads: the accelerate config's backend is importable here, the trainer supports it, and the
    step's prompts divide over the processes. One line each."""
    if gpus == 0:
        return
    import yaml

    backend = (
        yaml.safe_load(open(accelerate_config, encoding="utf-8")).get("distributed_type", "MULTI_GPU")
        if accelerate_config
        else "MULTI_GPU"
    )
    module = BACKEND_MODULES.get(backend)
    if module and importlib.util.find_spec(module.split(".")[0]) is None:
        raise UsageError(
            f"{accelerate_config}: {backend} needs {module}, which this environment lacks (make setup "
            "installs it from requirements.lock; the train image has it)"
        )
    stage = args[0] if args else ""
    if stage == "grpo" and backend != "MULTI_GPU":
        raise UsageError(
            f"grpo.accelerate {os.path.basename(accelerate_config)}: GRPO runs data parallel (multi_gpu) "
            "or shards itself (fsdp); ZeRO is not implemented for it"
        )
    params = json.loads(args[args.index("--params") + 1]) if "--params" in args else {}
    if stage == "grpo" and params.get("accelerate") == "fsdp" and params.get("method") != "full":
        raise UsageError("grpo.accelerate fsdp shards full fine-tuning; LoRA runs data parallel (multi_gpu)")
    if "effective_batch" in params and "per_device_batch" in params:
        grad_accum(params["effective_batch"], params["per_device_batch"], gpus)


def launch(gpus, accelerate_config, port, args, run_here=None):
    """The command's exit status; a training process that saved before the time limit makes it EXIT_RESUME (75),
    through accelerate's launcher too (which reports any failed process as 1): the processes leave a marker.
    Without GPUs the command runs in this process (`run_here`: the CLI's entry point, given by the CLI)."""
    import signal
    import subprocess
    import tempfile

    from vauflow.training import EXIT_RESUME, PREEMPTED_MARKER

    check_settings(gpus, accelerate_config, args)
    check_visible_gpus(gpus)
    cmd = command(gpus, accelerate_config, port, args)
    print("launch: " + " ".join(cmd), flush=True)
    if gpus == 0:
        return run_here(args)
    # SIGUSR1 is for the training processes (save and stop): accelerate's launcher would die of it
    before = signal.signal(signal.SIGUSR1, signal.SIG_IGN)
    try:
        with tempfile.TemporaryDirectory(prefix="vauflow-launch-") as tmp:
            marker = os.path.join(tmp, "preempted")
            rc = subprocess.run(cmd, env=os.environ | {PREEMPTED_MARKER: marker}).returncode
            return EXIT_RESUME if rc != 0 and os.path.exists(marker) else rc
    finally:
        signal.signal(signal.SIGUSR1, before)
