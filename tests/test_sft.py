"""SFT: LoRA targets and counts, assistant-only labels, batch arithmetic, full fine-tuning, the GPU launcher."""

import json

import pytest
import torch

from vauflow.config import ConfigError
from vauflow.examples import example, frame_cache, load_rows, target
from vauflow.frames.budget import VideoBudget
from vauflow.io import UsageError
from vauflow.model.load import load_processor
from vauflow.plan import sft_params, validate_config
from vauflow.sft.train import Collator, prepare_model
from vauflow.training import count_trainable, grad_accum

from conftest import REPO, smoke_config, vauflow


def lora_formula(cfg, r, vocab):
    """LoRA parameters on q/k/v/o + gate/up/down of every text layer, plus a trainable lm_head copy."""
    t = cfg.text_config
    h, hd = t.hidden_size, t.hidden_size // t.num_attention_heads
    q, kv = t.num_attention_heads * hd, t.num_key_value_heads * hd
    per_layer = r * ((h + q) + 2 * (h + kv) + (q + h) + 2 * (h + t.intermediate_size) + (t.intermediate_size + h))
    return t.num_hidden_layers * per_layer + vocab * h


@pytest.mark.parametrize("name", ["tiny", "tiny-qwen2vl"])
def test_lora_targets_language_model_only(smoke_models, name, capsys):
    params = sft_params(smoke_config(), "qa")
    model, _ = prepare_model(smoke_models / "resources/models" / name, params)
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    assert names and all(".language_model." in n or "lm_head" in n for n in names)
    assert not any("visual" in n for n in names)
    cfg = model.base_model.model.config
    vocab = model.base_model.model.lm_head.weight.shape[0]
    assert count_trainable(model) == lora_formula(cfg, params["lora"]["r"], vocab)


def test_full_finetuning_trains_everything(smoke_models):
    params = sft_params(smoke_config(), "qa") | {"method": "full", "freeze_vision": False}
    model, _ = prepare_model(smoke_models / "resources/models/tiny", params)
    assert count_trainable(model) == sum(p.numel() for p in model.parameters())
    frozen, _ = prepare_model(smoke_models / "resources/models/tiny", params | {"freeze_vision": True})
    trainable = {n for n, p in frozen.named_parameters() if p.requires_grad}
    assert not any(n.startswith("model.visual.") and ".merger." not in n for n in trainable)
    assert any(".merger." in n for n in trainable) and any("language_model" in n for n in trainable)


@pytest.mark.parametrize("task", ["qa", "tag", "cls", "ball"])
def test_labels_cover_the_assistant_turn_only(smoke_models, task):
    cfg = smoke_config()
    base = smoke_models / "resources/models/tiny"
    processor = load_processor(base)
    data = smoke_models / ("results/ball/linked" if task == "ball" else "results/vaubench/linked")
    rows, _ = load_rows(task, data, "train", target="think")
    rows = rows[:3]
    collate = Collator(rows, processor, frame_cache(rows), VideoBudget.from_dict(cfg["frames"]["budgets"]["train"]))
    batch = collate([{"row": i} for i in range(len(rows))])
    tok = processor.tokenizer
    for i, row in enumerate(rows):
        labels = batch["labels"][i]
        supervised = labels[labels != -100]
        assert tok.decode(supervised) == target(row) + "<|im_end|>"
        assert target(row).startswith("<think>")
        # the supervised span is exactly the tail: nothing of the prompt, the video or padding
        n = len(supervised)
        assert (labels[:-n] == -100).all() and (labels[-n:] == batch["input_ids"][i][-n:]).all()
        # prompt + target tokens are what the chat template gives for the finished conversation
        ex = example(row, frame_cache(rows), VideoBudget.from_dict(cfg["frames"]["budgets"]["train"]))
        conv = ex.chat + [{"role": "assistant", "content": target(row)}]
        text = processor.apply_chat_template(conv, tokenize=False)
        video = batch["input_ids"][i] == processor.video_token_id
        ids = batch["input_ids"][i][batch["attention_mask"][i].bool() & ~video]
        assert tok.decode(ids).replace("<|video_pad|>", "") + "\n" == text.replace("<|video_pad|>", "")


