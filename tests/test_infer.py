"""The paper's inference: prompts verbatim (checked against the spec's blocks), batched generation over cells,
resume from a partial file after an interruption, atomic final files in our JSONL and the upstream CSV layout."""

import json
import re
import shutil

import pytest

from vauflow import tasks
from vauflow.evaluate import infer, predict
from vauflow.io import read_jsonl
from vauflow.tasks import cls as cls_task
from vauflow.tasks import qa as qa_task
from vauflow.tasks import reasoning as reasoning_task
from vauflow.tasks import tag as tag_task

from conftest import SHARED, smoke_config

SPEC = SHARED / "spec" / "vau-r1.md"
ROW = {"question": "What happens?", "options": ["Fire", "Fighting", "Nothing", "Robbery"]}


def spec_block(after):
    text = SPEC.read_text(encoding="utf-8")
    start = text.index(after)
    m = re.search(r"```\n(.*?)\n```", text[start:], re.S)
    return m.group(1)


@pytest.mark.skipif(not SPEC.exists(), reason="spec absent")
def test_inference_prompts_verbatim():
    think = spec_block("w/ think:")
    filled = (
        think.replace("{Question}", ROW["question"])
        .replace("{Option 1}", "Fire")
        .replace("{Option 2}", "Fighting")
        .replace("{Option 3}", "Nothing")
        .replace("{Option 4}", "Robbery")
    )
    assert qa_task.inference_text(ROW, think=True) == "\n" + filled + "\n" + " " * 12
    no_think = qa_task.inference_text(ROW, think=False)
    assert no_think.startswith("\n" + filled.split("\n\n            When")[0])
    assert no_think.endswith(spec_block("w/o think: identical") + "\n" + " " * 12)
    # inference_tag_qwen.py's templates end with a newline (triple-quoted strings): the spec's blocks + "\n"
    tag = spec_block("**Inference w/ think** (`inference_tag_qwen.py`)")
    msgs, vision_id = tasks.get("tag").inference({}, think=True)
    want = tag.replace("[QUESTION]", tag_task.QUESTION_RFT).replace("[OPTION]", "[Anomaly, Normal]") + "\n"
    assert msgs[1]["content"][1]["text"] == want and not vision_id
    tag = spec_block("**Inference w/o think, and SFT**")
    msgs, _ = tasks.get("tag").inference({}, think=False)
    assert msgs[1]["content"][1]["text"] == tag.replace("[QUESTION]", tag_task.QUESTION_SFT) + "\n"
    assert msgs[0] == {"role": "system", "content": "You are a helpful assistant."}
    assert msgs[1]["content"][0] == {"type": "video"}  # video first at inference
    msgs, vision_id = tasks.get("qa").inference(ROW, think=False)
    assert vision_id and msgs[0]["content"][0] == {"type": "video"}
    cls_think = re.search(r"- think: `(.*?)`\n", SPEC.read_text(encoding="utf-8")).group(1)
    msgs, _ = tasks.get("cls").inference({}, think=True)
    assert msgs[1]["content"][1]["text"] == cls_think.replace("[QUESTION]", cls_task.QUESTION).replace(
        "[OPTION]", str(cls_task.CLASSES)
    )


def test_vision_id_prefix_reaches_the_text(smoke_models):
    from vauflow.model.load import load_processor

    proc = load_processor(smoke_models / "resources/models/tiny")
    msgs, _ = tasks.get("qa").inference(ROW, think=False)
    with_id = proc.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True, add_vision_id=True)
    assert "Video 1: <|vision_start|>" in with_id


