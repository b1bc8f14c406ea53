"""`make gpu-smoke`: the GPU path at the paper's scale in one script, for a bare GPU machine (Python, torch,
torchvision, transformers, peft, accelerate, tokenizers; no Snakemake, TRL, PyAV or DeepSpeed, no network).

A randomly initialised model of Qwen2.5-VL-3B's shape (vauflow.plan.memory.KNOWN) with fp32 masters under bf16 autocast
(the trainers' contract); a frame cache of a few synthetic clips written directly (no decoder needed) and QA rows
over them; then, each through the workflow's own code:
- two SFT steps (the trainers' completion loss, `labelled_logps`, and fused AdamW: TRL is not needed for a step);
- two GRPO steps of vauflow.grpo.loop.GRPO at the paper preset's GRPO settings (G = 4, 1,024 new tokens);
  the second step of each holds AdamW's moments, as every later one;
- one evaluation batch in bf16 (clips of different lengths: padded), batched against one by one (agreement of the
  greedy token ids);
and per stage: device, dtype, peak memory (torch.cuda.max_memory_allocated), seconds, and the memory plan's peak for
the same workload (vauflow.plan.memory) with its ratio to the measured one (goal: within 25 %).
Prints one JSON object (and writes it to --out); exits 1 when the plan misses a measured peak by more than 25 %.
Without CUDA: `skipped: no CUDA device`, exit 0; `--cpu` runs the
same path on the CPU at a toy scale (the suite's check that this script works)."""

import argparse
import contextlib
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from vauflow.bases.tokenizer import SPECIAL_TOKENS, train_tokenizer  # noqa: E402
from vauflow.plan import memory  # noqa: E402

# Qwen's chat format (system default, user turn with the video placeholder, generation prompt); the workflow's own
# builds read TRL's copy of it, which this machine may not have
CHAT_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}<|im_start|>system\n"
    "You are a helpful assistant.<|im_end|>\n{% endif %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n{% else %}"
    "{% for content in message['content'] %}{% if content['type'] == 'video' %}"
    "<|vision_start|><|video_pad|><|vision_end|>{% elif 'text' in content %}{{ content['text'] }}{% endif %}"
    "{% endfor %}<|im_end|>\n{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
QUESTION = "What is the key event observed in the video?"
OPTIONS = [
    "Two vehicles collide",
    "A person snatches a bag and runs off",
    "Flames flare up and flicker",
    "Nothing unusual happens; the scene stays normal",
]


def schema_defaults(node):
    """The defaults a JSON-schema node declares, nested objects filled (vauflow.config validates with jsonschema,
    which the GPU image lacks: the paper preset is read here with PyYAML alone)."""
    if node.get("type") == "object" and "properties" in node:
        out = dict(node.get("default") or {})
        for key, sub in node["properties"].items():
            value = schema_defaults(sub)
            if value is not None or "default" in sub:  # an explicit null default is a value (max_target_tokens)
                out[key] = value if not isinstance(value, dict) else value | out.get(key, {})
        return out
    return node.get("default")


def paper_settings():
    """(SFT and GRPO settings of the paper preset's qa runs, its training frame budget): the schema's defaults, the
    preset's sections, their per-run qa overrides (what vauflow.settings.sft_params / grpo_params compose)."""
    import yaml

    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())["properties"]
    preset = yaml.safe_load((REPO / "presets/paper.yaml").read_text())
    carried = {
        "attn_implementation": preset["model"]["attn_implementation"],
        "dtype": preset["model"]["dtype"],
        "seed": 0,
    }

    def stage(name, runs, overrides):
        section = schema_defaults(schema[name])
        for key, value in preset[name].items():
            section[key] = section.get(key, {}) | value if isinstance(value, dict) and key == "lora" else value
        for key, value in preset[name].get(overrides, {}).get("qa", {}).items():
            section[key] = section.get(key, {}) | value if isinstance(value, dict) and key == "lora" else value
        return {k: v for k, v in section.items() if k not in (runs, overrides)} | carried

    # the paper's budgets are the schema's defaults (the preset may override them)
    budgets = schema_defaults(schema["frames"])["budgets"] | preset["frames"].get("budgets", {})
    return stage("sft", "tasks", "per_task"), stage("grpo", "runs", "per_run"), budgets["train"]