def test_full_finetuning_run_exports_a_loadable_model(smoke_models, tmp_path):
    from safetensors.torch import load_file

    params = sft_params(smoke_config(), "cls") | {
        "method": "full",
        "freeze_vision": False,
        "max_steps": 2,
        "save_steps": 1,
        "learning_rate": 1e-3,
    }
    base = smoke_models / "resources/models/tiny"
    out = tmp_path / "sft_cls"
    p = vauflow(
        "sft",
        "--run",
        "cls",
        "--tasks",
        "cls",
        "--init",
        base,
        "--vau-data",
        smoke_models / "results/vaubench/linked",
        "--ball-data",
        smoke_models / "results/ball/linked",
        "--out",
        out,
        "--checkpoints",
        tmp_path / "ckpt",
        "--params",
        json.dumps(params),
        "--budget",
        json.dumps(smoke_config()["frames"]["budgets"]["train"]),
    )
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["steps"] == 2 and manifest["trainable_parameters"] == manifest["parameters_total"]
    assert f"trainable parameters {manifest['trainable_parameters']:,}" in p.stdout
    a, b = load_file(base / "model.safetensors"), load_file(out / "model.safetensors")
    assert a.keys() == b.keys() and all(not torch.equal(a[k], b[k]) for k in a if "lm_head" in k or "embed" in k)
    assert not (out / "adapter").exists()
    from vauflow.model.load import load_model

    load_model(out)


def test_killed_after_the_last_checkpoint_exports_it_without_another_step(smoke_models, tmp_path):
    """A kill between the last step's checkpoint and the export: the rerun exports that checkpoint, with the
    uninterrupted run's weights and step count (resuming through the Trainer would take a step past max_steps)."""
    params = sft_params(smoke_config(), "qa") | {"max_steps": 2, "save_steps": 1}
    args = [
        "sft",
        "--run",
        "qa",
        "--tasks",
        "qa",
        "--init",
        smoke_models / "resources/models/tiny",
        "--vau-data",
        smoke_models / "results/vaubench/linked",
        "--ball-data",
        smoke_models / "results/ball/linked",
        "--checkpoints",
        tmp_path / "ckpt",
        "--params",
        json.dumps(params),
        "--budget",
        json.dumps(smoke_config()["frames"]["budgets"]["train"]),
    ]
    vauflow(*args, "--out", tmp_path / "first")
    (last,) = tmp_path.glob("ckpt/run-*/checkpoint-2")
    for f in last.parent.glob("final/*"):  # as if killed before the final save and the export
        f.unlink()
    p = vauflow(*args, "--out", tmp_path / "again")
    assert "checkpoint-2 is the last step: exporting it" in p.stdout
    first, again = (json.loads((tmp_path / d / "manifest.json").read_text()) for d in ("first", "again"))
    assert again["steps"] == first["steps"] == 2 and again["resumed_from"] == "checkpoint-2"
    assert again["loss_curve"] == first["loss_curve"]
    assert again["weights_sha256"] == first["weights_sha256"]


def test_base_that_is_not_a_model_is_one_line_error(smoke_models, tmp_path):
    p = vauflow(
        "sft",
        "--run",
        "qa",
        "--tasks",
        "qa",
        "--init",
        tmp_path,
        "--vau-data",
        smoke_models / "results/vaubench/linked",
        "--ball-data",
        smoke_models / "results/ball/linked",
        "--out",
        tmp_path / "out",
        "--checkpoints",
        tmp_path / "ckpt",
        "--params",
        json.dumps(sft_params(smoke_config(), "qa")),
        "--budget",
        json.dumps(smoke_config()["frames"]["budgets"]["train"]),
        check=False,
    )
    assert p.returncode == 2 and "not a model folder (no vauflow_model.json, no readable config.json)" in p.stderr
    assert p.stderr.strip().count("\n") == 0


def test_effective_batch_and_accumulation():
    assert grad_accum(8, 8, 1) == 1
    assert grad_accum(8, 2, 2) == 2
    assert grad_accum(16, 1, 4) == 4
    with pytest.raises(UsageError, match="not a multiple"):
        grad_accum(8, 3, 1)
    with pytest.raises(UsageError, match="not a multiple"):
        grad_accum(8, 4, 3)


