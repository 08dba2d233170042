#!/usr/bin/env python3
"""Peer benchmark driver (run by scripts/bench-peers.sh; standard library + fastavro,
which the pinned pypaimon venv already has).

For every table given and two versions of it (the latest snapshot, and the tag in
the middle of its tag list), runs each tool RUNS times after one untimed warm-up
run, and takes the median wall time of the whole process, measured here around
the child process (fork/exec to exit, output written to a file):

  tagkeeper    tagkeeper files TABLE --snapshot N|--tag NAME --json  (full report written)
  pypaimon     python benches/peers/pypaimon_plan.py TABLE --snapshot N|--tag NAME
  paimon-rust  paimon-rust-peer plan TABLE --snapshot N|--tag NAME
  raw read     paimon-rust-peer raw LIST: reads the bytes of the version's snapshot or tag
               JSON, its manifest lists and every manifest they name; nothing else, no
               decoding. The list of names is derived beforehand (untimed) by decoding the
               manifest lists with fastavro.

The warm-up run of each tool also checks the file count: pypaimon's and
paimon-rust's must equal tagkeeper's, or the driver fails.

Every run sees a warm page cache (the tables were just written and are read again
and again): these are warm-cache numbers.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time


def sh(cmd, out_path):
    """Run cmd with stdout to out_path; return wall seconds of the whole process."""
    with open(out_path, "wb") as out:
        t0 = time.perf_counter()
        p = subprocess.run(cmd, stdout=out, stderr=subprocess.PIPE)
        t1 = time.perf_counter()
    if p.returncode != 0:
        raise RuntimeError("%s failed (exit %d): %s"
                           % (" ".join(cmd), p.returncode, p.stderr.decode(errors="replace")))
    return t1 - t0


def last_json_line(path):
    with open(path, "rb") as f:
        lines = [l for l in f.read().decode().splitlines() if l.strip()]
    return json.loads(lines[-1])


def version_args(version):
    kind, value = version
    return ["--snapshot", str(value)] if kind == "snapshot" else ["--tag", value]


def version_label(version):
    kind, value = version
    return "snapshot %s (latest)" % value if kind == "snapshot" else "tag %s" % value


def latest_snapshot(table):
    d = os.path.join(table, "snapshot")
    ids = [int(n[len("snapshot-"):]) for n in os.listdir(d)
           if n.startswith("snapshot-") and n[len("snapshot-"):].isdigit()]
    return max(ids)


def middle_tag(table):
    d = os.path.join(table, "tag")
    tags = []
    for n in os.listdir(d):
        p = os.path.join(d, n)
        if n.startswith("tag-") and os.path.isfile(p):
            with open(p) as f:
                tags.append((json.load(f)["id"], n[len("tag-"):]))
    tags.sort()
    return tags[(len(tags) - 1) // 2][1]


def raw_file_list(table, version, list_path):
    """Absolute paths of the version's JSON, manifest lists and manifests."""
    import fastavro
    kind, value = version
    meta = os.path.join(table, "snapshot", "snapshot-%d" % value) if kind == "snapshot" \
        else os.path.join(table, "tag", "tag-%s" % value)
    with open(meta) as f:
        snap = json.load(f)
    mdir = os.path.join(table, "manifest")
    paths = [meta]
    manifests = []
    for key in ("baseManifestList", "deltaManifestList"):
        name = snap.get(key)
        if name:
            p = os.path.join(mdir, name)
            paths.append(p)
            with open(p, "rb") as f:
                manifests.extend(r["_FILE_NAME"] for r in fastavro.reader(f))
    seen = set()
    for m in manifests:
        if m not in seen:
            seen.add(m)
            paths.append(os.path.join(mdir, m))
    with open(list_path, "w") as f:
        f.write("\n".join(paths) + "\n")
    return len(paths), sum(os.path.getsize(p) for p in paths), len(seen)


def fmt(x):
    return "%.3f" % x


