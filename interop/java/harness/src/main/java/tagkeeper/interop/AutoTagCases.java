package tagkeeper.interop;

import org.apache.paimon.Snapshot;
import org.apache.paimon.shade.jackson2.com.fasterxml.jackson.databind.node.ArrayNode;
import org.apache.paimon.shade.jackson2.com.fasterxml.jackson.databind.node.JsonNodeFactory;
import org.apache.paimon.shade.jackson2.com.fasterxml.jackson.databind.node.ObjectNode;
import org.apache.paimon.table.FileStoreTable;
import org.apache.paimon.tag.Tag;
import org.apache.paimon.tag.TagAutoCreation;
import org.apache.paimon.utils.TagManager;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.stream.Stream;

/**
 * Java's {@code TagAutoCreation} over fixed snapshot streams: the auto-tag matrix tagkeeper
 * must match (tests/it/java_interop.rs, {@code auto_tag_matches_java_for_every_case}).
 *
 * <p>Each case is a copy of a base table with {@code N} real snapshots whose {@code timeMillis}
 * and {@code watermark} are rewritten to the case's stream (TagAutoCreation reads nothing else
 * of a snapshot), the case's options applied with {@code FileStoreTable.copy}, and one
 * {@code TagAutoCreation.run()} over all snapshots (a writer's run after each commit walks the
 * same snapshots in the same order and ends with the same tags). Nothing depends on the wall
 * clock: process-time reads each snapshot's commit time in {@code sink.process-time-zone}
 * (always set here, so the JVM's zone does not matter).
 *
 * <p>Output per case: name, options, the stream ({@code id, time_millis, watermark}) and the
 * tags Java left ({@code name, snapshot_id, time_retained_s}).
 */
final class AutoTagCases {
    private AutoTagCases() {}

    /** Snapshots in the base table, and in every stream. */
    static final int SNAPSHOTS = 16;

    static final long MIN = 60_000L;
    static final long HOUR = 60 * MIN;
    static final long DAY = 24 * HOUR;

    /** 2024-03-10T00:00Z: a multiple of every period below (and the US DST change day). */
    static final long BASE = Harness.epochMillis("2024-03-10", 0);

    /** A period setting: its options, length and the delay used for its delay variants. */
    static final class Period {
        final String label;
        final Map<String, String> options;
        final long millis;
        final String delay;
        final long delayMillis;

        Period(String label, long millis, String delay, long delayMillis, String... kv) {
            this.label = label;
            this.options = Harness.opts(kv);
            this.millis = millis;
            this.delay = delay;
            this.delayMillis = delayMillis;
        }
    }

    static List<Period> periods() {
        List<Period> p = new ArrayList<>();
        for (String f : new String[] {"with_dashes", "without_dashes",
                "without_dashes_and_spaces"}) {
            p.add(new Period("daily-" + f, DAY, "6 h", 6 * HOUR,
                    "tag.creation-period", "daily", "tag.period-formatter", f));
        }
        for (String f : new String[] {"with_dashes", "without_dashes",
                "without_dashes_and_spaces"}) {
            p.add(new Period("hourly-" + f, HOUR, "10 min", 10 * MIN,
                    "tag.creation-period", "hourly", "tag.period-formatter", f));
        }
        p.add(new Period("two-hours", 2 * HOUR, "30 min", 30 * MIN,
                "tag.creation-period", "two-hours"));
        p.add(new Period("duration-30min", 30 * MIN, "5 min", 5 * MIN,
                "tag.creation-period-duration", "30 min"));
        // 90 minutes: not a divisor of an hour; 16 of them make a day.
        p.add(new Period("duration-90min", 90 * MIN, "20 min", 20 * MIN,
                "tag.creation-period-duration", "90 min"));
        return p;
    }

