"""The performance suite: our way against the originals' way and against physical limits, on the same files in the
same run, reported as ratios (medians of the repeats, raw timings beside them).

    python bench/suite.py [--quick] [--repeats N]      (make bench, make bench-quick)

Writes bench/results/latest.json ({name: {"ratio" | "value", "goal", "met", "raw", "conditions"}}) and latest.md.
Generated inputs and workdirs live in bench/work (ignored by git; removed at the start of every run)."""

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / "bench" / "work"
RESULTS = REPO / "bench" / "results"
GOALS = {
    "frames_vs_ffmpeg": (">=", 0.9),
    "frames_vs_ffmpeg_synthetic": (">=", 0.8),
    "cache_vs_ondemand": (">=", 10),
    "batched_eval_speedup": (">=", 3),
    "dag_dryrun_5k_s": ("<", 20),
    "noop_rerun_s": ("<", 10),
    "grpo_step_vs_stock": ("<=", 1.5),
    "default_dag_s": ("<=", 600),
    "default_dag_vs_baseline": ("<=", 1.0),
    "default_dag_peak_rss_mb": ("<=", 2048),
    "frames_memory_flat": ("<=", 1.2),
    "best_constant_interval_s": ("<=", 5),
    "grpo_vision_videos_per_step": ("<=", 3),
    "rehearsal_tables_report_s": ("<=", 60),
}
SMOKE = [REPO / "config.yaml", REPO / "tests/smoke/config.yaml"]
# the default DAG at the start of the performance issue (#21): `default_dag_vs_baseline` runs it beside ours
BASELINE = "eb170cc"
VAU_BENCH = REPO.parent / "shared" / "vau-bench"  # the real annotation CSVs, where this checkout has them


def timed(fn, repeats):
    """Median seconds of `repeats` calls (and every timing)."""
    raw = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        raw.append(time.perf_counter() - t0)
    return statistics.median(raw), raw


def timed_pair(a, b, repeats):
    """Medians of `a` and `b` timed in turns (a, b, a, b, ...) after one untimed warm-up of each, so a machine that
    drifts (shared cores, page cache) affects both alike."""
    a(), b()
    ta, tb = [], []
    for _ in range(repeats):
        ta.append(timed(a, 1)[0])
        tb.append(timed(b, 1)[0])
    return (statistics.median(ta), ta), (statistics.median(tb), tb)


def sh(*cmd, **kw):
    return subprocess.run([str(c) for c in cmd], check=True, capture_output=True, text=True, **kw)


def snakemake(workdir, *args, configfiles=SMOKE):
    return sh(
        "snakemake",
        "-s",
        REPO / "Snakefile",
        "--directory",
        workdir,
        "--cores",
        "2",
        *args,
        "--configfile",
        *configfiles,
    )


# -- inputs --------------------------------------------------------------------------------------------------
def ucf_like_corpus(durations):
    """UCF-Crime-like clips: 320x240, 30 fps, sensor noise, H.264 and MPEG-4 in turn."""
    d = WORK / "corpus"
    d.mkdir(parents=True)
    for k, dur in enumerate(durations):
        codec = ["-c:v", "libx264", "-pix_fmt", "yuv420p"] if k % 2 == 0 else ["-c:v", "mpeg4", "-q:v", "5"]
        ext = "mp4" if k % 2 == 0 else "avi"
        sh(
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=size=320x240:rate=30:duration={dur}",
            "-vf",
            "noise=alls=12:allf=t",
            *codec,
            d / f"clip{k:02d}_{dur}s.{ext}",
        )
    return d


# -- benchmarks ----------------------------------------------------------------------------------------------
def source_seconds(videos):
    from vauflow.frames.extract import probe

    total = 0.0
    for v in videos:
        container, _, frames, fps = probe(v)
        container.close()
        total += frames / fps
    return total