def test_per_task_overrides_are_validated():
    cfg = smoke_config()
    assert sft_params(cfg, "tag")["datasets"] == {"tag": ["msad", "ecva"]}
    bad = json.loads(json.dumps(cfg))
    bad["sft"]["per_task"]["cls"] = {"method": "lorax"}
    with pytest.raises(ConfigError, match="sft/per_task/cls/method"):
        validate_config(bad)
    # the reasoning trains by SFT only: a GRPO run over it has no reward to follow (one line); in a mix SFT it is fine
    mixed = json.loads(json.dumps(cfg))
    mixed["mixes"]["qa-reasoning"] = ["qa", "reasoning"]
    mixed["sft"]["tasks"] = ["qa-reasoning"]
    validate_config(mixed)
    mixed["grpo"]["runs"] = ["qa-reasoning"]
    with pytest.raises(ConfigError, match="run 'qa-reasoning' includes reasoning, which no GRPO reward"):
        validate_config(mixed)


def test_launcher_commands_and_gpu_check(smoke_models):
    from vauflow.ops.launch import command

    cpu = command(0, "acc.yaml", 29555, ["sft", "--task", "qa"])
    assert cpu[1:] == ["-m", "vauflow", "sft", "--task", "qa"]
    gpu = command(4, "acc.yaml", 29555, ["sft", "--task", "qa"])
    assert gpu[:2] == ["accelerate", "launch"] and gpu[gpu.index("--num_processes") + 1] == "4"
    assert gpu[gpu.index("--main_process_port") + 1] == "29555" and gpu[gpu.index("--config_file") + 1] == "acc.yaml"
    if torch.cuda.device_count() == 1:
        pytest.skip("this machine has exactly one GPU: the mismatch below would not be one")
    p = vauflow(
        "launch",
        "--gpus",
        "1",
        "--",
        "sft",
        "--run",
        "qa",
        "--tasks",
        "qa",
        "--init",
        "x",
        "--vau-data",
        "x",
        "--ball-data",
        "x",
        "--out",
        "x",
        "--checkpoints",
        "x",
        "--params",
        "{}",
        "--budget",
        "{}",
        check=False,
    )
    assert p.returncode == 2 and "asked for 1 GPU(s) but sees" in p.stderr
    assert p.stderr.strip().count("\n") == 0


def test_bf16_sft_keeps_fp32_masters_that_learn_at_the_papers_rate(smoke_models, tmp_path):
    """As GRPO's: model.dtype bfloat16 trains fp32 masters under autocast; at lr 1e-6, 3 steps of full fine-tuning
    change >= 99 % of the elements that had a gradient, against < 10 % when the bf16 weights are updated themselves
    (the control). The checkpoint holds the fp32 masters; the export is bf16."""
    from safetensors import safe_open
    from transformers import TrainerCallback

    from vauflow.sft.train import train

    class Touched(TrainerCallback):
        def __init__(self):
            self.before, self.masks = None, {}

        def on_pre_optimizer_step(self, args, state, control, model=None, **kw):
            named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
            if self.before is None:
                self.before = {n: p.detach().clone() for n, p in named}
            for n, p in named:
                if p.grad is not None:
                    self.masks[n] = self.masks.get(n, torch.zeros(p.shape, dtype=torch.bool)) | (p.grad != 0).cpu()

    params = sft_params(smoke_config(), "qa") | {
        "method": "full",
        "freeze_vision": False,
        "dtype": "bfloat16",
        "learning_rate": 1e-6,
        "lr_scheduler": "constant",
        "warmup_steps": 0,
        "max_steps": 3,
        "save_steps": 3,
    }
    data = {"vau": smoke_models / "results/vaubench/linked", "ball": smoke_models / "results/ball/linked"}
    budget = smoke_config()["frames"]["budgets"]["train"]
    shares = {}
    for masters in (True, False):
        seen = Touched()
        root = tmp_path / f"masters-{masters}"
        train(
            "qa",
            ["qa"],
            smoke_models / "resources/models/tiny",
            data,
            root / "out",
            root / "ckpt",
            params,
            budget,
            callbacks=[seen],
            masters=masters,
        )
        (ckpt,) = root.glob("ckpt/run-*/checkpoint-3")
        with safe_open(str(ckpt / "model.safetensors"), "pt") as f:
            after = {k: f.get_tensor(k) for k in f.keys()}
            assert {t.dtype for t in after.values()} == {torch.float32 if masters else torch.bfloat16}
        from vauflow.model.load import load_model

        saved = dict(
            load_model(
                ckpt, dtype="float32" if masters else "bfloat16", class_name="Qwen2_5_VLForConditionalGeneration"
            )[0].named_parameters()
        )
        live = changed = 0
        for n, mask in seen.masks.items():
            changed += int(((saved[n].detach() != seen.before[n].cpu()) & mask).sum())
            live += int(mask.sum())
        shares[masters] = changed / live
        with safe_open(str(root / "out/model.safetensors"), "pt") as f:
            assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.bfloat16}
    print(
        f"\nSFT: {shares[True]:.4f} of the elements with a gradient changed (mixed precision), "
        f"{shares[False]:.4f} (pure bf16, the control)"
    )
    assert shares[True] >= 0.99 and shares[False] < 0.10


