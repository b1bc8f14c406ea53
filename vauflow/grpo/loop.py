"""GRPO with the video in every pass: rollout, reference and policy log-probs all go through the one input builder.

Why our own loop and not TRL's GRPOTrainer (1.16): TRL builds multimodal prompts from message content (decoding
video files itself, never our frame cache), forwards only image tensors to the policy / reference / old log-prob
passes (the video is silently dropped: cpu-stack.md §6, kept as a canary test), and a video-correct subclass would
override five private methods — most of its data path — pinned to one TRL release. This loop is one file: every
forward takes `build_inputs(...)`, rewards are plain TRL-style functions, and a step is a pure function of
(seed, step), so a resumed run is bit-identical to an uninterrupted one.

One optimizer step: P prompts (the effective batch) x G completions; sampling with explicit temperature / top-k /
top-p and vision special tokens suppressed; completions cut after the first EOS; rewards summed per row's task;
advantages normalised per group; reference log-probs with the LoRA adapter disabled (or a frozen copy under full
fine-tuning); one policy update per batch (ratio 1, so clipping is inert unless num_iterations > 1)."""

import contextlib
import copy
import json
import shutil
import time
from pathlib import Path

import numpy as np
import torch

from vauflow import tasks
from vauflow.examples import example, frame_cache, run_rows
from vauflow.frames.budget import VideoBudget
from vauflow.grpo.loss import group_advantages, policy_loss
from vauflow.io import UsageError, atomic_dir, write_json, write_jsonl
from vauflow.model.generation import compute, explicit_generation, row_seed, seeded_sampler
from vauflow.model.inputs import (
    append_completions,
    build_inputs,
    eos_token_ids,
    expand_rows,
    model_inputs,
    select_rows,
    vision_token_ids,
)
from vauflow.model.load import DTYPES, load_model, load_processor
from vauflow.model.logprobs import completion_logps
from vauflow.model.vision import encode_videos, shared_videos
from vauflow.processes import all_sum, barrier, gather, start_processes
from vauflow.settings import GRPOSettings
from vauflow.training import (
    COMPLETE,
    Preempted,
    SaveBeforeTheEnd,
    Tracker,
    any_process,
    checkpoint_step,
    count_trainable,
    fp32_trainables,
    freeze_vision_tower,
    grad_accum,
    latest_checkpoint,
    lora_config,
    run_dir,
    write_model_folder,
)


def rewards_for(rows, completions):
    """{task/function: [value or None per completion]} and the summed reward per completion (each task's reward
    functions, equal weights, spec §4). As TRL does, a reward function gets every column of its rows."""
    per_fn, total = {}, [0.0] * len(rows)
    for task in sorted({r["task"] for r in rows}):
        idx = [i for i, r in enumerate(rows) if r["task"] == task]
        cols = {k: [rows[i].get(k) for i in idx] for k in dict.fromkeys(k for i in idx for k in rows[i])}
        for fn in tasks.get(task).rewards:
            values = fn([completions[i] for i in idx], **cols)
            key = f"{task}/{fn.__name__}"
            per_fn[key] = [None] * len(rows)
            for i, v in zip(idx, values):
                per_fn[key][i] = v
                total[i] += v
    return per_fn, total


def sum_gradients(params, world):
    """Each trainable tensor's gradient summed over the processes (every process's loss is already its share of the
    whole step's), in one flat buffer per dtype."""
    if world == 1:
        return
    import torch.distributed as dist

    from vauflow.processes import collective_device

    # a tensor no process has a gradient for stays without one (AdamW then skips it, as with one process)
    had = torch.tensor([0.0 if p.grad is None else 1.0 for p in params], device=collective_device())
    dist.all_reduce(had)
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    for dtype in sorted({p.grad.dtype for p in params}, key=str):  # the same order on every process
        grads = [p.grad for p in params if p.grad.dtype == dtype]
        flat = torch.cat([g.flatten() for g in grads])
        dist.all_reduce(flat)
        offset = 0
        for g in grads:
            g.copy_(flat[offset : offset + g.numel()].view_as(g))
            offset += g.numel()
    for p, n in zip(params, had.tolist()):
        if n == 0:
            p.grad = None


