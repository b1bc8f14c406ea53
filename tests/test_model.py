"""Tiny models built offline, and the one input builder: video tokens, exact time, positions, batching."""

import copy
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from vauflow.examples import example, frame_cache, load_rows
from vauflow.frames.budget import VideoBudget
from vauflow.model import inputs
from vauflow.model.inputs import VideoMismatch, build_inputs, model_inputs, vision_token_ids
from vauflow.model.load import load_model, load_processor

from conftest import REPO, smoke_config, vauflow

MODELS = ["tiny", "tiny-qwen2vl"]


@pytest.fixture(scope="module")
def loaded(smoke_models):
    out = {}
    for name in MODELS:
        model, manifest = load_model(smoke_models / "resources/models" / name)
        out[name] = (model.eval(), load_processor(smoke_models / "resources/models" / name), manifest)
    return out


@pytest.fixture(scope="module")
def examples(smoke_models):
    """Three TAG training examples with clips of different lengths."""
    budget = VideoBudget.from_dict(smoke_config()["frames"]["budgets"]["train"])
    rows, _ = load_rows("tag", smoke_models / "results/vaubench/linked", "train", target="think")
    # the cache is found through the linked folder, never through the current directory
    assert all(r["frames"]["shard"].startswith(str(smoke_models / "results/vaubench/linked")) for r in rows)
    cache = frame_cache(rows)
    exs, seen = [], set()
    for r in rows:
        ex = example(r, cache, budget)
        if len(ex.clip.indices) not in seen:
            seen.add(len(ex.clip.indices))
            exs.append(ex)
        if len(exs) == 3:
            return exs
    pytest.fail(f"smoke data has fewer than 3 distinct clip lengths: {sorted(seen)}")


def test_tiny_models_offline_untied_and_from_config(smoke_models, loaded):
    trl_template = (Path(__import__("trl").__file__).parent / "chat_templates" / "qwen2_5_vl.jinja").read_text()
    cfg = smoke_config()
    for name, (model, processor, manifest) in loaded.items():
        spec = cfg["models"][name]
        assert type(model).__name__ == spec["class"] == manifest["class"]
        assert type(processor).__name__ == spec["processor"]
        assert processor.chat_template == trl_template  # TRL recognises Qwen's template
        assert not model.config.tie_word_embeddings
        assert model.lm_head.weight.data_ptr() != model.get_input_embeddings().weight.data_ptr()
        size = processor.video_processor.size
        assert (size["shortest_edge"], size["longest_edge"]) == (spec["video_min_pixels"], spec["video_max_pixels"])
        tok = processor.tokenizer
        assert tok.convert_tokens_to_ids("<|video_pad|>") == model.config.video_token_id
        assert len(tok) <= spec["shape"]["vocab_size"]
    assert loaded["tiny"][0].config.vision_config.tokens_per_second == 2


def test_build_is_deterministic(smoke_models, tmp_path):
    spec = smoke_config()["models"]["tiny"]
    out = tmp_path / "again"
    vauflow(
        "model",
        "build",
        "--name",
        "tiny",
        "--spec",
        json.dumps(spec),
        "--seed",
        str(smoke_config()["seed"]),
        "--vau-linked",
        smoke_models / "results/vaubench/linked",
        "--ball-linked",
        smoke_models / "results/ball/linked",
        "--out",
        out,
    )
    ref = smoke_models / "resources/models/tiny"
    for f in ("model.safetensors", "tokenizer.json", "config.json", "processor_config.json"):
        assert (out / f).read_bytes() == (ref / f).read_bytes(), f


def test_bad_mrope_section_is_one_line_error(smoke_models, tmp_path):
    spec = copy.deepcopy(smoke_config()["models"]["tiny"])
    spec["shape"]["mrope_section"] = [16, 24, 24]
    p = vauflow(
        "model",
        "build",
        "--name",
        "tiny",
        "--spec",
        json.dumps(spec),
        "--seed",
        "0",
        "--vau-linked",
        smoke_models / "results/vaubench/linked",
        "--ball-linked",
        smoke_models / "results/ball/linked",
        "--out",
        tmp_path / "x",
        check=False,
    )
    assert p.returncode == 2 and "mrope_section" in p.stderr and p.stderr.strip().count("\n") == 0