def test_lora_under_bf16_keeps_a_half_precision_base_and_fp32_adapters(smoke_models):
    params = sft_params(smoke_config(), "qa") | {"method": "lora", "dtype": "bfloat16"}
    model, _ = prepare_model(smoke_models / "resources/models/tiny", params)
    assert {p.dtype for p in model.parameters() if not p.requires_grad} == {torch.bfloat16}
    assert {p.dtype for p in model.parameters() if p.requires_grad} == {torch.float32}


@pytest.mark.slow
@pytest.mark.parametrize("method", ["lora", "full"])
def test_sft_two_processes_take_the_one_process_step(smoke_models, tmp_path, method):
    """SFT under TRL/accelerate on two processes (gloo DDP), one micro-batch each, takes the steps of one process
    accumulating both micro-batches: the same Δw and last gradient; the control, one process on half the batch,
    does not."""
    from two_process_step import compare

    lora = {"r": 8, "alpha": 16, "dropout": 0.0, "target_regex": r".*(q_proj|v_proj)$", "modules_to_save": ["lm_head"]}
    over = dict(
        method=method,
        freeze_vision=False,
        lora=lora,
        effective_batch=4,
        per_device_batch=2,
        max_steps=2,
        warmup_steps=0,
        learning_rate=1e-3,
    )
    (gap, grad_gap), (control, grad_control) = compare(smoke_models, tmp_path, "sft", **over)
    print(
        f"\nsft {method}: two processes vs one: Δw {gap:.2e}, last gradient {grad_gap:.2e}; one process on half "
        f"the batch (control): Δw {control:.2e}, gradient {grad_control:.2e}"
    )
    assert gap <= 1e-5 and grad_gap <= 1e-5
    assert control > 1e-2 and grad_control > 1e-2


def test_launch_checks_come_before_anything_loads(tmp_path, monkeypatch):
    """vauflow launch on N GPUs refuses, in one line and before any model loads: GRPO under a ZeRO config (it runs
    data parallel or shards itself with FSDP), a step whose prompts do not divide over the processes, a backend this
    environment lacks."""
    import importlib.util

    from vauflow.io import UsageError
    from vauflow.ops.launch import check_settings

    acc = REPO / "workflow/accelerate"
    params = json.dumps({"effective_batch": 4, "per_device_batch": 1})
    check_settings(2, acc / "multi_gpu.yaml", ["grpo", "--params", params])
    check_settings(2, acc / "fsdp.yaml", ["grpo", "--params", params])
    with pytest.raises(UsageError, match="LoRA runs data parallel"):
        check_settings(2, acc / "fsdp.yaml", ["grpo", "--params", json.dumps({"accelerate": "fsdp", "method": "lora"})])
    check_settings(2, acc / "zero3_offload.yaml", ["sft", "--params", params])  # DeepSpeed is in the lock
    with pytest.raises(UsageError, match="ZeRO is not implemented for it"):
        check_settings(2, acc / "zero3.yaml", ["grpo", "--params", params])
    with pytest.raises(UsageError, match="not a multiple"):
        check_settings(3, acc / "multi_gpu.yaml", ["sft", "--params", params])
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "deepspeed" else real(name, *a))
    with pytest.raises(UsageError, match="needs deepspeed, which this environment lacks"):
        check_settings(2, acc / "zero3_offload.yaml", ["sft", "--params", params])
    check_settings(0, acc / "zero3_offload.yaml", ["sft", "--params", params])  # the CPU path launches nothing


