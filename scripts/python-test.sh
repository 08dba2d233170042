#!/usr/bin/env bash
# The Python package (python/): build the wheel with the pinned maturin, install it in a fresh
# venv with the pinned test dependencies, and run its pytest suite (python/tests) against the
# committed pypaimon and Java fixtures. Everything goes under target/python-test/ (or
# $CARGO_TARGET_DIR/python-test/). Usage: bash scripts/python-test.sh
#
# The wheel is built with the dev profile (the one `cargo test` uses: dependencies at
# opt-level 1), so that CI reuses the dependencies the Rust tests already built instead of a
# release build with LTO (minutes on 2 cores); a release wheel is `maturin build --release`.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
BASE_PY="${PYTHON:-python3}"
TARGET="${CARGO_TARGET_DIR:-$REPO/target}"
WORK="$TARGET/python-test"
VENV="$WORK/venv"

log() { echo "python-test.sh: $*" >&2; }

rm -rf "$VENV" "$WORK/wheels"
mkdir -p "$WORK"
log "fresh venv $VENV with $("$BASE_PY" --version 2>&1)"
"$BASE_PY" -m venv "$VENV"
VPY="$VENV/bin/python"
"$VPY" -m pip install --disable-pip-version-check --quiet -r python/requirements-build.txt -r python/requirements-test.txt

log "building the wheel (maturin, dev profile)"
(cd python && "$VENV/bin/maturin" build --locked --profile dev -i "$VPY" -o "$WORK/wheels" >&2)
shopt -s nullglob
wheels=("$WORK"/wheels/tagkeeper-*.whl)
if [ "${#wheels[@]}" -ne 1 ]; then
  log "error: expected one wheel in $WORK/wheels, found ${#wheels[@]}"
  exit 1
fi
"$VPY" -m pip install --disable-pip-version-check --quiet --no-deps "${wheels[0]}"

log "pytest python/tests"
# The CLI that `cargo test` built (scripts/test.sh runs it first): test_cli_parity.py compares
# its saved plans with the Python ones (skipped when there is none).
export TAGKEEPER_BIN="${TAGKEEPER_BIN:-$TARGET/debug/tagkeeper}"
# From the repository root, so that `import tagkeeper` is the installed wheel, not python/tagkeeper.
# Under the local S3 server (moto on loopback), for python/tests/test_s3.py.
bash scripts/with-moto.sh "$VENV/bin/pytest" -q -p no:cacheprovider python/tests
