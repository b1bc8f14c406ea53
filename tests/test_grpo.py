"""GRPO: the math, the video in every pass (vision-tower hook), the stock-TRL canary, routing, resume."""

import json
import os
import re
import signal
import sys
import time

import pytest
import torch
from two_process_step import compare

from vauflow.examples import run_rows
from vauflow.grpo.loop import GRPO, rewards_for
from vauflow.grpo.loss import group_advantages, k3_kl, policy_loss
from vauflow.model.inputs import vision_token_ids
from vauflow.plan import grpo_params

from conftest import VENV_BIN, smoke_config


def test_group_advantages_and_zero_std_fraction():
    adv, zero = group_advantages([1.0, 0.0, 1.0, 0.0, 2.0, 2.0, 2.0, 2.0], 4)
    r = torch.tensor([1.0, 0.0, 1.0, 0.0])
    assert torch.allclose(adv[:4], (r - r.mean()) / (r.std() + 1e-4))
    assert torch.equal(adv[4:], torch.zeros(4)) and zero == 0.5


def test_k3_kl_and_loss_aggregation():
    logp = torch.log(torch.tensor([[0.5, 0.25, 0.5]]))
    ref = torch.log(torch.tensor([[0.25, 0.25, 0.5]]))
    kl = k3_kl(logp, ref)
    assert kl[0, 1] == 0 and kl[0, 0] > 0
    mask = torch.tensor([[1, 1, 0]])
    adv = torch.tensor([2.0])
    loss, _ = policy_loss(logp, logp.detach(), ref, adv, mask, 0.0, 0.2, "grpo", 8)
    assert loss.item() == pytest.approx(-2.0)  # ratio 1: -A, averaged over the 2 completion tokens
    loss, _ = policy_loss(logp, logp.detach(), ref, adv, mask, 0.0, 0.2, "dr_grpo", 8)
    assert loss.item() == pytest.approx(-2.0 * 2 / 8)


def tiny_params(**over):
    p = grpo_params(smoke_config(), "qa") | {
        "num_generations": 2,
        "effective_batch": 2,
        "per_device_batch": 2,
        "max_completion_length": 6,
        "max_steps": 4,
        "save_steps": 2,
        "learning_rate": 1e-3,
        "beta": 0.04,
    }
    return p | over


def make_trainer(smoke_models, tasks=("qa",), init=None, masters=True, **over):
    p = tiny_params(**over)
    data = {"vau": smoke_models / "results/vaubench/linked", "ball": smoke_models / "results/ball/linked"}
    rows, _ = run_rows(list(tasks), data, p["datasets"], p["target"])
    return GRPO(
        init or smoke_models / "resources/models/tiny",
        rows,
        p,
        smoke_config()["frames"]["budgets"]["train"],
        p["seed"],
        masters=masters,
    )


def test_video_reaches_generation_reference_and_policy(smoke_models):
    """A hook on the vision tower: per step one pass with grad (policy) and no-grad passes for the rollout and
    the reference log-probs, each on the P prompts' videos, not on every completion's copy (P x G)."""
    trainer = make_trainer(smoke_models, num_generations=4)
    calls = []
    visual = trainer.model.base_model.model.model.visual
    visual.register_forward_pre_hook(
        lambda m, args, kw: calls.append((torch.is_grad_enabled(), kw["grid_thw"])), with_kwargs=True
    )
    trainer.train_step(0)
    grad = [grid for g, grid in calls if g]
    nograd = [grid for g, grid in calls if not g]
    assert len(grad) == 1 and len(nograd) == 2, calls  # policy; rollout prefill + reference
    prompts = trainer.s.effective_batch
    assert all(len(grid) == prompts for grid in grad + nograd), calls  # videos per pass = prompts


def per_completion_loss(trainer, part, rows_total, tokens_total):
    """The step's loss with every completion row carrying its own copy of the video (the tower sees P x G videos)."""
    from vauflow.model.inputs import build_inputs
    from vauflow.model.logprobs import completion_logps

    g, t, n = trainer.s.num_generations, trainer.s.temperature, max(part["lengths"])
    full = build_inputs(
        trainer.processor, [e for e in part["prompts"] for _ in range(g)], completions=part["completions"]
    )
    with torch.no_grad(), trainer.reference() as ref_model:
        ref = completion_logps(ref_model, full, n, t)
    logp = completion_logps(trainer.model, full, n, t)
    loss, _ = policy_loss(
        logp,
        logp.detach(),
        ref,
        part["adv"],
        full["completion_mask"][:, -n:],
        trainer.s.beta,
        trainer.s.epsilon,
        trainer.s.loss_type,
        trainer.s.max_completion_length,
        rows_total=rows_total,
        tokens_total=tokens_total,
    )
    loss.backward()
    return float(loss.detach())


