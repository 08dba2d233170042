#!/usr/bin/env bash
# Reproduce every number in docs/PERFORMANCE.md on this machine, in one command:
#   bash scripts/bench.sh            # the default grid (about 20 min on 2 cores)
#   BUILD=1 bash scripts/bench.sh    # also a cold release build: time and binary size (8+ min)
#   FULL=1 bash scripts/bench.sh     # also the build and the 1,000,000-file tables (much
#                                    # longer, ~8 GiB RAM)
# Results: target/bench/*.txt and *.md, and target/bench-peers/results.md (the peer step
# builds its own venv with the pinned pypaimon and the pypaimon-rust==0.4.0 wheel).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
mkdir -p target/bench

step() { printf '\n== %s\n' "$*" >&2; }

{
  echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(free -g | awk '/Mem:/ {print $2}') GiB RAM"
  echo "rustc: $(rustc --version)"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
} | tee target/bench/machine.txt

step "Building a 10,000-snapshot, 100,000-file table through the commit path"
cargo bench --bench build_synthetic | tee target/bench/build_synthetic.txt

step "Expiring 1,000 of 10,000 snapshots: fast path, nearest-tag rule, brute force"
cargo bench --bench expire | tee target/bench/expire.txt

step "Issue 20 targets 3 and 5: rollback-to --purge vs expiring the same range; 20 ms per request at concurrency 1..128"
cargo bench --bench targets | tee target/bench/targets.txt

if [ "${FULL:-0}" = 1 ]; then
  step "Peak RSS on a 1,000,000-file table (S=10,000): expire-snapshots and the orphan scan"
  cargo build --release --locked --bin tagkeeper --example synth
  T1M="${T1M:-target/bench/t1m}"
  if [ ! -d "$T1M/snapshot" ]; then
    target/release/examples/synth "$T1M" --snapshots 10000 --files 1000000 --tags 20 \
      --partitions 100 --overwrite-every 10 --overwrite-until 1500 --placeholders
  fi
  NOW="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  /usr/bin/time -v target/release/tagkeeper expire-snapshots "$T1M" --retain-min 1 \
    --max-deletes 1000 --older-than "$NOW" --dry-run --json >/dev/null 2>target/bench/rss-expire.txt
  /usr/bin/time -v target/release/tagkeeper remove-orphan-files "$T1M" --older-than "$NOW" \
    --force --dry-run --json >/dev/null 2>target/bench/rss-orphans.txt
  grep -H -E "Maximum resident|Elapsed" target/bench/rss-*.txt
fi

step "Every operation over the grid of table sizes (and 20 ms latency)"
if [ "${FULL:-0}" = 1 ]; then
  SCALE_F="${SCALE_F:-10000,100000,1000000}" cargo bench --bench scale | tee target/bench/scale.txt
else
  cargo bench --bench scale | tee target/bench/scale.txt
fi

if [ "${BUILD:-0}" = 1 ] || [ "${FULL:-0}" = 1 ]; then
  step "Issue 20 target 6: a cold release build into an empty target directory, and the binary's size"
  COLD="$(mktemp -d)"
  /usr/bin/time -f "cold release build: %e s wall, %U s user" -o target/bench/build.txt \
    env CARGO_TARGET_DIR="$COLD" cargo build --release --locked --bin tagkeeper
  echo "binary: $(stat -c %s "$COLD/release/tagkeeper") bytes" >> target/bench/build.txt
  rm -rf "$COLD"
  cat target/bench/build.txt
fi

step "Peers side by side (issue 20 targets 1, 2, 4): tagkeeper files vs pypaimon and paimon-rust planning, peak RSS"
bash scripts/bench-peers.sh | tee target/bench/peers.txt

echo "results in target/bench/ and target/bench-peers/results.md" >&2
