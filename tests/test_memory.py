"""The memory plan (vauflow.plan.memory) against what does not share its mechanism: the real classes' parameters on the
meta device, and the peak of torch.profiler's memory events over real SFT and GRPO steps on CPU."""

import dataclasses
import json
import shutil

import pytest
import torch

from vauflow.examples import run_rows
from vauflow.plan import eval_models, grpo_params, grpo_runs, load_config, memory, sft_params, sft_runs

from conftest import REPO, smoke_config, snakemake, vauflow

TOLERANCE = 0.25


def real_class(arch):
    import transformers

    return (
        transformers.Qwen2_5_VLForConditionalGeneration
        if arch.family == "qwen2_5_vl"
        else transformers.Qwen2VLForConditionalGeneration
    )


def test_parameter_counts_match_the_real_classes_on_the_meta_device(smoke_models):
    archs = dict(memory.KNOWN)
    for name in ("tiny", "tiny-qwen2vl"):
        cfg = json.loads((smoke_models / "resources/models" / name / "config.json").read_text())
        archs[name] = memory.Architecture.from_config(cfg)
    for name, arch in archs.items():
        with torch.device("meta"):
            model = real_class(arch)(arch.config())
        groups = {}
        for n, p in model.named_parameters():
            group = (
                "lm_head"
                if n.startswith("lm_head")
                else "embed_tokens"
                if "embed_tokens" in n
                else "merger"
                if ".merger." in n
                else "vision_blocks"
                if ".visual." in n
                else "text_layers"
            )
            groups[group] = groups.get(group, 0) + p.numel()
        assert groups == {k: v for k, v in arch.parameters().items() if v}, name
    # the published sizes
    assert round(archs["Qwen/Qwen2.5-VL-3B-Instruct"].total() / 1e9, 2) == 3.75
    assert round(archs["Qwen/Qwen2.5-VL-7B-Instruct"].total() / 1e9, 2) == 8.29
    assert round(archs["Qwen/Qwen2-VL-2B-Instruct"].total() / 1e9, 2) == 2.21


# -- the plan against profiled peaks ------------------------------------------------------------------------------
def profiled_peak(prof):
    """The peak of the running sum of the profiler's allocation events since it started. A free of memory allocated
    before (a previous test's model, collected now) is not counted: it would lower the sum below what is live."""

    def walk(nodes):
        for node in nodes:
            yield node
            yield from walk(node.children)

    events = sorted(
        (n.start_time_ns, n.extra_fields.ptr, n.extra_fields.alloc_size)
        for n in walk(prof.profiler.kineto_results.experimental_event_tree())
        if type(n.extra_fields).__name__ == "_ExtraFields_Allocation"
    )
    sizes, live, peak = {}, 0, 0
    for _, ptr, nbytes in events:
        if nbytes > 0:
            sizes[ptr] = nbytes
        elif sizes.pop(ptr, None) is None:
            continue
        live += nbytes
        peak = max(peak, live)
    return peak


def new_profiler():
    from torch.profiler import ProfilerActivity, profile

    return profile(activities=[ProfilerActivity.CPU], profile_memory=True)


def video_sizes(batch, completion_tokens):
    """(visual tokens of the first video, text tokens) of a model-input batch."""
    visual = int(batch["video_grid_thw"][0].prod()) // 4
    return visual, batch["input_ids"].shape[1] - visual - completion_tokens


def measure_grpo(model_dir, smoke_models, params):
    from vauflow.examples import example
    from vauflow.grpo.loop import GRPO
    from vauflow.model.inputs import build_inputs

    data = {"vau": smoke_models / "results/vaubench/linked", "ball": smoke_models / "results/ball/linked"}
    rows, _ = run_rows(["qa"], data, params["datasets"], params["target"])
    prof = new_profiler()
    with prof:  # from the model load on: everything the job allocates is in the events
        trainer = GRPO(model_dir, rows, params, smoke_config()["frames"]["budgets"]["train"], params["seed"])
        for step in range(2):  # the second step runs with AdamW's moments allocated, as every later one
            trainer.train_step(step)
    batch = build_inputs(trainer.processor, [example(trainer.prompts_for(0)[0], trainer.cache, trainer.budget)])
    visual, text = video_sizes(batch, 0)
    work = memory.Workload(
        rows=params["num_generations"] * params["per_device_batch"],
        visual=visual,
        text=text,
        completion=params["max_completion_length"],
        videos_per_pass=params["per_device_batch"],
    )
    return profiled_peak(prof), work


