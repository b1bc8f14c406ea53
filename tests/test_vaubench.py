"""VAU-Bench build and link: the paper's denominators on the real CSVs; every bad row excluded with a reason."""

import csv
import io
import json

import numpy as np
import pytest

from vauflow.annotation import COLUMNS, answer_letter, canonical_class, parse_reasoning
from vauflow.frames.cache import FrameCache
from vauflow.vaubench.build import build
from vauflow.vaubench.link import link_rows

from conftest import vauflow


@pytest.fixture(scope="module")
def real_summary(real_built):
    return real_built, json.loads((real_built / "summary.json").read_text())


def test_real_rows_and_paper_denominators(real_summary):
    _, s = real_summary
    assert {k: s[k]["rows"] for k in ("val", "test_msad", "test_ucf_crime", "test_ecva")} == {
        "val": 734,
        "test_msad": 240,
        "test_ucf_crime": 290,
        "test_ecva": 438,
    }
    assert s["test_msad"]["usable"]["qa"] == 240 and s["test_ucf_crime"]["usable"]["qa"] == 251
    assert {k: s[k]["usable"]["tag_scored"] for k in ("test_msad", "test_ecva", "test_ucf_crime")} == {
        "test_msad": 120,
        "test_ecva": 402,
        "test_ucf_crime": 124,
    }


def test_real_counts_reconcile(real_summary):
    _, s = real_summary
    for split, v in s.items():
        for task in ("qa", "tag", "cls", "reasoning"):
            assert v["usable"][task] + sum(v["excluded"][task].values()) == v["rows"], (split, task)


def test_real_quirks_normalised(real_summary):
    out, _ = real_summary
    qa = [json.loads(x) for x in (out / "test_msad" / "qa.jsonl").read_text().splitlines()]
    full = [r for r in qa if r["full_text_option"]]
    assert len(full) == 8 and all(r["answer"] in "ABCD" for r in full)
    tag = [json.loads(x) for x in (out / "test_msad" / "tag.jsonl").read_text().splitlines()]
    normal = [r for r in tag if not r["scored"]]
    assert len(normal) == 120 and all(r["gt"] == [-1.0, -1.0] and r["label"] == "Normal" for r in normal)
    ecva = [json.loads(x) for x in (out / "test_ecva" / "tag.jsonl").read_text().splitlines()]
    assert sum(r["quirk"] == "normal_with_interval" for r in ecva) == 2
    rs = {
        f: [json.loads(x) for x in (out / f / "reasoning.jsonl").read_text().splitlines()] for f in ("test_ecva", "val")
    }
    assert {r["reasoning_format"] for r in rs["test_ecva"]} == {"dict"}
    assert {r["reasoning_format"] for r in rs["val"]} == {"markdown"}
    train = [json.loads(x) for x in (out / "val" / "cls.jsonl").read_text().splitlines()]
    assert {r["dataset"] for r in train} == {"msad", "ucf_crime", "ecva"}
    assert not any(r["video"].startswith(("msad_", "ucf_", "ecva_")) for r in train)


def test_parsers():
    assert answer_letter("D. Green trash bin tipping over") == "D" and answer_letter(" b ") == "B"
    assert answer_letter("-1") is None and answer_letter("Dog") is None
    assert canonical_class("traffic accident") == "Traffic_accident" and canonical_class("Burglary") == "Stealing"
    assert canonical_class("-1") is None
    sections, fmt = parse_reasoning("### Specific Anomaly Type: Fire ### Location: street ### Conclusion: bad")
    assert fmt == "markdown" and sections["Specific Anomaly Type"] == "Fire" and sections["Conclusion"] == "bad"


def _row(**kw):
    base = {
        "Video Name": "msad_a.mp4",
        "Question": "Q?",
        "Option 1": "o1",
        "Option 2": "o2",
        "Option 3": "o3",
        "Option 4": "o4",
        "Correct Option": "A",
        "Key Object": "k",
        "Description": "d",
        "Reasoning": "### Specific Anomaly Type: Fire ### Conclusion: c",
        "Anomaly Class": "Fire",
        "Start Time": "1.0",
        "End Time": "2.0",
    }
    return base | kw


def _write(path, rows, header=COLUMNS, tail=""):
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=header, lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    w.writerows(rows)
    path.write_bytes(
        buf.getvalue().encode() + tail.encode() if isinstance(tail, str) else buf.getvalue().encode() + tail
    )


