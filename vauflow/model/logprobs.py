"""Log-probabilities of completion tokens, shared by SFT (loss) and GRPO (policy, reference and old passes).

Completions end every row (build_inputs pads on the left), so the model projects only the last (longest
completion + 1) positions through its LM head (`logits_to_keep`) instead of the whole sequence: on CPU with the
tiny model that is 4x cheaper than full logits and TRL's fused head alike (measured: 0.11 s vs 0.17-0.44 s per
forward+backward of 32 rows), and it goes through the top-level forward, so DDP and ZeRO hooks still run."""

import torch

from vauflow.model.inputs import model_inputs
from vauflow.model.vision import forward_inputs


def completion_logps(model, batch, n_completion, temperature=1.0, features=None):
    """Per-token log-probs of the last `n_completion` tokens of each row, shape (rows, n_completion), in fp32, of
    the distribution sampled at `temperature` (logits divided by it, as TRL does: the loss scores what was sampled).
    `features`: the rows' precomputed video features (vauflow.model.vision.shared_videos) instead of their pixels."""
    inputs = forward_inputs(model_inputs(batch), features)
    logits = model(**inputs, logits_to_keep=n_completion + 1, use_cache=False).logits
    logits = logits[:, :-1].float()
    if temperature != 1.0:
        logits = logits / temperature
    targets = batch["input_ids"][:, -n_completion:]
    return torch.log_softmax(logits, -1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)


def labelled_logps(model, batch):
    """(log-probs, mask) over the labelled tail of `batch` (labels -100 outside the completion)."""
    n = int((batch["labels"] != -100).sum(-1).max())
    mask = batch["labels"][:, -n:] != -100
    return completion_logps(model, batch, n) * mask, mask