@pytest.mark.parametrize("chunk", [0, 3])
def test_shared_video_features_give_the_per_completion_loss_and_gradients(smoke_models, chunk):
    """The tower once per prompt, its features shared by the group's completions (in chunks or not): the loss and
    gradients of per-completion encoding, the trainable merger and tower included (<= 1e-5 relative, fp32)."""
    trainer = make_trainer(smoke_models, method="full", freeze_vision=False, num_generations=4, logprob_chunk=chunk)
    torch.manual_seed(0)
    part = trainer.sample(trainer.prompts_for(0))
    rows_total, tokens_total = len(part["completions"]), sum(part["lengths"])
    part["adv"] = torch.randn(rows_total)  # an untrained model earns no reward: give the rows advantages to learn
    grads = []
    for step in (
        lambda: trainer.backward(part, rows_total, tokens_total)[0],
        lambda: per_completion_loss(trainer, part, rows_total, tokens_total),
    ):
        trainer.opt.zero_grad(set_to_none=False)
        loss = step()
        grads.append((loss, {n: p.grad.clone() for n, p in trainer.model.named_parameters() if p.requires_grad}))
    (shared, a), (copies, b) = grads
    assert shared == pytest.approx(copies, rel=1e-5, abs=1e-8)
    flat = [torch.cat([g[n].flatten() for n in g]) for g in (a, b)]
    assert torch.linalg.norm(flat[0] - flat[1]) <= 1e-5 * torch.linalg.norm(flat[1])
    tower = [n for n in a if ".visual." in f".{n}"]
    tower_a, tower_b = (torch.cat([g[n].flatten() for n in tower]) for g in (a, b))
    whole = float(torch.linalg.norm(flat[0] - flat[1]) / torch.linalg.norm(flat[1]))
    part_tower = float(torch.linalg.norm(tower_a - tower_b) / torch.linalg.norm(tower_b))
    print(f"\nshared vs per-completion gradients: {whole:.2e} relative, the tower's {part_tower:.2e}")
    assert torch.linalg.norm(tower_b) > 0  # the tower and merger do learn
    assert torch.linalg.norm(tower_a - tower_b) <= 1e-5 * torch.linalg.norm(tower_b)


def test_stock_trl_grpo_still_drops_the_video(smoke_models, tmp_path):
    """Canary: TRL 1.16's GRPOTrainer runs the vision tower only at generation, never with grad. When this fails,
    TRL feeds the video to the loss and our own loop can be reconsidered."""
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from vauflow.model.load import load_model, load_processor

    base = smoke_models / "resources/models/tiny"
    model, _ = load_model(base)
    processor = load_processor(base)
    video = sorted((smoke_models / "resources/videos/msad").glob("*.mp4"))[0]
    prompt = [
        {"role": "user", "content": [{"type": "video", "path": str(video)}, {"type": "text", "text": "What happens?"}]}
    ]
    ds = Dataset.from_list([{"prompt": prompt, "images": []}] * 2)
    calls = []
    model.model.visual.register_forward_pre_hook(lambda m, a: calls.append(torch.is_grad_enabled()))
    args = GRPOConfig(
        output_dir=str(tmp_path),
        per_device_train_batch_size=2,
        num_generations=2,
        max_completion_length=4,
        max_steps=1,
        report_to="none",
        use_cpu=True,
        beta=0.04,
        logging_steps=1,
        save_strategy="no",
        disable_tqdm=True,
    )
    GRPOTrainer(
        model=model,
        reward_funcs=[lambda completions, **kw: [float(len(str(c))) for c in completions]],
        args=args,
        train_dataset=ds,
        processing_class=processor,
    ).train()
    assert calls and not any(calls), calls  # generation only, no grad: the loss never saw the video