def measure_sft(model_dir, smoke_models, params, tmp_path):
    from transformers import TrainerCallback

    from vauflow.examples import frame_cache
    from vauflow.frames.budget import VideoBudget
    from vauflow.model.load import load_processor
    from vauflow.sft.train import Collator, train

    data = {"vau": smoke_models / "results/vaubench/linked", "ball": smoke_models / "results/ball/linked"}
    budget = smoke_config()["frames"]["budgets"]["train"]
    prof = new_profiler()

    class StopAtTheEnd(TrainerCallback):  # the steps, not the export after them
        def on_train_end(self, *args, **kw):
            prof.stop()

    prof.start()
    train(
        "qa", ["qa"], model_dir, data, tmp_path / "out", tmp_path / "ckpt", params, budget, callbacks=[StopAtTheEnd()]
    )
    rows, _ = run_rows(["qa"], data, params["datasets"], params["target"])
    collate = Collator(rows, load_processor(model_dir), frame_cache(rows), VideoBudget.from_dict(budget))
    batch = collate([{"row": i} for i in range(len(rows))])
    completion = int((batch["labels"] != -100).sum(-1).max())
    visual, text = video_sizes(batch, completion)
    work = memory.Workload(
        rows=params["per_device_batch"],
        visual=visual,
        text=text,
        completion=completion,
        videos_per_pass=params["per_device_batch"],
    )
    return profiled_peak(prof), work


def grpo_case(**over):
    return (
        grpo_params(smoke_config(), "qa")
        | {
            "num_generations": 4,
            "effective_batch": 1,
            "per_device_batch": 1,
            "max_completion_length": 16,
            "max_steps": 2,
            "beta": 0.04,
            "method": "full",
        }
        | over
    )


def sft_case(**over):
    return (
        sft_params(smoke_config(), "qa")
        | {"method": "full", "max_steps": 2, "save_steps": 100, "effective_batch": 2, "per_device_batch": 2}
        | over
    )


def compare(stage, model_dir, smoke_models, params, tmp_path, monkeypatch, plan_device="cpu"):
    """(plan / measured peak, ...). `plan_device` cuda: the optimizer as on a GPU (fused: no temporaries)."""
    import gc

    import vauflow.model.inputs

    gc.collect()  # what earlier tests left
    # the processed-clip memo is host memory (a GPU job keeps it in RAM): off, so that the CPU's events count only
    # what a GPU would hold
    monkeypatch.setattr(vauflow.model.inputs.VIDEO_MEMO, "max_bytes", 0)
    if stage == "grpo":
        measured, work = measure_grpo(model_dir, smoke_models, params)
    else:
        measured, work = measure_sft(model_dir, smoke_models, params, tmp_path)
    gc.collect()  # the trainer (a reference cycle) before the next test
    arch = memory.Architecture.from_config(json.loads((model_dir / "config.json").read_text()))
    planned, phase, terms = memory.peak(memory.training_job(arch, params, work, stage, device=plan_device))
    print(
        f"\n{stage} {arch.total():,} parameters, {work}: measured {measured / 2**20:.1f} MiB, planned "
        f"{planned / 2**20:.1f} MiB ({phase}), ratio {planned / measured:.3f}"
    )
    return planned / measured, arch, work, measured


TINY_CASES = {
    "grpo-fp32": ("grpo", grpo_case()),
    "grpo-bf16-checkpointing": ("grpo", grpo_case(dtype="bfloat16", gradient_checkpointing=True)),
    "grpo-lora": ("grpo", grpo_case(method="lora")),
    "grpo-chunked": ("grpo", grpo_case(logprob_chunk=1)),
    "sft-fp32": ("sft", sft_case()),
    "sft-bf16-checkpointing-tower": (
        "sft",
        sft_case(dtype="bfloat16", gradient_checkpointing=True, freeze_vision=False),
    ),
}


