#!/usr/bin/env bash
# Java Paimon as a reference peer (interop/java). Builds the harness once, then runs it.
#
#   bash scripts/java-peer.sh build                 build only (prints the harness classpath)
#   bash scripts/java-peer.sh regenerate            rewrite testdata/java/{warehouse,expected}
#   bash scripts/java-peer.sh verify-generate       a fresh run reads like the committed one
#   bash scripts/java-peer.sh describe TABLE        any Harness command (see Harness.java)
#   bash scripts/java-peer.sh read-all TABLE
#   bash scripts/java-peer.sh maintain TABLE OP ...
#
# Installs default-jdk-headless and maven from Debian only when java/mvn are missing. Maven
# dependencies go to the normal local repository (~/.m2); the build runs offline when they are
# cached there. The JVM runs in UTC so watermark/day tags do not depend on the machine.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
J="$REPO/interop/java"

ensure_tools() {
  if ! command -v java >/dev/null || ! command -v mvn >/dev/null; then
    echo "java-peer: installing default-jdk-headless and maven" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-jdk-headless maven >&2
  fi
}

build() {
  # Maven leaves classpath.txt alone when it is unchanged: a stamp of our own dates the build.
  local stamp="$J/harness/target/.built"
  local newest
  newest="$(find "$J" -path '*/target' -prune -o -type f \( -name '*.java' -o -name pom.xml \) -newer "$stamp" -print 2>/dev/null | head -1 || true)"
  if [ -f "$stamp" ] && [ -f "$J/harness/target/classpath.txt" ] && [ -f "$J/legacy09/target/classpath.txt" ] && [ -z "$newest" ]; then
    return 0
  fi
  ensure_tools
  echo "java-peer: building interop/java" >&2
  # Offline first (quiet: a fresh machine has no plugins yet, and that is not an error);
  # online when something is missing.
  if ! (cd "$J" && mvn -q -o -B package >/dev/null 2>&1); then
    (cd "$J" && mvn -q -B package >&2)
  fi
  touch "$stamp"
}

run() {
  local module="$1" main="$2"; shift 2
  # Paimon's bundle logs through SLF4J with no binding: drop that three-line notice.
  java -Duser.timezone=UTC -cp "$J/$module/target/classes:$(cat "$J/$module/target/classpath.txt")" \
    "tagkeeper.interop.$main" "$@" 2> >(grep -v '^SLF4J:' >&2)
}

# The auto-tag matrix from generate's output (Java's tags for every case: AutoTagCases.java).
auto_tag_cases() {
  python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["auto_tag_cases"], indent=1, sort_keys=True))'
}

build
case "${1:-}" in
  build)
    echo "$J/harness/target/classes:$(cat "$J/harness/target/classpath.txt")"
    ;;
  regenerate)
    out="$REPO/testdata/java"
    rm -rf "$out/warehouse" "$out/expected"
    run harness Harness generate "$out/warehouse" | auto_tag_cases >"$out/auto_tag_cases.json"
    run legacy09 Legacy09 "$out/warehouse" >/dev/null
    run harness Harness describe-all "$out/warehouse" "$out/expected" >/dev/null
    echo "java-peer: wrote $(ls "$out/expected" | wc -l) tables to testdata/java" >&2
    ;;
  verify-generate)
    # The generator still runs, and what Java reads from a fresh run equals the committed
    # record version by version (rows and checksums; file names and times differ per run).
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    run harness Harness generate "$tmp/wh" | auto_tag_cases >"$tmp/auto_tag_cases.json"
    run legacy09 Legacy09 "$tmp/wh" >/dev/null
    run harness Harness describe-all "$tmp/wh" "$tmp/expected" >/dev/null
    python3 - "$REPO/testdata/java/expected" "$tmp/expected" \
        "$REPO/testdata/java/auto_tag_cases.json" "$tmp/auto_tag_cases.json" <<'PY'
import json, os, sys
# Tables whose automatic tags are named after the day Java ran (process-time and batch
# tags): their tags are compared by snapshot, not by name.
DATED = {"auto_tag_process", "auto_tag_batch"}
def reads(d):
    out = {}
    dated = d["table"] in DATED
    for prefix, v in [("", d)] + [("branch-%s/" % b["name"], b) for b in d["branches"]]:
        for s in v["snapshots"]:
            out[prefix + "snapshot-%d" % s["id"]] = (s["rows"], s["checksum"], len(s["files"]))
        for t in v["tags"]:
            name = t["name"]
            if dated and name[:1].isdigit() or name.startswith("batch-write-"):
                name = "dated@%d" % t["snapshot_id"]
            out[prefix + "tag-" + name] = (t["rows"], t["checksum"], len(t["files"]))
    return out
want_dir, got_dir = sys.argv[1], sys.argv[2]
fail = 0
if json.load(open(sys.argv[3])) != json.load(open(sys.argv[4])):
    print("auto_tag_cases.json: a fresh Java run tags differently (bash scripts/java-peer.sh regenerate, then diff)")
    fail = 1
names = sorted(os.listdir(want_dir))
if names != sorted(os.listdir(got_dir)):
    print("tables differ: %s vs %s" % (names, sorted(os.listdir(got_dir)))); fail = 1
for n in names:
    w = reads(json.load(open(os.path.join(want_dir, n))))
    p = os.path.join(got_dir, n)
    g = reads(json.load(open(p))) if os.path.exists(p) else {}
    if w != g:
        print("%s: a fresh Java run reads differently:\n recorded %s\n fresh    %s" % (n, w, g)); fail = 1
print("java generator: %d passed, %d failed" % (len(names) - fail, fail) if not fail else "java generator: FAILED")
sys.exit(fail)
PY
    ;;
  *)
    run harness Harness "$@"
    ;;
esac
