# Two commands do everything: `make run` (the default workflow) and `make test` (the suite).
# Both depend on `make setup`: a .venv from requirements.lock with pip, and Debian's ffmpeg when missing.
SHELL := /bin/bash
VENV := .venv
STAMP := $(VENV)/.setup-done
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export PYTHONHASHSEED := 0

.PHONY: setup ffmpeg run test lint dryrun clean lock pin-images bench bench-quick report gpu-smoke

setup: ffmpeg $(STAMP)

# Debian's ffmpeg (torchcodec loads its libraries): installed only when missing, and only as root.
ffmpeg:
	@command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ffmpeg >/dev/null; \
	  else echo "vauflow: ffmpeg is missing; install it (apt-get install ffmpeg) or run make as root" >&2; exit 1; fi; }

# pip, not uv/poetry: pip honours the machine's local torch wheels and constraints.
$(STAMP): requirements.lock pyproject.toml envs/install-lock.sh
	python3 -m venv $(VENV)
	envs/install-lock.sh $(VENV)/bin/pip requirements.lock -q
	$(VENV)/bin/pip install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

run: setup
	vauflow unlock-stale
	vauflow budget --report logs/budget.json -- snakemake --cores all --report results/report.html --report-after-run

test: setup
	ruff check .
	ruff format --check .
	pytest tests

# the HTML report of a finished run, wherever it ran (e.g. after a SLURM run: make report ARGS="--configfile presets/paper.yaml")
report: setup
	snakemake --report results/report.html $(ARGS)

# the performance suite: bench/results/latest.{json,md} (full: about 25 min on 2 cores; quick: <= 5 min)
bench: setup
	python bench/suite.py

bench-quick: setup
	python bench/suite.py --quick

# the GPU path at the paper's scale on a bare GPU machine (no setup: the machine's own torch and transformers);
# prints `skipped: no CUDA device` without one. Figures: bench/results/gpu_smoke.json
gpu-smoke:
	mkdir -p bench/results && python3 bench/gpu_smoke.py --out bench/results/gpu_smoke.json

lint: setup
	ruff check .
	ruff format --check .
	snakefmt --check Snakefile workflow/
	snakemake --lint

dryrun: setup
	snakemake -n --cores 2

lock:
	$(VENV)/bin/pip freeze --exclude-editable | sort -f > requirements.lock.new
	{ echo "# Pinned lock of the whole environment (pip only: honours the local torch wheels). Regenerate: make lock"; cat requirements.lock.new; } > requirements.lock
	rm requirements.lock.new

# base-image digests into containers/*/Dockerfile (networked machine with crane or skopeo)
pin-images:
	bash containers/pin-images.sh

clean:
	rm -rf results resources logs benchmarks checkpoints .snakemake