    /**
     * The times of a stream for period P and delay d (offsets from BASE): inside a period, just
     * before and exactly at a boundary, just before and exactly at boundary + delay, jumps over
     * several periods, a snapshot inside the delay window after a skipped stretch.
     */
    static long[] times(long p, long d) {
        return new long[] {
            p / 4, 3 * p / 4, p - 1, p, p + d - 1, p + d, 3 * p / 2, 2 * p + d,
            9 * p / 2, 46 * p / 10, 5 * p + d + 1, 7 * p + d / 2, 7 * p + d + 10,
            17 * p / 2, 10 * p, 10 * p + d,
        };
    }

    /** One case's stream: (time_millis, watermark or null) per snapshot 1..N. */
    static List<long[]> stream(Period period, boolean watermarkMode) {
        long[] t = times(period.millis, period.delayMillis);
        List<long[]> s = new ArrayList<>();
        for (int i = 0; i < t.length; i++) {
            long at = BASE + t[i];
            if (watermarkMode) {
                // Commit times a minute apart, after the data; snapshot 7 carries no watermark
                // and snapshot 10 Long.MIN_VALUE (both skipped by the watermark extractor).
                long commit = BASE + 12 * DAY + i * MIN;
                if (i == 6) {
                    s.add(new long[] {commit});
                } else if (i == 9) {
                    s.add(new long[] {commit, Long.MIN_VALUE});
                } else {
                    s.add(new long[] {commit, at});
                }
            } else {
                // Process time: a watermark that means nothing in this mode.
                s.add(new long[] {at, BASE});
            }
        }
        return s;
    }

    static ObjectNode run(String baseTable, String scratch) throws Exception {
        ObjectNode out = JsonNodeFactory.instance.objectNode();
        out.put("base_table", new File(baseTable).getName());
        ArrayNode cases = out.putArray("cases");
        int n = 0;
        List<Period> ps = periods();
        for (int pi = 0; pi < ps.size(); pi++) {
            Period p = ps.get(pi);
            for (String mode : new String[] {"process-time", "watermark"}) {
                for (boolean delayed : new boolean[] {false, true}) {
                    Map<String, String> o = new LinkedHashMap<>();
                    o.put("tag.automatic-creation", mode);
                    o.putAll(p.options);
                    if (delayed) {
                        o.put("tag.creation-delay", p.delay);
                    }
                    o.put("tag.num-retained-max", delayed ? "3" : "5");
                    if (!delayed) {
                        o.put("tag.default-time-retained", "30 d");
                    }
                    if (mode.equals("process-time")) {
                        o.put("sink.process-time-zone", "UTC");
                    }
                    String name = mode + "/" + p.label + (delayed ? "/delay-" + p.delay : "");
                    cases.add(runCase(baseTable, scratch + "/" + n++, name, o,
                            stream(p, mode.equals("watermark"))));
                }
            }
            // tag.automatic-completion, and zones other than UTC (Los Angeles changes to
            // daylight saving time during the stream), for a few periods.
            if (p.label.equals("daily-with_dashes") || p.label.equals("hourly-with_dashes")
                    || p.label.equals("duration-90min")) {
                for (String mode : new String[] {"process-time", "watermark"}) {
                    Map<String, String> o = new LinkedHashMap<>();
                    o.put("tag.automatic-creation", mode);
                    o.putAll(p.options);
                    o.put("tag.creation-delay", p.delay);
                    o.put("tag.automatic-completion", "true");
                    o.put(mode.equals("watermark") ? "sink.watermark-time-zone"
                            : "sink.process-time-zone", "UTC");
                    cases.add(runCase(baseTable, scratch + "/" + n++,
                            mode + "/" + p.label + "/completion", o,
                            stream(p, mode.equals("watermark"))));
                }
                for (String zone : new String[] {"Asia/Shanghai", "America/Los_Angeles"}) {
                    for (String mode : new String[] {"process-time", "watermark"}) {
                        Map<String, String> o = new LinkedHashMap<>();
                        o.put("tag.automatic-creation", mode);
                        o.putAll(p.options);
                        o.put(mode.equals("watermark") ? "sink.watermark-time-zone"
                                : "sink.process-time-zone", zone);
                        o.put("tag.num-retained-max", "4");
                        cases.add(runCase(baseTable, scratch + "/" + n++,
                                mode + "/" + p.label + "/zone-" + zone, o,
                                stream(p, mode.equals("watermark"))));
                    }
                }
            }
        }
        // Batch mode: TagAutoCreation does not run (Java tags at the end of a batch write,
        // TagBatchCreation); no tags from the stream.
        cases.add(runCase(baseTable, scratch + "/" + n++, "batch/daily",
                Harness.opts("tag.automatic-creation", "batch", "tag.num-retained-max", "3"),
                stream(ps.get(0), false)));
        return out;
    }