def test_rewards_routed_by_each_rows_task():
    rows = [
        {"task": "qa", "answer": "A", "options": ["a", "b", "c", "d"], "target": "think"},
        {"task": "cls", "class": "Fire", "target": "think"},
    ]
    per_fn, total = rewards_for(rows, ["<think>x</think><answer>A</answer>", "<think>x</think><answer>Fire</answer>"])
    assert total == [2.0, 2.0]
    assert per_fn["qa/answer_reward"] == [1.0, None] and per_fn["cls/answer_reward"] == [None, 1.0]
    assert per_fn["cls/format_reward"] == [None, 1.0]


def test_rollouts_never_emit_vision_tokens(smoke_models):
    trainer = make_trainer(smoke_models)
    head = trainer.model.base_model.model.lm_head.modules_to_save["default"]
    with torch.no_grad():  # make <|video_pad|> overwhelmingly likely
        head.weight[trainer.processor.video_token_id] = head.weight.abs().max() * 50
    _, completions = trainer.rollout(trainer.prompts_for(0))
    banned = set(vision_token_ids(trainer.processor))
    assert completions and not any(banned & set(c) for c in completions)


def test_resume_is_bit_identical(smoke_models, tmp_path, monkeypatch):
    # a random tiny model earns no reward; any reward that varies within a group makes the steps move weights
    monkeypatch.setattr("vauflow.grpo.loop.rewards_for", lambda rows, texts: ({}, [float(len(t) % 3) for t in texts]))

    def weights(t):
        return {n: p.detach().clone() for n, p in t.model.named_parameters() if p.requires_grad}

    straight = make_trainer(smoke_models)
    for step in range(4):
        straight.train_step(step)
        straight.step += 1
    first = make_trainer(smoke_models)
    for step in range(2):
        first.train_step(step)
        first.step += 1
    first.save(tmp_path, history=[])
    resumed = make_trainer(smoke_models)
    resumed.load(tmp_path / "checkpoint-2")
    assert resumed.step == 2
    for step in range(2, 4):
        resumed.train_step(step)
        resumed.step += 1
    a, b = weights(straight), weights(resumed)
    assert all(torch.equal(a[n], b[n]) for n in a)
    assert not all(torch.equal(a[n], weights(make_trainer(smoke_models))[n]) for n in a)  # it did train


def test_grpo_settings_per_run():
    cfg = json.loads(json.dumps(smoke_config()))
    cfg["grpo"]["per_run"] = {"cls": {"learning_rate": 2e-6}}
    assert grpo_params(cfg, "cls")["learning_rate"] == 2e-6
    assert grpo_params(cfg, "qa")["learning_rate"] == cfg["grpo"]["learning_rate"]


def updated_share(trainer, steps=3):
    """Of the trainable elements whose gradient was non-zero in at least one step, the share whose stored value
    changed; and how many had a zero gradient throughout (e.g. embedding rows of tokens never seen)."""
    named = [(n, p) for n, p in trainer.model.named_parameters() if p.requires_grad]
    before = {n: p.detach().clone() for n, p in named}
    touched = {n: torch.zeros(p.shape, dtype=torch.bool) for n, p in named}
    for step in range(steps):
        trainer.train_step(step)
        for n, p in named:
            if p.grad is not None:
                touched[n] |= (p.grad != 0).cpu()
    changed = sum(int(((p.detach() != before[n]).cpu() & touched[n]).sum()) for n, p in named)
    live = sum(int(t.sum()) for t in touched.values())
    return changed / max(1, live), sum(int((~t).sum()) for t in touched.values())


def test_bf16_keeps_fp32_masters_that_learn_at_the_papers_rate(smoke_models, tmp_path):
    """model.dtype bfloat16 = bf16 compute, fp32 master weights and optimizer state: full fine-tuning at lr 1e-6,
    3 GRPO steps on CPU change >= 99 % of the elements that had a gradient; updating the bf16 weights themselves
    (the control, the old behaviour) changes < 10 % of them. Checkpoints hold the masters; the export is bf16."""
    from safetensors import safe_open

    from vauflow.grpo.loop import export

    over = dict(method="full", freeze_vision=False, dtype="bfloat16", learning_rate=1e-6, lr_scheduler="constant")
    mixed = make_trainer(smoke_models, **over)
    assert {p.dtype for p in mixed.trainable} == {torch.float32}
    share, idle = updated_share(mixed)
    print(f"\nmixed precision: {share:.4f} of the elements with a gradient changed ({idle:,} never had one)")
    assert share >= 0.99
    pure = make_trainer(smoke_models, masters=False, **over)
    assert {p.dtype for p in pure.trainable} == {torch.bfloat16}
    control, _ = updated_share(pure)
    print(f"pure bf16 (control): {control:.4f}")
    assert control < 0.10
    mixed.save(tmp_path / "run", [])
    with safe_open(str(tmp_path / "run/checkpoint-0/trainable.safetensors"), "pt") as f:
        assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.float32}
    export(mixed, tmp_path / "out", {"params": mixed.s.as_dict()}, [])
    with safe_open(str(tmp_path / "out/model.safetensors"), "pt") as f:
        assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.bfloat16}


