#!/usr/bin/env bash
# Reproduce every number in docs/PERFORMANCE.md on this machine, in one command:
#   bash scripts/bench.sh            # the default grid (about 20 min on 2 cores)
#   BUILD=1 bash scripts/bench.sh    # also a cold release build: time and binary size (8+ min)
#   FULL=1 bash scripts/bench.sh     # also the build and the 1,000,000-file table: peak RSS of
#                                    # files, expire-snapshots, the orphan scan and rollback-to,
#                                    # and the scale bench at S=10,000 F=1,000,000 T=20 (about
#                                    # 35 min on 2 cores, 7 of them building the table once, which
#                                    # later runs reuse; ~11 GiB RAM; T1M=DIR names the table)
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
  step "Issue 20 target 4: peak RSS on a 1,000,000-file table (S=10,000)"
  cargo build --release --locked --bin tagkeeper --example synth
  T1M="${T1M:-target/bench/t1m}"
  if [ ! -d "$T1M/snapshot" ]; then
    /usr/bin/time -f "built in %e s" target/release/examples/synth "$T1M" --snapshots 10000 \
      --files 1000000 --tags 20 --partitions 100 --overwrite-every 10 --overwrite-until 1500 \
      --placeholders
  fi
  NOW="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  LATEST="$(ls "$T1M/snapshot" | sed -n 's/^snapshot-//p' | sort -n | tail -1)"
  /usr/bin/time -v target/release/tagkeeper files "$T1M" --json \
    >/dev/null 2>target/bench/rss-files.txt
  /usr/bin/time -v target/release/tagkeeper expire-snapshots "$T1M" --retain-min 1 \
    --max-deletes 1000 --older-than "$NOW" --dry-run --json >/dev/null 2>target/bench/rss-expire.txt
  /usr/bin/time -v target/release/tagkeeper remove-orphan-files "$T1M" --older-than "$NOW" \
    --force --dry-run --json >/dev/null 2>target/bench/rss-orphans.txt
  # Not one of target 4's commands; measured so the docs can say what it costs.
  /usr/bin/time -v target/release/tagkeeper rollback-to "$T1M" --snapshot "$((LATEST - 10))" \
    --dry-run --json >/dev/null 2>target/bench/rss-rollback.txt
  grep -H -E "Maximum resident|Elapsed" target/bench/rss-*.txt

  step "Every operation at S=10,000 F=1,000,000 T=20 (in memory; one run each)"
  SCALE_S=10000 SCALE_F=1000000 SCALE_T=20 RUNS=1 SCALE_LATENCY_MS=0 \
    SCALE_MD=target/bench/scale-1m.md cargo bench --bench scale | tee target/bench/scale-1m.txt
fi

step "Every operation over the grid of table sizes (and 20 ms latency)"
cargo bench --bench scale | tee target/bench/scale.txt

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