def shard(model):
    """FSDP2 over the processes: each decoder layer and vision block, and the rest (embeddings, head, the tower's
    patch embedding and merger) are units whose fp32 masters, gradients and optimizer state each process holds a
    1/N share of. FSDP averages the processes' gradients: the loop scales each loss by N (`loss_scale`), as every
    process's loss is already its share of the step's (a sum is wanted; gloo has no pre-multiplied sum)."""
    from torch.distributed.fsdp import fully_shard, register_fsdp_forward_method

    for module in model.modules():
        if type(module).__name__.endswith(("DecoderLayer", "VisionBlock")):
            fully_shard(module)
    fully_shard(model)
    # the tower is called through get_video_features (vauflow.model.vision), not forward: FSDP gathers for it too
    register_fsdp_forward_method(model, "get_video_features")


@contextlib.contextmanager
def gathered(model, sharded):
    """The whole weights on every process for one rollout: gathered once, not once per generated token."""
    if not sharded:
        yield
        return
    from torch.distributed.fsdp import FSDPModule

    # the layers and blocks would reshard after each forward (each token); the root unit keeps FSDP's own setting
    # (it stays gathered after its forward), which set_reshard_after_forward would override for good
    units = [m for m in model.modules() if isinstance(m, FSDPModule) and m is not model]
    model.unshard()
    for m in units:
        m.set_reshard_after_forward(False, recurse=False)
        m.unshard()
    try:
        yield
    finally:
        for m in units:
            m.reshard()
            m.set_reshard_after_forward(True, recurse=False)
        model.reshard()


def full(t):
    """A sharded tensor (DTensor) made whole on every process; any other tensor as it is."""
    return t.full_tensor() if hasattr(t, "full_tensor") else t