def test_cells_resume_after_interruption_and_write_both_formats(smoke_models, tmp_path, monkeypatch):
    cfg = smoke_config()
    data = {"vau": smoke_models / "results/vaubench/linked", "ball": smoke_models / "results/ball/linked"}
    model = smoke_models / "resources/models/tiny"
    cells = [("qa", "test_msad", False), ("tag", "test_ecva", True)]
    args = dict(batch_size=3, max_new_tokens={"think": 6, "answer": 4})
    full = infer.run_cells(model, cells, data, cfg["frames"]["budgets"], tmp_path / "a", tmp_path / "pa", **args)

    real, calls = predict.generate, []

    def flaky(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # killed after one finished batch
        return real(*a, **k)

    monkeypatch.setattr(predict, "generate", flaky)
    with pytest.raises(KeyboardInterrupt):
        infer.run_cells(model, cells, data, cfg["frames"]["budgets"], tmp_path / "b", tmp_path / "pb", **args)
    (partial,) = (tmp_path / "pb").glob("run-*/qa_test_msad_nothink.jsonl")  # keyed by model and settings
    assert len(read_jsonl(partial)) == 3  # one batch kept
    assert not (tmp_path / "b" / "qa_test_msad_nothink.jsonl").exists()  # no partial final file
    calls.clear()
    monkeypatch.setattr(predict, "generate", lambda *a, **k: calls.append(1) or real(*a, **k))
    again = infer.run_cells(model, cells, data, cfg["frames"]["budgets"], tmp_path / "b", tmp_path / "pb", **args)
    assert again == full
    n_qa = full["qa_test_msad_nothink"]
    assert len(calls) == -(-(n_qa - 3) // 3) + -(-full["tag_test_ecva_think"] // 3)  # the done batch is not redone
    # other settings (a longer generation) never reuse those partial predictions
    infer.run_cells(
        model,
        cells[:1],
        data,
        cfg["frames"]["budgets"],
        tmp_path / "c",
        tmp_path / "pb",
        batch_size=3,
        max_new_tokens={"think": 6, "answer": 5},
    )
    assert len(list((tmp_path / "pb").glob("run-*"))) == 2
    for name in full:
        assert (tmp_path / "a" / f"{name}.jsonl").read_bytes() == (tmp_path / "b" / f"{name}.jsonl").read_bytes()
    preds = read_jsonl(tmp_path / "a" / "qa_test_msad_nothink.jsonl")
    assert all(set(p) == {"video", "response"} for p in preds) and len(preds) == n_qa
    lines = (tmp_path / "a" / "qa_test_msad_nothink.csv").read_text().splitlines()
    assert lines[0] == "Video Name,QA answer" and len(lines) == n_qa + 1
    gt = [json.loads(x) for x in (smoke_models / "results/vaubench/linked/test_msad/qa.jsonl").read_text().splitlines()]
    assert [p["video"] for p in preds] == [g["video_name"] for g in gt]


def test_demo_prints_the_answer_and_rejects_a_bad_file_in_one_line(smoke_models, tmp_path):
    from conftest import vauflow

    budget = json.dumps(smoke_config()["frames"]["budgets"]["infer_tag"])
    video = sorted((smoke_models / "resources/videos/msad").glob("*.mp4"))[0]
    model = smoke_models / "resources/models/tiny"
    p = vauflow("demo", "--model", model, "--video", video, "--budget", budget, "--max-new-tokens", "4")
    lines = p.stdout.strip().splitlines()  # a base model: free text with the paper's description prompt
    assert (
        lines[0] == "task: free text; prompt: paper" and lines[1].startswith("reply: ") and lines[-1] == "answer: null"
    )
    p = vauflow(
        "demo",
        "--model",
        model,
        "--video",
        video,
        "--budget",
        budget,
        "--task",
        "tag",
        "--think",
        "--max-new-tokens",
        "4",
    )
    assert p.stdout.startswith("task: tag; prompt: paper (think)") and "answer: " in p.stdout
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video at all")
    p = vauflow("demo", "--model", model, "--video", bad, "--budget", budget, check=False)
    assert p.returncode == 2 and p.stderr.startswith("vauflow: error:") and p.stderr.strip().count("\n") == 0
    broken = tmp_path / "model"
    shutil.copytree(model, broken)
    (broken / "config.json").write_text("{not json")
    p = vauflow("demo", "--model", broken, "--video", video, "--budget", budget, check=False)
    assert p.returncode == 2 and "not a loadable model folder" in p.stderr and p.stderr.strip().count("\n") == 0


def test_reasoning_runs_two_turns_with_the_video_again(smoke_models, tmp_path, monkeypatch):
    """Turn 1 asks for a description; turn 2 holds that description as the assistant's turn and attaches the
    video again; the prediction keeps both, in our JSONL and the upstream `Video Name, Description, Analysis`."""
    cfg = smoke_config()
    data = {"vau": smoke_models / "results/vaubench/linked", "ball": smoke_models / "results/ball/linked"}
    real, seen = predict.generate, []

    def spy(model, processor, examples, limit, **kw):
        texts = real(model, processor, examples, limit, **kw)
        seen.append((examples, texts, limit))
        return texts

    monkeypatch.setattr(predict, "generate", spy)
    counts = infer.run_cells(
        smoke_models / "resources/models/tiny",
        [("reasoning", "test_msad", False)],
        data,
        cfg["frames"]["budgets"],
        tmp_path / "out",
        tmp_path / "partial",
        batch_size=16,
        max_new_tokens={"reasoning": 5},
    )
    (turn1, descriptions, limit1), (turn2, analyses, limit2) = seen
    assert limit1 == limit2 == 5 and counts == {"reasoning_test_msad_nothink": len(turn1)}
    assert all(len(e.clips) == 1 for e in turn1) and all(len(e.clips) == 2 for e in turn2)
    from vauflow.model.load import load_processor

    proc = load_processor(smoke_models / "resources/models/tiny")
    rendered = proc.apply_chat_template(
        turn2[0].chat, tokenize=False, add_generation_prompt=True, add_vision_id=turn2[0].vision_id
    )
    assert "Video 1: <|vision_start|>" in rendered and "Video 2: <|vision_start|>" in rendered  # as upstream
    for e1, e2, d in zip(turn1, turn2, descriptions):
        assert e1.vision_id and e2.vision_id
        assert e2.clip is e1.clip and e2.chat[1] == {"role": "assistant", "content": [{"type": "text", "text": d}]}
        assert e1.chat[0]["content"][1]["text"] == reasoning_task.TURNS[0]
        assert e2.chat[2]["content"][1]["text"] == reasoning_task.TURNS[1]
        assert e2.chat[2]["content"][0] == {"type": "video"}
    preds = read_jsonl(tmp_path / "out" / "reasoning_test_msad_nothink.jsonl")
    assert [(p["description"], p["analysis"]) for p in preds] == list(zip(descriptions, analyses))
    lines = (tmp_path / "out" / "reasoning_test_msad_nothink.csv").read_text().splitlines()
    assert lines[0] == "Video Name,Description,Analysis"


def test_decoding_ignores_the_model_folders_generation_config(smoke_models, tmp_path):
    """Evaluation decodes as upstream did (greedy, repetition_penalty 1.05), set explicitly: a model folder whose
    generation_config.json says otherwise gives the same replies. The control: that file does steer a plain
    `generate` call."""
    from vauflow.examples import frame_cache, load_rows
    from vauflow.frames.budget import VideoBudget
    from vauflow.model.inputs import Example
    from vauflow.model.load import load_model, load_processor

    source = smoke_models / "resources/models/tiny"
    odd = tmp_path / "odd"
    shutil.copytree(source, odd)
    gen = json.loads((odd / "generation_config.json").read_text())
    gen |= {
        "do_sample": True,
        "top_p": 0.01,
        "top_k": 3,
        "temperature": 0.1,
        "repetition_penalty": 1.3,
        "no_repeat_ngram_size": 1,
        "max_new_tokens": 2,
    }
    (odd / "generation_config.json").write_text(json.dumps(gen))
    rows = load_rows("cls", smoke_models / "results/vaubench/linked", "test_msad")[0][:3]
    cache, budget = frame_cache(rows), VideoBudget.from_dict(smoke_config()["frames"]["budgets"]["infer_tag"])
    examples = [
        Example(chat=tasks.get("cls").inference(r, False)[0], clip=cache.clip(r["dataset"], r["video"], budget))
        for r in rows
    ]
    processor = load_processor(source)
    replies = {}
    for name, folder in (("source", source), ("odd", odd)):
        model = load_model(folder)[0].eval()
        replies[name] = predict.generate(model, processor, examples, 12, repetition_penalty=1.05)
        if name == "odd":  # the control: generate() on its own takes the folder's settings
            from vauflow.model.inputs import build_inputs, model_inputs

            batch = build_inputs(processor, examples)
            plain = model.generate(**model_inputs(batch), max_new_tokens=12, pad_token_id=0)
            assert (
                plain.shape[1] - batch["input_ids"].shape[1] < 12
                or processor.tokenizer.batch_decode(plain[:, batch["input_ids"].shape[1] :]) != replies["source"]
            )
    assert replies["odd"] == replies["source"]


def test_a_model_trained_elsewhere_is_evaluated_beside_the_others(smoke_models, tmp_path):
    """A plain Hugging Face folder (no vauflow manifest: a smoke model copied out of its run) as a local model,
    evaluated through `eval.extra_models` without retraining: its rows stand in tables A, B and C; a user's
    `models:` entry adds to the defined models."""
    from conftest import REPO, SMOKE, load_merged, snakemake

    plain = tmp_path / "elsewhere"
    shutil.copytree(smoke_models / "resources/models/tiny", plain)
    (plain / "vauflow_model.json").unlink()
    mine = tmp_path / "mine.yaml"
    mine.write_text(f"models: {{mine: {{source: local, path: {plain}}}}}\neval: {{extra_models: [mine]}}\n")
    cfg = load_merged(REPO / "config.yaml", SMOKE, mine)
    assert {"tiny", "qwen2.5-vl-3b", "mine"} <= set(cfg["models"])  # added, not replacing
    assert cfg["models"]["mine"]["class"] == "Qwen2_5_VLForConditionalGeneration"  # read from its config.json
    configs = [REPO / "config.yaml", SMOKE, mine]
    snakemake("results/eval/ext-mine", workdir=smoke_models, configfiles=configs)
    cells = json.loads((smoke_models / "results/eval/ext-mine/metrics.json").read_text())["cells"]
    assert {name.split("_")[0] for name in cells} == {"qa", "tag", "cls", "reasoning"}
    assert cells["qa_test_msad_nothink"]["n"] > 0
    out = snakemake("-n", "results/tables/tables.md", workdir=smoke_models, configfiles=configs).stdout
    assert "results/eval/ext-mine" in out


def test_a_downloaded_hub_folder_is_a_local_base_model(workdir, tmp_path):
    """The paper preset with Qwen2.5-VL-3B already on disk: no fetch job, SFT and GRPO start from that folder; a
    folder of another architecture stops at DAG time in one line."""
    from conftest import REPO, snakemake

    folder = tmp_path / "Qwen2.5-VL-3B-Instruct"
    folder.mkdir()
    (folder / "config.json").write_text(
        json.dumps({"model_type": "qwen2_5_vl", "architectures": ["Qwen2_5_VLForConditionalGeneration"]})
    )
    mine = tmp_path / "mine.yaml"
    mine.write_text(f"models: {{qwen2.5-vl-3b: {{source: local, path: {folder}}}}}\n")
    out = snakemake("-n", workdir=workdir, configfiles=[REPO / "presets/paper.yaml", mine]).stdout
    assert "resources/models/qwen2.5-vl-3b" not in out and f"input: {folder}," in out
    (folder / "config.json").write_text(json.dumps({"model_type": "llama", "architectures": ["LlamaForCausalLM"]}))
    p = snakemake("-n", workdir=workdir, configfiles=[REPO / "presets/paper.yaml", mine], check=False)
    err = [line for line in (p.stdout + p.stderr).splitlines() if line.startswith("vauflow:")]
    assert p.returncode != 0 and len(err) == 1 and "'llama' model" in err[0], p.stdout + p.stderr


@pytest.mark.slow
def test_evaluation_two_processes_give_the_predictions_of_one(smoke_models, tmp_path):
    """`vauflow eval run` on two processes (torchrun, gloo; the job's GPUs on a cluster) shards each cell's batches
    over them and writes the predictions, CSVs and metrics one process writes."""
    import subprocess
    import sys

    from conftest import env

    cfg = smoke_config()
    settings = cfg["eval"] | {"batch_size": 3, "max_new_tokens": {"answer": 4, "think": 6, "reasoning": 4}}
    cells = [["qa", "test_msad", False], ["tag", "test_ecva", True]]
    outputs = {}
    for processes in (1, 2):
        out = tmp_path / f"out{processes}"
        cmd = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            str(processes),
            "--master_port",
            str(29700 + processes),
            "-m",
            "vauflow",
            "eval",
            "run",
            "--model",
            smoke_models / "resources/models/tiny",
            "--cells",
            json.dumps(cells),
            "--vau-data",
            smoke_models / "results/vaubench/linked",
            "--ball-data",
            smoke_models / "results/ball/linked",
            "--built",
            smoke_models / "results/vaubench/built",
            "--budgets",
            json.dumps(cfg["frames"]["budgets"]),
            "--settings",
            json.dumps(settings),
            "--partial",
            tmp_path / f"partial{processes}",
            "--out",
            out,
        ]
        p = subprocess.run(
            list(map(str, cmd)), env=env() | {"OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=600
        )
        assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
        outputs[processes] = {f.relative_to(out).as_posix(): f.read_bytes() for f in out.rglob("*") if f.is_file()}
    ranks = sorted(f.name for f in (tmp_path / "partial2").rglob("*.jsonl"))
    assert any(".rank1." in name for name in ranks), ranks  # the second process did predict its share
    assert outputs[1].keys() == outputs[2].keys() and len(outputs[1]) >= 5
    metrics = [json.loads(outputs[k].pop("metrics.json")) for k in (1, 2)]
    assert metrics[0]["cells"] == metrics[1]["cells"] and metrics[0]["predicted"] == metrics[1]["predicted"]
    assert outputs[1] == outputs[2]