@dataclasses.dataclass(frozen=True)
class Scale:
    arch: memory.Architecture
    new_tokens: int  # GRPO completion length
    clips: int
    frames: int  # stored frames per clip, at 4 fps
    side: int  # stored frame side, pixels
    eval_rows: int
    eval_tokens: int


GPU = Scale(
    memory.KNOWN["Qwen/Qwen2.5-VL-3B-Instruct"],
    new_tokens=1024,
    clips=4,
    frames=64,
    side=448,
    eval_rows=4,
    eval_tokens=64,
)
TOY = Scale(
    memory.Architecture("qwen2_5_vl", 64, 128, 2, 4, 2, 2048, False, 2, 64, 128, 4),
    new_tokens=16,
    clips=4,
    frames=16,
    side=56,
    eval_rows=4,
    eval_tokens=8,
)


def build_model(scale, out, device):
    """Tokenizer, processor and a random model of `scale.arch`, saved in bf16 (training loads fp32 masters)."""
    import transformers
    from transformers import Qwen2VLImageProcessor, Qwen2VLVideoProcessor

    corpus = [QUESTION, *OPTIONS, "<answer>A</answer>", "<think>The ball moves.</think>"] * 4
    tok = train_tokenizer(corpus, 512, template=CHAT_TEMPLATE)
    ids = {t: tok.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    config = scale.arch.config(
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
    )
    for key, token in (
        ("bos_token_id", "<|endoftext|>"),
        ("eos_token_id", "<|im_end|>"),
        ("pad_token_id", "<|endoftext|>"),
    ):
        setattr(config.text_config, key, ids[token])
    torch.manual_seed(0)
    with torch.device(device):
        model = transformers.Qwen2_5_VLForConditionalGeneration(config)
    model.to(torch.bfloat16).save_pretrained(out)
    del model
    processor = transformers.Qwen2_5_VLProcessor(
        image_processor=Qwen2VLImageProcessor(),
        tokenizer=tok,
        video_processor=Qwen2VLVideoProcessor(
            size={"shortest_edge": 3136, "longest_edge": 602112}, cap_pixels_per_frame=True
        ),
        chat_template=CHAT_TEMPLATE,
    )
    processor.save_pretrained(out)
    (Path(out) / "vauflow_model.json").write_text(
        json.dumps(
            {
                "class": "Qwen2_5_VLForConditionalGeneration",
                "processor": "Qwen2_5_VLProcessor",
                "family": "qwen2_5_vl",
                "source": "gpu-smoke",
            }
        )
    )
    return Path(out)


def build_rows(scale, root):
    """A frame-cache shard of synthetic clips (a moving square) and one QA row per clip."""
    shard = Path(root) / "frames" / "smoke" / "shard-0"
    (shard / "frames").mkdir(parents=True)
    rng = np.random.default_rng(0)
    index, rows, fps = {}, [], 4.0
    for k in range(scale.clips):
        n = scale.frames - scale.frames // 8 * k  # clips of different lengths: a batch of them is padded
        frames = np.full((n, scale.side, scale.side, 3), 40, np.uint8)
        for t in range(n):
            x = (t * scale.side // n + 7 * k) % (scale.side - 8)
            frames[t, 8 : 16 + k, x : x + 8] = 220
        frames += rng.integers(0, 8, frames.shape, dtype=np.uint8)
        key = f"clip{k:02d}"
        np.save(shard / "frames" / f"{key}.npy", frames)
        index[f"{key}.mp4"] = {
            "key": key,
            "storage": "raw",
            "fps": fps,
            "total_frames": n,
            "indices": list(range(n)),
            "times": [t / fps for t in range(n)],
            "native_hw": [scale.side, scale.side],
            "duration": n / fps,
        }
        rows.append(
            {
                "id": f"train/{key}",
                "dataset": "smoke",
                "video": f"{key}.mp4",
                "video_name": f"{key}.mp4",
                "split": "train",
                "task": "qa",
                "target": "think",
                "question": QUESTION + " " * k,
                "options": OPTIONS,
                "answer": "ABCD"[k % 4],
                "correct_option": "ABCD"[k % 4],
                "full_text_option": False,
                "start": 0.0,
                "end": 1.0,
                "rationale": "A square moves across the scene.",
                "frames": {"shard": str(shard), "key": key, "fps": fps, "total_frames": n, "duration": n / fps},
            }
        )
    (shard / "index.json").write_text(json.dumps(index))
    (shard / "summary.json").write_text(json.dumps({"dataset": "smoke", "videos_dir": str(root)}))
    (shard / "quarantine.jsonl").write_text("")
    return rows


class Meter:
    """Seconds and peak device memory of a block (CUDA's allocator statistics; None on the CPU)."""

    def __init__(self, device):
        self.device, self.figures = device, {}

    @contextlib.contextmanager
    def measure(self, name):
        cuda = self.device == "cuda"
        if cuda:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        yield
        if cuda:
            torch.cuda.synchronize()
        self.figures[name] = {
            "seconds": round(time.perf_counter() - t0, 2),
            "peak_gb": round(torch.cuda.max_memory_allocated() / 1e9, 2) if cuda else None,
        }


def free(device):
    import gc

    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()


def plan_ratio(figures, stage, arch, params, work):
    phases = (
        memory.inference_job(arch, params["dtype"], work, params["attn_implementation"])
        if stage == "eval"
        else memory.training_job(arch, params, work, stage)
    )
    planned, phase, _ = memory.peak(phases)
    figures["planned_gb"] = round(planned / 1e9, 2)
    figures["planned_phase"] = phase
    if figures["peak_gb"]:
        figures["plan_ratio"] = round(planned / 1e9 / figures["peak_gb"], 3)
        figures["plan_within_25pct"] = abs(figures["plan_ratio"] - 1) <= 0.25


def sft_step(model_dir, rows, params, budget, device, meter):
    from vauflow.examples import frame_cache
    from vauflow.frames.budget import VideoBudget
    from vauflow.model.generation import compute
    from vauflow.model.load import load_processor
    from vauflow.model.logprobs import labelled_logps
    from vauflow.sft.train import Collator, prepare_model

    processor = load_processor(model_dir)
    collate = Collator(rows, processor, frame_cache(rows), VideoBudget.from_dict(budget))
    with meter.measure("sft"):
        model, _ = prepare_model(model_dir, params)
        model.to(device).train()
        if params["gradient_checkpointing"]:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        opt = torch.optim.AdamW(
            [p for p in model.parameters() if p.requires_grad],
            lr=params["learning_rate"],
            fused=device == "cuda" or None,
        )
        batch = {k: v.to(device) for k, v in collate([{"row": 0}]).items()}
        for _ in range(2):  # the second step holds AdamW's moments, as every later one
            t0 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            with compute(device, params["dtype"]):
                logps, mask = labelled_logps(model, batch)
            loss = -logps.sum() / mask.sum()
            loss.backward()
            opt.step()
            step_s = time.perf_counter() - t0
    completion = int(mask.sum())
    visual = int(batch["video_grid_thw"][0].prod()) // 4
    work = memory.Workload(
        rows=1,
        visual=visual,
        text=batch["input_ids"].shape[1] - visual - completion,
        completion=completion,
        videos_per_pass=1,
    )
    loss = float(loss)
    del model, opt, logps, mask
    free(device)
    return step_s, work, loss


def grpo_step(model_dir, rows, params, budget, device, meter):
    from vauflow.examples import example
    from vauflow.grpo.loop import GRPO
    from vauflow.model.inputs import build_inputs

    with meter.measure("grpo"):
        trainer = GRPO(model_dir, rows, params, budget, params["seed"])
        for step in range(2):  # the second step holds AdamW's moments, as every later one
            t0 = time.perf_counter()
            log = trainer.train_step(step)
            step_s = time.perf_counter() - t0
    batch = build_inputs(trainer.processor, [example(trainer.prompts_for(0)[0], trainer.cache, trainer.budget)])
    visual = int(batch["video_grid_thw"][0].prod()) // 4
    work = memory.Workload(
        rows=params["num_generations"],
        visual=visual,
        text=batch["input_ids"].shape[1] - visual,
        completion=params["max_completion_length"],
        videos_per_pass=1,
    )
    del trainer
    free(device)  # the trainer's compute lambda refers back to it: a cycle only the collector frees
    return step_s, work, log


def eval_batch(model_dir, rows, budget, scale, device, meter):
    from vauflow.evaluate.predict import generate
    from vauflow.examples import example, frame_cache
    from vauflow.frames.budget import VideoBudget
    from vauflow.model.inputs import build_inputs
    from vauflow.model.load import load_model, load_processor

    processor = load_processor(model_dir)
    cache, b = frame_cache(rows), VideoBudget.from_dict(budget)
    examples = [example(r, cache, b) for r in rows[: scale.eval_rows]]
    with meter.measure("eval"):
        model, _ = load_model(model_dir, dtype="bfloat16" if device == "cuda" else "float32", device=device)
        model.eval()
        with torch.no_grad():  # token ids: a random model's ids mostly decode to nothing
            batched = generate(model, processor, examples, scale.eval_tokens, token_ids=True)
            alone = [generate(model, processor, [e], scale.eval_tokens, token_ids=True)[0] for e in examples]
    batch = build_inputs(processor, examples)
    visual = max(int(g.prod()) // 4 for g in batch["video_grid_thw"])
    work = memory.Workload(
        rows=len(examples),
        visual=visual,
        text=batch["input_ids"].shape[1] - visual,
        completion=scale.eval_tokens,
        videos_per_pass=len(examples),
    )
    del model
    free(device)
    return sum(a == b for a, b in zip(batched, alone)) / len(examples), work


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cpu", action="store_true", help="the same path on the CPU at a toy scale")
    ap.add_argument("--out", default=None, help="also write the JSON here")
    a = ap.parse_args(argv)
    if not a.cpu and not torch.cuda.is_available():
        print("skipped: no CUDA device")
        return 0
    device, scale = ("cpu", TOY) if a.cpu else ("cuda", GPU)
    paper_sft, paper, budget = paper_settings()
    t_start = time.perf_counter()
    meter = Meter(device)
    with tempfile.TemporaryDirectory() as tmp:
        with meter.measure("setup"):
            model_dir = build_model(scale, Path(tmp) / "model", device)
            rows = build_rows(scale, tmp)
        common = {"dtype": "bfloat16", "attn_implementation": "sdpa", "gradient_checkpointing": True, "seed": 0}
        sft_params = paper_sft | common  # full fine-tuning at 2e-5, as the paper's SFT
        sft_s, sft_work, sft_loss = sft_step(model_dir, rows, sft_params, budget, device, meter)
        # the paper preset's GRPO, one step of one prompt
        params = (
            paper
            | common
            | {
                "max_steps": 1,
                "effective_batch": 1,
                "per_device_batch": 1,
                "max_completion_length": scale.new_tokens,
                "datasets": {},
                "report_to": [],
            }
        )
        grpo_s, grpo_work, grpo_log = grpo_step(model_dir, rows, params, budget, device, meter)
        agreement, eval_work = eval_batch(model_dir, rows, budget, scale, device, meter)
    figures = meter.figures
    figures["sft"] |= {"step_seconds": round(sft_s, 2), "loss": round(sft_loss, 3), "tokens": sft_work.sequence}
    plan_ratio(figures["sft"], "sft", scale.arch, sft_params, sft_work)
    figures["grpo"] |= {
        "step_seconds": round(grpo_s, 2),
        "generations": params["num_generations"],
        "max_completion_length": params["max_completion_length"],
        "completion_length": grpo_log.get("completion_length"),
        "tokens": grpo_work.sequence,
    }
    plan_ratio(figures["grpo"], "grpo", scale.arch, params, grpo_work)
    figures["eval"] |= {
        "rows": scale.eval_rows,
        "new_tokens": scale.eval_tokens,
        "batched_vs_one_by_one_agreement": agreement,
    }
    plan_ratio(figures["eval"], "eval", scale.arch, params, eval_work)
    out = {
        "device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu",
        "dtype": "bfloat16",
        "torch": torch.__version__,
        "parameters": scale.arch.total(),
        "stages": figures,
        "total_seconds": round(time.perf_counter() - t_start, 1),
    }
    text = json.dumps(out, indent=1)
    print(text)
    if a.out:
        Path(a.out).write_text(text + "\n")
    missed = [k for k, f in figures.items() if f.get("plan_within_25pct") is False]
    if missed:
        print(f"gpu-smoke: the memory plan is off by more than 25 % for {', '.join(missed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