def test_fetch_offline_is_one_line_error(tmp_path):
    spec = smoke_config()["models"]["qwen2.5-vl-3b"]
    p = vauflow("model", "fetch", "--spec", json.dumps(spec), "--out", tmp_path / "m", check=False)
    assert p.returncode == 2
    assert p.stderr.strip().count("\n") == 0 and "HF_HUB_OFFLINE" in p.stderr
    assert not (tmp_path / "m").exists()


class HubFixture:
    """The Hub's two read endpoints on 127.0.0.1: a revision resolves to a commit and its file list; a file is
    served at a commit. `branches` maps a branch to a commit, `commits` a commit to {file: bytes}."""

    def __init__(self):
        import http.server
        import threading

        self.commits, self.branches, self.seen = {}, {}, []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                outer.seen.append((self.path, self.headers.get("Authorization")))
                parts = self.path.split("/")
                if parts[1] == "api":  # /api/models/<org>/<name>/revision/<rev>
                    rev = parts[6]
                    commit = outer.branches.get(rev, rev)
                    if commit not in outer.commits:
                        return self.reply(404, b"{}")
                    body = {"sha": commit, "siblings": [{"rfilename": f} for f in sorted(outer.commits[commit])]}
                    return self.reply(200, json.dumps(body).encode())
                if parts[1] == "cdn":  # /cdn/<commit>/<file>: large files live on another host, as the Hub's
                    return self.reply(200, outer.commits[parts[2]]["/".join(parts[3:])])
                commit, name = parts[4], "/".join(parts[5:])  # /<org>/<name>/resolve/<commit>/<file>
                data = outer.commits.get(commit, {}).get(name)
                if data is not None and name.endswith(".safetensors"):  # redirected, as the Hub does to its CDN
                    self.send_response(302)
                    self.send_header("Location", f"http://localhost:{outer.port}/cdn/{commit}/{name}")
                    self.send_header("Content-Length", "0")
                    return self.end_headers()
                return self.reply(404, b"") if data is None else self.reply(200, data)

            def reply(self, code, data):
                self.send_response(code)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"  # the CDN is the same server as "localhost": another host name
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


def test_fetch_locks_the_commit_and_the_hashes(tmp_path):
    """`vauflow model fetch` against a hub on 127.0.0.1: `main` resolves to a commit; the commit and every file's
    sha256 are locked; a later fetch takes the locked commit even after `main` moved, refuses a revision that is
    another commit and a file whose bytes changed, each in one line; the token is sent, never written."""
    hub = HubFixture()
    files = {
        "config.json": b'{"model_type": "qwen2_5_vl"}',
        "model.safetensors": b"weights-1",
        "README.md": b"not fetched",
    }
    hub.commits["a" * 40] = files
    hub.branches["main"] = "a" * 40
    spec = smoke_config()["models"]["qwen2.5-vl-3b"]
    lock = tmp_path / "models.lock.json"
    env = {"HF_HUB_OFFLINE": "0", "HF_ENDPOINT": hub.url, "HF_TOKEN": "hf_planted_token"}

    def fetch(out, s=spec):
        return vauflow(
            "model",
            "fetch",
            "--spec",
            json.dumps(s),
            "--out",
            tmp_path / out,
            "--lock",
            lock,
            check=False,
            env_extra=env,
        )

    p = fetch("m1")
    assert p.returncode == 0, p.stderr
    assert sorted(f.name for f in (tmp_path / "m1").iterdir()) == [
        "config.json",
        "model.safetensors",
        "vauflow_model.json",
    ]
    entry = json.loads(lock.read_text())["Qwen/Qwen2.5-VL-3B-Instruct"]
    assert (
        entry["commit"] == "a" * 40
        and entry["revision"] == "main"
        and set(entry["files"]) == {"config.json", "model.safetensors"}
    )
    made = json.loads((tmp_path / "m1" / "vauflow_model.json").read_text())
    assert made["commit"] == "a" * 40 and len(made["folder_sha256"]) == 64
    # the token goes to the Hub, never to the host a large file is redirected to
    assert all(auth == ("Bearer hf_planted_token" if not path.startswith("/cdn/") else None) for path, auth in hub.seen)
    assert any(path.startswith("/cdn/") for path, _ in hub.seen)
    assert "hf_planted_token" not in lock.read_text() + p.stdout + p.stderr
    # main moves: the lock keeps the first commit
    hub.commits["b" * 40] = files | {"model.safetensors": b"weights-2"}
    hub.branches["main"] = "b" * 40
    p = fetch("m2")
    assert p.returncode == 0 and (tmp_path / "m2" / "model.safetensors").read_bytes() == b"weights-1", p.stderr
    # a revision naming the new commit: refused until its lock entry goes
    p = fetch("m3", spec | {"revision": "main"})
    assert p.returncode == 2 and p.stderr.strip().count("\n") == 0 and "locks aaaaaaaaaaaa" in p.stderr, p.stderr
    assert not (tmp_path / "m3").exists()
    # the locked commit's bytes changed on the server: refused
    hub.commits["a" * 40] = files | {"model.safetensors": b"tampered"}
    p = fetch("m4")
    assert p.returncode == 2 and "differ from" in p.stderr and "model.safetensors" in p.stderr, p.stderr
    assert not (tmp_path / "m4").exists()
    hub.httpd.shutdown()