def frames_vs_ffmpeg(corpus, label, repeats):
    """Our frames stage (decode once, keep every consumer's frames) vs ffmpeg decoding to null, 2 threads each."""
    from vauflow.frames.budget import paper_budgets
    from vauflow.frames.extract import extract_dir, list_videos

    videos = [corpus / v for v in list_videos(corpus)]
    src_s = round(source_seconds(videos), 1)
    runs = iter(range(10**6))
    (ours, ours_raw), (ff, ff_raw) = timed_pair(
        lambda: extract_dir(corpus, WORK / f"frames-{label}-{next(runs)}", budgets=paper_budgets(), threads=2),
        lambda: [sh("ffmpeg", "-v", "error", "-threads", "2", "-i", v, "-f", "null", "-") for v in videos],
        repeats,
    )
    return {
        "ratio": round(ff / ours, 3),
        "raw": {
            "ours_s": ours_raw,
            "ffmpeg_s": ff_raw,
            "ours_src_s_per_s": round(src_s / ours, 1),
            "ffmpeg_src_s_per_s": round(src_s / ff, 1),
        },
        "conditions": f"{len(videos)} {label} videos, {src_s} s of source, paper budgets, 2 threads each",
    }


def frame_cache_size(corpus, durations):
    """GB per 1,000 one-minute videos of this corpus at the paper's budgets, per storage codec: the extracted cache
    (native size, the consumers' union of frames) and the sized cache (each consumer's frames at its size), with the
    seconds each took (no goal)."""
    from vauflow.frames.budget import paper_budgets
    from vauflow.frames.extract import extract_dir
    from vauflow.frames.size import size_dir

    def gb_per_1k(d):
        return round(sum(f.stat().st_size for f in (d / "frames").iterdir()) / sum(durations) * 60 * 1000 / 1e9, 2)

    out = {}
    for codec in ("raw", "png", "jpeg"):
        native, sized = WORK / f"size-{codec}", WORK / f"size-{codec}-sized"
        t0 = time.perf_counter()
        extract_dir(corpus, native, budgets=paper_budgets(), threads=2, codec=codec)
        t1 = time.perf_counter()
        size_dir(native, sized, threads=2)
        t2 = time.perf_counter()
        out[codec] = {
            "extracted_gb_per_1k": gb_per_1k(native),
            "sized_gb_per_1k": gb_per_1k(sized),
            "extract_s": round(t1 - t0, 2),
            "size_s": round(t2 - t1, 2),
        }
    return {
        "value": out["raw"]["sized_gb_per_1k"],
        "raw": out,
        "conditions": "UCF-like 320x240 corpus: extracted at native size (below every budget's cap), sized per "
        "consumer (the paper's inference budgets upscale it: 280x392, 392x532); raw, png, jpeg q95; value: sized raw",
    }


def frames_sizing(corpus, extraction):
    """The sizing job (`vauflow frames size`, 2 threads) on the extracted UCF-like cache: its time against the
    extraction's (no goal: it runs once per video, where the originals resize every sample of every epoch)."""
    from vauflow.frames.extract import list_videos
    from vauflow.frames.size import size_dir

    src = WORK / "frames-UCF-like-0"  # written by frames_vs_ffmpeg
    extract_s = statistics.median(extraction["raw"]["ours_s"])
    t0 = time.perf_counter()
    s = size_dir(src, WORK / "sized-UCF-like-0", threads=2)
    seconds = time.perf_counter() - t0
    minutes = source_seconds([corpus / v for v in list_videos(corpus)]) / 60
    return {
        "ratio": round(seconds / extract_s, 2),
        "raw": {
            "size_s": round(seconds, 2),
            "extract_s": round(extract_s, 2),
            "size_s_per_source_min": round(seconds / minutes, 2),
        },
        "conditions": f"{s['extracted']} UCF-like videos, paper budgets ({', '.join(s['budgets'])}), 2 threads; "
        "ratio: sizing time / extraction time",
    }


def frames_memory_flat(corpus):
    """Peak RSS of the frames stage on one video and on the whole corpus: one video is held at a time."""
    from vauflow.frames.extract import list_videos, probe
    from vauflow.ops.budget import TreeRSS

    def frame_count(v):
        container, _, n, _ = probe(corpus / v)
        container.close()
        return n

    videos = list_videos(corpus)
    longest = max(videos, key=frame_count)
    one = WORK / "one-video"
    one.mkdir()
    os.link(corpus / longest, one / longest)
    peaks = {}
    for name, src in (("longest_video", one), ("whole_corpus", corpus)):
        proc = subprocess.Popen(
            ["vauflow", "frames", "extract", "--videos", str(src), "--out", str(WORK / f"rss-{name}")],
            stdout=subprocess.DEVNULL,
        )
        with TreeRSS(proc.pid) as meter:
            assert proc.wait() == 0
        peaks[name] = round(meter.peak / 2**20, 1)
    return {
        "ratio": round(peaks["whole_corpus"] / peaks["longest_video"], 2),
        "raw": peaks,
        "conditions": f"`vauflow frames extract` on the longest video alone, then on all {len(videos)}: peak RSS "
        "of the process, sampled at 10 Hz",
    }


