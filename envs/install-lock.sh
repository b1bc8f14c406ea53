#!/usr/bin/env bash
# Install requirements.lock with pip: everything but DeepSpeed first, then DeepSpeed from its sdist against the
# torch just installed (its setup.py imports torch, so no build isolation; DS_BUILD_OPS=0: its ops compile just in
# time, CPU Adam included). Used by `make setup` and the train/eval images, so all three hold the same versions.
# usage: install-lock.sh PIP LOCKFILE [pip options...]
set -euo pipefail
pip=$1 lock=$2
shift 2
rest=$(mktemp)
trap 'rm -f "$rest"' EXIT
grep -v '^deepspeed==' "$lock" > "$rest"
"$pip" install "$@" -r "$rest"
deepspeed=$(grep '^deepspeed==' "$lock" || true)
if [ -n "$deepspeed" ]; then
  DS_BUILD_OPS=0 "$pip" install "$@" --no-deps --no-build-isolation "$deepspeed"
fi