def ratio(a, b):
    return "%.1f" % (a / b) if b > 0 else "n/a"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tagkeeper", required=True)
    ap.add_argument("--python", required=True)
    ap.add_argument("--pypaimon-plan", required=True)
    ap.add_argument("--paimon-rust", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--work", required=True, help="scratch directory for outputs")
    ap.add_argument("--results", required=True, help="Markdown results file")
    ap.add_argument("--header", default="", help="Markdown put before the table")
    ap.add_argument("table", nargs="+", help="LABEL=PATH")
    a = ap.parse_args()

    tools = {
        "tagkeeper": lambda t, v: [a.tagkeeper, "files", t] + version_args(v) + ["--json"],
        "pypaimon": lambda t, v: [a.python, a.pypaimon_plan, t] + version_args(v),
        "paimon-rust": lambda t, v: [a.paimon_rust, "plan", t] + version_args(v),
    }
    os.makedirs(a.work, exist_ok=True)
    rows = []
    raw_json = []
    for spec in a.table:
        label, table = spec.split("=", 1)
        for version in (("snapshot", latest_snapshot(table)), ("tag", middle_tag(table))):
            out = os.path.join(a.work, "out.json")
            lst = os.path.join(a.work, "raw-list.txt")
            n_meta, meta_bytes, n_manifests = raw_file_list(table, version, lst)

            # Warm-up + verification (untimed).
            sh(tools["tagkeeper"](table, version), out)
            with open(out) as f:
                files = json.load(f)["total_files"]
            info = {}
            for name in ("pypaimon", "paimon-rust"):
                sh(tools[name](table, version), out)
                doc = last_json_line(out)
                info[name] = doc
                if doc["files"] != files:
                    raise SystemExit("%s %s: %s planned %d files, tagkeeper %d"
                                     % (label, version_label(version), name, doc["files"], files))
            sh([a.paimon_rust, "raw", lst], out)

            times = {k: [] for k in ("tagkeeper", "pypaimon", "paimon-rust", "raw")}
            inproc = {k: [] for k in ("pypaimon", "paimon-rust", "raw")}
            for _ in range(a.runs):
                for name in ("tagkeeper", "pypaimon", "paimon-rust"):
                    times[name].append(sh(tools[name](table, version), out))
                    if name != "tagkeeper":
                        inproc[name].append(last_json_line(out)["seconds"])
                times["raw"].append(sh([a.paimon_rust, "raw", lst], out))
                inproc["raw"].append(last_json_line(out)["seconds"])
            med = {k: statistics.median(v) for k, v in times.items()}
            med_in = {k: statistics.median(v) for k, v in inproc.items()}
            row = {
                "table": label, "version": version_label(version), "files": files,
                "manifests": n_manifests, "metadata_files": n_meta, "metadata_bytes": meta_bytes,
                "median_process_s": med, "median_in_process_s": med_in,
                "all_process_s": times,
            }
            rows.append(row)
            raw_json.append(row)
            sys.stderr.write("%s %s: files=%d tk=%.3f py=%.3f pr=%.3f raw=%.3f\n"
                             % (label, version_label(version), files, med["tagkeeper"],
                                med["pypaimon"], med["paimon-rust"], med["raw"]))

    lines = []
    lines.append("| table (S/F/T) | version | files | manifests (MiB read) | tagkeeper s | pypaimon s "
                 "| paimon-rust s | raw read s | pypaimon/tagkeeper | paimon-rust/tagkeeper "
                 "| tagkeeper/raw |")
    lines.append("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        m = r["median_process_s"]
        lines.append("| %s | %s | %d | %d (%.2f) | %s | %s | %s | %s | %s | %s | %s |" % (
            r["table"], r["version"], r["files"], r["manifests"],
            r["metadata_bytes"] / 1048576.0,
            fmt(m["tagkeeper"]), fmt(m["pypaimon"]), fmt(m["paimon-rust"]), fmt(m["raw"]),
            ratio(m["pypaimon"], m["tagkeeper"]), ratio(m["paimon-rust"], m["tagkeeper"]),
            ratio(m["tagkeeper"], m["raw"])))
    lines.append("")
    lines.append("In-process medians (inside the tool, after process start-up and imports; "
                 "tagkeeper has no in-process timer, its whole process is above):")
    lines.append("")
    lines.append("| table (S/F/T) | version | pypaimon open+plan s | paimon-rust open+plan s "
                 "| raw byte read s |")
    lines.append("| --- | --- | ---: | ---: | ---: |")
    for r in rows:
        m = r["median_in_process_s"]
        lines.append("| %s | %s | %s | %s | %s |" % (
            r["table"], r["version"], fmt(m["pypaimon"]), fmt(m["paimon-rust"]),
            "%.4f" % m["raw"]))
    md = a.header + "\n".join(lines) + "\n"
    with open(a.results, "w") as f:
        f.write(md)
    with open(os.path.splitext(a.results)[0] + ".json", "w") as f:
        json.dump(raw_json, f, indent=1)
    sys.stdout.write(md)


if __name__ == "__main__":
    main()