@pytest.mark.parametrize("name", MODELS)
def test_inputs_video_tokens_time_and_types(loaded, examples, name):
    model, processor, _ = loaded[name]
    batch = build_inputs(processor, examples)
    merge = processor.video_processor.merge_size**2
    for i, ex in enumerate(examples):
        t, h, w = batch["video_grid_thw"][i].tolist()
        assert t == len(ex.clip.indices) // 2 and (h * 14, w * 14) == ex.clip.resized_hw
        n = int((batch["input_ids"][i] == model.config.video_token_id).sum())
        assert n == t * h * w // merge == int((batch["mm_token_type_ids"][i] == 2).sum())
    if name == "tiny":  # exact seconds per temporal grid, from the sampled fps (not 2/24, not 2/2.0)
        want = torch.tensor([ex.clip.second_per_grid_ts for ex in examples], dtype=batch["second_per_grid_ts"].dtype)
        assert torch.allclose(batch["second_per_grid_ts"], want)
        assert all(abs(ex.clip.second_per_grid_ts - 2 / 24) > 0.1 for ex in examples)
    else:
        assert "second_per_grid_ts" not in batch


def temporal_positions(model, batch, i):
    """Temporal M-RoPE component of sample i's video tokens, grouped per temporal grid."""
    kw = {k: batch[k] for k in ("video_grid_thw", "second_per_grid_ts", "attention_mask") if k in batch}
    pos, _ = model.model.get_rope_index(batch["input_ids"], mm_token_type_ids=batch["mm_token_type_ids"], **kw)
    t, h, w = batch["video_grid_thw"][i].tolist()
    per_grid = (h // 2) * (w // 2)
    video = pos[0, i][batch["input_ids"][i] == model.config.video_token_id]
    return [sorted(set(video[g * per_grid : (g + 1) * per_grid].tolist())) for g in range(t)]


@pytest.mark.parametrize("name", MODELS)
def test_temporal_positions_differ_between_grids(loaded, examples, name):
    model, processor, _ = loaded[name]
    batch = build_inputs(processor, examples)
    for i in range(len(examples)):
        grids = temporal_positions(model, batch, i)
        assert all(len(g) == 1 for g in grids)  # one time per grid
        times = [g[0] for g in grids]
        assert times == sorted(set(times)) and len(times) >= 2, times  # strictly increasing: no collapse
    if name == "tiny":
        # the control: with the processor's 24-fps fall-back, positions collapse (what the builder prevents)
        wrong = dict(batch, second_per_grid_ts=torch.full_like(batch["second_per_grid_ts"], 2 / 24))
        times = [g[0] for g in temporal_positions(model, wrong, 0)]
        assert len(set(times[:3])) < 3


def greedy(model, processor, batch, n):
    with torch.no_grad():
        out = model.generate(
            **model_inputs(batch),
            max_new_tokens=n,
            min_new_tokens=n,
            do_sample=False,
            output_logits=True,
            return_dict_in_generate=True,
            suppress_tokens=vision_token_ids(processor),
        )
    return out.sequences[:, batch["input_ids"].shape[1] :], torch.stack(out.logits, 1)


@pytest.mark.parametrize("name", MODELS)
def test_generate_time_equals_loss_time(loaded, examples, name):
    """Logits of the completion under generate() (prefill + KV cache) and under one loss-time forward over
    prompt + completion (the policy/reference pass) are the same: same video, same positions."""
    model, processor, _ = loaded[name]
    batch = build_inputs(processor, examples)
    completion, gen_logits = greedy(model, processor, batch, 6)
    full = build_inputs(processor, examples, completions=completion.tolist())
    with torch.no_grad():
        logits = model(**model_inputs(full)).logits
    n = completion.shape[1]
    loss_logits = logits[:, -n - 1 : -1]
    assert torch.allclose(loss_logits, gen_logits, atol=1e-4), (loss_logits - gen_logits).abs().max()
    assert torch.equal(full["labels"][:, -n:], completion)
    assert (full["labels"][:, :-n] == -100).all() and (full["completion_mask"][:, -n:] == 1).all()


@pytest.mark.parametrize("name", MODELS)
def test_batch_equals_one_by_one(loaded, examples, name):
    model, processor, _ = loaded[name]
    batch = build_inputs(processor, examples)
    assert len({int(m.sum()) for m in batch["attention_mask"]}) == len(examples)  # really different lengths
    with torch.no_grad():
        together = model(**model_inputs(batch)).logits
        for i, ex in enumerate(examples):
            alone = build_inputs(processor, [ex])
            logits = model(**model_inputs(alone)).logits[0]
            keep = batch["attention_mask"][i].bool()
            assert torch.allclose(together[i][keep], logits, atol=1e-5), (together[i][keep] - logits).abs().max()
    seqs, _ = greedy(model, processor, batch, 5)
    for i, ex in enumerate(examples):
        one, _ = greedy(model, processor, build_inputs(processor, [ex]), 5)
        assert torch.equal(seqs[i], one[0])


@pytest.mark.parametrize("name", MODELS)
def test_builder_equals_one_processor_call_also_from_its_memo(loaded, examples, name):
    """build_inputs runs the processor's steps per clip and per text so it can memoise them: the result is the
    processor's own batch, bit for bit, on a cold memo and on a warm one; changed frames are not served stale."""
    _, processor, _ = loaded[name]
    inputs.VIDEO_MEMO.clear()
    inputs.TEXT_MEMO.clear()
    want = inputs.build_inputs_reference(processor, examples)
    for _ in range(2):
        got = model_inputs(build_inputs(processor, examples))
        assert sorted(got) == sorted(want)
        for k in want:
            assert got[k].dtype == want[k].dtype and torch.equal(got[k], want[k]), k
    assert len(inputs.VIDEO_MEMO.items) == len(examples)
    blank = [
        type(e)(chat=e.chat, clip=dataclasses.replace(e.clip, frames=np.zeros_like(e.clip.frames))) for e in examples
    ]
    assert torch.equal(
        model_inputs(build_inputs(processor, blank))["pixel_values_videos"],
        inputs.build_inputs_reference(processor, blank)["pixel_values_videos"],
    )


@pytest.mark.parametrize("name", MODELS)
def test_uint8_path_equals_the_processor_and_stops_when_it_differs(loaded, examples, name, monkeypatch):
    """video_features (uint8 patches, normalised on the way out) = the processor's own outputs, bit for bit, for clips
    of even and odd length (the processor repeats the last frame) and frames of another size (resized here). Control:
    a normalisation that differs by one grey level is caught by the first-clip check."""
    _, processor, _ = loaded[name]
    clip = examples[0].clip
    odd = dataclasses.replace(clip, frames=clip.frames[:-1], indices=clip.indices[:-1])
    big = dataclasses.replace(clip, frames=np.repeat(np.repeat(clip.frames, 2, axis=1), 2, axis=2))
    for c in (clip, odd, big):
        inputs.VIDEO_MEMO.clear()
        ours, text = inputs.video_features(processor, c)
        want, want_text = inputs.processor_features(processor, c)
        assert text == want_text and sorted(ours) == sorted(want)
        for k in want:
            assert torch.equal(torch.as_tensor(ours[k]), torch.as_tensor(want[k])), k
    mean, std = inputs.normalizer(processor.video_processor)
    monkeypatch.setattr(inputs, "normalizer", lambda vp: (mean + 1, std))
    monkeypatch.setattr(inputs, "_CHECKED", set())
    with pytest.raises(VideoMismatch, match="pixel_values_videos differs"):
        inputs.video_features(processor, clip)


def test_memo_is_bounded():
    memo = inputs.Memo(100)
    for i in range(10):
        memo.get(i, lambda: "x" * 30, len)
    assert memo.bytes <= 100 and list(memo.items) == [7, 8, 9]
    assert memo.get(999, lambda: "y" * 500, len) == "y" * 500 and 999 not in memo.items  # too big: not kept


def test_mismatches_raise(loaded, examples):
    model, processor, _ = loaded["tiny"]
    video_pad = model.config.video_token_id
    with pytest.raises(VideoMismatch, match="vision special tokens"):
        build_inputs(processor, examples[:1], completions=[[5, video_pad]])
    bad = copy.copy(examples[0].clip)
    bad.resized_hw = (bad.resized_hw[0] + 28, bad.resized_hw[1])
    ex = type(examples[0])(chat=examples[0].chat, clip=bad)
    bad.frames = examples[1].clip.frames  # frames of another length than the indices say
    with pytest.raises(VideoMismatch):
        build_inputs(processor, [ex])


def test_one_builder_everywhere():
    """Only the input builder calls the processor on videos; training, rollout and eval code import it."""
    hits = [p for p in (REPO / "vauflow").rglob("*.py") if "videos=" in p.read_text() and p.name != "inputs.py"]
    assert hits == []


@pytest.mark.parametrize("name", MODELS)
def test_two_turn_reasoning_carries_two_video_copies(loaded, examples, name):
    """The reasoning inference attaches the video again in turn 2: both copies get their tokens, grids and times;
    the batch equals one processor call bit for bit, and matches each conversation run alone."""
    from vauflow.tasks.reasoning import conversation as reasoning_chat

    model, processor, _ = loaded[name]
    two = [dataclasses.replace(ex, chat=reasoning_chat("A person walks by.")) for ex in examples[:2]]
    mixed = two + [dataclasses.replace(examples[2], chat=reasoning_chat())]
    batch = build_inputs(processor, mixed)
    assert len(batch["video_grid_thw"]) == 5
    tokens = (batch["input_ids"] == processor.video_token_id).sum(-1).tolist()
    one = [int((build_inputs(processor, [ex])["input_ids"] == processor.video_token_id).sum()) for ex in examples]
    assert tokens == [2 * one[0], 2 * one[1], one[2]]
    want = inputs.build_inputs_reference(processor, mixed)
    got = model_inputs(batch)
    for k in want:
        assert torch.equal(got[k], want[k]), k
    with torch.no_grad():
        together = model(**model_inputs(batch)).logits
        alone = model(**model_inputs(build_inputs(processor, [mixed[0]]))).logits[0]
    keep = batch["attention_mask"][0].bool()
    assert torch.allclose(together[0][keep], alone, atol=1e-5)
    # the second copy's positions start after the first copy and the text between them
    kw = {k: batch[k] for k in ("video_grid_thw", "second_per_grid_ts", "attention_mask") if k in batch}
    pos, _ = model.model.get_rope_index(batch["input_ids"], mm_token_type_ids=batch["mm_token_type_ids"], **kw)
    video = pos[0, 0][batch["input_ids"][0] == processor.video_token_id]
    first, second = video[: one[0]], video[one[0] :]
    assert second.min() > first.max()
    with pytest.raises(VideoMismatch, match="no video block"):
        build_inputs(processor, [dataclasses.replace(examples[0], chat=[{"role": "user", "content": "hi"}])])
