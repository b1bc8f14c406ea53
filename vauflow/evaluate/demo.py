"""`vauflow demo`: one video file through a model folder, printing the raw reply and the parsed answer. The file is
decoded directly (no frame cache), then goes through the one input builder like every other pass.

What the model is asked, and at which video budget, comes from the folder's manifest: a model trained here (SFT or
GRPO output) gets the prompt, target format and budget it was trained with, for its (first) task; any other folder
(a base or hub model) the paper's inference prompt and budget. --task, --think and --prompts override them."""

import json
from pathlib import Path

from vauflow import tasks
from vauflow.frames.budget import VideoBudget, paper_budgets
from vauflow.frames.cache import derive_clip
from vauflow.frames.extract import VideoRejected, extract_video
from vauflow.io import UsageError
from vauflow.tasks.reasoning import TURNS
from vauflow.tasks.task import chat


def trained_manifest(model_dir):
    """The training run's manifest (manifest.json of an SFT or GRPO output), or None for any other folder."""
    path = Path(model_dir) / "manifest.json"
    if not path.is_file():
        return None
    m = json.loads(path.read_text())
    return m if m.get("stage") in ("sft", "grpo") else None


def plan(model_dir, task=None, prompts=None, think=None, budget=None):
    """(task or None for free text, prompts 'training'|'paper', think, budget dict) for one demo run."""
    trained = trained_manifest(model_dir)
    if task is None and trained:
        task = next((t for t in trained["tasks"] if t in tasks.demo_tasks()), None)
    prompts = prompts or ("training" if trained else "paper")
    if think is None:
        think = bool(trained) and trained["params"].get("target") == "think"
    if budget is None:
        budget = (
            trained["budget"]
            if trained and prompts == "training"
            else paper_budgets()[tasks.get(task or "reasoning").budget].to_dict()
        )
    return task, prompts, think, budget


def parsed_answer(task, text):
    """The answer a metric would read from the reply: the ball's direction, the class, the interval."""
    return tasks.get(task).demo_answer(text) if task is not None else None


def messages(task, prompts, think, free_prompt):
    from vauflow.tasks.ball import LABELS

    if task is None:
        return chat(free_prompt or TURNS[0], video_first=True), False
    row = {"options": LABELS}  # the ball's fixed options; TAG and CLS prompts need no row
    if prompts == "training":
        return chat(tasks.get(task).prompt(row, "think" if think else "answer")), False
    return tasks.get(task).inference(row, think)


def demo(
    model_dir,
    video,
    budget=None,
    task=None,
    prompt=None,
    think=None,
    max_new_tokens=256,
    prompts=None,
    repetition_penalty=1.05,
):
    """{"task", "prompts", "think", "budget", "reply", "answer"} for one video."""
    from vauflow.evaluate.predict import generate
    from vauflow.model.inputs import Example
    from vauflow.model.load import load_model, load_processor

    task, prompts, think, budget = plan(model_dir, task, prompts, think, budget)
    vb = VideoBudget.from_dict(budget)
    try:
        frames, meta = extract_video(video, {"demo": vb})
    except (VideoRejected, FileNotFoundError, OSError) as e:
        raise UsageError(f"{video}: {e}") from None
    msgs, vision_id = messages(task, prompts, think, prompt)
    model, _ = load_model(model_dir)
    model.eval()
    clip = derive_clip(frames, meta, vb)
    reply = generate(
        model,
        load_processor(model_dir),
        [Example(msgs, clip, vision_id)],
        max_new_tokens,
        repetition_penalty=repetition_penalty,
    )[0]
    return {
        "task": task,
        "prompts": prompts,
        "think": think,
        "budget": budget,
        "reply": reply,
        "answer": parsed_answer(task, reply),
    }


def main(a):
    """`vauflow demo`."""
    out = demo(
        a.model,
        a.video,
        a.budget,
        task=a.task,
        prompt=a.prompt,
        think=a.think,
        max_new_tokens=a.max_new_tokens,
        prompts=a.prompts,
    )
    print(f"task: {out['task'] or 'free text'}; prompt: {out['prompts']}{' (think)' if out['think'] else ''}")
    print(f"reply: {out['reply']}")
    print(f"answer: {json.dumps(out['answer'])}")
