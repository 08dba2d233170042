#!/usr/bin/env python3
"""Peer benchmark driver (run by scripts/bench-peers.sh; standard library + fastavro,
which the pinned pypaimon venv already has).

For every table given and its versions, runs each tool RUNS times after one untimed
warm-up run (which also checks that every tool planned the same number of files):

  tagkeeper    tagkeeper files TABLE --snapshot N|--tag NAME --json (full report written
               to a file); the median wall time of the WHOLE PROCESS, measured here
               around the child (fork/exec to exit); once more under /usr/bin/time -v
               for its peak RSS.
  pypaimon     python benches/peers/pypaimon_plan.py TABLE ...: pypaimon's Python planner;
               the median IN-PROCESS time of open + time travel + plan (after imports).
  paimon-rust  python benches/peers/pypaimon_plan.py TABLE ... --native --warm: paimon-rust's
               planner through the `pypaimon-rust` wheel's API (native splits); median
               in-process time of the first open + plan (what one run pays) and of a
               second one in the same process (warm: without one-time set-up). Its
               splits name no files, so its check is the total row count.
  paimon-rust-bin (optional, --paimon-rust-bin): the old Rust runner
               (benches/peers/paimon-rust, a 16-minute build): whole process and raw read.

Table arguments: LABEL=PATH[;versions=V,V][;skip=pypaimon]. A version is `latest` (the
latest snapshot, given explicitly as --snapshot N), `midtag` (the middle tag of the tag
list) or `tag:NAME`; default `latest,midtag`. `skip=pypaimon` leaves pypaimon out (on
the huge tables it would take minutes per run).

Every run sees a warm page cache: these are warm-cache numbers.
"""

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time


CPU = {}


def sh(cmd, out_path):
    """Run cmd with stdout to out_path; return wall seconds of the whole process. Its CPU
    seconds (user + system, all threads) are left in CPU["last"]: on a shared machine the
    wall time includes waiting for a core, the CPU time does not."""
    with open(out_path, "wb") as out:
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        p = subprocess.run(cmd, stdout=out, stderr=subprocess.PIPE)
        t1 = time.perf_counter()
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU["last"] = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    if p.returncode != 0:
        raise RuntimeError("%s failed (exit %d): %s"
                           % (" ".join(cmd), p.returncode, p.stderr.decode(errors="replace")))
    return t1 - t0


def max_rss_mb(cmd, out_path):
    """Peak resident set size of cmd in MB (10^6 bytes), from /usr/bin/time -v."""
    with open(out_path, "wb") as out:
        p = subprocess.run(["/usr/bin/time", "-v"] + cmd, stdout=out, stderr=subprocess.PIPE)
    if p.returncode != 0:
        raise RuntimeError("%s failed: %s" % (" ".join(cmd), p.stderr.decode(errors="replace")))
    m = re.search(rb"Maximum resident set size \(kbytes\): (\d+)", p.stderr)
    return int(m.group(1)) * 1024 / 1e6 if m else float("nan")


def last_json_line(path):
    with open(path, "rb") as f:
        lines = [l for l in f.read().decode().splitlines() if l.strip()]
    return json.loads(lines[-1])


def version_args(version):
    kind, value = version
    return ["--snapshot", str(value)] if kind == "snapshot" else ["--tag", value]


def version_label(version, latest):
    kind, value = version
    if kind == "snapshot":
        return "snapshot %s%s" % (value, " (latest)" if value == latest else "")
    return "tag %s" % value


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


def version_meta(table, version):
    """(path of the version's JSON, manifest names of its lists)."""
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
    seen = []
    for m in manifests:
        if m not in seen:
            seen.append(m)
            paths.append(os.path.join(mdir, m))
    return paths, len(seen)


def parse_table(spec):
    label, rest = spec.split("=", 1)
    parts = rest.split(";")
    opts = dict(p.split("=", 1) for p in parts[1:])
    return label, parts[0], opts


def fmt(x):
    return "n/a" if x is None else "%.3f" % x


