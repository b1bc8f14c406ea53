"""The budget report's stage times: side-by-side jobs count once."""

import os
import signal
import subprocess
import time

from vauflow.ops.budget import stage_times, union_length

from conftest import VENV_BIN


def test_union_length_counts_overlaps_once():
    assert union_length([]) == 0
    assert union_length([(0, 10), (5, 12), (20, 21)]) == 13
    assert union_length([(0, 10), (2, 3)]) == 10


def test_stage_time_is_the_union_of_job_intervals(tmp_path):
    def bench(rel, seconds, end):
        f = tmp_path / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(f"s\th:m:s\tmax_rss\n{seconds}\t0:00:10\t100.5\n")
        os.utime(f, (end, end))

    bench("sft/qa.tsv", 10, 1000)  # 990-1000
    bench("sft/tag.tsv", 10, 1004)  # 994-1004: overlaps qa
    bench("grpo/qa.tsv", 5, 1010)
    s = stage_times(tmp_path)
    assert s["SFT"] == {"s": 14.0, "job_s": 20.0, "max_rss_mb": 100.5, "jobs": 2}
    assert s["GRPO (all runs)"]["s"] == 5.0


def test_sigusr1_prints_every_thread_stack(tmp_path):
    """`kill -USR1` of a stuck vauflow job prints where each of its threads is (here the budget's sampler thread
    and the main thread waiting on its command), and the job carries on."""
    proc = subprocess.Popen(
        [str(VENV_BIN / "vauflow"), "budget", "--report", str(tmp_path / "b.json"), "--", "sleep", "3"],
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(1.5)  # past argument parsing, inside the command
    proc.send_signal(signal.SIGUSR1)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "in _run" in err and "in run_with_budget" in err, err  # the sampler thread and the main thread