def test_faulty_rows_excluded_with_reasons(tmp_path):
    ann = tmp_path / "ann"
    ann.mkdir()
    rows = [
        _row(),
        _row(**{"Video Name": "msad_a.mp4"}),  # duplicate
        _row(**{"Video Name": "msad_b.mp4", "Start Time": "abc"}),
        _row(**{"Video Name": "msad_c.mp4", "Start Time": "5", "End Time": "2"}),
        _row(**{"Video Name": "msad_d.mp4", "Start Time": "-3", "End Time": "2"}),
        _row(**{"Video Name": "msad_e.mp4", "Anomaly Class": "Alien invasion"}),
        _row(**{"Video Name": "zzz_f.mp4"}),
        _row(**{"Video Name": "msad_../../etc/passwd"}),
        _row(**{"Video Name": "msad_g.mp4", "Correct Option": "maybe"}),
        _row(**{"Video Name": "msad_h", "Start Time": "00:05", "End Time": "01:02"}),
    ]
    _write(
        ann / "train.csv",
        rows,
        tail=b'msad_i.mp4,Q,o,o,o,o,A,k,d,r,Fire,1.0,2.0\nmsad_j.mp4,Q,o,o,o,o,A,k,d,r\xff\xfe,Fire,1.0,2.0\nmsad_k.mp4,"unterminated',
    )
    s = build(ann, tmp_path / "out")["train"]
    assert s["rows"] == 13
    ex = s["excluded"]
    assert ex["qa"] == {
        "duplicate_video": 1,
        "unknown_source": 1,
        "bad_video_name": 1,
        "bad_correct_option": 1,
        "non_utf8_bytes": 1,
        "malformed_row": 1,
    }
    assert ex["tag"]["bad_time"] == 1 and ex["tag"]["unordered_interval"] == 1 and ex["tag"]["negative_time"] == 1
    assert ex["cls"]["unknown_class"] == 1
    for task in ("qa", "tag", "cls", "reasoning"):
        assert s["usable"][task] + sum(ex[task].values()) == s["rows"]
    tag = {
        json.loads(x)["video_name"]: json.loads(x) for x in (tmp_path / "out/train/tag.jsonl").read_text().splitlines()
    }
    assert tag["msad_h"]["gt"] == [5.0, 62.0] and tag["msad_h"]["video"] == "h.mp4"


def test_missing_columns_refused_with_one_line(tmp_path):
    ann = tmp_path / "ann"
    ann.mkdir()
    _write(ann / "val.csv", [_row()], header=[c for c in COLUMNS if c != "End Time"])
    p = vauflow("vaubench", "build", "--annotations", ann, "--out", tmp_path / "o", check=False)
    assert p.returncode == 2 and p.stderr.strip().count("\n") == 0 and "'End Time'" in p.stderr


def test_link_excludes_missing_quarantined_and_past_end(tmp_path):
    shard = tmp_path / "shard-0"
    (shard / "frames").mkdir(parents=True)
    meta = {
        "key": "k1",
        "duration": 10.0,
        "fps": 2.0,
        "total_frames": 20,
        "indices": [0, 1],
        "times": [0, 0.5],
        "native_hw": [8, 8],
    }
    np.save(shard / "frames" / "k1.npy", np.zeros((2, 8, 8, 3), np.uint8))
    (shard / "index.json").write_text(json.dumps({"ok.mp4": meta}))
    (shard / "quarantine.jsonl").write_text(json.dumps({"video": "bad.mp4", "reason": "empty file"}) + "\n")
    (shard / "summary.json").write_text(json.dumps({"dataset": "msad"}))
    rows = [
        {"dataset": "msad", "video": "ok.mp4", "end": 9.9},
        {"dataset": "msad", "video": "ok.mp4", "end": 12.0},
        {"dataset": "msad", "video": "bad.mp4"},
        {"dataset": "msad", "video": "gone.mp4"},
        {"dataset": "ecva", "video": "ok.mp4"},
    ]
    linked, excluded = link_rows(rows, FrameCache([shard]))
    assert len(linked) == 1 and linked[0]["frames"]["key"] == "k1"
    assert excluded == {"interval_past_end": 1, "video_quarantined": 1, "video_missing": 2}
    # an interval past the video's end leaves TAG only: QA, CLS and reasoning rows of that video stay
    linked, excluded = link_rows(rows, FrameCache([shard]), check_interval=False)
    assert len(linked) == 2 and excluded == {"video_quarantined": 1, "video_missing": 2}