def test_rollouts_ignore_the_model_folders_generation_config(smoke_models, tmp_path):
    """Every sampling setting is explicit: a folder whose generation_config.json sets repetition_penalty 1.3 and
    top_p 0.01 samples the same completions."""
    import shutil

    odd = tmp_path / "odd"
    shutil.copytree(smoke_models / "resources/models/tiny", odd)
    gen = json.loads((odd / "generation_config.json").read_text())
    (odd / "generation_config.json").write_text(
        json.dumps(gen | {"repetition_penalty": 1.3, "top_p": 0.01, "top_k": 2, "no_repeat_ngram_size": 1})
    )
    out = []
    for init in (None, odd):
        trainer = make_trainer(smoke_models, init=init, max_completion_length=12)
        torch.manual_seed(7)
        out.append(trainer.rollout(trainer.prompts_for(0))[1])
    assert out[0] == out[1] and any(len(c) > 2 for c in out[0])


def test_log_probs_score_the_sampling_temperature(smoke_models):
    """The loss scores the distribution sampled at `temperature`: logits divided by it, as TRL does."""
    from vauflow.model.inputs import build_inputs
    from vauflow.model.logprobs import completion_logps

    trainer = make_trainer(smoke_models)
    prompts, completions = trainer.rollout(trainer.prompts_for(0))
    g = trainer.s.num_generations
    full = build_inputs(trainer.processor, [e for e in prompts for _ in range(g)], completions=completions)
    n = max(map(len, completions))
    with torch.no_grad():
        base = completion_logps(trainer.model, full, n)
        hot = completion_logps(trainer.model, full, n, temperature=2.0)
        logits = (
            trainer.model(
                **{k: v for k, v in full.items() if k not in ("labels", "completion_mask")}, logits_to_keep=n + 1
            )
            .logits[:, :-1]
            .float()
            / 2.0
        )
    want = torch.log_softmax(logits, -1).gather(-1, full["input_ids"][:, -n:].unsqueeze(-1)).squeeze(-1)
    assert torch.allclose(hot, want, atol=1e-6) and not torch.allclose(hot, base)


def test_gradient_checkpointing_gives_the_same_step(smoke_models):
    """grpo.gradient_checkpointing (the paper preset's, for memory) recomputes activations: the same loss and the
    same update as without it."""
    logs, weights = [], []
    for on in (False, True):
        trainer = make_trainer(smoke_models, method="full", freeze_vision=False, gradient_checkpointing=on)
        logs.append(trainer.train_step(0))
        weights.append(torch.cat([p.detach().flatten() for p in trainer.trainable]))
    assert logs[0]["loss"] == pytest.approx(logs[1]["loss"], rel=1e-5, abs=1e-7)
    assert torch.allclose(weights[0], weights[1], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("loss_type", ["grpo", "dapo", "dr_grpo"])
def test_chunk_losses_add_up_to_the_step_loss(loss_type):
    """policy_loss of row chunks, with the step's row and token totals, sums to the loss of all rows at once (dapo:
    the token mean over the whole step, as TRL's over the accumulated batch)."""
    g = torch.Generator().manual_seed(0)
    logp = -torch.rand(6, 5, generator=g)
    ref = logp - 0.1 * torch.rand(6, 5, generator=g)
    adv = torch.randn(6, generator=g)
    mask = torch.tensor(
        [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0], [1, 1, 0, 0, 0], [1, 1, 1, 1, 0], [1, 1, 1, 0, 0]]
    )
    whole, kl = policy_loss(logp, logp, ref, adv, mask, 0.04, 0.2, loss_type, 5)
    parts = [
        policy_loss(
            logp[a:b],
            logp[a:b],
            ref[a:b],
            adv[a:b],
            mask[a:b],
            0.04,
            0.2,
            loss_type,
            5,
            rows_total=6,
            tokens_total=int(mask.sum()),
        )
        for a, b in ((0, 2), (2, 3), (3, 6))
    ]
    assert sum(p[0] for p in parts).item() == pytest.approx(whole.item(), rel=1e-6)
    assert sum(p[1] for p in parts) == pytest.approx(kl, rel=1e-6)