def cache_vs_ondemand(corpus, model_dir, repeats):
    """Training inputs per second: frame cache + our input builder vs qwen_vl_utils decoding the file each time
    (the originals' path), the same training budget, cold (our memo cleared before every sample)."""
    from qwen_vl_utils import process_vision_info

    from vauflow.frames.budget import paper_budgets
    from vauflow.frames.cache import FrameCache
    from vauflow.model import inputs
    from vauflow.model.load import load_processor

    processor = load_processor(model_dir)
    budget = paper_budgets()["train"]
    cache = FrameCache([WORK / "sized-UCF-like-0"])  # written by frames_sizing
    keys = sorted(cache.entries)
    chat = [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": "What happens?"}]}]

    def ours():
        for ds, rel in keys:
            inputs.VIDEO_MEMO.clear()
            inputs.build_inputs(processor, [inputs.Example(chat=chat, clip=cache.clip(ds, rel, budget))])

    def theirs():
        for _, rel in keys:
            msgs = [
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "video",
                            "video": str(corpus / rel),
                            "fps": budget.fps,
                            "min_pixels": budget.min_pixels,
                            "max_pixels": budget.max_pixels,
                            "total_pixels": budget.total_pixels,
                        },
                        {"type": "text", "text": "What happens?"},
                    ],
                }
            ]
            _, videos, kw = process_vision_info(msgs, return_video_kwargs=True, return_video_metadata=True)
            text = processor.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
            processor(
                text=[text],
                videos=[videos[0][0]],
                video_metadata=[videos[0][1]],
                do_resize=False,
                return_tensors="pt",
                **kw,
            )

    (a, a_raw), (b, b_raw) = timed_pair(ours, theirs, repeats)
    examples = [inputs.Example(chat=chat, clip=cache.clip(ds, rel, budget)) for ds, rel in keys]
    inputs.build_inputs(processor, examples[:1])
    warm, _ = timed(lambda: [inputs.build_inputs(processor, [e]) for e in examples], repeats)
    return {
        "ratio": round(b / a, 2),
        "raw": {
            "ours_samples_per_s": round(len(keys) / a, 2),
            "ondemand_samples_per_s": round(len(keys) / b, 2),
            "ours_s": a_raw,
            "ondemand_s": b_raw,
            "ours_warm_samples_per_s (memo, later epochs and passes)": round(len(keys) / warm, 1),
        },
        "conditions": f"{len(keys)} UCF-like videos, paper training budget (2 fps, total_pixels 3584*28*28), "
        "tiny model's processor, one sample at a time",
    }


def batched_eval_speedup(smoke, repeats, batch_size=16):
    """Our batched greedy eval vs one video at a time, the same model and rows; outputs compared."""
    from vauflow.evaluate.predict import predict
    from vauflow.examples import load_rows
    from vauflow.plan import load_config

    cfg = load_config(*SMOKE)
    budget = cfg["frames"]["budgets"]["infer_qa"]
    linked = smoke / "results/vaubench/linked"
    rows = [r for split in sorted(p.name for p in linked.glob("test_*")) for r in load_rows("qa", linked, split)[0]]
    out, timings = {}, {}
    for name, model in (("sft", smoke / "results/sft/qa"), ("base", smoke / "resources/models/tiny")):
        one = predict(model, rows, budget, batch_size=1, max_new_tokens=16)
        many = predict(model, rows, budget, batch_size=batch_size, max_new_tokens=16)
        out[name] = sum(a != b for a, b in zip(one, many)) / len(rows)
        if name == "sft":
            timings["one_s"] = timed(lambda m=model: predict(m, rows, budget, batch_size=1, max_new_tokens=16), repeats)
            timings["batched_s"] = timed(
                lambda m=model: predict(m, rows, budget, batch_size=batch_size, max_new_tokens=16), repeats
            )
    return {
        "ratio": round(timings["one_s"][0] / timings["batched_s"][0], 2),
        "raw": {
            "one_s": timings["one_s"][1],
            "batched_s": timings["batched_s"][1],
            "mismatch_rate_sft": out["sft"],
            "mismatch_rate_base": out["base"],
        },
        "conditions": f"{len(rows)} QA test rows of the smoke run, batch {batch_size} vs 1, greedy, 16 new tokens, "
        "smoke SFT model (LoRA)",
    }


