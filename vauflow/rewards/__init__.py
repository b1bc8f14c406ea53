"""Reward functions, TRL style: `f(completions, **columns) -> list[float]`, one small module per task.
Rewards of a task are summed with equal weights (spec §4). Columns come from the linked rows; `target`
("think" or "answer") picks the format a completion must follow."""

from vauflow.rewards import ball, cls, qa, tag

REWARDS = {
    "qa": [qa.format_reward, qa.answer_reward],
    "tag": [tag.format_reward, tag.iou_reward, tag.answer_reward],
    "cls": [cls.format_reward, cls.answer_reward],
    "ball": [ball.format_reward, ball.answer_reward],
}


def total_rewards(task, completions, **columns):
    """Per-completion sum of the task's rewards."""
    per_fn = [fn(completions, **columns) for fn in REWARDS[task]]
    return [sum(v) for v in zip(*per_fn)]