def test_log_prob_chunks_give_the_same_loss_and_gradients(smoke_models):
    """grpo.logprob_chunk: the reference and policy passes in chunks of completions (a backward per chunk) give the
    loss and gradients of one pass over all of them (<= 1e-5 relative, fp32)."""
    steps = {}
    for chunk in (0, 1, 3):
        trainer = make_trainer(smoke_models, method="full", freeze_vision=False, logprob_chunk=chunk, num_generations=4)
        log = trainer.train_step(0)
        grads = torch.cat([p.grad.flatten() for p in trainer.trainable if p.grad is not None])
        steps[chunk] = (log["loss"], log["kl"], grads)
    loss, kl, grads = steps[0]
    for chunk in (1, 3):
        assert steps[chunk][0] == pytest.approx(loss, rel=1e-5, abs=1e-8)
        assert steps[chunk][1] == pytest.approx(kl, rel=1e-5, abs=1e-9)
        assert torch.linalg.norm(steps[chunk][2] - grads) <= 1e-5 * torch.linalg.norm(grads)


def test_lora_under_bf16_keeps_a_half_precision_base_and_fp32_adapters(smoke_models):
    """Mixed precision with LoRA: the frozen base stays in bf16 (half the memory of fp32 masters everywhere), the
    adapters and modules_to_save are the fp32 masters, with fp32 gradients, after a step under autocast."""
    trainer = make_trainer(smoke_models, dtype="bfloat16")
    frozen = {p.dtype for p in trainer.model.parameters() if not p.requires_grad}
    assert frozen == {torch.bfloat16} and {p.dtype for p in trainer.trainable} == {torch.float32}
    trainer.train_step(0)
    grads = [p.grad for p in trainer.trainable if p.grad is not None]
    assert grads and {g.dtype for g in grads} == {torch.float32}
    assert {p.dtype for p in trainer.trainable} == {torch.float32}


@pytest.mark.slow
@pytest.mark.parametrize("method", ["lora", "full", "full-fsdp"])
def test_grpo_two_processes_take_the_one_process_step(smoke_models, tmp_path, method):
    """Two processes (gloo), each rolling out half the step's prompts with their whole groups, take the update one
    process takes on the same global batch (rollouts seeded per prompt, gradients summed, losses normalised over the
    step); the control, one process on half the batch, does not. full-fsdp: the masters, gradients and AdamW state
    sharded over the two (FSDP2), weights gathered once per rollout."""
    over = dict(
        method=method.split("-")[0],
        freeze_vision=False,
        lora={**tiny_params()["lora"], "dropout": 0.0},
        effective_batch=4,
        per_device_batch=2,
        num_generations=2,
        steps=2,
        accelerate="fsdp" if method.endswith("fsdp") else "multi_gpu",
    )
    (gap, grad_gap), (control, grad_control) = compare(smoke_models, tmp_path, "grpo", **over)
    print(
        f"\ngrpo {method}: two processes vs one: Δw {gap:.2e}, last gradient {grad_gap:.2e}; one process on half "
        f"the batch (control): Δw {control:.2e}, gradient {grad_control:.2e}"
    )
    assert gap <= 1e-5 and grad_gap <= 1e-5
    assert control > 1e-2 and grad_control > 1e-2


@pytest.mark.slow
def test_grpo_fsdp_two_processes_gather_the_weights_once_per_rollout(smoke_models, tmp_path):
    """Under FSDP a rollout gathers each unit's weights once, not once per generated token (the control: FSDP's own
    per-forward hooks)."""
    from two_process_step import run_steps

    counts = run_steps(
        smoke_models,
        tmp_path,
        "gathers",
        2,
        "gathers",
        method="full",
        accelerate="fsdp",
        effective_batch=4,
        per_device_batch=2,
        num_generations=2,
        max_completion_length=12,
    )
    units = 2 + 2 + 1  # the tiny model's decoder layers, vision blocks and the root
    print(f"\nall-gathers per rollout: {counts}")
    assert counts["once"] <= units and counts["once_tokens"] > 1
    # the control: each decoder layer gathers again for every generated token
    assert counts["per_token"] >= 2 * counts["per_token_tokens"] > 4 * counts["once"]