def test_launch_reports_a_save_before_the_end_through_accelerate(monkeypatch):
    """On GPUs accelerate's launcher reports any failed process as 1: `vauflow launch` turns it back into 75 when a
    process left the preempted marker (so the retry knows it resumes), and passes other failures through."""
    import sys

    import vauflow.ops.launch as launch

    monkeypatch.setattr(launch, "check_visible_gpus", lambda gpus: gpus)
    for touch, want in ((True, 75), (False, 1)):
        script = (
            "import os; open(os.environ['VAUFLOW_PREEMPTED_MARKER'], 'a').close(); " if touch else ""
        ) + "raise SystemExit(1)"
        monkeypatch.setattr(launch, "command", lambda *a, script=script: [sys.executable, "-c", script])
        assert launch.launch(2, None, 29555, ["sft"]) == want


def test_reasoning_trains_both_turns_in_the_evaluations_form(smoke_models):
    """Issue 20: each annotated clip gives two SFT examples, the description (turn 1) and the analysis (turn 2, after
    the GT description, the video again), in exactly the conversation the evaluation builds; "-1" texts give none."""
    from vauflow.examples import run_rows
    from vauflow.tasks import reasoning

    cfg = smoke_config()
    budget = VideoBudget.from_dict(cfg["frames"]["budgets"]["train"])
    data = {"vau": smoke_models / "results/vaubench/linked"}
    rows, excluded = run_rows(["reasoning"], data, None, "both")  # "both": the reasoning has no think target
    linked, _ = load_rows("reasoning", data["vau"], "train")
    assert len(rows) == 2 * len(linked) and excluded == {"reasoning": {}}
    assert [r["turn"] for r in rows[:4]] == [1, 2, 1, 2] and {r["target"] for r in rows} == {"answer"}
    assert reasoning.training_rows(linked[0] | {"description": "-1"}) == []  # control: nothing to learn
    rows = rows[:4]
    processor = load_processor(smoke_models / "resources/models/tiny")
    collate = Collator(rows, processor, frame_cache(rows), budget)
    batch = collate([{"row": i} for i in range(len(rows))])
    for i, row in enumerate(rows):
        supervised = batch["labels"][i][batch["labels"][i] != -100]
        want = row["description"] if row["turn"] == 1 else row["gt_analysis"].strip()
        assert processor.tokenizer.decode(supervised) == want + "<|im_end|>"
        unlabelled = batch["attention_mask"][i].bool() & (batch["labels"][i] == -100)
        prompt = processor.tokenizer.decode(batch["input_ids"][i][unlabelled])
        assert prompt.count("<|vision_start|>") == row["turn"] and "Video 1:" in prompt
        assert (row["description"] in prompt) == (row["turn"] == 2)
    # the evaluation's two turns (vauflow.tasks.reasoning.predict), its model answering turn 1 with the GT text
    asked = []

    def generate(items):
        asked.extend(items)
        return [row["description"] for row in rows[:1]] * len(items)

    reasoning.predict(generate, rows[:1], [None], False, "training")
    for (messages, _, vision_id), row in zip(asked, rows[:2]):
        assert (messages, vision_id) == reasoning.training_chat(row)


def test_checkpoints_of_a_run_are_not_resumed_from_another_starting_model(tmp_path):
    """A GRPO run resumed from checkpoints of its previous SFT start (same path, same config.json, retrained weights)
    trains on from the wrong model: the checkpoint folder is keyed by the starting model's weights too."""
    import os

    from vauflow.training import run_dir

    init = tmp_path / "results/sft/qa-tag-cls"
    init.mkdir(parents=True)
    (init / "config.json").write_text('{"model_type": "qwen2_5_vl"}')
    (init / "model.safetensors").write_bytes(b"first")
    params = {"max_steps": 40}
    first = run_dir(tmp_path / "ckpt", params, init)
    assert run_dir(tmp_path / "ckpt", params, init) == first  # the same start resumes (a killed run)
    (init / "model.safetensors").write_bytes(b"again")  # the SFT run redone: same size, new weights
    os.utime(init / "model.safetensors", ns=(1, 1))
    assert run_dir(tmp_path / "ckpt", params, init) != first
    # a folder this workflow wrote is known by its manifest's hashes: a copy with new times resumes, new bytes do not
    (init / "manifest.json").write_text(json.dumps({"weights_sha256": {"model.safetensors": "aa"}}))
    hashed = run_dir(tmp_path / "ckpt", params, init)
    os.utime(init / "model.safetensors", ns=(2, 2))
    assert run_dir(tmp_path / "ckpt", params, init) == hashed
    (init / "manifest.json").write_text(json.dumps({"weights_sha256": {"model.safetensors": "bb"}}))
    assert run_dir(tmp_path / "ckpt", params, init) != hashed