@pytest.mark.parametrize("case", TINY_CASES)
def test_plan_is_within_a_quarter_of_the_profiled_peak_tiny(smoke_models, tmp_path, monkeypatch, case):
    stage, params = TINY_CASES[case]
    ratio, arch, work, measured = compare(
        stage, smoke_models / "resources/models/tiny", smoke_models, params, tmp_path, monkeypatch
    )
    assert abs(ratio - 1) <= TOLERANCE
    if case == "grpo-fp32":  # the control: parameters x 16 bytes (+ the reference), the rule of thumb, misses
        naive = arch.total() * (16 + 4)
        assert abs(naive / measured - 1) > TOLERANCE


@pytest.fixture(scope="module")
def width_3b(smoke_models, tmp_path_factory):
    """Two decoder layers and two vision blocks at Qwen2.5-VL-3B's real widths (hidden 2048, MLP 11008, vocabulary
    151,936, tied embeddings; tower 1280/3420), random weights, the tiny model's tokenizer and processor."""

    tiny = smoke_models / "resources/models/tiny"
    out = tmp_path_factory.mktemp("width-3b")
    cfg = json.loads((tiny / "config.json").read_text())
    arch = dataclasses.replace(memory.KNOWN["Qwen/Qwen2.5-VL-3B-Instruct"], layers=2, v_depth=2)
    config = arch.config(
        **{k: cfg[k] for k in ("image_token_id", "video_token_id", "vision_start_token_id", "vision_end_token_id")}
    )
    for k in ("bos_token_id", "eos_token_id", "pad_token_id"):
        setattr(config.text_config, k, cfg["text_config"][k])
    torch.manual_seed(0)
    # fp32 on disk, as the masters it loads into: a bf16 file would be converted in transformers' loader threads,
    # whose allocations the profiler (thread-local) does not see
    real_class(arch)(config).save_pretrained(out)
    for f in tiny.iterdir():
        if f.is_file() and f.name not in ("config.json", "model.safetensors"):
            shutil.copy(f, out / f.name)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("case", ["grpo", "grpo-chunked-fused", "sft"])
def test_plan_is_within_a_quarter_of_the_profiled_peak_3b_widths(smoke_models, width_3b, tmp_path, monkeypatch, case):
    """Full fine-tuning in bf16 with fp32 masters and gradient checkpointing, as the paper preset: the weights,
    gradients, moments, reference, autocast cache, the tied embedding's gradient and AdamW's temporaries dominate.
    grpo-chunked-fused: the paper's one completion per log-prob pass with the GPU's fused AdamW, so the peak is where
    it is on a GPU (a later chunk's forward with the earlier chunks' gradients held), not the CPU's update."""
    over = {"dtype": "bfloat16", "gradient_checkpointing": True, "freeze_vision": False}
    plan_device = "cpu"
    if case == "grpo-chunked-fused":
        over["logprob_chunk"], plan_device = 1, "cuda"
        adamw = torch.optim.AdamW
        monkeypatch.setattr(torch.optim, "AdamW", lambda *a, **kw: adamw(*a, **(kw | {"fused": True})))
    params = grpo_case(**over) if case.startswith("grpo") else sft_case(**over)
    ratio, *_ = compare(case.split("-")[0], width_3b, smoke_models, params, tmp_path, monkeypatch, plan_device)
    assert abs(ratio - 1) <= TOLERANCE


