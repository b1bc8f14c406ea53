"""What SFT and GRPO share: process counts, LoRA, checkpoints outside Snakemake outputs, resume, export."""

import json
import os
import re
import shutil
from pathlib import Path

from vauflow.io import UsageError, atomic_dir, sha256_file, stable_hash, write_json
from vauflow.processes import collective_device, world_size

COMPLETE = ".complete"  # written after a checkpoint is fully saved; a kill mid-save leaves none


def grad_accum(effective_batch, per_device_batch, processes):
    """Prompts per optimizer step are fixed in the config; accumulation follows the number of processes."""
    per_step = per_device_batch * processes
    if effective_batch % per_step:
        raise UsageError(
            f"effective batch {effective_batch} is not a multiple of per-device batch "
            f"{per_device_batch} x {processes} process(es)"
        )
    return effective_batch // per_step


def check_visible_gpus(expected):
    """Start-up check: the GPUs this job sees equal what the scheduler allocated ({resources.gpu})."""
    import torch

    seen = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if expected and seen != expected:
        raise UsageError(
            f"job asked for {expected} GPU(s) but sees {seen} "
            f"(CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', '<unset>')})"
        )
    return seen


def lora_config(lora):
    """PEFT's LoraConfig of a run's LoraSettings."""
    from peft import LoraConfig

    return LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=lora.target_regex,
        modules_to_save=list(lora.modules_to_save),
        bias="none",
        task_type="CAUSAL_LM",
    )


def freeze_vision_tower(model, freeze):
    """Full fine-tuning with the vision tower's patch embedding and blocks frozen (the merger still trains). On the
    tiny model the random tower is a usable fixed feature extractor; training it at a high rate washes it out."""
    if not freeze:
        return
    for name, p in model.named_parameters():
        if ".visual." in f".{name}" and ".merger." not in name:
            p.requires_grad_(False)


def fp32_trainables(model):
    """The trainable tensors (LoRA adapters, modules_to_save) as fp32 masters over a half-precision frozen base."""
    import torch

    for p in model.parameters():
        if p.requires_grad and p.dtype != torch.float32:
            p.data = p.data.float()


