#!/usr/bin/env bash
# Run every test of tagkeeper: the Rust suites, then the checks against the real peer
# (pinned pypaimon in a local venv) and Java Paimon (interop/java), then the Python package
# (python/: its wheel in a fresh venv, pytest). Installs what it needs;
# needs only cargo, python3, apt (for a JDK and Maven when missing) and access to crates.io,
# PyPI and Maven Central. Usage: bash scripts/test.sh
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

step() { printf '\n== %s\n' "$*" >&2; }

step "Python venv with pinned pypaimon (the real peer)"
PY="$(bash scripts/venv.sh | tail -n 1)"
export TAGKEEPER_PYTHON="$PY"

step "Java Paimon peer: build interop/java, and check a fresh run of the Java generator reads like testdata/java"
# Installs the JDK and Maven from Debian when missing; Maven dependencies go to ~/.m2.
bash scripts/java-peer.sh build >/dev/null
bash scripts/java-peer.sh verify-generate

step "Rust tests (unit, integration, CLI, bad input, crash sweep, pypaimon and Java interop, S3 protocol on moto)"
bash scripts/with-moto.sh cargo test --locked --all-targets

step "Doc tests"
cargo test --locked --doc

step "Peer check: pinned pypaimon reads the committed fixtures exactly as recorded"
fail=0
checked=0
for expected in testdata/expected/*.json; do
  table="$(basename "$expected" .json)"
  if ! "$PY" scripts/peer/pypaimon_peer.py describe "testdata/warehouse/default.db/$table" > "target/peer-$table.json"; then
    echo "pypaimon could not describe $table" >&2; fail=1; continue
  fi
  if ! cmp -s "target/peer-$table.json" "$expected"; then
    echo "pypaimon now reads $table differently from testdata/expected/$table.json:" >&2
    diff -u "$expected" "target/peer-$table.json" | head -40 >&2 || true
    fail=1
  fi
  checked=$((checked + 1))
done
if [ "$fail" -ne 0 ]; then
  echo "peer check: FAILED" >&2
  exit 1
fi
echo "peer check: $checked passed, 0 failed"

step "Python package: build the wheel, install it in a fresh venv, run its pytest suite"
bash scripts/python-test.sh
