#!/usr/bin/env bash
# Peer benchmark: plan the file list of a snapshot and of a tag with
#   tagkeeper (`tagkeeper files ... --json`), pypaimon (pinned, testdata/requirements.txt)
#   and paimon-rust (crates.io `paimon`, benches/peers/paimon-rust/),
# against a "raw read" baseline (reading the bytes of the version's JSON, manifest lists and
# manifests, nothing else). Whole-process wall times, median of RUNS runs after a warm-up.
#
#   bash scripts/bench-peers.sh                  # default grid, 5 runs
#   RUNS=9 bash scripts/bench-peers.sh
#   BENCH_PEERS_1M=1 bash scripts/bench-peers.sh # also S=1000,F=1000000,T=20 (slow to build)
#   GRID="1000:10000:20 200:2000:10" bash scripts/bench-peers.sh   # S:F:T triples
#
# Tables are built once under target/bench-peers/ (rebuilt only when missing). Results:
# stdout and target/bench-peers/results.md (+ results.json with every run's time).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
OUT="$REPO/target/bench-peers"
RUNS="${RUNS:-5}"
PARTITIONS="${PARTITIONS:-100}"
GRID="${GRID:-1000:10000:20 1000:100000:20 10000:100000:20}"
if [ -n "${BENCH_PEERS_1M:-}" ]; then
  GRID="$GRID 1000:1000000:20"
fi
log() { echo "bench-peers: $*" >&2; }

log "building tagkeeper (release) and the synth example"
cargo build --release --quiet --bin tagkeeper --example synth
TK="$REPO/target/release/tagkeeper"
SYNTH="$REPO/target/release/examples/synth"

log "building the paimon-rust runner (benches/peers/paimon-rust, own target dir)"
(cd benches/peers/paimon-rust && cargo build --release --quiet --locked)
PR="$REPO/benches/peers/paimon-rust/target/release/paimon-rust-peer"

log "ensuring the pinned pypaimon venv"
PY="$(bash scripts/venv.sh | tail -n 1)"

mkdir -p "$OUT/tables"
TABLES=()
for cell in $GRID; do
  IFS=: read -r S F T <<<"$cell"
  dir="$OUT/tables/s${S}_f${F}_t${T}_p${PARTITIONS}"
  if [ ! -f "$dir/.built" ]; then
    rm -rf "$dir"
    log "building table S=$S F=$F T=$T P=$PARTITIONS at $dir"
    "$SYNTH" "$dir" --snapshots "$S" --files "$F" --tags "$T" --partitions "$PARTITIONS" >&2
    touch "$dir/.built"
  fi
  TABLES+=("$S/$F/$T=$dir")
done

TK_VERSION="$("$TK" --version) ($(git rev-parse --short HEAD 2>/dev/null || echo unknown))"
PY_VERSION="pypaimon $("$PY" -c 'from importlib.metadata import version; print(version("pypaimon"))'), $("$PY" --version 2>&1)"
PR_VERSION="paimon $(awk '/^name = "paimon"$/ { getline; gsub(/[^0-9.]/, "", $0); print; exit }' benches/peers/paimon-rust/Cargo.lock) (crates.io), $(rustc --version)"
CPU="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"

HEADER="Peer benchmark, $(date -u +%Y-%m-%dT%H:%MZ): $(nproc) cores ($CPU), $(free -g | awk '/^Mem:/ { print $2 }') GiB RAM, local disk, warm page cache.
Median of $RUNS whole-process wall times (seconds) after one warm-up run; tables built by
\`examples/synth\` with $PARTITIONS partitions. Versions: $TK_VERSION; $PY_VERSION; $PR_VERSION.

"
"$PY" benches/peers/driver.py \
  --tagkeeper "$TK" --python "$PY" --pypaimon-plan "$REPO/benches/peers/pypaimon_plan.py" \
  --paimon-rust "$PR" --runs "$RUNS" --work "$OUT/work" --results "$OUT/results.md" \
  --header "$HEADER" "${TABLES[@]}"
