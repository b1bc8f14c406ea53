"""Evaluation: batched greedy predictions through the one input builder, and the metrics (one module)."""
