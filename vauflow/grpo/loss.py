"""GRPO math (spec vau-r1.md §5), small and testable on its own."""

import torch


def group_advantages(rewards, group_size, eps=1e-4):
    """(r - mean_group) / (std_group + eps), unbiased std as upstream; also the fraction of zero-std groups."""
    r = torch.as_tensor(rewards, dtype=torch.float32).view(-1, group_size)
    mean, std = r.mean(1, keepdim=True), r.std(1, keepdim=True, unbiased=True) if group_size > 1 else r * 0
    adv = ((r - mean) / (std + eps)).view(-1)
    return adv, float((std.view(-1) < 1e-6).float().mean())


def k3_kl(logp, ref_logp):
    """Per-token k3 estimator of KL(policy || reference): exp(ref - logp) - (ref - logp) - 1 >= 0."""
    d = ref_logp - logp
    return torch.exp(d) - d - 1


def policy_loss(
    logp,
    old_logp,
    ref_logp,
    advantages,
    mask,
    beta,
    epsilon,
    loss_type,
    max_completion_length,
    rows_total=None,
    tokens_total=None,
):
    """Clipped surrogate + beta * k3 KL, aggregated as `loss_type`:
    grpo = mean over sequences of the per-sequence token mean (upstream; length-biased);
    dapo = token mean over the step (TRL: the active tokens of the whole accumulated batch);
    dr_grpo = token sum / (sequences x max_completion_length).
    `rows_total` / `tokens_total`: the whole step's sequences and completion tokens, when these rows are one chunk
    of it (the chunks' losses then add up to the step's); by default these rows are the whole step.
    Returns (loss, summed KL over the masked tokens)."""
    ratio = torch.exp(logp - old_logp)
    adv = advantages.unsqueeze(1)
    per_token = -torch.min(ratio * adv, torch.clamp(ratio, 1 - epsilon, 1 + epsilon) * adv)
    kl = k3_kl(logp, ref_logp) if beta else torch.zeros_like(logp)
    per_token = per_token + beta * kl
    mask = mask.to(per_token.dtype)
    if loss_type == "grpo":
        per_row = (per_token * mask).sum(1) / mask.sum(1).clamp(min=1)
        loss = per_row.mean() if rows_total is None else per_row.sum() / rows_total
    elif loss_type == "dapo":
        loss = (per_token * mask).sum() / (mask.sum().clamp(min=1) if tokens_total is None else max(1, tokens_total))
    elif loss_type == "dr_grpo":
        loss = (per_token * mask).sum() / (
            (mask.shape[0] if rows_total is None else rows_total) * max_completion_length
        )
    else:
        raise ValueError(f"loss_type {loss_type!r}: expected grpo, dapo or dr_grpo")
    return loss, float((kl.detach() * mask).sum())