def count_trainable(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def run_dir(root, params, base_model):
    """Checkpoints of one training run: keyed by its parameters and its starting model's folder (path, configs,
    weights' sizes and times), so neither a changed config nor a retrained starting model (an SFT run redone at
    the same path) resumes from another run's checkpoint."""
    from vauflow.model.folder import identity

    key = stable_hash(json.dumps(params, sort_keys=True) + str(base_model) + identity(base_model))
    return Path(root) / f"run-{key:016x}"


def latest_checkpoint(run):
    """Newest complete checkpoint-N under `run`; incomplete ones (killed mid-save) are removed."""
    best = None
    for d in sorted(Path(run).glob("checkpoint-*")):
        if not re.fullmatch(r"checkpoint-\d+", d.name):
            continue
        if not (d / COMPLETE).exists():
            shutil.rmtree(d, ignore_errors=True)
            continue
        if best is None or checkpoint_step(d) > checkpoint_step(best):
            best = d
    return best


def checkpoint_step(path):
    return int(Path(path).name.split("-")[1])


def complete_marker_callback():
    from transformers import TrainerCallback

    class MarkComplete(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            if state.is_world_process_zero:
                (Path(args.output_dir) / f"checkpoint-{state.global_step}" / COMPLETE).touch()

    return MarkComplete()


def export(saved, base, processor, base_manifest, out_dir, manifest):
    """The rule's output, from the trainer's final save (which gathers sharded weights under ZeRO-3): merged
    weights (loadable like any model folder), the LoRA adapter when there is one, and a manifest. Main process only."""
    from vauflow.model.load import load_model

    saved = Path(saved)
    with atomic_dir(out_dir) as tmp:
        if (saved / "adapter_config.json").exists():  # LoRA: keep the adapter, export base + adapter merged
            from peft import PeftModel

            model, _ = load_model(base, dtype=manifest["params"]["dtype"])
            model = PeftModel.from_pretrained(model, saved).merge_and_unload()
            (tmp / "adapter").mkdir()
            for f in saved.glob("adapter_*"):
                shutil.copy2(f, tmp / "adapter" / f.name)
        else:
            model, _ = load_model(saved, dtype=manifest["params"]["dtype"], class_name=base_manifest["class"])
        write_model_folder(tmp, model, processor, base_manifest, manifest)


def write_model_folder(folder, model, processor, base_manifest, manifest):
    """Weights, processor and the two manifests (the model's class, the run's record with weight hashes)."""
    from vauflow.model.folder import MANIFEST

    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    write_json(Path(folder) / MANIFEST, base_manifest)
    manifest["weights_sha256"] = {p.name: sha256_file(p) for p in sorted(Path(folder).glob("*.safetensors"))}
    write_json(Path(folder) / "manifest.json", manifest)


class Tracker:
    """GRPO's step logs to TensorBoard or W&B, as SFT's trainer reports (`report_to`), besides log.jsonl. The main
    process only. TensorBoard writes under `<run>/runs`, where the SFT trainer writes its events; W&B takes its key,
    project and mode (WANDB_MODE=offline) from the environment only."""

    def __init__(self, report_to, run, name, config):
        self.writer = self.wandb = None
        if report_to == "tensorboard":
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(log_dir=str(Path(run) / "runs" / name))
        elif report_to == "wandb":
            import wandb

            self.wandb = wandb.init(
                project=os.environ.get("WANDB_PROJECT", "vauflow"),
                name=name,
                config=config,
                dir=os.environ.get("WANDB_DIR", str(run)),
                reinit="finish_previous",
            )
        elif report_to != "none":
            raise UsageError(f"report_to {report_to!r}: expected none, tensorboard or wandb")

    def log(self, values):
        step = values["step"]
        scalars = {k: v for k, v in values.items() if k != "step" and isinstance(v, (int, float))}
        if self.writer is not None:
            for k, v in scalars.items():
                self.writer.add_scalar(f"train/{k}", v, step)
        if self.wandb is not None:
            self.wandb.log({f"train/{k}": v for k, v in scalars.items()}, step=step)

    def close(self):
        if self.writer is not None:
            self.writer.close()
        if self.wandb is not None:
            self.wandb.finish()


EXIT_RESUME = 75  # EX_TEMPFAIL: saved before the time limit; the next attempt (Snakemake's retry) resumes
PREEMPTED_MARKER = "VAUFLOW_PREEMPTED_MARKER"  # a file the processes touch when they stop early (vauflow launch)


class Preempted(Exception):
    """Training saved a checkpoint and stopped early; the CLI exits with EXIT_RESUME."""


def job_end_time():
    """The SLURM job's end time (epoch seconds): SLURM_JOB_END_TIME, else squeue's; None outside SLURM."""
    import subprocess
    import time

    if os.environ.get("SLURM_JOB_END_TIME", "").isdigit():
        return float(os.environ["SLURM_JOB_END_TIME"])
    job = os.environ.get("SLURM_JOB_ID")
    if not job:
        return None
    try:
        out = subprocess.run(
            ["squeue", "-h", "-j", job, "-o", "%e"], capture_output=True, text=True, timeout=30
        ).stdout.strip()
        return time.mktime(time.strptime(out, "%Y-%m-%dT%H:%M:%S"))
    except (OSError, ValueError, subprocess.SubprocessError):
        return None


class SaveBeforeTheEnd:
    """When to save and stop: when the job's end time is closer than VAUFLOW_SAVE_MARGIN_S (default 600 s) plus two
    steps (SLURM's SIGTERM leaves ~30 s before SIGKILL: too short to write a 3B model's fp32 masters and Adam state),
    or on SIGUSR1 sent to the training process itself (`kill -USR1 <pid>`; every thread's stack is still printed to
    the log, as for the other commands). Not SLURM's `--signal`: it reaches Snakemake's job step and the launcher too,
    whose default action for SIGUSR1 is to terminate."""

    def __init__(self):
        import signal

        self.signalled = False
        self.deadline = job_end_time()
        self.margin = float(os.environ.get("VAUFLOW_SAVE_MARGIN_S", "600"))
        signal.signal(signal.SIGUSR1, self.on_signal)

    def on_signal(self, signum, frame):
        import faulthandler

        faulthandler.dump_traceback(all_threads=True)
        self.signalled = True

    def reason(self, step_seconds):
        """Why to stop now ("SIGUSR1", "time limit"), or None."""
        import time

        if self.signalled:
            return "SIGUSR1"
        if self.deadline is not None and time.time() + self.margin + 2 * step_seconds >= self.deadline:
            return "time limit"
        return None


def save_before_the_end_callback(watch):
    """SFT: the trainer saves a checkpoint and stops when `watch` says so (every process agrees: any one's reason)."""
    import time

    from transformers import TrainerCallback

    class SaveAndStop(TrainerCallback):
        def __init__(self):
            self.last, self.reason = time.time(), None

        def on_train_begin(self, args, state, control, **kwargs):
            self.last = time.time()  # a step's time, not the set-up's

        def on_step_end(self, args, state, control, **kwargs):
            now = time.time()
            reason = watch.reason(now - self.last)
            self.last = now
            if any_process(reason is not None) and state.global_step < state.max_steps:
                self.reason = reason or "another process"
                control.should_save = True
                control.should_training_stop = True

    return SaveAndStop()


def any_process(flag):
    """True when `flag` is true on any process of the job."""
    import torch

    if world_size() == 1:
        return flag
    import torch.distributed as dist

    t = torch.tensor([1.0 if flag else 0.0], device=collective_device())
    dist.all_reduce(t)
    return bool(t.item())


def training_command(stage, run, init_help):
    """`vauflow sft` / `vauflow grpo`: one run (a task or a mix) from a model folder, with its resolved settings."""
    from vauflow import tasks
    from vauflow.commands import Command, arg, data_args, json_value

    return Command(
        (stage,),
        f"{stage.upper()} of one run (a task or a mix of tasks)",
        run,
        args=(
            arg("--run", required=True, help="run name (a task or a mix name)"),
            arg("--tasks", required=True, nargs="+", choices=tasks.trainable()),
            arg("--init", required=True, help=init_help),
            *data_args(),
            arg("--out", required=True),
            arg("--checkpoints", required=True, help="checkpoint root, outside Snakemake outputs"),
            arg("--params", type=json_value, required=True, help=f"JSON resolved {stage} settings of this run"),
            arg("--budget", type=json_value, required=True, help="JSON video budget (frames.budgets.train)"),
        ),
    )
