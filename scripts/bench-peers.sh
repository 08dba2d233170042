#!/usr/bin/env bash
# Peer benchmark (issue 20, targets 1, 2 and the `files` part of 4): list the files of a
# version with tagkeeper (`tagkeeper files ... --json`, whole process) next to the in-process
# planning of pypaimon (pinned, testdata/requirements.txt) and of paimon-rust (the
# `pypaimon-rust==0.4.0` wheel: pypaimon with `scan.native-plan.enabled`), and tagkeeper's
# peak RSS. Medians of RUNS runs after a warm-up; see benches/peers/driver.py.
#
#   bash scripts/bench-peers.sh              # every shape below, 5 runs
#   RUNS=9 bash scripts/bench-peers.sh
#   SHAPES="many_py huge_100k" bash scripts/bench-peers.sh
#   PAIMON_RUST_BIN=1 bash scripts/bench-peers.sh   # also the old Rust runner (16-min build)
#
# Shapes (built once under target/bench-peers/tables/, rebuilt only when missing):
#   many_py      300 commits written by pypaimon (benches/peers/pypaimon_many_commits.py):
#                10 partitions, 2 partition overwrites, one small manifest per commit;
#                version: the tag `latest`                                      (target 1)
#   many_3000    the same shape synthetic (examples/synth): 3,000 commits, 10 partitions,
#                2 overwrites, manifests never merged (one per commit); tag of the last
#                snapshot                                                         (target 1)
#   huge_100k    synthetic, one commit of 100,000 files over 100 partitions: one
#                100,000-entry manifest; the latest snapshot                     (target 2)
#   huge_1m      the same with 1,000,000 entries; peak RSS of `files`        (targets 2, 4)
#                (pypaimon is left out of the huge shapes: minutes per run)
#
# Results: stdout and target/bench-peers/results.md (+ results.json with every run).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
TGT="${CARGO_TARGET_DIR:-$REPO/target}"
OUT="${BENCH_PEERS_OUT:-$REPO/target/bench-peers}"
RUNS="${RUNS:-5}"
SHAPES="${SHAPES:-many_py many_3000 huge_100k huge_1m}"
VENV="${BENCH_VENV:-$OUT/venv}"
log() { echo "bench-peers: $*" >&2; }

log "building tagkeeper (release) and the synth example"
cargo build --release --locked --quiet --bin tagkeeper --example synth
TK="$TGT/release/tagkeeper"
SYNTH="$TGT/release/examples/synth"

# A venv of its own: the pinned pypaimon plus the pypaimon-rust wheel (paimon-rust's planner
# without a Rust build), so the test venv (.venv) keeps exactly its pins.
PY="$VENV/bin/python"
if ! "$PY" -c 'import pypaimon, pypaimon_rust, fastavro' >/dev/null 2>&1; then
  log "creating $VENV (pinned pypaimon + pypaimon-rust==0.4.0)"
  python3 -m venv "$VENV"
  "$PY" -m pip install --disable-pip-version-check --quiet \
    -r testdata/requirements.txt pypaimon-rust==0.4.0 >&2
fi

PR_BIN_ARGS=()
if [ -n "${PAIMON_RUST_BIN:-}" ]; then
  log "building the paimon-rust runner (benches/peers/paimon-rust, own target dir)"
  (cd benches/peers/paimon-rust && cargo build --release --quiet --locked)
  PR_BIN_ARGS=(--paimon-rust-bin "$REPO/benches/peers/paimon-rust/target/release/paimon-rust-peer")
fi

mkdir -p "$OUT/tables"
built() { [ -f "$1/.built" ]; }
synth() { # DIR ARGS...
  local dir="$1"; shift
  if ! built "$dir"; then
    rm -rf "$dir"
    log "building $dir: synth $*"
    "$SYNTH" "$dir" "$@" >&2
    touch "$dir/.built"
  fi
}
TABLES=()
for shape in $SHAPES; do
  case "$shape" in
    many_py)
      dir="$OUT/tables/many_py/bench.db/many_commits"
      if ! built "$dir"; then
        rm -rf "$OUT/tables/many_py"
        log "writing 300 commits with pypaimon"
        "$PY" benches/peers/pypaimon_many_commits.py "$OUT/tables/many_py" --commits 300 >&2
        touch "$dir/.built"
      fi
      TABLES+=("300 commits (pypaimon)=$dir;versions=tag:latest") ;;
    many_3000)
      dir="$OUT/tables/many_3000"
      synth "$dir" --snapshots 3000 --files 3000 --tags 1 --partitions 10 \
        --overwrite-every 1500 --merge-min-count 1000000
      TABLES+=("3,000 commits (synthetic)=$dir;versions=midtag") ;;
    huge_100k)
      dir="$OUT/tables/huge_100k"
      synth "$dir" --snapshots 1 --files 100000 --tags 1 --partitions 100
      TABLES+=("100,000-entry manifest=$dir;versions=latest;skip=pypaimon") ;;
    huge_1m)
      dir="$OUT/tables/huge_1m"
      synth "$dir" --snapshots 1 --files 1000000 --tags 1 --partitions 100
      TABLES+=("1,000,000-entry manifest=$dir;versions=latest;skip=pypaimon") ;;
    *) log "unknown shape $shape"; exit 1 ;;
  esac
done

TK_VERSION="$("$TK" --version) ($(git rev-parse --short HEAD 2>/dev/null || echo unknown))"
PY_VERSION="$("$PY" -c 'from importlib.metadata import version as v; print("pypaimon", v("pypaimon") + ", pypaimon-rust", v("pypaimon-rust"))'), $("$PY" --version 2>&1)"
CPU="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"

HEADER="Peer benchmark, $(date -u +%Y-%m-%dT%H:%MZ): $(nproc) cores ($CPU), $(free -g | awk '/^Mem:/ { print $2 }') GiB RAM, local disk, warm page cache.
Medians of $RUNS runs after one warm-up run. tagkeeper: whole process; pypaimon and paimon-rust:
in-process planning only (after imports). Versions: $TK_VERSION; $PY_VERSION.

"
"$PY" benches/peers/driver.py \
  --tagkeeper "$TK" --python "$PY" --pypaimon-plan "$REPO/benches/peers/pypaimon_plan.py" \
  "${PR_BIN_ARGS[@]}" --runs "$RUNS" --work "$OUT/work" --results "$OUT/results.md" \
  --header "$HEADER" "${TABLES[@]}"