def dag_dryrun_5k(repeats):
    """`snakemake -n` with a 5,000-video local dataset added to the default config."""
    videos = WORK / "dag5k" / "videos"
    videos.mkdir(parents=True)
    for k in range(5000):
        (videos / f"v{k:04d}.mp4").touch()
    # MSAD from a 5,000-video local folder (with local annotations: synthetic ones need synthetic videos), so the
    # folder's 16 frame shards and everything downstream of them are in the DAG
    annotations = WORK / "dag5k" / "annotations"
    annotations.mkdir()
    extra = WORK / "dag5k" / "config.yaml"
    extra.write_text(
        f"datasets: {{msad: {{origin: local, path: {json.dumps(str(videos))}}}}}\n"
        f"annotations: {{vaubench: {{origin: local, path: {json.dumps(str(annotations))}}}}}\n"
        "frames: {shards: 16}\n"
    )
    wd = WORK / "dag5k" / "wd"
    wd.mkdir()
    med, raw = timed(lambda: snakemake(wd, "-n", "--quiet", configfiles=[REPO / "config.yaml", extra]), repeats)
    return {
        "value": round(med, 2),
        "raw": raw,
        "conditions": "default config with MSAD from a 5,000-video local folder, 16 frame shards per dataset",
    }


def whole_dag(workdir, configfiles, snakefile=REPO / "Snakefile", **kw):
    """Run the DAG under `vauflow budget` (wall time, peak RSS summed over the process tree); no config files: the
    workdir's config.yaml."""
    report = workdir / "budget.json"
    configs = ["--configfile", *configfiles] if configfiles else []
    # per-stage times come from the workdir's benchmark files
    sh(
        "vauflow",
        "budget",
        "--report",
        report,
        "--",
        "snakemake",
        "-s",
        snakefile,
        "--cores",
        "2",
        *configs,
        cwd=workdir,
        **kw,
    )
    return json.loads(report.read_text())


def baseline_dag(ours):
    """The default DAG of the BASELINE commit under the same measure, on this machine: a git worktree of it, its own
    package first on PYTHONPATH (as bench/byte_identity.py runs an older commit), this checkout's .venv. Returns its
    budget report and which of the outputs bench/byte_identity.py compares differ from those of `ours` (a workdir)."""
    from byte_identity import digests

    tree = WORK / "baseline"
    sh("git", "-C", REPO, "worktree", "prune")
    sh("git", "-C", REPO, "worktree", "add", "--detach", "--force", tree, BASELINE)
    try:
        report = whole_dag(tree, [], tree / "Snakefile", env=os.environ | {"PYTHONPATH": str(tree)})
        theirs, mine = digests(tree), digests(ours)
        return report, sorted(f for f in theirs | mine if theirs.get(f) != mine.get(f))
    finally:
        sh("git", "-C", REPO, "worktree", "remove", "--force", tree)


def rehearsal_tables_report():
    """The tables and report stages of the paper preset's rehearsal (presets/rehearsal.yaml: the real annotations,
    the sampled rows' real intervals), from the run's benchmark files."""
    wd = WORK / "rehearsal"
    wd.mkdir()
    shutil.copytree(REPO / "presets", wd / "presets")
    budget = whole_dag(wd, [REPO / "presets" / "rehearsal.yaml"])
    seconds = {
        name: float((wd / f"benchmarks/{name}.tsv").read_text().splitlines()[1].split("\t")[0])
        for name in ("tables", "plots")
    }
    return {
        "value": round(sum(seconds.values()), 2),
        "raw": seconds | {"rehearsal_wall_s": budget["wall_s"]},
        "conditions": "presets/rehearsal.yaml on 2 cores: tables + plots jobs",
    }


