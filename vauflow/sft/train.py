"""SFT with TRL's SFTTrainer: our dataset + collator (the one input builder), LoRA or full fine-tuning.

TRL's own VLM collator handles images, not our cached video frames; so TRL prepares nothing
(`skip_prepare_dataset`) and our collator builds every batch. Labels cover the assistant turn only
(target + <|im_end|>): prompt, video and padding tokens are -100."""

import collections
import json
import logging
import time

import torch

from vauflow import tasks as tasks_registry  # (`tasks` names a run's task list below)
from vauflow.examples import example, frame_cache, run_rows, target
from vauflow.frames.budget import VideoBudget
from vauflow.io import UsageError
from vauflow.model.inputs import build_inputs, model_inputs
from vauflow.model.load import load_model, load_processor
from vauflow.model.logprobs import labelled_logps
from vauflow.processes import world_size
from vauflow.settings import SFTSettings
from vauflow.training import (
    Preempted,
    SaveBeforeTheEnd,
    complete_marker_callback,
    count_trainable,
    export,
    fp32_trainables,
    freeze_vision_tower,
    grad_accum,
    latest_checkpoint,
    lora_config,
    run_dir,
    save_before_the_end_callback,
)

log = logging.getLogger("vauflow.sft")


def index_dataset(n):
    """TRL wants a `datasets.Dataset`; it holds row indices only, so Arrow never rewrites our rows (it would add
    None keys to content blocks, cpu-stack.md gotcha 7)."""
    from datasets import Dataset

    return Dataset.from_dict({"row": list(range(n))})


class Collator:
    """rows → model inputs + labels, through build_inputs."""

    def __init__(self, rows, processor, cache, budget, max_target_tokens=None):
        self.rows, self.processor, self.cache, self.budget = rows, processor, cache, budget
        tok = processor.tokenizer
        self.eos = tok.convert_tokens_to_ids("<|im_end|>")
        self.cap = max_target_tokens

    def completion_ids(self, row):
        """The target's tokens and the end of turn; a target longer than the cap: its first `cap` tokens, without
        the end (the model is not taught to stop there)."""
        ids = self.processor.tokenizer(target(row), add_special_tokens=False)["input_ids"]
        return ids[: self.cap] if self.cap and len(ids) > self.cap else ids + [self.eos]

    def __call__(self, items):
        rows = [self.rows[it["row"]] for it in items]
        batch = build_inputs(
            self.processor, [example(r, self.cache, self.budget) for r in rows], [self.completion_ids(r) for r in rows]
        )
        return model_inputs(batch) | {"labels": batch["labels"]}


def truncated_targets(rows, tokenizer, cap):
    """{task: targets longer than `cap` tokens}. A task with rewards must keep its targets whole: a cut think target
    loses its answer, and its format reward then asks for what SFT never showed (a one-line error)."""
    if not cap:
        return {}
    cut = collections.Counter(
        r["task"] for r in rows if len(tokenizer(target(r), add_special_tokens=False)["input_ids"]) > cap
    )
    rewarded = sorted(t for t in cut if tasks_registry.get(t).rewards)
    if rewarded:
        raise UsageError(
            f"sft.max_target_tokens {cap} cuts {', '.join(f'{cut[t]} {t}' for t in rewarded)} targets (a task with "
            "rewards must keep its answer): raise it, or leave it unset"
        )
    return dict(cut)