    static ObjectNode runCase(String baseTable, String dir, String name,
            Map<String, String> options, List<long[]> stream) throws Exception {
        File copy = new File(dir);
        copyDir(new File(baseTable).toPath(), copy.toPath());
        for (int i = 0; i < stream.size(); i++) {
            File f = new File(copy, "snapshot/snapshot-" + (i + 1));
            ObjectNode s = (ObjectNode) Harness.JSON.readTree(f);
            long[] e = stream.get(i);
            s.put("timeMillis", e[0]);
            if (e.length > 1) {
                s.put("watermark", e[1]);
            } else {
                s.remove("watermark");
            }
            Files.writeString(f.toPath(), Harness.JSON.writeValueAsString(s));
        }
        FileStoreTable t = Describe.open(copy.getPath()).copy(options);
        TagAutoCreation creation = TagAutoCreation.create(t.coreOptions(), t.snapshotManager(),
                t.tagManager(), t.store().newTagDeletion(), List.of());
        if (creation != null) {
            creation.run();
        }

        ObjectNode c = JsonNodeFactory.instance.objectNode();
        c.put("name", name);
        ObjectNode o = c.putObject("options");
        options.forEach(o::put);
        ArrayNode snaps = c.putArray("snapshots");
        for (int i = 0; i < stream.size(); i++) {
            ObjectNode s = snaps.addObject();
            s.put("id", i + 1);
            s.put("time_millis", stream.get(i)[0]);
            if (stream.get(i).length > 1) {
                s.put("watermark", stream.get(i)[1]);
            } else {
                s.putNull("watermark");
            }
        }
        ArrayNode tags = c.putArray("tags");
        TagManager tm = t.tagManager();
        SortedMap<Snapshot, List<String>> all = tm.tags();
        for (var e : all.entrySet()) {
            for (String tag : e.getValue()) {
                ObjectNode tn = tags.addObject();
                tn.put("name", tag);
                tn.put("snapshot_id", e.getKey().id());
                Tag full = tm.getOrThrow(tag);
                Duration r = full.getTagTimeRetained();
                if (r == null) {
                    tn.putNull("time_retained_s");
                } else {
                    tn.put("time_retained_s", r.getSeconds());
                }
            }
        }
        deleteDir(copy);
        return c;
    }

    static void copyDir(java.nio.file.Path from, java.nio.file.Path to) throws IOException {
        try (Stream<java.nio.file.Path> s = Files.walk(from)) {
            for (java.nio.file.Path p : (Iterable<java.nio.file.Path>) s::iterator) {
                java.nio.file.Path target = to.resolve(from.relativize(p).toString());
                if (Files.isDirectory(p)) {
                    Files.createDirectories(target);
                } else {
                    Files.copy(p, target, StandardCopyOption.REPLACE_EXISTING);
                }
            }
        }
    }

    static void deleteDir(File f) {
        File[] children = f.listFiles();
        if (children != null) {
            for (File c : children) {
                deleteDir(c);
            }
        }
        f.delete();
    }
}