def noop_rerun(workdir, configfiles, repeats):
    def rerun():
        p = snakemake(workdir, configfiles=configfiles)
        assert "Nothing to be done" in p.stdout + p.stderr, p.stdout[-2000:] + p.stderr[-2000:]

    med, raw = timed(rerun, repeats)
    return {"value": round(med, 2), "raw": raw}


def our_grpo(smoke):
    """Our GRPO loop on the smoke run's QA rows and tiny model: (trainer, its params, the model folder)."""
    from vauflow.examples import run_rows
    from vauflow.grpo.loop import GRPO
    from vauflow.plan import grpo_params, load_config

    cfg = load_config(*SMOKE)
    params = grpo_params(cfg, "qa")
    data = {"vau": smoke / "results/vaubench/linked", "ball": smoke / "results/ball/linked"}
    rows, _ = run_rows(["qa"], data, params["datasets"], params["target"])
    init = smoke / "resources/models/tiny"
    return GRPO(init, rows, params, cfg["frames"]["budgets"]["train"], params["seed"]), params, init


def grpo_vision_videos_per_step(smoke, steps):
    """Videos through the vision tower per GRPO step / prompts per step (a forward hook counts the tower's video
    grids): the rollout, reference and policy passes, each once per prompt, make 3."""
    ours, params, _ = our_grpo(smoke)
    tower = next(m for name, m in ours.model.named_modules() if name.split(".")[-1] == "visual")
    videos = []

    def count(module, args, kwargs, out):
        videos.append(len(kwargs["grid_thw"] if "grid_thw" in kwargs else args[1]))

    tower.register_forward_hook(count, with_kwargs=True)
    per_step = []
    for step in range(steps):
        videos.clear()
        ours.train_step(step)
        per_step.append(sum(videos) / params["effective_batch"])
    return {
        "value": max(per_step),
        "raw": {"per_step": per_step, "tower_calls_last_step": len(videos)},
        "conditions": f"tiny model, {params['effective_batch']} prompts x G={params['num_generations']} per step, "
        f"beta {params['beta']} (a reference pass), method {params['method']}; the largest of {steps} steps",
    }


