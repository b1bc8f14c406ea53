import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
VENV_BIN = Path(sys.executable).parent
SESSION_START = time.monotonic()
_terminal = []  # pytest's terminal reporter, once the session has started


def pytest_sessionstart(session):
    if (reporter := session.config.pluginmanager.get_plugin("terminalreporter")) is not None:
        _terminal.append(reporter)


def pytest_runtest_logreport(report):
    """CI keeps only the tail of its log: each slow test says, as it ends, how long it took and when."""
    if report.when == "call" and report.duration >= 20 and _terminal:
        _terminal[0].write_line(
            f"\n[{time.monotonic() - SESSION_START:5.0f} s] {report.nodeid}: "
            f"{report.outcome} in {report.duration:.0f} s"
        )


def env():
    e = dict(os.environ)
    e["PATH"] = f"{VENV_BIN}:{e.get('PATH', '')}"
    e["HF_HUB_OFFLINE"] = e["TRANSFORMERS_OFFLINE"] = "1"
    e["PYTHONHASHSEED"] = "0"
    return e


def run(cmd, cwd=REPO, check=True, timeout=600, env_extra=None, **kw):
    p = subprocess.run(
        cmd, cwd=cwd, env=env() | (env_extra or {}), capture_output=True, text=True, timeout=timeout, **kw
    )
    if check and p.returncode != 0:
        raise AssertionError(f"{cmd} failed ({p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    return p


def snakemake(*args, workdir=REPO, configfiles=(), check=True, timeout=600):
    cmd = ["snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(workdir), "--cores", "2", *args]
    if configfiles:  # last: --configfile takes every following word
        cmd += ["--configfile", *map(str, configfiles)]
    return run(cmd, cwd=workdir, check=check, timeout=timeout)


def vauflow(*args, check=True, **kw):
    return run([str(VENV_BIN / "vauflow"), *map(str, args)], check=check, **kw)


def load_merged(*paths):
    """The validated config of `snakemake --configfile PATHS` run in a copy of the checkout."""
    from vauflow.plan import load_config

    return load_config(*paths, default=REPO / "config.yaml")


@pytest.fixture
def workdir(tmp_path):
    """A working directory for a workflow run, holding the relative paths the config refers to."""
    shutil.copy(REPO / "config.yaml", tmp_path / "config.yaml")
    shutil.copytree(REPO / "presets", tmp_path / "presets")
    return tmp_path


@pytest.fixture(scope="session")
def ffmpeg():
    exe = shutil.which("ffmpeg")
    if not exe:
        pytest.fail("ffmpeg is missing: `make setup` installs it")
    return exe


def make_video(
    ffmpeg_exe,
    path,
    src="testsrc=size=64x48:rate=8:duration=2",
    extra=(),
    codec=("-c:v", "libx264", "-pix_fmt", "yuv420p"),
):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([ffmpeg_exe, "-v", "error", "-y", "-f", "lavfi", "-i", src, *codec, *extra, str(path)], check=True)
    return path


SMOKE = REPO / "tests" / "smoke" / "config.yaml"


@pytest.fixture(scope="session")
def smoke_models(tmp_path_factory):
    """A smoke-config workdir with linked data and both tiny models, built by the workflow itself."""
    wd = tmp_path_factory.mktemp("smoke-models")
    shutil.copy(REPO / "config.yaml", wd / "config.yaml")
    snakemake(
        "resources/models/tiny", "resources/models/tiny-qwen2vl", workdir=wd, configfiles=[REPO / "config.yaml", SMOKE]
    )
    return wd


def smoke_config():
    return load_merged(REPO / "config.yaml", SMOKE)


@pytest.fixture(scope="session")
def real_built(tmp_path_factory):
    """The real VAU-Bench annotation CSVs (../shared/vau-bench) through `vauflow vaubench build`."""
    real = SHARED / "vau-bench"
    if not real.is_dir():
        pytest.skip(f"{real} is absent: real VAU-Bench annotations unavailable")
    out = tmp_path_factory.mktemp("real-built")
    vauflow("vaubench", "build", "--annotations", real, "--out", out)
    return out


class FaultServer:
    """Serves /v1/chat/completions; each request takes the next scripted action, then answers normally."""

    def __init__(self, script=()):
        self.script, self.seen = list(script), []
        self.default = None  # the reply when the script is exhausted (None: echo the last message)
        self.delay = 0.0  # seconds before every reply
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.seen.append({"auth": self.headers.get("Authorization"), "body": body})
                action = outer.script.pop(0) if outer.script else ("ok", outer.default)
                time.sleep(outer.delay)
                kind = action[0]
                if kind == "sleep":
                    time.sleep(action[1])
                    kind = "ok"
                if kind in ("429", "500", "503", "401"):
                    self.send_response(int(kind))
                    if kind == "429":
                        self.send_header("Retry-After", str(action[1]))
                    self.end_headers()
                    return
                if kind == "garbage":
                    payload = b"<html>bad gateway</html>"
                else:
                    text = action[1] if len(action) > 1 and action[1] else "echo: " + body["messages"][-1]["content"]
                    payload = json.dumps(
                        {
                            "choices": [{"message": {"role": "assistant", "content": text}}],
                            "model": body["model"] + "-v9",
                            "system_fingerprint": "fp_test",
                        }
                    ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