@pytest.mark.slow
def test_grpo_fsdp_two_processes_resume_to_the_uninterrupted_run(smoke_models, tmp_path):
    """FSDP checkpoints hold the whole tensors (gathered from both processes), a resumed run loads them back into
    the shards, and its export equals the uninterrupted run's."""
    import subprocess

    from safetensors.torch import load_file

    from conftest import env

    params = tiny_params(
        method="full",
        accelerate="fsdp",
        effective_batch=4,
        per_device_batch=2,
        max_steps=3,
        save_steps=2,
        freeze_vision=False,
    )

    # torchrun would read the command's --run as an abbreviation of its own --run-path: the arguments travel apart
    entry = tmp_path / "entry.py"
    entry.write_text(
        "import json, os, sys\nfrom vauflow.cli import main\nsys.exit(main(json.loads(os.environ['VAUFLOW_ARGS'])))\n"
    )

    def run(tag, ckpt):
        args = list(map(str, training_command("grpo", smoke_models, tmp_path / tag, params)[1:]))
        args[args.index("--checkpoints") + 1] = str(ckpt)
        cmd = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            "2",
            "--master_port",
            str(29600 + os.getpid() % 1000),
            str(entry),
        ]
        p = subprocess.run(
            cmd,
            env=env() | {"OMP_NUM_THREADS": "1", "VAUFLOW_ARGS": json.dumps(args)},
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-3000:]
        return p.stdout, load_file(tmp_path / tag / "out/model.safetensors")

    _, whole = run("uninterrupted", tmp_path / "ckpt")
    (saved,) = (tmp_path / "ckpt").rglob("checkpoint-2")
    assert load_file(saved / "trainable.safetensors")  # whole tensors, readable without the processes
    log, resumed = run("resumed", tmp_path / "ckpt")  # the same run: it resumes from checkpoint-2
    assert "resuming from" in log and "checkpoint-2" in log
    assert whole.keys() == resumed.keys()
    assert all(torch.equal(whole[k], resumed[k]) for k in whole)


def test_seeded_sampler_draws_each_row_from_the_warped_distribution():
    """Rollout sampling (Gumbel-max per row): frequencies follow softmax(logits / T) over the top-k tokens, and a
    row's draw depends on its seed only, not on the rows it is batched with (the same on 1 or N processes)."""
    from vauflow.model.generation import row_seed, seeded_sampler

    logits = torch.tensor([[2.0, 1.0, 0.0, -1.0, -5.0]])
    n = 20_000
    sampler = seeded_sampler([row_seed(0, 3, i, 0) for i in range(n)], 0.7, 3, 1.0, "cpu")[0]
    picks = sampler(None, logits.expand(n, -1).clone()).argmax(-1)
    want = torch.softmax(logits[0, :3] / 0.7, -1)
    freq = torch.bincount(picks, minlength=5).double() / n
    assert freq[3:].sum() == 0 and torch.allclose(freq[:3], want.double(), atol=0.012), freq
    alone = seeded_sampler([row_seed(0, 3, 5, 0)], 0.7, 3, 1.0, "cpu")[0](None, logits.clone()).argmax(-1)
    assert alone.item() == picks[5].item()
    other_step = seeded_sampler([row_seed(0, 4, i, 0) for i in range(50)], 0.7, 3, 1.0, "cpu")[0]
    assert not torch.equal(other_step(None, logits.expand(50, -1).clone()).argmax(-1), picks[:50])