def owners(prompts, group_size):
    """The prompt each completion row belongs to (rows are prompt-major)."""
    return [i // group_size for i in range(prompts * group_size)]


class GRPO:
    def __init__(self, init_model, rows, params, budget, seed, masters=True):
        """`masters`: with `dtype` bfloat16/float16, keep fp32 master weights (and optimizer state) and compute under
        autocast; False updates the half-precision weights themselves (only as the tests' control: at lr 1e-6 most
        updates then round away)."""
        self.s = s = GRPOSettings.of(params)
        self.rows, self.seed = rows, seed
        self.processor = load_processor(init_model)
        self.tok = self.processor.tokenizer
        self.eos = eos_token_ids(self.processor)
        torch.manual_seed(seed)
        # N processes (vauflow launch --gpus N, or torchrun): data parallel, each rolls out its share of the step's
        # prompts (whole groups) on its own device; gradients are summed over processes before the update
        self.rank, self.world, self.device = start_processes()
        self.compute = (lambda: compute(self.device, s.dtype)) if masters else contextlib.nullcontext
        # fp32 masters for what trains: the whole model under full fine-tuning; under LoRA the frozen base stays in
        # the compute dtype (half the memory) and only the adapters and modules_to_save are fp32 (below)
        full_masters = masters and s.method == "full"
        self.model, self.manifest = load_model(
            init_model,
            dtype="float32" if full_masters else s.dtype,
            device=self.device,
            attn_implementation=s.attn_implementation,
        )
        if s.gradient_checkpointing:  # the policy pass recomputes its activations in the backward pass
            self.model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
            self.model.config.use_cache = False
        if s.method == "lora":
            from peft import get_peft_model

            self.model = get_peft_model(self.model, lora_config(s.lora))
            if masters:
                fp32_trainables(self.model)
            self.ref = None  # the reference is the same model with the adapter disabled
        else:
            freeze_vision_tower(self.model, s.freeze_vision)
            # the frozen reference needs no master copy: half precision when the run computes in it
            self.ref = copy.deepcopy(self.model).to(DTYPES[s.dtype]).eval().requires_grad_(False) if s.beta else None
        # grpo.accelerate fsdp: masters, gradients and AdamW state sharded over the processes (FSDP2); the loop
        # sums nothing itself then (reduce-scatter does), and gathers the weights once per rollout
        self.sharded = s.accelerate == "fsdp" and self.world > 1
        if self.sharded:
            if s.method != "full":
                raise UsageError("grpo.accelerate fsdp shards full fine-tuning; LoRA runs data parallel (multi_gpu)")
            shard(self.model)
        self.loss_scale = self.world if self.sharded else 1  # FSDP averages over processes; the step wants the sum
        self.model.train()
        self.trainable = [p for p in self.model.parameters() if p.requires_grad]
        # fused on GPUs (as transformers' adamw_torch_fused for SFT): the default foreach kernel would hold a copy of
        # every moment at the update (+4 bytes per trainable parameter, vauflow.plan.memory); the CPU keeps torch's loop
        self.opt = torch.optim.AdamW(
            self.trainable,
            lr=s.learning_rate,
            betas=(0.9, 0.999),
            eps=1e-8,
            weight_decay=0.0,
            fused=torch.device(self.device).type == "cuda" or None,
        )
        self.cache = frame_cache(rows)
        self.budget = VideoBudget.from_dict(budget)
        grad_accum(s.effective_batch, s.per_device_batch, self.world)  # checks that the batch divides
        self.steps = s.max_steps or int(s.epochs * len(rows) / s.effective_batch)
        self.step = 0

    # -- data: prompt order is a function of (seed, epoch) only ----------------------------------------------
    def prompts_for(self, step):
        per_step = self.s.effective_batch
        start = step * per_step
        out = []
        for k in range(start, start + per_step):
            epoch, i = divmod(k, len(self.rows))
            order = np.random.default_rng([self.seed, epoch]).permutation(len(self.rows))
            out.append(self.rows[order[i]])
        return out

    def local_prompts(self, step):
        """This process's share of the step's prompts, each with its index in the whole run (its sampling seed)."""
        rows, share = self.prompts_for(step), self.s.effective_batch // self.world
        first = self.rank * share
        return [(step * self.s.effective_batch + i, rows[i]) for i in range(first, first + share)]

    def lr_at(self, step):
        if self.s.lr_scheduler == "linear":
            return self.s.learning_rate * max(0.0, 1 - step / max(1, self.steps))
        return self.s.learning_rate

    # -- one step: micro-batches of `per_device_batch` prompts (each with its whole group), gradients accumulated --
    @torch.no_grad()
    def rollout(self, rows, step=0, keys=None):
        """(the prompts' examples, G completions per prompt, prompt-major). The tower encodes each prompt's video
        once; its G rows share the features. Completion j of prompt k (`keys`: the prompts' indices in the run)
        is sampled from its own generator, seeded by (seed, step, k, j): the same on any number of processes."""
        g = self.s.num_generations
        prompts = [example(r, self.cache, self.budget) for r in rows]
        batch = build_inputs(self.processor, prompts)
        self.model.eval()
        # every sampling setting explicit, none from the folder's generation_config.json (repetition_penalty 1.05
        # there would sample from another distribution than the one the loss scores)
        with explicit_generation(self.model), self.compute(), gathered(self.model, self.sharded):
            videos = shared_videos(
                encode_videos(self.model, model_inputs(batch, self.device)), owners(len(rows), g), batch["video_rows"]
            )
            seeds = [row_seed(self.seed, step, k, j) for k in (keys or range(len(rows))) for j in range(g)]
            sampler = seeded_sampler(seeds, self.s.temperature, self.s.top_k, self.s.top_p, self.device)
            out = self.model.generate(
                **model_inputs(expand_rows(batch, g), self.device),
                mm_encoder_outputs=videos,
                do_sample=False,
                logits_processor=sampler,
                repetition_penalty=1.0,
                max_new_tokens=self.s.max_completion_length,
                suppress_tokens=vision_token_ids(self.processor),
                eos_token_id=self.eos,
                pad_token_id=self.tok.pad_token_id,
            )
        self.model.train()
        completions = []
        for seq in out[:, batch["input_ids"].shape[1] :].tolist():
            cut = next((k + 1 for k, t in enumerate(seq) if t in self.eos), len(seq))
            completions.append(seq[:cut])
        return prompts, completions

    def sample(self, rows, step=0, keys=None):
        """Rollouts, rewards and group advantages for a few prompts (each with its whole group)."""
        g = self.s.num_generations
        prompts, completions = self.rollout(rows, step, keys)
        texts = self.tok.batch_decode(completions, skip_special_tokens=True)
        per_fn, rewards = rewards_for([r for r in rows for _ in range(g)], texts)
        adv, zero_std = group_advantages(rewards, g)
        return {
            "prompts": prompts,
            "completions": completions,
            "adv": adv,
            "zero_std": zero_std,
            "rewards": rewards,
            "per_fn": per_fn,
            "lengths": [len(c) for c in completions],
        }

    @contextlib.contextmanager
    def reference(self):
        """The reference policy: the model with its LoRA adapter disabled, or the frozen copy."""
        if self.ref is None:
            with self.model.disable_adapter():
                yield self.model
        else:
            yield self.ref

    def chunks(self, rows):
        size = self.s.logprob_chunk or rows
        return [(i, min(rows, i + size)) for i in range(0, rows, size)]

    def backward(self, part, rows_total, tokens_total):
        """The loss of one sample's rows, in chunks of `logprob_chunk` completions (reference pass, then the policy
        pass with its backward, chunk by chunk): each chunk's loss is its share of the whole step's, so the sum of
        their gradients is the step's gradient, and one chunk's activations are alive at a time. The tower encodes
        the prompts' videos once per pass; the chunks' gradients w.r.t. those features are summed and sent through
        the tower once at the end (a trainable merger or tower learns as with per-completion encoding)."""
        g, t = self.s.num_generations, self.s.temperature
        prompt_batch = build_inputs(self.processor, part["prompts"])
        pixels = model_inputs(prompt_batch, self.device)
        full = append_completions(expand_rows(prompt_batch, g), part["completions"], self.processor)
        full = {k: v.to(self.device) for k, v in full.items()}
        rows, n = len(part["completions"]), max(part["lengths"])
        owner = owners(len(part["prompts"]), g)
        adv = part["adv"].to(self.device)
        ref_features = None
        if self.s.beta:
            with torch.no_grad(), self.compute(), self.reference() as ref:
                ref_features = encode_videos(ref, pixels)
        with self.compute():
            features = encode_videos(self.model, pixels)
        # fp32 leaves: the chunks' gradients w.r.t. the features add up in fp32, as weight gradients do
        leaves = [f.detach().float().requires_grad_(f.requires_grad) for f in features]
        videos = prompt_batch["video_rows"]
        loss_sum = kl_sum = 0.0
        for a, b in self.chunks(rows):
            chunk = select_rows(full, a, b)
            mask = chunk["completion_mask"][:, -n:]
            ref = None
            if self.s.beta:
                with torch.no_grad(), self.compute(), self.reference() as ref_model:
                    ref = completion_logps(ref_model, chunk, n, t, shared_videos(ref_features, owner[a:b], videos))
            with self.compute():
                logp = completion_logps(self.model, chunk, n, t, shared_videos(leaves, owner[a:b], videos))
            loss, kl = policy_loss(
                logp,
                logp.detach(),
                logp.detach() if ref is None else ref,
                adv[a:b],
                mask,
                self.s.beta,
                self.s.epsilon,
                self.s.loss_type,
                self.s.max_completion_length,
                rows_total=rows_total,
                tokens_total=tokens_total,
            )
            (loss * self.loss_scale).backward()
            loss_sum += float(loss.detach())
            kl_sum += kl
        trained = [(f, leaf.grad) for f, leaf in zip(features, leaves) if f.requires_grad and leaf.grad is not None]
        if trained:
            torch.autograd.backward([f for f, _ in trained], [grad.to(f.dtype) for f, grad in trained])
        return loss_sum, kl_sum

    def train_step(self, step):
        """One optimizer step: every micro-batch's rollouts first (the step's row and token totals over all processes
        normalise the loss, as TRL's dapo does over the accumulated batch), then each micro-batch's loss passes; the
        processes' gradients are summed, so N processes take the step one process takes on the whole batch."""
        torch.manual_seed(self.seed * 1_000_003 + step)  # dropout, if any: a function of (seed, step)
        for group in self.opt.param_groups:
            group["lr"] = self.lr_at(step)
        local = self.local_prompts(step)
        size = self.s.per_device_batch
        self.opt.zero_grad(set_to_none=True)
        parts = [
            self.sample([r for _, r in local[i : i + size]], step, [k for k, _ in local[i : i + size]])
            for i in range(0, len(local), size)
        ]
        rows_total, tokens_total = all_sum(
            [sum(len(p["completions"]) for p in parts), sum(sum(p["lengths"]) for p in parts)]
        )
        losses = [self.backward(p, rows_total, tokens_total) for p in parts]
        if not self.sharded:  # FSDP has reduce-scattered the gradients already
            sum_gradients(self.trainable, self.world)
        grad_norm = torch.nn.utils.clip_grad_norm_(self.trainable, self.s.max_grad_norm)
        self.opt.step()
        return self.step_log(step, parts, losses, rows_total, tokens_total, float(full(grad_norm)))

    def step_log(self, step, parts, losses, rows_total, tokens_total, grad_norm):
        """The step's figures over every process's rows."""
        mine = {
            "rewards": [r for p in parts for r in p["rewards"]],
            "lengths": [n for p in parts for n in p["lengths"]],
            "zero_std": sum(p["zero_std"] * len(p["completions"]) for p in parts),
            "loss": sum(loss for loss, _ in losses),
            "kl": sum(kl for _, kl in losses),
            "per_fn": {
                k: [x for p in parts for x in p["per_fn"].get(k, []) if x is not None]
                for k in {k for p in parts for k in p["per_fn"]}
            },
        }
        every = gather(mine, self.world)
        rewards = [r for m in every for r in m["rewards"]]
        log = {
            "step": step + 1,
            "loss": sum(m["loss"] for m in every),
            "reward": float(np.mean(rewards)),
            "reward_std": float(np.std(rewards)),
            "frac_zero_std_groups": sum(m["zero_std"] for m in every) / rows_total,
            "kl": sum(m["kl"] for m in every) / max(1, tokens_total),
            "completion_length": float(np.mean([n for m in every for n in m["lengths"]])),
            "grad_norm": grad_norm,
            "lr": self.lr_at(step),
        }
        for key in sorted({k for m in every for k in m["per_fn"]}):
            log[f"rewards/{key}"] = float(np.mean([x for m in every for x in m["per_fn"].get(key, [])]))
        return log

    # -- checkpoints: trainable tensors + optimizer + step; nothing else is state -----------------------------
    def save(self, run, history):
        """The main process writes; every process waits for it (the replicas hold the same tensors; FSDP shards are
        gathered whole first, by every process)."""
        if self.sharded or self.rank == 0:
            tensors, optimizer = self.full_state()
        if self.rank == 0:
            self.write_checkpoint(run, history, tensors, optimizer)
        barrier(self.world)

    def full_state(self, optimizer=True):
        """(trainable tensors by name, optimizer state dict), whole. Under FSDP every process takes part in the
        gathering and only the main one receives them (in host memory); the others get empty dicts."""
        names = [n for n, p in self.model.named_parameters() if p.requires_grad]
        if not self.sharded:
            return (
                {n: p.detach().cpu().contiguous() for n, p in zip(names, self.trainable)},
                self.opt.state_dict() if optimizer else None,
            )
        from torch.distributed.checkpoint.state_dict import (
            StateDictOptions,
            get_model_state_dict,
            get_optimizer_state_dict,
        )

        whole = StateDictOptions(full_state_dict=True, cpu_offload=True)
        trained = set(names)
        tensors = {
            n: t.contiguous() for n, t in get_model_state_dict(self.model, options=whole).items() if n in trained
        }
        return tensors, get_optimizer_state_dict(self.model, self.opt, options=whole) if optimizer else None

    def write_checkpoint(self, run, history, tensors, optimizer):
        from safetensors.torch import save_file

        d = Path(run) / f"checkpoint-{self.step}"
        d.mkdir(parents=True, exist_ok=True)
        save_file(tensors, d / "trainable.safetensors")
        torch.save(optimizer, d / "optimizer.pt")
        write_json(d / "state.json", {"step": self.step, "history": history})
        (d / COMPLETE).touch()
        for old in sorted(Path(run).glob("checkpoint-*"), key=checkpoint_step)[:-2]:
            shutil.rmtree(old)

    def load(self, ckpt):
        from safetensors.torch import load_file

        if self.sharded:  # the main process reads, every process keeps its shard of what it broadcasts
            from torch.distributed.checkpoint.state_dict import (
                StateDictOptions,
                set_model_state_dict,
                set_optimizer_state_dict,
            )

            main = self.rank == 0
            tensors = load_file(ckpt / "trainable.safetensors") if main else {}
            optimizer = torch.load(ckpt / "optimizer.pt", map_location="cpu", weights_only=False) if main else {}
            whole = StateDictOptions(full_state_dict=True, broadcast_from_rank0=True, strict=False)
            set_model_state_dict(self.model, tensors, options=whole)
            set_optimizer_state_dict(self.model, self.opt, optimizer, options=whole)
        else:
            tensors = load_file(ckpt / "trainable.safetensors")
            # onto the CPU first (load_state_dict moves the state to each parameter's device): saved on cuda:0, every
            # process would otherwise load a whole copy onto the first GPU
            optimizer = torch.load(ckpt / "optimizer.pt", map_location="cpu", weights_only=False)
            params = dict(self.model.named_parameters())
            with torch.no_grad():
                for n, t in tensors.items():
                    params[n].copy_(t)
            self.opt.load_state_dict(optimizer)
        state = json.loads((ckpt / "state.json").read_text())
        self.step = state["step"]
        return state["history"]


def train(run_name, tasks, init_model, data, out, ckpt_root, params, budget):
    t0 = time.time()
    s = GRPOSettings.of(params)
    params = s.as_dict()  # the JSON form: manifest, run key, tracker
    rows, excluded = run_rows(tasks, data, s.datasets, s.target)
    if not rows:
        raise UsageError(f"grpo {run_name}: no training rows (excluded: {excluded})")
    trainer = GRPO(init_model, rows, s, budget, s.seed)
    say = print if trainer.rank == 0 else (lambda *a, **k: None)
    say(
        f"grpo {run_name}: tasks {tasks}, {len(rows)} rows, init {init_model}, {trainer.steps} steps of "
        f"{s.effective_batch} prompts x {s.num_generations}; trainable parameters "
        f"{count_trainable(trainer.model):,}",
        flush=True,
    )
    run = run_dir(ckpt_root, params | {"tasks": tasks, "init": str(init_model)}, init_model)
    history = []
    tracker = Tracker(s.report_to if trainer.rank == 0 else "none", run, f"grpo-{run_name}", params)
    resume = latest_checkpoint(run)
    if resume:
        history = trainer.load(resume)
        say(f"grpo {run_name}: resuming from {resume}", flush=True)
    watch = SaveBeforeTheEnd()
    while trainer.step < trainer.steps:
        started = time.time()
        log = trainer.train_step(trainer.step)
        trainer.step += 1
        history.append(log)
        tracker.log(log)
        if trainer.step % s.log_steps == 0 or trainer.step == trainer.steps:
            say(
                "grpo " + json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in log.items()}),
                flush=True,
            )
        saved = trainer.step % s.save_steps == 0 and trainer.step < trainer.steps
        if saved:
            trainer.save(run, history)
        reason = watch.reason(time.time() - started)
        if any_process(reason is not None) and trainer.step < trainer.steps:
            if not saved:
                trainer.save(run, history)
            tracker.close()
            raise Preempted(
                f"grpo {run_name}: saved checkpoint-{trainer.step} of {trainer.steps} "
                f"({reason or 'another process'}); the next attempt resumes from it"
            )
    manifest = {
        "stage": "grpo",
        "run": run_name,
        "tasks": tasks,
        "init_model": str(init_model),
        "params": params,
        "budget": budget,
        "rows": len(rows),
        "excluded": excluded,
        "steps": trainer.step,
        "trainable_parameters": count_trainable(trainer.model),
        "resumed_from": resume.name if resume else None,
        "processes": trainer.world,
    }
    tracker.close()
    whole = trainer.full_state(optimizer=False)[0] if trainer.sharded else None  # every process takes part
    if trainer.rank == 0:  # the others are done: nothing waits for the export
        export(trainer, out, manifest, history, whole, init_model)
    say(f"grpo {run_name}: {trainer.step} steps in {time.time() - t0:.1f} s", flush=True)
    return manifest


def export(trainer, out_dir, manifest, history, whole=None, init_model=None):
    """The run's output, written in `model.dtype` (the checkpoints keep the fp32 masters). Under FSDP (`whole`: the
    gathered trainable tensors) the weights go into an unsharded copy of the initial model on the CPU."""
    model = trainer.model
    if whole is not None:
        model = load_model(init_model, dtype="float32", attn_implementation=manifest["params"]["attn_implementation"])[
            0
        ]
        model.load_state_dict(whole, strict=False)
    with atomic_dir(out_dir) as tmp:
        if hasattr(model, "peft_config"):
            model.save_pretrained(tmp / "adapter")
            model = model.merge_and_unload()
        model = model.to(DTYPES[manifest["params"]["dtype"]])
        write_jsonl(tmp / "log.jsonl", history)
        write_model_folder(tmp, model, trainer.processor, trainer.manifest, manifest)


def main(a):
    """`vauflow grpo`."""
    from vauflow.commands import data_of

    train(a.run, a.tasks, a.init, data_of(a), a.out, a.checkpoints, a.params, a.budget)
