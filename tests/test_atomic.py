"""No stage ever reads a half-written file: every output is written beside its target and renamed over it, so a
writer killed mid-write leaves the target absent (or as it was) and only a hidden temporary file behind, which the
readers skip."""

import json
import os
import signal
import subprocess
import sys

from vauflow.frames.extract import list_videos
from vauflow.io import read_jsonl

WRITER = """
import os, signal, sys
from vauflow.io import atomic_path, write_json, write_jsonl
kind, target = sys.argv[1], sys.argv[2]
if kind == "json":  # killed halfway through writing the text
    import pathlib
    def write_text(self, data, **kw):
        with open(self, "w") as f:
            f.write(data[: len(data) // 2])
            f.flush()
            os.kill(os.getpid(), signal.SIGKILL)
    pathlib.Path.write_text = write_text
    write_json(target, {"rows": list(range(10))})
elif kind == "jsonl":
    write_jsonl(target, ({"i": i} if i < 3 else os.kill(os.getpid(), signal.SIGKILL) for i in range(10)))
else:
    with atomic_path(target) as tmp:
        with open(tmp, "wb") as f:
            f.write(b"half a video")
            f.flush()
            os.kill(os.getpid(), signal.SIGKILL)
"""


def _killed_writer(kind, target):
    p = subprocess.run([sys.executable, "-c", WRITER, kind, str(target)], capture_output=True, text=True)
    assert p.returncode == -signal.SIGKILL, p.stderr


def test_a_writer_killed_mid_write_leaves_no_partial_target(tmp_path):
    for kind, name in (("json", "summary.json"), ("jsonl", "qa.jsonl"), ("bytes", "clip.mp4")):
        target = tmp_path / kind / name
        target.parent.mkdir()
        _killed_writer(kind, target)
        assert not target.exists(), kind
        leftovers = os.listdir(target.parent)
        assert all(f.startswith(".") and f.endswith(".tmp") for f in leftovers), leftovers
        assert leftovers or kind == "jsonl", kind  # (the rows generator dies before the file is opened)


def test_a_killed_rewrite_keeps_the_previous_version(tmp_path):
    target = tmp_path / "summary.json"
    target.write_text(json.dumps({"rows": [0]}))
    _killed_writer("json", target)
    assert json.loads(target.read_text()) == {"rows": [0]}
    target = tmp_path / "rows.jsonl"
    target.write_text('{"i": 0}\n')
    _killed_writer("jsonl", target)
    assert read_jsonl(target) == [{"i": 0}]


def test_readers_skip_the_temporary_files(tmp_path):
    _killed_writer("bytes", tmp_path / "clip.mp4")
    (tmp_path / "other.mp4.part").write_bytes(b"partial download")
    assert list_videos(tmp_path) == []