@pytest.mark.parametrize("report_to", ["tensorboard", "wandb"])
def test_sft_and_grpo_report_to_trackers_offline(smoke_models, tmp_path, monkeypatch, report_to):
    """report_to tensorboard: event files with the steps' scalars, for SFT (the trainer's) and GRPO (ours); wandb in
    offline mode: a run file each, nothing sent."""
    from vauflow.grpo.loop import train as grpo_train
    from vauflow.plan import sft_params
    from vauflow.sft.train import train as sft_train

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wandb"))
    monkeypatch.setenv("WANDB_SILENT", "true")
    (tmp_path / "wandb").mkdir()
    base = smoke_models / "resources/models/tiny"
    data = {"vau": smoke_models / "results/vaubench/linked", "ball": smoke_models / "results/ball/linked"}
    budget = smoke_config()["frames"]["budgets"]["train"]
    grpo_train(
        "qa",
        ["qa"],
        base,
        data,
        tmp_path / "grpo",
        tmp_path / "grpo-ckpt",
        tiny_params(max_steps=2, report_to=report_to),
        budget,
    )
    sft_train(
        "qa",
        ["qa"],
        base,
        data,
        tmp_path / "sft",
        tmp_path / "sft-ckpt",
        sft_params(smoke_config(), "qa") | {"max_steps": 2, "log_steps": 1, "report_to": report_to},
        budget,
    )
    if report_to == "tensorboard":
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

        for stage, tag in (("grpo", "train/reward"), ("sft", "train/loss")):
            events = sorted((tmp_path / f"{stage}-ckpt").rglob("events.out.tfevents.*"))
            assert events, stage
            acc = EventAccumulator(str(events[-1].parent))
            acc.Reload()
            assert [e.step for e in acc.Scalars(tag)] == [1, 2], (stage, acc.Tags())
    else:
        runs = sorted((tmp_path / "wandb").rglob("offline-run-*/run-*.wandb"))
        assert len(runs) == 2, runs  # GRPO's and SFT's


def training_command(stage, smoke_models, tmp_path, params):
    data = ["--vau-data", smoke_models / "results/vaubench/linked", "--ball-data", smoke_models / "results/ball/linked"]
    model = ["--init", smoke_models / "resources/models/tiny"]
    return [
        VENV_BIN / "vauflow",
        stage,
        "--run",
        "qa",
        "--tasks",
        "qa",
        *model,
        *data,
        "--out",
        tmp_path / "out",
        "--checkpoints",
        tmp_path / "ckpt",
        "--params",
        json.dumps(params),
        "--budget",
        json.dumps(smoke_config()["frames"]["budgets"]["train"]),
    ]


@pytest.mark.parametrize("stage", ["grpo", "sft"])
def test_saves_and_stops_before_the_time_limit_then_resumes(smoke_models, tmp_path, stage):
    """Near the SLURM job's end (SLURM_JOB_END_TIME closer than VAUFLOW_SAVE_MARGIN_S plus two steps) or on SIGUSR1,
    SFT and GRPO save a checkpoint at the step they are at (not a save_steps multiple) and exit 75; the next attempt
    resumes from it and finishes."""
    import subprocess

    from vauflow.plan import sft_params

    from conftest import env

    if stage == "grpo":
        params = tiny_params(max_steps=150, save_steps=100, log_steps=1)
    else:
        params = sft_params(smoke_config(), "qa") | {"max_steps": 150, "save_steps": 100, "log_steps": 1}
    cmd = list(map(str, training_command(stage, smoke_models, tmp_path, params)))
    # the time limit: the end is 20 s away, the margin 15 s: it saves after a step or a few
    limit = env() | {"SLURM_JOB_END_TIME": str(int(time.time()) + 20), "VAUFLOW_SAVE_MARGIN_S": "15"}
    p = subprocess.run(cmd, env=limit, capture_output=True, text=True, timeout=300)
    assert p.returncode == 75, p.stderr[-2000:]
    step = int(re.search(r"saved checkpoint-(\d+) of 150 \(time limit\)", p.stderr).group(1))
    assert 0 < step < 100 and any((tmp_path / "ckpt").rglob(f"checkpoint-{step}/.complete"))
    # SIGUSR1 (SLURM's --signal, or by hand): saved at the step it is at, after the stacks are printed
    proc = subprocess.Popen(
        cmd, env=env() | {"PYTHONUNBUFFERED": "1"}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    logged = 0
    for line in proc.stdout:  # a few steps after the resumed one
        logged += line.startswith(("grpo {", "{'loss'"))
        if logged == 3:
            break
    proc.send_signal(signal.SIGUSR1)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 75, err[-2000:]
    again = int(re.search(r"saved checkpoint-(\d+) of 150 \(SIGUSR1\)", err).group(1))
    assert step < again < 150 and "most recent call first" in err  # the stacks are still printed
    # the next attempt resumes and finishes
    p = subprocess.run(cmd, env=env(), capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    assert f"checkpoint-{again}" in p.stdout and (tmp_path / "out/manifest.json").exists()