def test_raw_cells_kept_for_upstream_scoring(real_summary):
    """What the original scripts compare with: the raw Correct Option, the "-1" classes (scored, never trained on),
    and the Description / Reasoning cells byte for byte for the judge."""
    import csv as csv_mod

    from conftest import SHARED

    out, s = real_summary
    qa = [json.loads(x) for x in (out / "test_msad" / "qa.jsonl").read_text().splitlines()]
    assert sum(r["correct_option"] != r["answer"] for r in qa) == 8
    cls = [json.loads(x) for x in (out / "test_ucf_crime" / "cls.jsonl").read_text().splitlines()]
    assert len(cls) == 290 and sum(not r["labelled"] for r in cls) == 39
    assert {r["class"] for r in cls if not r["labelled"]} == {"-1"}
    assert s["test_ucf_crime"]["usable"]["cls_labelled"] == 251
    with open(SHARED / "vau-bench" / "test_ucf_crime.csv", encoding="utf-8", newline="") as f:
        cells = {r["Video Name"]: (r["Description"], r["Reasoning"]) for r in csv_mod.DictReader(f)}
    rs = [json.loads(x) for x in (out / "test_ucf_crime" / "reasoning.jsonl").read_text().splitlines()]
    assert len(rs) == 290 and all((r["gt_description"], r["gt_analysis"]) == cells[r["video_name"]] for r in rs)


def test_link_cli_reconciles_on_real_annotations(real_summary, tmp_path):
    """Real annotations against an empty cache: every row excluded as video_missing, none lost."""
    built, s = real_summary
    shard, videos = tmp_path / "empty", tmp_path / "MSAD"
    videos.mkdir()  # a real (empty) frame-cache shard of a folder holding none of MSAD's videos
    vauflow("frames", "extract", "--videos", videos, "--out", shard, "--dataset", "msad")
    # a folder holding none of a dataset's videos is a wrong folder or naming scheme: one line, an example name
    p = vauflow(
        "vaubench", "link", "--annotations", built, "--frames", shard, "--out", tmp_path / "linked", check=False
    )
    assert p.returncode == 2 and p.stderr.strip().count("\n") == 0, p.stderr
    assert "dataset msad: none of its" in p.stderr and str(videos) in p.stderr and "'Assault_1.mp4'" in p.stderr
    (shard / "summary.json").write_text(json.dumps({"dataset": "other"}))
    vauflow("vaubench", "link", "--annotations", built, "--frames", shard, "--out", tmp_path / "linked")
    ls = json.loads((tmp_path / "linked" / "summary.json").read_text())
    for split, tasks in ls.items():
        for task, v in tasks.items():
            assert v["rows"] == s[split]["usable"][task] and v["excluded"] == {"video_missing": v["rows"]}


def _shard(path, dataset, videos):
    """A frame-cache shard holding `videos` (relative paths) of one dataset."""
    (path / "frames").mkdir(parents=True)
    meta = {"duration": 10.0, "fps": 2.0, "total_frames": 20, "indices": [0, 1], "times": [0, 0.5], "native_hw": [8, 8]}
    index = {}
    for k, rel in enumerate(videos):
        np.save(path / "frames" / f"k{k}.npy", np.zeros((2, 8, 8, 3), np.uint8))
        index[rel] = meta | {"key": f"k{k}"}
    (path / "index.json").write_text(json.dumps(index))
    (path / "quarantine.jsonl").write_text("")
    (path / "summary.json").write_text(json.dumps({"dataset": dataset, "videos_dir": f"/data/{dataset}"}))
    return path


def test_videos_found_by_name_in_sub_folders(tmp_path):
    """UCF-Crime unpacks into one folder per class: a row's video is found by name anywhere under the dataset's
    folder; two files with one name stop with one line naming them."""
    from vauflow.io import UsageError

    cache = FrameCache([_shard(tmp_path / "s", "ucf_crime", ["Abuse/Abuse001_x264.mp4", "Normal_Videos/N_1.mp4"])])
    rows = [
        {"dataset": "ucf_crime", "video": "Abuse001_x264.mp4"},
        {"dataset": "ucf_crime", "video": "N_1.mp4"},
        {"dataset": "ucf_crime", "video": "Gone.mp4"},
    ]
    linked, excluded = link_rows(rows, cache)
    assert [r["frames"]["key"] for r in linked] == ["k0", "k1"] and excluded == {"video_missing": 1}
    dup = FrameCache([_shard(tmp_path / "d", "ucf_crime", ["A/x.mp4", "B/x.mp4"])])
    with pytest.raises(UsageError, match=r"2 videos are named 'x.mp4' \(A/x.mp4, B/x.mp4\)"):
        link_rows([{"dataset": "ucf_crime", "video": "x.mp4"}], dup)
