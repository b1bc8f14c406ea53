"""The budget report's stage times: side-by-side jobs count once."""

import os

from vauflow.budget import stage_times, union_length


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