def ratio(a, b):
    return "%.2f" % (a / b) if a is not None and b else "n/a"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tagkeeper", required=True)
    ap.add_argument("--python", required=True, help="venv with pypaimon and pypaimon-rust")
    ap.add_argument("--pypaimon-plan", required=True)
    ap.add_argument("--paimon-rust-bin", help="optional: the old Rust runner")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--work", required=True, help="scratch directory for outputs")
    ap.add_argument("--results", required=True, help="Markdown results file")
    ap.add_argument("--header", default="", help="Markdown put before the table")
    ap.add_argument("table", nargs="+", help="LABEL=PATH[;versions=...][;skip=pypaimon]")
    a = ap.parse_args()

    tools = {
        "tagkeeper": lambda t, v: [a.tagkeeper, "files", t] + version_args(v) + ["--json"],
        "pypaimon": lambda t, v: [a.python, a.pypaimon_plan, t] + version_args(v),
        "paimon-rust": lambda t, v: [a.python, a.pypaimon_plan, t] + version_args(v)
        + ["--native", "--warm"],
    }
    if a.paimon_rust_bin:
        tools["paimon-rust-bin"] = lambda t, v: [a.paimon_rust_bin, "plan", t] + version_args(v)
    os.makedirs(a.work, exist_ok=True)
    out = os.path.join(a.work, "out.json")
    rows = []
    for spec in a.table:
        label, table, opts = parse_table(spec)
        latest = latest_snapshot(table)
        versions = []
        for v in opts.get("versions", "latest,midtag").split(","):
            if v == "latest":
                versions.append(("snapshot", latest))
            elif v == "midtag":
                versions.append(("tag", middle_tag(table)))
            elif v.startswith("tag:"):
                versions.append(("tag", v[4:]))
            else:
                raise SystemExit("unknown version %r" % v)
        skip = set(filter(None, opts.get("skip", "").split(",")))
        names = [n for n in tools if n not in skip]
        for version in versions:
            paths, n_manifests = version_meta(table, version)
            meta_bytes = sum(os.path.getsize(p) for p in paths)
            # Warm-up + verification (untimed).
            sh(tools["tagkeeper"](table, version), out)
            with open(out) as f:
                report = json.load(f)
            files, total_rows = report["total_files"], report["total_rows"]
            for name in names[1:]:
                sh(tools[name](table, version), out)
                doc = last_json_line(out)
                # pypaimon's plan lists files; paimon-rust's native splits only rows.
                got, want, what = ((doc["files"], files, "files") if "files" in doc
                                   else (doc["rows"], total_rows, "rows"))
                if got != want:
                    raise SystemExit("%s %s: %s planned %d %s, tagkeeper %d"
                                     % (label, version, name, got, what, want))
            times = {n: [] for n in names}
            inproc = {n: [] for n in names}
            cpu = {n: [] for n in names}
            warm = []
            for _ in range(a.runs):
                for name in names:
                    times[name].append(sh(tools[name](table, version), out))
                    if name == "tagkeeper":
                        cpu[name].append(CPU["last"])
                    else:
                        doc = last_json_line(out)
                        inproc[name].append(doc["seconds"])
                        cpu[name].append(doc.get("cpu_seconds"))
                        if name == "paimon-rust":
                            warm.append(doc["warm_seconds"])
            rss = max_rss_mb(tools["tagkeeper"](table, version), out)
            med = {n: statistics.median(v) for n, v in times.items()}
            med_in = {n: statistics.median(v) for n, v in inproc.items() if v}
            row = {
                "table": label, "version": version_label(version, latest), "files": files,
                "manifests": n_manifests, "metadata_bytes": meta_bytes,
                "tagkeeper_s": med["tagkeeper"], "tagkeeper_rss_mb": rss,
                "pypaimon_plan_s": med_in.get("pypaimon"),
                "paimon_rust_plan_s": med_in.get("paimon-rust"),
                "paimon_rust_warm_plan_s": statistics.median(warm) if warm else None,
                "paimon_rust_bin_process_s": med.get("paimon-rust-bin"),
                "cpu_s": {n: statistics.median(v) for n, v in cpu.items()
                          if v and None not in v},
                "all_process_s": times, "all_in_process_s": inproc,
            }
            rows.append(row)
            sys.stderr.write("%s %s: files=%d tk=%.3f s (%.0f MB) py=%s pr=%s pr-warm=%s\n"
                             % (label, row["version"], files, row["tagkeeper_s"], rss,
                                fmt(row["pypaimon_plan_s"]), fmt(row["paimon_rust_plan_s"]),
                                fmt(row["paimon_rust_warm_plan_s"])))

    lines = [
        "| table | version | files | manifests (MiB) | tagkeeper whole process s "
        "| tagkeeper peak RSS MB | pypaimon plan s | paimon-rust plan s | paimon-rust warm plan s "
        "| tagkeeper / pypaimon plan | tagkeeper / paimon-rust plan "
        "| paimon-rust plan / tagkeeper | paimon-rust warm plan / tagkeeper |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        tk = r["tagkeeper_s"]
        lines.append("| %s | %s | %d | %d (%.2f) | %s | %.0f | %s | %s | %s | %s | %s | %s | %s |" % (
            r["table"], r["version"], r["files"], r["manifests"],
            r["metadata_bytes"] / 1048576.0, fmt(tk), r["tagkeeper_rss_mb"],
            fmt(r["pypaimon_plan_s"]), fmt(r["paimon_rust_plan_s"]),
            fmt(r["paimon_rust_warm_plan_s"]),
            ratio(tk, r["pypaimon_plan_s"]), ratio(tk, r["paimon_rust_plan_s"]),
            ratio(r["paimon_rust_plan_s"], tk), ratio(r["paimon_rust_warm_plan_s"], tk)))
    lines += ["", "CPU seconds (user + system, all threads; medians): tagkeeper's whole process, "
              "the peers' open + plan in-process. On a shared machine these are steadier than "
              "wall times.", "",
              "| table | version | tagkeeper CPU s | pypaimon plan CPU s | paimon-rust plan CPU s "
              "| tagkeeper / pypaimon | tagkeeper / paimon-rust |",
              "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        c = r["cpu_s"]
        lines.append("| %s | %s | %s | %s | %s | %s | %s |" % (
            r["table"], r["version"], fmt(c.get("tagkeeper")), fmt(c.get("pypaimon")),
            fmt(c.get("paimon-rust")), ratio(c.get("tagkeeper"), c.get("pypaimon")),
            ratio(c.get("tagkeeper"), c.get("paimon-rust"))))
    if any(r["paimon_rust_bin_process_s"] for r in rows):
        lines += ["", "| table | version | paimon-rust runner whole process s |", "| --- | --- | ---: |"]
        for r in rows:
            lines.append("| %s | %s | %s |" % (r["table"], r["version"],
                                              fmt(r["paimon_rust_bin_process_s"])))
    md = a.header + "\n".join(lines) + "\n"
    with open(a.results, "w") as f:
        f.write(md)
    with open(os.path.splitext(a.results)[0] + ".json", "w") as f:
        json.dump(rows, f, indent=1)
    sys.stdout.write(md)


if __name__ == "__main__":
    main()