def grpo_step_vs_stock(smoke, repeats):
    """One GRPO step of our loop (video in every pass) vs stock TRL GRPOTrainer (video only at generation) on the
    same rows, model, group size and completion length."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from vauflow.model.load import load_model, load_processor

    ours, params, init = our_grpo(smoke)
    ours.train_step(0)  # warm-up
    step = iter(range(1, 10**6))
    ours_s, ours_raw = timed(lambda: ours.train_step(next(step)), repeats)

    batch = params["per_device_batch"]
    prompts = []
    for r in ours.prompts_for(0)[:batch]:
        video = smoke / "resources/videos" / r["dataset"] / r["video"]
        prompts.append(
            {
                "prompt": [
                    {
                        "role": "user",
                        "content": [{"type": "video", "path": str(video)}, {"type": "text", "text": r["question"]}],
                    }
                ],
                "images": [],
            }
        )
    times = []

    class Clock(TrainerCallback):
        def on_step_begin(self, *a, **k):
            self.t0 = time.perf_counter()

        def on_step_end(self, *a, **k):
            times.append(time.perf_counter() - self.t0)

    model, _ = load_model(init)
    lora = params["lora"]
    peft = (
        LoraConfig(
            r=lora["r"],
            lora_alpha=lora["alpha"],
            lora_dropout=lora["dropout"],
            target_modules=lora["target_regex"],
            modules_to_save=lora["modules_to_save"] or None,
        )
        if params["method"] == "lora"
        else None
    )
    args = GRPOConfig(
        output_dir=str(WORK / "trl"),
        per_device_train_batch_size=batch,
        num_generations=params["num_generations"],
        max_completion_length=params["max_completion_length"],
        max_steps=repeats + 1,
        report_to="none",
        use_cpu=True,
        beta=params["beta"],
        logging_steps=1,
        save_strategy="no",
        disable_tqdm=True,
        seed=params["seed"],
    )
    torch.manual_seed(params["seed"])
    GRPOTrainer(
        model=model,
        reward_funcs=[lambda completions, **kw: [float(len(str(c)) % 3) for c in completions]],
        args=args,
        train_dataset=Dataset.from_list(prompts * (repeats + 1)),
        processing_class=load_processor(init),
        callbacks=[Clock()],
        peft_config=peft,
    ).train()
    stock_s = statistics.median(times[1:])  # the first step warms up, as ours did
    return {
        "ratio": round(ours_s / stock_s, 2),
        "raw": {"ours_s": ours_raw, "stock_s": times[1:]},
        "conditions": f"tiny model, {batch} prompts x G={params['num_generations']}, "
        f"{params['max_completion_length']} new tokens, method {params['method']} in both; stock TRL skips "
        "the video in its log-prob passes, so it is a lower bound",
    }


def best_constant_interval_s(repeats):
    """Seconds of one TAG best-constant-interval baseline call on the real VAU-Bench annotations, trained on the
    MSAD + ECVA rows of val.csv (as TAG trains): the slowest of the test splits."""
    from vauflow.io import read_jsonl
    from vauflow.tasks.tag import best_constant_interval
    from vauflow.vaubench.build import build

    ann, built = WORK / "vau-bench" / "annotations", WORK / "vau-bench" / "built"
    ann.mkdir(parents=True)
    for csv in sorted(VAU_BENCH.glob("*.csv")):
        (ann / csv.name).symlink_to(csv)
    build(ann, built)
    train = [r for r in read_jsonl(built / "val" / "tag.jsonl") if r["dataset"] in ("msad", "ecva")]
    scored = [r["gt"] for r in train if r["scored"]]
    per = {}
    for split in sorted(d.name for d in built.glob("test_*")):
        test = read_jsonl(built / split / "tag.jsonl")
        per[split] = timed(lambda test=test: best_constant_interval(train, test), repeats)
    return {
        "value": round(max(med for med, _ in per.values()), 4),
        "raw": {f"{split}_s": raw for split, (_, raw) in per.items()},
        "conditions": f"real VAU-Bench CSVs; train: {len(scored)} scored MSAD + ECVA rows of val.csv (last end "
        f"{max(e for _, e in scored):g} s, 0.5 s grid); the slowest of {len(per)} test splits",
    }


# -- report --------------------------------------------------------------------------------------------------
def verdict(name, entry):
    if name not in GOALS:
        return None
    op, goal = GOALS[name]
    x = entry.get("ratio", entry.get("value"))
    return {">=": x >= goal, "<=": x <= goal, "<": x < goal}[op]


def markdown(results, meta):
    lines = [
        f"# vauflow benchmarks ({meta['mode']})",
        "",
        f"{meta['machine']}; medians of {meta['repeats']} repeats; raw timings in latest.json.",
        "",
        "| benchmark | measured | goal | met | conditions |",
        "|---|---|---|---|---|",
    ]
    for name, e in results.items():
        x = f"ratio {e['ratio']}" if "ratio" in e else f"{e.get('value')}"
        goal = " ".join(map(str, GOALS[name])) if name in GOALS else "-"
        met = {True: "yes", False: "**no**", None: "-"}[e.get("met")]
        lines.append(f"| {name} | {x} | {goal} | {met} | {e.get('conditions', '')} |")
    lines += [""] + [f"Skipped: {name} ({why})." for name, why in meta.get("skipped", {}).items()]
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--quick", action="store_true", help="small corpus, the smoke DAG instead of the default (<= 5 min)"
    )
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=str(RESULTS))
    a = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    durations = [30, 60] if a.quick else [30, 60, 90, 120, 30, 60, 90, 120]
    results, skipped = {}, {}

    def record(name, fn, *args):
        t0 = time.perf_counter()
        results[name] = fn(*args)
        results[name]["met"] = verdict(name, results[name])
        print(
            f"bench {name}: {results[name].get('ratio', results[name].get('value'))} "
            f"({time.perf_counter() - t0:.0f} s)",
            flush=True,
        )

    if VAU_BENCH.is_dir():
        record("best_constant_interval_s", best_constant_interval_s, a.repeats)
    else:
        skipped["best_constant_interval_s"] = f"{VAU_BENCH} is absent: no real VAU-Bench annotations"
        print(f"bench best_constant_interval_s: skipped ({skipped['best_constant_interval_s']})", flush=True)
    corpus = ucf_like_corpus(durations)
    record("frames_vs_ffmpeg", frames_vs_ffmpeg, corpus, "UCF-like", a.repeats)
    record("frames_sizing", frames_sizing, corpus, results["frames_vs_ffmpeg"])
    record("frame_cache_gb_per_1k_videos", frame_cache_size, corpus, durations)
    record("frames_memory_flat", frames_memory_flat, corpus)
    smoke = WORK / "smoke"
    smoke.mkdir()
    budget = whole_dag(smoke, SMOKE)  # the smoke DAG: models, SFT and GRPO runs for the benchmarks below
    results["smoke_dag_s"] = {"value": budget["wall_s"], "conditions": "tests/smoke/config.yaml, 2 cores", "met": None}
    results["smoke_dag_peak_rss_mb"] = {
        "value": budget["peak_rss_mb"],
        "conditions": "summed over the process tree",
        "met": None,
    }
    # the synthetic videos of the smoke run: many short clips (per-file overheads count)
    record("frames_vs_ffmpeg_synthetic", frames_vs_ffmpeg, smoke / "resources/videos", "synthetic", a.repeats)
    record("cache_vs_ondemand", cache_vs_ondemand, corpus, smoke / "resources/models/tiny", a.repeats)
    record("batched_eval_speedup", batched_eval_speedup, smoke, a.repeats)
    record("grpo_step_vs_stock", grpo_step_vs_stock, smoke, a.repeats)
    record("grpo_vision_videos_per_step", grpo_vision_videos_per_step, smoke, a.repeats)
    record("dag_dryrun_5k_s", dag_dryrun_5k, a.repeats)
    if a.quick:
        record("noop_rerun_s", noop_rerun, smoke, SMOKE, a.repeats)
        results["noop_rerun_s"]["conditions"] = "the smoke DAG (quick mode), nothing to do"
    else:
        default = WORK / "default"
        default.mkdir()
        budget = whole_dag(default, [REPO / "config.yaml"])
        results["default_dag_s"] = {
            "value": budget["wall_s"],
            "raw": budget["stages"],
            "conditions": "config.yaml, 2 cores",
        }
        results["default_dag_peak_rss_mb"] = {
            "value": budget["peak_rss_mb"],
            "conditions": "summed over the process tree",
        }
        base, differ = baseline_dag(default)
        results["default_dag_vs_baseline"] = {
            "ratio": round(budget["wall_s"] / base["wall_s"], 3),
            "raw": {
                "wall_s": budget["wall_s"],
                "baseline_wall_s": base["wall_s"],
                "peak_rss_mb": budget["peak_rss_mb"],
                "baseline_peak_rss_mb": base["peak_rss_mb"],
                "at_peak_rss": budget.get("at_peak_rss"),
                "outputs_differing_from_baseline": differ,  # of bench/byte_identity.py's: weights, tables, learning
            },
            "conditions": f"config.yaml, 2 cores: this checkout's default DAG / commit {BASELINE}'s (the start of "
            "the performance issue), one after the other",
        }
        for name in ("default_dag_s", "default_dag_vs_baseline", "default_dag_peak_rss_mb"):
            results[name]["met"] = verdict(name, results[name])
        record("noop_rerun_s", noop_rerun, default, [REPO / "config.yaml"], a.repeats)
        results["noop_rerun_s"]["conditions"] = "the default DAG, nothing to do"
        if VAU_BENCH.is_dir():
            record("rehearsal_tables_report_s", rehearsal_tables_report)
        else:
            skipped["rehearsal_tables_report_s"] = f"{VAU_BENCH} is absent: no real VAU-Bench annotations"
    meta = {
        "mode": "quick" if a.quick else "full",
        "repeats": a.repeats,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "skipped": skipped,
    }
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "latest.json").write_text(json.dumps({"meta": meta, "results": results}, indent=1) + "\n")
    (out / "latest.md").write_text(markdown(results, meta))
    print(markdown(results, meta))
    return 0


if __name__ == "__main__":
    sys.exit(main())
