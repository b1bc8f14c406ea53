"""Supervised fine-tuning: data (rows → prompt + target) and training (TRL SFTTrainer, LoRA or full)."""
