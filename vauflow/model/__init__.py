"""Running a model: load a model folder (ours or from elsewhere), build its inputs from cached frames (the one input
builder), log-probabilities, seeded generation, the vision tower once per prompt. Building and fetching the base
models is vauflow.bases'."""

# the Qwen2-VL / Qwen2.5-VL vocabulary's vision tokens (the tiny tokenizer has them too: vauflow.bases.tokenizer)
VISION_TOKENS = ["<|vision_start|>", "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>"]