def completion_trainer():
    """TRL's SFTTrainer with the loss on the completion positions only (vauflow.model.logprobs): TRL's fused LM
    head computes the same loss 4x slower on CPU with the tiny model (measured)."""
    from trl import SFTTrainer

    class CompletionSFTTrainer(SFTTrainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            logps, mask = labelled_logps(model, inputs)
            tokens = mask.sum() if num_items_in_batch is None else num_items_in_batch
            loss = -logps.sum() / torch.as_tensor(tokens).clamp(min=1)
            if self.args.average_tokens_across_devices and num_items_in_batch is not None:
                loss = loss * self.accelerator.num_processes  # as TRL: DDP averages the gradients across ranks
            return (loss, None) if return_outputs else loss

    return CompletionSFTTrainer


def prepare_model(base, params, masters=True):
    """fp32 master weights whatever `model.dtype` says: bf16/fp16 is the trainer's autocast (bf16=/fp16= below), the
    checkpoints keep the masters, the export is written in `model.dtype`. `masters=False` loads the weights in
    `model.dtype` itself (the tests' control). The trainer places the model on this rank's device."""
    s = SFTSettings.of(params)
    full_masters = masters and s.method == "full"  # LoRA: a half-precision frozen base, fp32 adapters
    model, manifest = load_model(
        base, dtype="float32" if full_masters else s.dtype, attn_implementation=s.attn_implementation
    )
    if s.method == "lora":
        from peft import get_peft_model

        model = get_peft_model(model, lora_config(s.lora))
        if masters:
            fp32_trainables(model)
    elif s.method == "full":
        freeze_vision_tower(model, s.freeze_vision)
    else:
        raise UsageError(f"sft method {s.method!r}: expected lora or full")
    return model, manifest


def trainer_config(s, run, accum):
    """TRL's SFTConfig of a run's settings: checkpoints under `run`, `accum` micro-batches per optimizer step."""
    from trl import SFTConfig

    return SFTConfig(
        output_dir=str(run),
        per_device_train_batch_size=s.per_device_batch,
        gradient_accumulation_steps=accum,
        learning_rate=s.learning_rate,
        lr_scheduler_type=s.lr_scheduler,
        warmup_steps=s.warmup_steps,
        num_train_epochs=s.epochs,
        max_steps=s.max_steps or -1,
        weight_decay=0.0,
        max_grad_norm=1.0,
        seed=s.seed,
        data_seed=s.seed,
        save_strategy="steps",
        save_steps=s.save_steps,
        save_total_limit=2,
        logging_steps=s.log_steps,
        report_to=s.report_to,
        bf16=s.dtype == "bfloat16",
        fp16=s.dtype == "float16",
        use_cpu=not torch.cuda.is_available(),
        gradient_checkpointing=s.gradient_checkpointing,
        remove_unused_columns=False,
        dataset_kwargs={"skip_prepare_dataset": True},
        max_length=None,
        dataloader_num_workers=0,
        # seeds make CPU runs bit-identical (tested); torch's deterministic-algorithms mode would halve CPU speed
        # (measured) and some GPU kernels have no deterministic version
        disable_tqdm=True,
        full_determinism=False,
    )


def train(name, tasks, base, data, out, ckpt_root, params, budget, callbacks=(), masters=True):
    """Train one SFT run (a task or a mix); resume from the newest complete checkpoint; export to `out`.
    `callbacks`: extra TrainerCallbacks (tests); `masters`: see prepare_model."""
    from transformers import TrainerState

    t0 = time.time()
    s = SFTSettings.of(params)
    params = s.as_dict()  # the JSON form: manifest and run key
    rows, excluded = run_rows(tasks, data, s.datasets, s.target)
    if not rows:
        raise UsageError(f"sft {name}: no training rows in {data} (excluded: {excluded})")
    processor = load_processor(base)
    truncated = truncated_targets(rows, processor.tokenizer, s.max_target_tokens)
    torch.manual_seed(s.seed)
    model, base_manifest = prepare_model(base, s, masters)
    trainable, total = count_trainable(model), sum(p.numel() for p in model.parameters())
    print(
        f"sft {name}: tasks {tasks}, {len(rows)} rows ({excluded} excluded; targets cut to their first "
        f"{s.max_target_tokens} tokens: {truncated}), method {s.method}, "
        f"trainable parameters {trainable:,} of {total:,}",
        flush=True,
    )

    run = run_dir(ckpt_root, params | {"tasks": tasks}, base)
    accum = grad_accum(s.effective_batch, s.per_device_batch, world_size())
    args = trainer_config(s, run, accum)
    stopper = save_before_the_end_callback(SaveBeforeTheEnd())
    trainer_cls = completion_trainer()
    trainer = trainer_cls(
        model=model,
        args=args,
        train_dataset=index_dataset(len(rows)),
        processing_class=processor,
        data_collator=Collator(rows, processor, frame_cache(rows), VideoBudget.from_dict(budget), s.max_target_tokens),
        callbacks=[complete_marker_callback(), stopper, *callbacks],
    )
    resume = latest_checkpoint(run)
    # a checkpoint at the last step (killed before the export) is exported as it is: resuming from it, transformers
    # takes one step before it checks max_steps
    saved = TrainerState.load_from_json(str(resume / "trainer_state.json")) if resume else None
    trained = saved is not None and 0 < saved.max_steps <= saved.global_step
    print(
        f"sft {name}: checkpoints in {run}; "
        + (
            f"{resume.name} is the last step: exporting it"
            if trained
            else f"resuming from {resume.name}"
            if resume
            else "fresh start"
        ),
        flush=True,
    )
    if trained:
        trainer.state = saved
        final = resume
    else:
        trainer.train(resume_from_checkpoint=str(resume) if resume else None)
        if stopper.reason:
            trainer.accelerator.wait_for_everyone()  # every process's share of the checkpoint is written
            raise Preempted(
                f"sft {name}: saved checkpoint-{trainer.state.global_step} of {trainer.state.max_steps} "
                f"({stopper.reason}); the next attempt resumes from it"
            )
        final = run / "final"
        trainer.save_model(str(final))  # every rank: gathers ZeRO-3 shards

    history = [h for h in trainer.state.log_history if "loss" in h]
    manifest = {
        "stage": "sft",
        "run": name,
        "tasks": tasks,
        "base_model": str(base),
        "params": params,
        "budget": budget,
        "rows": len(rows),
        "excluded": excluded,
        "truncated_targets": truncated,
        "trainable_parameters": trainable,
        "parameters_total": total,
        "gradient_accumulation_steps": accum,
        "processes": world_size(),
        "steps": trainer.state.global_step,
        "resumed_from": resume.name if resume else None,
        "final_loss": history[-1]["loss"] if history else None,
        "loss_curve": [[h["step"], h["loss"]] for h in history],
    }
    if trainer.accelerator.is_main_process:
        export(final, base, processor, base_manifest, out, manifest)
    trainer.accelerator.wait_for_everyone()
    print(
        f"sft {name}: {trainer.state.global_step} steps in {time.time() - t0:.1f} s, "
        f"loss {json.dumps([round(h['loss'], 3) for h in history[:: max(1, len(history) // 8)]])}",
        flush=True,
    )
    return manifest


def main(a):
    """`vauflow sft`."""
    from vauflow.commands import data_of

    train(a.run, a.tasks, a.init, data_of(a), a.out, a.checkpoints, a.params, a.budget)
