"""`vauflow demo`: one video file through a model folder, the paper's way (video first), printing the reasoning and
the answer. The file is decoded directly (no frame cache) at an inference budget, then goes through the one input
builder like every other pass."""

import re

from vauflow.frames.budget import VideoBudget
from vauflow.frames.cache import derive_clip
from vauflow.frames.extract import VideoRejected, extract_video
from vauflow.io import UsageError
from vauflow.prompts import REASONING_TURNS, chat, inference_chat


def demo(model_dir, video, budget, task=None, prompt=None, think=False, max_new_tokens=256):
    """(reasoning or None, answer text) for one video."""
    from vauflow.evaluate.predict import generate
    from vauflow.model.inputs import Example
    from vauflow.model.load import load_model, load_processor

    vb = VideoBudget.from_dict(budget)
    try:
        frames, meta = extract_video(video, {"demo": vb})
    except (VideoRejected, FileNotFoundError, OSError) as e:
        raise UsageError(f"{video}: {e}") from None
    clip = derive_clip(frames, meta, vb)
    if task:
        messages, vision_id = inference_chat(task, {}, think)
    else:
        messages, vision_id = chat(prompt or REASONING_TURNS[0], video_first=True), False
    model, _ = load_model(model_dir)
    model.eval()
    text = generate(model, load_processor(model_dir), [Example(messages, clip, vision_id)], max_new_tokens)[0]
    m = re.search(r"<think>(.*?)</think>", text, re.S)
    answer = re.sub(r"<think>.*?</think>", "", text, flags=re.S).strip()
    return (m.group(1).strip() if m else None), answer
