"""`vauflow` command line: what the Snakemake rules call. Each subcommand imports only what it needs
(data stages never import torch). Errors a user can fix print as one line and exit 2."""

import argparse
import faulthandler
import json
import logging
import os
import signal
import sys


def _shard(text):
    try:
        i, k = (int(x) for x in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected i/K, got '{text}'") from None
    if not (k >= 1 and 0 <= i < k):
        raise argparse.ArgumentTypeError(f"shard {text}: need 0 <= i < K")
    return i, k


def _json(text):
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise argparse.ArgumentTypeError(f"not valid JSON: {e}") from None


def cmd_frames_extract(a):
    from vauflow.frames.budget import PAPER_BUDGETS, parse_budgets
    from vauflow.frames.extract import extract_dir

    budgets = parse_budgets(a.budgets) if a.budgets else PAPER_BUDGETS
    s = extract_dir(a.videos, a.out, shard=a.shard, budgets=budgets, dataset=a.dataset, threads=a.threads,
                    codec=a.codec, jpeg_quality=a.jpeg_quality)
    print(f"frames: {s['extracted']} extracted, {s['quarantined']} quarantined of {s['videos']} videos -> {a.out}")


def cmd_vaubench_build(a):
    from vauflow.vaubench.build import build

    s = build(a.annotations, a.out, sources=a.sources)
    for split, v in s.items():
        print(f"vaubench {split}: {v['rows']} rows, usable {v['usable']}")


def cmd_vaubench_link(a):
    from vauflow.vaubench.link import link_vaubench

    s = link_vaubench(a.annotations, a.frames, a.out, off=tuple(a.off))
    for split, tasks in s.items():
        print(f"link {split}: " + ", ".join(f"{t} {v['linked']}/{v['rows']}" for t, v in tasks.items()))


def cmd_ball_link(a):
    from vauflow.vaubench.link import link_ball

    s = link_ball(a.annotations, a.frames, a.out)
    print("ball: " + ", ".join(f"{k} {v['ball']['linked']}/{v['ball']['rows']}" for k, v in s.items()))


def cmd_synth_ball(a):
    from vauflow.synth.ball import generate

    client = None
    if a.params.get("cot_source") == "llm":
        from vauflow.llm import client_from_config

        client = client_from_config(a.llm, a.llm_cache)
    m = generate(a.params, a.seed, a.videos, a.annotations, llm_client=client)
    print(f"ball: {len(m['files'])} clips -> {a.videos}; rationales: {json.dumps(m['cot_sources'])}")


def cmd_synth_vau(a):
    from vauflow.synth.vau import generate

    m = generate(a.params, a.seed, a.sources, a.videos_root, a.annotations)
    print(f"synth-vau: {len(m['clips'])} clips -> {a.videos_root}")


def cmd_rehearsal(a):
    from vauflow.rehearsal import prepare, summary_line

    print(summary_line(prepare(a.source, a.annotations, a.videos_root, a.sources, a.rows_per_split, a.seed,
                               datasets=a.datasets)))


def cmd_download(a):
    from vauflow.download import download_dataset

    files = download_dataset(a.manifest, a.dataset, a.out, a.lock, a.partial_dir, a.quarantine_dir,
                             retries=a.retries, timeout=a.timeout)
    print(f"download {a.dataset}: {len(files)} file(s) -> {a.out}")


def cmd_config_check(a):
    from vauflow.plan import load_config

    cfg = load_config(*a.configfile)
    print(json.dumps(cfg, indent=2, sort_keys=True) if a.show else "config ok")


def cmd_memory(a):
    from vauflow.plan import load_config
    from vauflow.plan.memory import GPU_RULES, as_table, check_fits, plan_config

    gpus = dict.fromkeys(GPU_RULES, a.gpus)
    jobs, refusal = check_fits(plan_config(load_config(*a.configfile), gpus), a.gpu_gb)
    print(as_table(jobs) if a.markdown else json.dumps({"gpu_gb": a.gpu_gb, "jobs": jobs}, indent=1))
    if refusal:
        print(f"vauflow: {refusal}", file=sys.stderr)
    return 1 if refusal and a.check else 0


def cmd_budget(a):
    from vauflow.budget import run_with_budget

    return run_with_budget(a.command, a.report, a.benchmarks)


def cmd_model_build(a):
    from vauflow.model.build import build_tiny
    from vauflow.model.corpus import corpus_lines

    model = build_tiny(a.spec, corpus_lines({"vau": a.vau_linked, "ball": a.ball_linked}), a.out, a.seed)
    print(f"model {a.name}: {a.spec['class']}, {sum(p.numel() for p in model.parameters()):,} parameters -> {a.out}")


def cmd_model_fetch(a):
    from vauflow.model.fetch import fetch

    m = fetch(a.spec, a.out, a.lock)
    print(f"model {a.spec['repo']}@{m['revision']} = commit {m['commit']} -> {a.out} (locked in {a.lock})")


def cmd_sft(a):
    from vauflow.sft.train import train

    train(a.run, a.tasks, a.base, {"vau": a.vau_data, "ball": a.ball_data}, a.out, a.checkpoints, a.params,
          a.budget)


def cmd_grpo(a):
    from vauflow.grpo.loop import train

    train(a.run, a.tasks, a.init, {"vau": a.vau_data, "ball": a.ball_data}, a.out, a.checkpoints, a.params,
          a.budget)


def cmd_learning(a):
    from pathlib import Path

    from vauflow.evaluate.learning import check_all, markdown
    from vauflow.io import write_json, write_text

    summary = check_all(a.runs, a.sft, a.grpo, {"vau": a.vau_data, "ball": a.ball_data}, a.budget, seed=a.seed,
                        dtype=a.dtype)
    write_json(Path(a.out) / "summary.json", summary)
    write_text(Path(a.out) / "summary.md", markdown(summary))
    print(markdown(summary))


def cmd_eval_metrics(a):
    from vauflow.evaluate.scoring import paper_metrics

    print(json.dumps(paper_metrics(a.task, a.pred, a.gt, scoring=a.scoring)))


def cmd_eval_run(a):
    from pathlib import Path

    from vauflow.evaluate.infer import run_cells
    from vauflow.evaluate.scoring import score_cells
    from vauflow.io import atomic_dir, write_json

    from vauflow.processes import start_processes

    settings = a.settings
    cells = [tuple(c) for c in a.cells]

    def predict(out):
        return run_cells(a.model, cells, {"vau": a.vau_data, "ball": a.ball_data}, a.budgets, out, a.partial,
                         batch_size=settings["batch_size"], max_new_tokens=settings["max_new_tokens"],
                         prompts=settings["prompts"], repetition_penalty=settings["repetition_penalty"],
                         dtype=a.dtype)

    if start_processes()[0] > 0:  # another process of the job: its share of the predictions only
        predict(None)
        return
    with atomic_dir(a.out) as tmp:
        counts = predict(tmp / "predictions")
        scores = score_cells(cells, tmp / "predictions", {"vau": a.vau_data, "ball": a.ball_data}, settings)
        write_json(Path(tmp) / "metrics.json", {"model": str(a.model), "cells": scores, "predicted": counts})
    for name, m in scores.items():
        print(name, json.dumps({k: v for k, v in m.items() if k not in ("ious", "per_class", "strict")}))


def cmd_eval_tables(a):
    from pathlib import Path

    from vauflow.evaluate.tables import provenance, render, tables_csv, tables_tex
    from vauflow.io import write_json, write_text
    from vauflow.plan import eval_models, judged_models, scored_files

    config, data = a.config, {"vau": a.vau_data, "ball": a.ball_data}
    results = {m: json.loads((Path(a.eval) / m / "metrics.json").read_text())["cells"] for m in eval_models(config)}
    judged = {m: json.loads((Path(a.vau_eval) / f"{m}.json").read_text()) for m in judged_models(config)}
    data_files = [f for f in scored_files(config, a.built, data) if Path(f).exists()]
    md, obj, flat = render(config, results, a.built, data, provenance(config, a.repo, data_files), seed=a.seed,
                           vau_eval=judged)
    obj["vau_eval_scorer"] = {m: {k: j.get(k) for k in ("scorer", "label", "judge")} for m, j in judged.items()}
    write_text(Path(a.out) / "tables.md", md)
    write_json(Path(a.out) / "tables.json", obj)
    write_text(Path(a.out) / "tables.csv", tables_csv(flat))
    write_text(Path(a.out) / "tables.tex", tables_tex(flat))
    print(md)


def cmd_eval_judge(a):
    from pathlib import Path

    from vauflow.io import write_json
    from vauflow.plan import cell_name
    from vauflow.tasks.vau_eval import vau_eval

    files = {s: Path(a.eval) / "predictions" / f"{cell_name('reasoning', s, False)}.jsonl" for s in a.splits}
    result = vau_eval(files, a.vau_data, a.scorer, llm=a.llm, cache=a.cache)
    write_json(a.out, result)
    for split, r in result["splits"].items():
        means = {k: (round(v, 2) if v is not None else None) for k, v in r["means"].items()}
        print(f"{split}: {result['label']}: n={r['n']} skipped={len(r['skipped'])} failed={len(r['failed'])} "
              f"{json.dumps(means)}")


def cmd_report(a):
    from vauflow.report import figures

    for path in figures(a.config, a.tables, a.eval, a.built, a.sft, a.grpo, a.out):
        print(path)


def cmd_gpu_canary(a):
    from vauflow.canary import check
    from vauflow.io import UsageError, write_json

    try:
        report = check(a.expected)
    except RuntimeError as e:
        raise UsageError(str(e)) from None
    write_json(a.out, report)
    print(json.dumps(report))


def cmd_dvc(a):
    from vauflow import versioning

    if a.cmd == "init":
        versioning.init(a.workdir, a.remote)
        print(f"dvc: remote {a.remote}")
    elif a.cmd == "add":
        for path in versioning.add(a.workdir, a.what):
            print(f"dvc: tracking {path}")
        print(f"dvc: commit the .dvc files, .gitignore and {versioning.MTIMES} to git, then `vauflow dvc push`")
    elif a.cmd == "push":
        print(f"dvc: pushed {versioning.push(a.workdir)} files")
    elif a.cmd == "pull":
        out, restored = versioning.pull(a.workdir)
        print(f"dvc: pulled {json.dumps(out.get('stats', {}))}; restored the times of {restored} paths")


def cmd_demo(a):
    from vauflow.demo import demo

    out = demo(a.model, a.video, a.budget, task=a.task, prompt=a.prompt, think=a.think,
               max_new_tokens=a.max_new_tokens, prompts=a.prompts)
    print(f"task: {out['task'] or 'free text'}; prompt: {out['prompts']}{' (think)' if out['think'] else ''}")
    print(f"reply: {out['reply']}")
    print(f"answer: {json.dumps(out['answer'])}")


def cmd_launch(a):
    from vauflow.launch import launch

    args = a.command[1:] if a.command[:1] == ["--"] else a.command
    return launch(a.gpus, a.accelerate_config, a.port, args)


def cmd_unlock_stale(a):
    from vauflow.locks import unlock_if_stale

    if unlock_if_stale(a.directory):
        print("vauflow: removed stale Snakemake locks (no Snakemake process is running here)")


def build_parser():
    from vauflow import tasks

    p = argparse.ArgumentParser(prog="vauflow", description=__doc__)
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="group", required=True)

    fr = sub.add_parser("frames", help="frame cache").add_subparsers(dest="cmd", required=True)
    x = fr.add_parser("extract", help="decode every video under --videos once into the cache under --out")
    x.add_argument("--videos", required=True)
    x.add_argument("--out", required=True)
    x.add_argument("--shard", type=_shard, default=(0, 1), help="i/K: this job's share (stable hash of the path)")
    x.add_argument("--budgets", type=_json, help="JSON {consumer: {fps, min_frames, max_frames, min_pixels, ...}}")
    x.add_argument("--dataset", help="dataset name recorded in the cache (default: the folder name)")
    x.add_argument("--threads", type=int, default=2)
    x.add_argument("--codec", choices=["raw", "png", "jpeg"], default="raw",
                   help="how frames are stored: raw (fastest reads), png (lossless, smaller), jpeg (lossy, smallest)")
    x.add_argument("--jpeg-quality", type=int, default=95, choices=range(1, 101), metavar="1-100")
    x.set_defaults(func=cmd_frames_extract)

    vb = sub.add_parser("vaubench", help="VAU-Bench annotations").add_subparsers(dest="cmd", required=True)
    b = vb.add_parser("build", help="normalise annotation CSVs into per-split, per-task JSONL")
    b.add_argument("--annotations", required=True)
    b.add_argument("--out", required=True)
    b.add_argument("--sources", type=_json, help="JSON {source: {prefix, test_split, dataset}}")
    b.set_defaults(func=cmd_vaubench_build)
    lk = vb.add_parser("link", help="join built rows to the frame cache")
    lk.add_argument("--annotations", required=True, help="output folder of 'vaubench build'")
    lk.add_argument("--frames", required=True, nargs="+", help="frame-cache shard folders")
    lk.add_argument("--out", required=True)
    lk.add_argument("--off", nargs="*", default=[], help="datasets switched off: their rows are excluded as such")
    lk.set_defaults(func=cmd_vaubench_link)

    bl = sub.add_parser("ball", help="moving-ball set").add_subparsers(dest="cmd", required=True)
    x = bl.add_parser("link", help="join ball rows to the frame cache")
    x.add_argument("--annotations", required=True)
    x.add_argument("--frames", required=True, nargs="+")
    x.add_argument("--out", required=True)
    x.set_defaults(func=cmd_ball_link)

    sy = sub.add_parser("synth", help="synthetic datasets").add_subparsers(dest="cmd", required=True)
    x = sy.add_parser("ball")
    x.add_argument("--params", type=_json, required=True)
    x.add_argument("--seed", type=int, required=True)
    x.add_argument("--videos", required=True)
    x.add_argument("--annotations", required=True)
    x.add_argument("--llm", type=_json, default=None, help="JSON of the config's llm section (cot_source: llm)")
    x.add_argument("--llm-cache", default=None, help="resumable cache of LLM replies, outside Snakemake outputs")
    x.set_defaults(func=cmd_synth_ball)
    x = sy.add_parser("vau")
    x.add_argument("--params", type=_json, required=True)
    x.add_argument("--sources", type=_json, required=True)
    x.add_argument("--seed", type=int, required=True)
    x.add_argument("--videos-root", required=True)
    x.add_argument("--annotations", required=True)
    x.set_defaults(func=cmd_synth_vau)

    x = sub.add_parser("rehearsal", help="the paper preset's rehearsal data: real annotations, placeholder clips")
    x.add_argument("--source", required=True, help="folder of the public VAU-Bench annotation CSVs")
    x.add_argument("--annotations", required=True, help="output: the rehearsal's train/val/test CSVs")
    x.add_argument("--videos-root", required=True, help="output: one folder of placeholder clips per dataset")
    x.add_argument("--sources", type=_json, required=True, help="JSON {source: {prefix, test_split, dataset}}")
    x.add_argument("--datasets", nargs="*", default=None, help="write clips only for these datasets (default: all)")
    x.add_argument("--rows-per-split", type=int, required=True)
    x.add_argument("--seed", type=int, default=0)
    x.set_defaults(func=cmd_rehearsal)

    d = sub.add_parser("download", help="fetch one dataset of a download manifest")
    d.add_argument("--manifest", required=True)
    d.add_argument("--dataset", required=True)
    d.add_argument("--out", required=True)
    d.add_argument("--lock", required=True, help="JSON file recording sha256 values the manifest cannot cite")
    d.add_argument("--partial-dir", default="resources/partial")
    d.add_argument("--quarantine-dir", default="resources/quarantine")
    d.add_argument("--retries", type=int, default=3)
    d.add_argument("--timeout", type=float, default=30.0)
    d.set_defaults(func=cmd_download)

    c = sub.add_parser("config", help="configuration").add_subparsers(dest="cmd", required=True)
    x = c.add_parser("check", help="validate config file(s) merged left to right")
    x.add_argument("configfile", nargs="+")
    x.add_argument("--show", action="store_true", help="print the config with defaults filled in")
    x.set_defaults(func=cmd_config_check)

    x = sub.add_parser("memory", help="the memory plan: each GPU job's peak memory per GPU, before any GPU time")
    x.add_argument("--configfile", nargs="+", default=[], help="preset and overlays (default: config.yaml)")
    x.add_argument("--gpu-gb", type=float, default=80.0, help="memory of one GPU")
    x.add_argument("--gpus", type=int, default=1, help="GPUs per job (ZeRO-3 shards over them)")
    x.add_argument("--markdown", action="store_true", help="a table instead of JSON")
    x.add_argument("--check", action="store_true", help="exit 1 when a job does not fit")
    x.set_defaults(func=cmd_memory)

    mo = sub.add_parser("model", help="base models").add_subparsers(dest="cmd", required=True)
    x = mo.add_parser("build", help="build a tiny model locally: tokenizer trained on the workflow's text")
    x.add_argument("--name", required=True)
    x.add_argument("--spec", type=_json, required=True, help="JSON models.<name> entry of the config")
    x.add_argument("--vau-linked", required=True)
    x.add_argument("--ball-linked", required=True)
    x.add_argument("--seed", type=int, required=True)
    x.add_argument("--out", required=True)
    x.set_defaults(func=cmd_model_build)
    x = mo.add_parser("fetch", help="download a released checkpoint (needs internet), its commit and hashes locked")
    x.add_argument("--spec", type=_json, required=True)
    x.add_argument("--out", required=True)
    x.add_argument("--lock", default="models.lock.json", help="the model lock file (commit + sha256s)")
    x.set_defaults(func=cmd_model_fetch)

    for stage, init_help in (("sft", "model folder to start from"), ("grpo", "model folder to start from (base or SFT)")):
        x = sub.add_parser(stage, help=f"{stage.upper()} of one run (a task or a mix of tasks)")
        x.add_argument("--run", required=True, help="run name (a task or a mix name)")
        x.add_argument("--tasks", required=True, nargs="+", choices=tasks.trainable())
        x.add_argument("--base" if stage == "sft" else "--init", required=True, help=init_help)
        x.add_argument("--vau-data", required=True, help="linked VAU-Bench rows (results/vaubench/linked)")
        x.add_argument("--ball-data", required=True, help="linked ball rows (results/ball/linked)")
        x.add_argument("--out", required=True)
        x.add_argument("--checkpoints", required=True, help="checkpoint root, outside Snakemake outputs")
        x.add_argument("--params", type=_json, required=True, help=f"JSON resolved {stage} settings of this run")
        x.add_argument("--budget", type=_json, required=True, help="JSON video budget (frames.budgets.train)")
        x.set_defaults(func=cmd_sft if stage == "sft" else cmd_grpo)

    ev = sub.add_parser("eval", help="evaluation").add_subparsers(dest="cmd", required=True)
    x = ev.add_parser("metrics", help="the paper's metrics of one prediction file, as one JSON object (percent)")
    x.add_argument("--task", required=True, choices=[n for n, t in tasks.TASKS.items() if t.paper_metrics])
    x.add_argument("--pred", required=True, help='JSONL of {"video": <Video Name>, "response": <raw model text>}')
    x.add_argument("--gt", required=True, help="that task's JSONL from `vauflow vaubench build`")
    x.add_argument("--scoring", choices=["upstream", "strict"], default="upstream",
                   help="upstream = as the original VAU-R1 scripts score (the paper tables); strict = our parsers")
    x.set_defaults(func=cmd_eval_metrics)
    x = ev.add_parser("run", help="one model over its evaluation cells: predictions (JSONL + upstream CSV), metrics")
    x.add_argument("--model", required=True, help="model folder")
    x.add_argument("--cells", type=_json, required=True, help="JSON [[task, split, think], ...]")
    x.add_argument("--vau-data", required=True)
    x.add_argument("--ball-data", required=True)
    x.add_argument("--built", required=True, help="results/vaubench/built (the ground truth)")
    x.add_argument("--budgets", type=_json, required=True, help="JSON frames.budgets")
    x.add_argument("--settings", type=_json, required=True, help="JSON eval settings")
    x.add_argument("--partial", required=True, help="resumable partial predictions, outside Snakemake outputs")
    x.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"],
                   help="model.dtype: the compute dtype on GPUs (the CPU computes in float32)")
    x.add_argument("--out", required=True)
    x.set_defaults(func=cmd_eval_run)
    x = ev.add_parser("tables", help="tables A, B, C and the ball table from the evaluation jobs")
    x.add_argument("--config", type=_json, required=True, help="JSON of the validated config")
    x.add_argument("--eval", required=True, help="results/eval")
    x.add_argument("--vau-eval", required=True, help="results/vau_eval (VAU-Eval of Table A's models)")
    x.add_argument("--built", required=True)
    x.add_argument("--vau-data", required=True, help="results/vaubench/linked (the scored rows and what was lost)")
    x.add_argument("--ball-data", required=True)
    x.add_argument("--repo", required=True, help="the workflow's checkout (provenance)")
    x.add_argument("--seed", type=int, default=0)
    x.add_argument("--out", required=True)
    x.set_defaults(func=cmd_eval_tables)
    x = ev.add_parser("judge", help="VAU-Eval of one model's reasoning predictions (LLM judge or offline proxy)")
    x.add_argument("--eval", required=True, help="the model's evaluation folder (results/eval/<model>)")
    x.add_argument("--vau-data", required=True, help="results/vaubench/linked (the ground truth of the rows run)")
    x.add_argument("--splits", type=_json, required=True, help="JSON list of test splits")
    x.add_argument("--scorer", choices=["proxy", "llm"], required=True)
    x.add_argument("--llm", type=_json, default=None, help="JSON of the config's llm section (the key stays in the "
                   "environment variable it names)")
    x.add_argument("--cache", default=None, help="resumable cache of judge replies, outside Snakemake outputs")
    x.add_argument("--out", required=True)
    x.set_defaults(func=cmd_eval_judge)

    x = sub.add_parser("report", help="figures for snakemake --report: training curves, accuracy, IoU, confusion")
    x.add_argument("--config", type=_json, required=True, help="JSON of the validated config")
    x.add_argument("--tables", required=True, help="results/tables/tables.json")
    x.add_argument("--eval", required=True, help="results/eval")
    x.add_argument("--built", required=True, help="results/vaubench/built")
    x.add_argument("--sft", nargs="*", default=[], help="SFT run folders")
    x.add_argument("--grpo", nargs="*", default=[], help="GRPO run folders")
    x.add_argument("--out", required=True)
    x.set_defaults(func=cmd_report)

    x = sub.add_parser("gpu-canary", help="fail loudly unless this job sees exactly the GPUs it asked for")
    x.add_argument("--expected", type=int, required=True, help="GPUs the rule asked for ({resources.gpu})")
    x.add_argument("--out", required=True)
    x.set_defaults(func=cmd_gpu_canary)

    dv = sub.add_parser("dvc", help="version the boundary data with DVC (inputs in, final outputs out)")
    dsub = dv.add_subparsers(dest="cmd", required=True)
    x = dsub.add_parser("init", help="a DVC repository here (a git checkout) with its default remote")
    x.add_argument("--remote", default="../vauflow-dvc-remote",
                   help="local path (default: beside the checkout) or s3://bucket/prefix (needs dvc-s3)")
    x = dsub.add_parser("add", help="track the boundary folders present: videos and annotations in, the frozen "
                        "VAU-Bench, final models and tables out (never frames or intermediates)")
    x.add_argument("--what", choices=["inputs", "outputs", "all"], default="all")
    dsub.add_parser("push", help="upload the tracked data to the remote")
    dsub.add_parser("pull", help="download the tracked data, with the modification times it had when added")
    for x in dsub.choices.values():
        x.add_argument("--workdir", default=".", help="the workflow's working directory (a git checkout)")
        x.set_defaults(func=cmd_dvc)

    x = sub.add_parser("demo", help="one video through a model: prints the reply and the parsed answer")
    x.add_argument("--model", required=True, help="model folder (base, SFT or GRPO output)")
    x.add_argument("--video", required=True, help="a video file")
    x.add_argument("--task", choices=tasks.demo_tasks(), default=None,
                   help="default: the task the model was trained on (none: free text)")
    x.add_argument("--prompts", choices=["training", "paper"], default=None,
                   help="default: training for a model trained here (its manifest), paper for any other")
    x.add_argument("--think", action="store_true", default=None, help="the think prompt (default: as trained)")
    x.add_argument("--prompt", default=None, help="free prompt without a task (default: the paper's description one)")
    x.add_argument("--budget", type=_json, default=None, help="JSON video budget (default: as trained, or the "
                   "paper's inference budget)")
    x.add_argument("--max-new-tokens", type=int, default=256)
    x.set_defaults(func=cmd_demo)

    x = sub.add_parser("learning", help="held-out check that SFT and GRPO runs learned from the video")
    x.add_argument("--runs", type=_json, required=True,
                   help='JSON {grpo run: {"tasks": [...], "sft": the SFT run it started from, or null}}')
    x.add_argument("--sft", required=True, help="folder of SFT run outputs (results/sft)")
    x.add_argument("--grpo", required=True, help="folder of GRPO run outputs (results/grpo)")
    x.add_argument("--vau-data", required=True)
    x.add_argument("--ball-data", required=True)
    x.add_argument("--budget", type=_json, required=True, help="JSON video budget (frames.budgets.train)")
    x.add_argument("--seed", type=int, default=0)
    x.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"],
                   help="model.dtype: the compute dtype on a GPU (the CPU computes in float32)")
    x.add_argument("--out", required=True)
    x.set_defaults(func=cmd_learning)

    x = sub.add_parser("launch", help="run a vauflow command on CPU or through accelerate on N GPUs")
    x.add_argument("--gpus", type=int, default=0)
    x.add_argument("--accelerate-config", default=None)
    x.add_argument("--port", type=int, default=29500)
    x.add_argument("command", nargs=argparse.REMAINDER)
    x.set_defaults(func=cmd_launch)

    x = sub.add_parser("unlock-stale", help="remove Snakemake locks left by a killed run (none alive here)")
    x.add_argument("--directory", default=".")
    x.set_defaults(func=cmd_unlock_stale)

    bu = sub.add_parser("budget", help="run a command, report wall time and peak RSS against the budget")
    bu.add_argument("--report", default="logs/budget.json")
    bu.add_argument("--benchmarks", default="benchmarks")
    bu.add_argument("command", nargs=argparse.REMAINDER)
    bu.set_defaults(func=cmd_budget)
    return p


def main(argv=None):
    from vauflow.io import UsageError

    args = build_parser().parse_args(argv)
    # `kill -USR1 <pid>` prints every thread's stack into the job's log: where a stuck job is stuck
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    from vauflow.training import EXIT_RESUME, PREEMPTED_MARKER, Preempted

    try:
        return args.func(args) or 0
    except Preempted as e:
        print(f"vauflow: {e}", file=sys.stderr)
        if os.environ.get(PREEMPTED_MARKER):  # under vauflow launch on GPUs: accelerate reports 1, the marker 75
            open(os.environ[PREEMPTED_MARKER], "a").close()
        return EXIT_RESUME
    except UsageError as e:
        print(f"vauflow: error: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # the config module's errors are user errors too
        from vauflow.config import ConfigError
        from vauflow.llm import LLMError

        if isinstance(e, (ConfigError, LLMError)):
            print(f"vauflow: error: {e}", file=sys.stderr)
            return 2
        raise
