"""GRPO: the math, the video in every pass (vision-tower hook), the stock-TRL canary, routing, resume."""

import json

import pytest
import torch

from conftest import smoke_config
from vauflow.config import grpo_params
from vauflow.grpo.loop import GRPO, rewards_for
from vauflow.grpo.loss import group_advantages, k3_kl, policy_loss
from vauflow.model.inputs import vision_token_ids
from vauflow.sft.data import run_rows


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
    p = grpo_params(smoke_config(), "qa") | {"num_generations": 2, "effective_batch": 2, "per_device_batch": 2,
                                             "max_completion_length": 6, "max_steps": 4, "save_steps": 2,
                                             "learning_rate": 1e-3, "beta": 0.04}
    return p | over


def make_trainer(smoke_models, tasks=("qa",), **over):
    p = tiny_params(**over)
    data = {"vau": smoke_models / "results/vaubench/linked", "ball": smoke_models / "results/ball/linked"}
    rows, _ = run_rows(list(tasks), data, p["datasets"], p["target"])
    return GRPO(smoke_models / "resources/models/tiny", rows, p, smoke_config()["frames"]["budgets"]["train"],
                p["seed"])


def test_video_reaches_generation_reference_and_policy(smoke_models):
    """A hook on the vision tower: per step one pass with grad (policy) and no-grad passes for the rollout and
    the reference log-probs, each on every completion's copy of the video."""
    trainer = make_trainer(smoke_models)
    calls = []
    visual = trainer.model.base_model.model.model.visual
    visual.register_forward_pre_hook(lambda m, args: calls.append((torch.is_grad_enabled(), args[0].shape[0])))
    trainer.train_step(0)
    grad = [n for g, n in calls if g]
    nograd = [n for g, n in calls if not g]
    assert len(grad) == 1 and len(nograd) == 2, calls  # policy; rollout prefill + reference
    assert grad[0] == nograd[0] == nograd[1] > 0  # the same G x P videos in every pass


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
    prompt = [{"role": "user", "content": [{"type": "video", "path": str(video)},
                                           {"type": "text", "text": "What happens?"}]}]
    ds = Dataset.from_list([{"prompt": prompt, "images": []}] * 2)
    calls = []
    model.model.visual.register_forward_pre_hook(lambda m, a: calls.append(torch.is_grad_enabled()))
    args = GRPOConfig(output_dir=str(tmp_path), per_device_train_batch_size=2, num_generations=2,
                      max_completion_length=4, max_steps=1, report_to="none", use_cpu=True, beta=0.04,
                      logging_steps=1, save_strategy="no", disable_tqdm=True)
    GRPOTrainer(model=model, reward_funcs=[lambda completions, **kw: [float(len(str(c))) for c in completions]],
                args=args, train_dataset=ds, processing_class=processor).train()
    assert calls and not any(calls), calls  # generation only, no grad: the loss never saw the video


def test_rewards_routed_by_each_rows_task():
    rows = [{"task": "qa", "answer": "A", "options": ["a", "b", "c", "d"], "target": "think"},
            {"task": "cls", "class": "Fire", "target": "think"}]
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