def test_a_target_cap_cuts_long_targets_only_and_never_an_answer(smoke_models):
    """sft.max_target_tokens: a target longer than the cap keeps its first `cap` tokens and no end of turn; one that
    fits keeps its end; cutting a task with rewards (a think target would lose its answer) is a one-line error,
    cutting the reasoning's analyses is counted."""
    from vauflow.examples import run_rows
    from vauflow.sft.train import truncated_targets

    processor = load_processor(smoke_models / "resources/models/tiny")
    tok = processor.tokenizer
    data = {"vau": smoke_models / "results/vaubench/linked"}
    rows, _ = run_rows(["tag", "reasoning"], data, None, "both")
    lengths = [len(tok(target(r), add_special_tokens=False)["input_ids"]) for r in rows]
    analysis = max(range(len(rows)), key=lengths.__getitem__)  # the longest: a reasoning turn 2
    assert rows[analysis]["task"] == "reasoning" and rows[analysis]["turn"] == 2
    cap = max(n for r, n in zip(rows, lengths) if r["task"] == "tag")  # exactly the longest TAG target
    collate = Collator(rows, processor, frame_cache(rows), None, max_target_tokens=cap)
    eos = tok.convert_tokens_to_ids("<|im_end|>")
    longest_tag = lengths.index(cap)
    assert collate.completion_ids(rows[longest_tag])[-1] == eos  # fits exactly: kept whole, with its end
    assert len(collate.completion_ids(rows[longest_tag])) == cap + 1
    cut = collate.completion_ids(rows[analysis])
    assert len(cut) == cap and eos not in cut
    counted = truncated_targets(rows, tok, cap)
    assert set(counted) == {"reasoning"} and counted["reasoning"] == sum(
        n > cap for r, n in zip(rows, lengths) if r["task"] == "reasoning"
    )
    with pytest.raises(UsageError, match=r"max_target_tokens \d+ cuts \d+ tag targets"):
        truncated_targets(rows, tok, cap - 1)
    assert truncated_targets(rows, tok, None) == {}


def test_both_targets_pair_each_prompt_with_its_format_and_count_exclusions_once(smoke_models, tmp_path):
    """target "both": every QA/TAG/CLS row once with the answer prompt and target, once with the think prompt and a
    <think> target; a row excluded from both passes is counted once; a reasoning clip with "-1" texts is counted."""
    import shutil

    from vauflow import tasks as registry
    from vauflow.examples import run_rows
    from vauflow.io import read_jsonl, write_jsonl

    linked = tmp_path / "linked"
    shutil.copytree(smoke_models / "results/vaubench/linked", linked)
    reasoning = read_jsonl(linked / "train" / "reasoning.jsonl")
    write_jsonl(linked / "train" / "reasoning.jsonl", [reasoning[0] | {"description": "-1"}, *reasoning[1:]])
    datasets = {"tag": ["msad", "ecva"]}
    one, one_lost = run_rows(["tag"], {"vau": linked}, datasets, "answer")
    both, lost = run_rows(["tag", "qa", "reasoning"], {"vau": linked}, datasets, "both")
    assert lost["tag"] == one_lost["tag"] and one_lost["tag"]["other_dataset"] > 0  # counted once, not per pass
    assert lost["reasoning"] == {"no_training_text": 1}
    tag = [r for r in both if r["task"] == "tag"]
    assert len(tag) == 2 * len(one)
    for r in (r for r in both if r["task"] in ("tag", "qa")):
        t = registry.get(r["task"])
        assert target(r).startswith("<think>") == (r["target"] == "think")  # the target in its prompt's format
        assert t.prompt(r, "think") != t.prompt(r, "answer")  # and the prompt says which
    assert {r["target"] for r in both if r["task"] == "qa"} == {"answer", "think"}
