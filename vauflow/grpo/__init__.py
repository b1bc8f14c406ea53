"""GRPO: our own loop (see loop.py for why not TRL's GRPOTrainer), rewards routed by each row's task."""
