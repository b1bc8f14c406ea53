"""Download stage against a real HTTP server on 127.0.0.1: resume, retries, checksums, gated data, safe archives."""

import hashlib
import http.server
import io
import json
import tarfile
import threading
import time
import zipfile

import pytest
import yaml

from vauflow.download import DownloadError, fetch, safe_extract

from conftest import vauflow

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB


class Handler(http.server.BaseHTTPRequestHandler):
    files = {}
    drops = {}  # path -> number of responses still to cut short
    delay = {}  # path -> seconds before answering
    errors = {}  # path -> HTTP statuses to answer first, one per request
    requests = []

    def log_message(self, *a):
        pass

    def do_GET(self):
        Handler.requests.append((self.path, self.headers.get("Range")))
        time.sleep(Handler.delay.get(self.path, 0))
        if Handler.errors.get(self.path):
            self.send_error(Handler.errors[self.path].pop(0))
            return
        if self.path not in Handler.files:
            self.send_error(404)
            return
        data = Handler.files[self.path]
        start = 0
        if rng := self.headers.get("Range"):
            start = int(rng.split("=")[1].split("-")[0])
            if start >= len(data):
                self.send_error(416)
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if Handler.drops.get(self.path, 0) > 0:
            Handler.drops[self.path] -= 1
            self.wfile.write(body[: len(body) // 3])  # connection dropped mid-file
            self.wfile.flush()
            self.connection.close()
            return
        self.wfile.write(body)


@pytest.fixture
def server():
    Handler.files, Handler.drops, Handler.delay, Handler.errors, Handler.requests = {}, {}, {}, {}, []
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def test_resume_after_dropped_connection(server, tmp_path):
    Handler.files["/big.bin"] = PAYLOAD
    Handler.drops["/big.bin"] = 1
    fetch(f"{server}/big.bin", tmp_path / "big.bin", retries=3, timeout=5, backoff=0)
    assert (tmp_path / "big.bin").read_bytes() == PAYLOAD
    ranges = [r for p, r in Handler.requests if p == "/big.bin"]
    assert ranges[0] is None and ranges[1].startswith("bytes=") and ranges[1] != "bytes=0-"


def test_resume_from_partial_file(server, tmp_path):
    Handler.files["/big.bin"] = PAYLOAD
    (tmp_path / "big.bin.part").write_bytes(PAYLOAD[:1000])
    fetch(f"{server}/big.bin", tmp_path / "big.bin", timeout=5)
    assert (tmp_path / "big.bin").read_bytes() == PAYLOAD
    assert Handler.requests == [("/big.bin", "bytes=1000-")]


def test_server_errors_are_retried_then_reported(server, tmp_path):
    Handler.files["/flaky.bin"] = PAYLOAD
    Handler.errors["/flaky.bin"] = [500, 503]
    fetch(f"{server}/flaky.bin", tmp_path / "flaky.bin", retries=3, timeout=5, backoff=0)
    assert (tmp_path / "flaky.bin").read_bytes() == PAYLOAD and len(Handler.requests) == 3
    Handler.errors["/down.bin"] = [500] * 5
    with pytest.raises(DownloadError, match=r"HTTP 500 .*after 3 attempt"):
        fetch(f"{server}/down.bin", tmp_path / "down.bin", retries=3, timeout=5, backoff=0)
    assert not (tmp_path / "down.bin").exists()


def test_404_is_not_retried(server, tmp_path):
    with pytest.raises(DownloadError, match="HTTP 404"):
        fetch(f"{server}/missing.bin", tmp_path / "m", retries=3, timeout=5, backoff=0)
    assert len(Handler.requests) == 1


def test_slow_server_times_out_with_bounded_retries(server, tmp_path):
    Handler.files["/slow.bin"] = b"x"
    Handler.delay["/slow.bin"] = 2
    t0 = time.monotonic()
    with pytest.raises(DownloadError, match=r"after 2 attempt"):
        fetch(f"{server}/slow.bin", tmp_path / "s", retries=2, timeout=0.5, backoff=0)
    assert time.monotonic() - t0 < 10


def _manifest(tmp_path, datasets):
    m = tmp_path / "manifest.yaml"
    m.write_text(yaml.safe_dump({"datasets": datasets}))
    return m


def _download(tmp_path, manifest, dataset, **kw):
    return vauflow(
        "download",
        "--manifest",
        manifest,
        "--dataset",
        dataset,
        "--out",
        tmp_path / "out" / dataset,
        "--lock",
        tmp_path / "lock.json",
        "--partial-dir",
        tmp_path / "partial",
        "--quarantine-dir",
        tmp_path / "quarantine",
        "--retries",
        "2",
        "--timeout",
        "5",
        check=False,
        **kw,
    )


def test_checksum_mismatch_refused_and_quarantined(server, tmp_path):
    Handler.files["/a.csv"] = b"hello\n"
    m = _manifest(tmp_path, {"ann": {"files": [{"url": f"{server}/a.csv", "sha256": "0" * 64}]}})
    p = _download(tmp_path, m, "ann")
    assert p.returncode == 2 and p.stderr.strip().count("\n") == 0 and "sha256 mismatch" in p.stderr
    assert (tmp_path / "quarantine" / "ann" / "a.csv").read_bytes() == b"hello\n"
    assert not (tmp_path / "out" / "ann").exists()


def test_cited_checksum_passes(server, tmp_path):
    Handler.files["/a.csv"] = b"hello\n"
    m = _manifest(
        tmp_path, {"ann": {"files": [{"url": f"{server}/a.csv", "sha256": hashlib.sha256(b"hello\n").hexdigest()}]}}
    )
    assert _download(tmp_path, m, "ann").returncode == 0
    assert (tmp_path / "out" / "ann" / "a.csv").read_bytes() == b"hello\n"


def test_null_checksum_recorded_then_enforced(server, tmp_path):
    Handler.files["/t.csv"] = b"v1\n"
    m = _manifest(tmp_path, {"ann": {"files": [{"url": f"{server}/t.csv", "sha256": None}]}})
    p = _download(tmp_path, m, "ann")
    assert p.returncode == 0 and "no citable sha256" in p.stderr
    assert json.loads((tmp_path / "lock.json").read_text()) == {"ann/t.csv": hashlib.sha256(b"v1\n").hexdigest()}
    Handler.files["/t.csv"] = b"v2, changed upstream\n"
    (tmp_path / "partial" / "ann" / "t.csv").unlink()
    p = _download(tmp_path, m, "ann")
    assert p.returncode == 2 and "sha256 mismatch" in p.stderr


def test_gated_dataset_clear_message(tmp_path):
    m = _manifest(tmp_path, {"msad": {"gated": "MSAD needs a request form; then set origin: local."}})
    p = _download(tmp_path, m, "msad")
    assert p.returncode == 2 and "gated" in p.stderr and "request form" in p.stderr and "Traceback" not in p.stderr


def test_archive_extracted(server, tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("videos/a b.mp4", b"data")
    Handler.files["/v.zip"] = buf.getvalue()
    m = _manifest(tmp_path, {"vid": {"files": [{"url": f"{server}/v.zip", "sha256": None, "extract": True}]}})
    assert _download(tmp_path, m, "vid").returncode == 0
    assert (tmp_path / "out" / "vid" / "videos" / "a b.mp4").read_bytes() == b"data"


def _tar(tmp_path, add):
    path = tmp_path / "evil.tar"
    with tarfile.open(path, "w") as t:
        add(t)
    return path


def _member(t, name, data=b"x", **kw):
    info = tarfile.TarInfo(name)
    for k, v in kw.items():
        setattr(info, k, v)
    info.size = len(data) if info.type == tarfile.REGTYPE else 0
    t.addfile(info, io.BytesIO(data) if info.type == tarfile.REGTYPE else None)


@pytest.mark.parametrize(
    "add, why",
    [
        (lambda t: _member(t, "/etc/evil"), "unsafe member path"),
        (lambda t: _member(t, "../evil"), "unsafe member path"),
        (lambda t: _member(t, "link", type=tarfile.SYMTYPE, linkname="/etc/passwd"), "leaves the target"),
        (lambda t: _member(t, "d/link", type=tarfile.SYMTYPE, linkname="../../outside"), "leaves the target"),
    ],
)
def test_unsafe_archives_refused(tmp_path, add, why):
    target = tmp_path / "target"
    with pytest.raises(DownloadError, match=why):
        safe_extract(_tar(tmp_path, add), target)
    assert not (tmp_path / "evil").exists() and not (tmp_path / "outside").exists()


def test_zip_slip_refused(tmp_path):
    path = tmp_path / "evil.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("../../evil.txt", b"x")
    with pytest.raises(DownloadError, match="unsafe member path"):
        safe_extract(path, tmp_path / "t")