# -- the plan of a config, the CLI and the DAG-time refusal -------------------------------------------------------
def test_memory_plan_of_the_paper_preset_covers_every_gpu_job():
    p = vauflow("memory", "--configfile", REPO / "presets/paper.yaml", "--gpu-gb", "80")
    plan = json.loads(p.stdout)
    config = load_config(REPO / "presets/paper.yaml")
    jobs = {(j["rule"], j["run"]): j for j in plan["jobs"]}
    expected = (
        {("sft", r) for r in sft_runs(config)}
        | {("grpo", r) for r in grpo_runs(config)}
        | {("evaluate", m) for m in eval_models(config)}
    )
    assert set(jobs) == expected
    qa = jobs[("grpo", "qa")]
    # the 3B's fp32 masters and two AdamW moments, by parameter count
    assert qa["terms_gb"]["weights (fp32 masters)"] == pytest.approx(3.754622976 * 4, abs=0.01)
    assert qa["terms_gb"]["AdamW moments"] == pytest.approx(3.754622976 * 8, abs=0.01)
    # data parallel, everything on the GPU: more than an 80-GB card, less than an H200
    assert not qa["fits"] and 80 < qa["needs_gb"] < 141
    # sharded over two GPUs (FSDP): it fits
    sharded = memory.plan_config(
        load_config(REPO / "presets/paper.yaml", overrides={"grpo": {"accelerate": "fsdp"}}), gpus={"grpo": 2}
    )
    assert next(j for j in sharded if j["run"] == "qa" and j["rule"] == "grpo")["needs_gb"] < 80
    p = vauflow("memory", "--configfile", REPO / "presets/paper.yaml", "--gpu-gb", "40", "--check", check=False)
    assert p.returncode == 1 and p.stderr.strip().count("\n") == 0 and "grpo.logprob_chunk" in p.stderr


def test_memory_plan_uses_a_fetched_models_config(smoke_models, tmp_path):
    """A model folder's config.json wins over the built-in table: a 2-layer '3B' plans far below the real one."""
    folder = tmp_path / "resources/models/qwen2.5-vl-3b"
    folder.mkdir(parents=True)
    cfg = dataclasses.replace(memory.KNOWN["Qwen/Qwen2.5-VL-3B-Instruct"], layers=2).config()
    (folder / "config.json").write_text(cfg.to_json_string())
    config = load_config(REPO / "presets/paper.yaml")
    small = memory.architecture(config, "qwen2.5-vl-3b", root=tmp_path)
    assert small.layers == 2 and memory.architecture(config, "qwen2.5-vl-3b", root=smoke_models).layers == 36


def test_dag_refuses_a_job_that_cannot_fit_in_one_line(tmp_path):
    shutil.copy(REPO / "config.yaml", tmp_path / "config.yaml")
    refused = snakemake(
        "-n",
        "--set-resources",
        "grpo:gpu_mem_gb=40",
        workdir=tmp_path,
        configfiles=[REPO / "presets/paper.yaml"],
        check=False,
    )
    last = refused.stderr.strip().splitlines()[-1]
    assert refused.returncode != 0 and last.startswith("vauflow: grpo qa: needs ~") and "gpu_mem_gb" in last
    fits = snakemake(
        "-n",
        "--set-resources",
        "grpo:gpu_mem_gb=141",
        "sft:gpu_mem_gb=40*attempt",
        workdir=tmp_path,
        configfiles=[REPO / "presets/paper.yaml"],
        check=False,
    )  # an H200; an expression of attempt
    assert fits.returncode == 0, fits.stderr[-2000:]


@pytest.mark.parametrize("report_to", ["none", "wandb"])
def test_jobs_skip_the_imports_they_would_not_use(report_to):
    """On a machine without an NVIDIA GPU a job never loads triton, and wandb only when its training reports to it
    (both are loaded by availability checks alone: transformers' and torch._dynamo's); what remains works. Control:
    without the CLI's setting, the same imports load triton here."""
    from conftest import run

    code = (
        "import sys, json; from vauflow.cli import without_unused_imports; import argparse;"
        "a = argparse.Namespace(params={'report_to': %r}, vauflow_command=argparse.Namespace(words=('sft',)));"
        "%s"
        "from transformers import Qwen2_5_VLForConditionalGeneration; from trl import SFTTrainer;"
        "from transformers.integrations import is_wandb_available;"
        "print(json.dumps({m: sys.modules.get(m, 0) is not None and m in sys.modules for m in ('triton', 'wandb')}"
        " | {'wandb_available': is_wandb_available()}))"
    )
    got = json.loads(run(["python", "-c", code % (report_to, "without_unused_imports(a);")]).stdout.splitlines()[-1])
    assert got["triton"] is False
    assert got["wandb_available"] is (report_to == "wandb" and got["wandb"])
    if report_to == "none":
        assert got["wandb"] is False
        plain = json.loads(run(["python", "-c", code % (report_to, "")]).stdout.splitlines()[-1])
        assert plain["triton"] is True and plain["wandb"] is True  # the control: the availability checks load them
