"""Run a command (the whole workflow) and report wall time and peak RSS, summed over its process tree and
sampled at 10 Hz, plus per-stage times from Snakemake benchmark files, against the budget."""

import csv
import subprocess
import threading
import time
from pathlib import Path

import psutil

from vauflow.io import write_json

# seconds per stage on 2 cores; whole DAG <= 600 s and <= 4 GB. Re-balanced when think and reasoning were trained
# (issue 20; measured 142 s SFT, 79 s GRPO, 151 s eval of a 340-s run): SFT 120 -> 180, eval 150 -> 250
BUDGET = {"total_s": 600, "peak_rss_mb": 4096}
STAGES = {
    "data + frames": (
        60,
        (
            "synth_ball",
            "synth_vau",
            "download",
            "extract_frames",
            "size_frames",
            "vaubench_build",
            "vaubench_link",
            "ball_link",
        ),
    ),
    "tiny model build": (10, ("build_model",)),
    "SFT": (180, ("sft",)),
    "GRPO (all runs)": (180, ("grpo",)),
    "eval": (250, ("evaluate", "learning_check", "learning_summary", "vau_eval")),
    "tables + report": (30, ("tables", "plots")),
}
SAMPLE_HZ = 10


class TreeRSS:
    """Peak of the summed RSS of a process and all its descendants, and what made it (`at_peak`: each process's
    RSS in MB and its command, largest first)."""

    def __init__(self, pid):
        self.root = psutil.Process(pid)
        self.peak = 0
        self.at_peak = []
        self.samples = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            total, each = 0, []
            try:
                procs = [self.root] + self.root.children(recursive=True)
            except psutil.Error:
                procs = []
            for p in procs:
                try:
                    rss = p.memory_info().rss
                    each.append((rss, p))
                    total += rss
                except psutil.Error:
                    pass
            if total > self.peak:
                each.sort(key=lambda x: -x[0])
                self.peak, self.at_peak = total, [(round(rss / 2**20), _command(p)) for rss, p in each]
            self.samples += 1
            self._stop.wait(1 / SAMPLE_HZ)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()


def _command(process):
    """A process's command in a few words (the vauflow stage, else the program)."""
    try:
        words = process.cmdline()
    except psutil.Error:
        return "?"
    if "vauflow" in " ".join(words[:3]):
        start = next((i for i, w in enumerate(words) if w == "--"), None)
        words = words[start + 1 :] if start is not None else words[1:]
        return " ".join(w for w in words[:4] if not w.startswith("{"))[:80]
    return " ".join(Path(w).name if i == 0 else w for i, w in enumerate(words[:2]))[:80]


def union_length(intervals):
    total, end = 0.0, float("-inf")
    for a, b in sorted(intervals):
        if b > end:
            total += b - max(a, end)
            end = b
    return total


def stage_times(benchmarks_dir):
    """{stage: {"s", "job_s", "max_rss_mb", "jobs"}} from Snakemake benchmark TSVs. `s` is the stage's wall time:
    the union of its jobs' run intervals (a benchmark file is written as its job ends: [mtime - s, mtime]), so
    jobs that run side by side on the 2 cores count once; `job_s` is their summed wall time."""
    out = {}
    for stage, (_, rules) in STAGES.items():
        intervals, job_s, rss = [], 0.0, 0.0
        for rule in rules:
            root = Path(benchmarks_dir)
            for f in sorted(root.glob(f"{rule}/**/*.tsv")) + sorted(root.glob(f"{rule}.tsv")):
                end = f.stat().st_mtime
                with open(f) as fh:
                    for row in csv.DictReader(fh, delimiter="\t"):
                        intervals.append((end - float(row["s"]), end))
                        job_s += float(row["s"])
                        rss = max(rss, float(row["max_rss"]) if row["max_rss"] not in ("NA", "-") else 0.0)
        if intervals:
            out[stage] = {
                "s": round(union_length(intervals), 2),
                "job_s": round(job_s, 2),
                "max_rss_mb": round(rss, 1),
                "jobs": len(intervals),
            }
    return out


def run_with_budget(command, report, benchmarks_dir):
    if command and command[0] == "--":
        command = command[1:]
    t0 = time.monotonic()
    proc = subprocess.Popen(command)
    with TreeRSS(proc.pid) as meter:
        rc = proc.wait()
    wall = time.monotonic() - t0
    stages = stage_times(benchmarks_dir)
    result = {
        "command": command,
        "returncode": rc,
        "wall_s": round(wall, 2),
        "peak_rss_mb": round(meter.peak / 2**20, 1),
        "rss_samples": meter.samples,
        "at_peak_rss": [{"mb": mb, "process": cmd} for mb, cmd in meter.at_peak],
        "sample_hz": SAMPLE_HZ,
        "budget": BUDGET,
        "stages": {k: v | {"budget_s": STAGES[k][0]} for k, v in stages.items()},
    }
    write_json(report, result)
    print(format_report(result))
    return rc


def format_report(r):
    ok = lambda v, b: "ok" if v <= b else "OVER"  # noqa: E731
    lines = [
        f"budget: wall {r['wall_s']:.1f} s / {r['budget']['total_s']} s [{ok(r['wall_s'], r['budget']['total_s'])}], "
        f"peak RSS {r['peak_rss_mb']:.0f} MB / {r['budget']['peak_rss_mb']} MB "
        f"[{ok(r['peak_rss_mb'], r['budget']['peak_rss_mb'])}] ({r['rss_samples']} samples at {r['sample_hz']} Hz)"
    ]
    if r.get("at_peak_rss"):
        lines.append("budget:   at the peak: " + ", ".join(f"{p['process']} {p['mb']} MB" for p in r["at_peak_rss"]))
    for k, v in r["stages"].items():
        lines.append(
            f"budget:   {k:<18} {v['s']:7.1f} s / {v['budget_s']} s [{ok(v['s'], v['budget_s'])}] "
            f"({v['jobs']} jobs, {v['job_s']:.1f} job-s, max RSS {v['max_rss_mb']:.0f} MB)"
        )
    return "\n".join(lines)


def main(a):
    """`vauflow budget`."""
    return run_with_budget(a.command, a.report, a.benchmarks)
