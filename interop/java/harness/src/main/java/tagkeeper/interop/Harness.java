package tagkeeper.interop;

import org.apache.paimon.consumer.Consumer;
import org.apache.paimon.consumer.ConsumerManager;
import org.apache.paimon.data.BinaryString;
import org.apache.paimon.data.GenericRow;
import org.apache.paimon.fs.Path;
import org.apache.paimon.operation.LocalOrphanFilesClean;
import org.apache.paimon.options.ExpireConfig;
import org.apache.paimon.shade.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.paimon.shade.jackson2.com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.paimon.shade.jackson2.com.fasterxml.jackson.databind.SerializationFeature;
import org.apache.paimon.shade.jackson2.com.fasterxml.jackson.databind.node.ArrayNode;
import org.apache.paimon.shade.jackson2.com.fasterxml.jackson.databind.node.JsonNodeFactory;
import org.apache.paimon.shade.jackson2.com.fasterxml.jackson.databind.node.ObjectNode;
import org.apache.paimon.table.FileStoreTable;
import org.apache.paimon.types.DataField;
import org.apache.paimon.types.DataType;
import org.apache.paimon.types.RowKind;

import java.io.File;
import java.time.Duration;
import java.time.LocalDate;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/**
 * Java Paimon as tagkeeper's reference peer. Every command prints one JSON document on stdout
 * and exits non-zero with a message on stderr on any error.
 *
 * <pre>
 *   generate WAREHOUSE [TABLE...]   write the Java tables into WAREHOUSE/default.db
 *   describe-all WAREHOUSE OUTDIR   describe every table of WAREHOUSE/default.db
 *   describe TABLE                  every snapshot, tag and branch version: files, plan, rows
 *   generate-describe WAREHOUSE TABLE...  generate the named tables, then describe them
 *   read-all TABLE                  rows + checksum of every version (no file lists)
 *   follow (TABLE ROWS)...          per table: read-all, commit ROWS, read-all, expire to
 *                                   1 snapshot, remove orphans, read-all (one JVM for all)
 *   maintain TABLE OP ARGS...       one of Java's own operations (see {@link #maintain})
 * </pre>
 */
public final class Harness {
    static final ObjectMapper JSON = new ObjectMapper()
            .enable(SerializationFeature.INDENT_OUTPUT)
            .enable(SerializationFeature.ORDER_MAP_ENTRIES_BY_KEYS);

    private Harness() {}

    public static void main(String[] args) {
        try {
            JsonNode out = run(args);
            System.out.println(JSON.writeValueAsString(sorted(out)));
            System.exit(0);
        } catch (Throwable e) {
            System.err.println("java-peer: error: " + e);
            if (System.getenv("PEER_TRACEBACK") != null) {
                e.printStackTrace();
            }
            System.exit(1);
        }
    }

    private static JsonNode run(String[] args) throws Exception {
        if (args.length < 2) {
            throw new IllegalArgumentException(
                    "usage: generate WAREHOUSE [TABLE...] | describe TABLE | read-all TABLE"
                            + " | maintain TABLE OP ARGS...");
        }
        switch (args[0]) {
            case "generate":
                return Generate.generate(args[1],
                        new TreeSet<>(Arrays.asList(args).subList(2, args.length)));
            case "describe":
                return Describe.describe(args[1]);
            case "generate-describe": {
                // One JVM: write the named tables into WAREHOUSE, then describe each (keyed by
                // table name). For tables that cannot be committed as fixtures.
                List<String> names = Arrays.asList(args).subList(2, args.length);
                Generate.generate(args[1], new TreeSet<>(names));
                ObjectNode all = JsonNodeFactory.instance.objectNode();
                for (String n : names) {
                    all.set(n, Describe.describe(
                            new File(args[1], "default.db/" + n).getPath()));
                }
                return all;
            }
            case "describe-all": {
                // One JVM for every table: WAREHOUSE/default.db/* -> OUTDIR/<table>.json
                File db = new File(args[1], "default.db");
                File outDir = new File(args[2]);
                outDir.mkdirs();
                String[] names = db.list();
                Arrays.sort(names);
                var done = JsonNodeFactory.instance.arrayNode();
                for (String n : names) {
                    if (!new File(db, n).isDirectory()) {
                        continue;
                    }
                    JsonNode d = sorted(Describe.describe(new File(db, n).getPath()));
                    java.nio.file.Files.writeString(new File(outDir, n + ".json").toPath(),
                            JSON.writeValueAsString(d) + "\n");
                    done.add(n);
                }
                return done;
            }
            case "read-all":
                return Describe.readAll(args[1]);
            case "changelog-between":
                // TABLE FROM TO: Java's incremental changelog rows (Describe.changelogBetween).
                return Describe.changelogBetween(args[1], args[2], args[3]);
            case "follow": {
                // One JVM for what a test asks after tagkeeper changed tables: for each
                // (TABLE, ROWS) pair, Java's reads, a Java commit of ROWS on top and the reads
                // after it, then Java's expiration to one snapshot, its orphan cleaning, and the
                // reads after those. Keyed by TABLE as given.
                ObjectNode all = JsonNodeFactory.instance.objectNode();
                for (int i = 1; i + 1 < args.length; i += 2) {
                    String t = args[i];
                    ObjectNode o = all.putObject(t);
                    o.set("before", Describe.readAll(t));
                    o.set("commit", maintain(t, new String[] {"append", args[i + 1]}));
                    o.set("after_commit", Describe.readAll(t));
                    o.set("expire", maintain(t, new String[] {"expire-snapshots", "1", "1"}));
                    o.set("orphans", maintain(t, new String[] {"remove-orphans"}));
                    o.set("after_maintenance", Describe.readAll(t));
                }
                return all;
            }
            case "maintain":
                return maintain(args[1], Arrays.copyOfRange(args, 2, args.length));
            default:
                throw new IllegalArgumentException("unknown command " + args[0]);
        }
    }

    /** Object keys sorted recursively, so the output is stable. */
    static JsonNode sorted(JsonNode n) {
        if (n.isObject()) {
            ObjectNode o = JsonNodeFactory.instance.objectNode();
            List<String> names = new ArrayList<>();
            n.fieldNames().forEachRemaining(names::add);
            names.sort(null);
            for (String k : names) {
                o.set(k, sorted(n.get(k)));
            }
            return o;
        }
        if (n.isArray()) {
            var a = JsonNodeFactory.instance.arrayNode();
            n.forEach(x -> a.add(sorted(x)));
            return a;
        }
        return n;
    }

    /**
     * Java's own maintenance operations on an existing table:
     *
     * <pre>
     *   append JSON_ROWS [watermark=MILLIS]   one commit of rows ([{"col": value}], "_kind": "-D")
     *   create-tag NAME SNAPSHOT [RETAIN]     RETAIN like "1 d" (Paimon duration syntax)
     *   delete-tag NAME | rename-tag OLD NEW | replace-tag NAME SNAPSHOT
     *   expire-snapshots RETAIN_MIN RETAIN_MAX
     *   rollback SNAPSHOT | rollback-tag NAME
     *   set-option KEY VALUE                  ALTER TABLE SET (a new schema)
     *   watermark-targets MILLIS...           earlierOrEqualWatermark's snapshot id (or null)
     *                                         for each, as rollback_to_watermark picks it
     *   create-branch NAME [TAG] | fast-forward NAME
     *   reset-consumer ID NEXT_SNAPSHOT | clear-consumers
     *   remove-orphans                        LocalOrphanFilesClean, older than now + 1 day
     * </pre>
     */
    static JsonNode maintain(String tablePath, String[] a) throws Exception {
        FileStoreTable t = Describe.open(tablePath);
        ObjectNode out = JsonNodeFactory.instance.objectNode();
        out.put("op", a[0]);
        switch (a[0]) {
            case "append": {
                Long watermark = a.length > 2 && a[2].startsWith("watermark=")
                        ? Long.parseLong(a[2].substring("watermark=".length())) : null;
                List<GenericRow> rows = rowsFromJson(t, JSON.readTree(a[1]));
                // Java expires snapshots after each commit by count and by age (default 1 h),
                // and tags past their timeRetained: disable both age rules so what a commit
                // expires does not depend on when the table was generated
                // (snapshot.num-retained.max still applies).
                t = t.copy(Map.of("snapshot.time-retained", "36500 d",
                        "tag.time-expire-enabled", "false"));
                if (watermark == null) {
                    Generate.commit(t, rows);
                } else {
                    Generate.commitWithWatermark(t, rows, watermark, System.nanoTime());
                }
                break;
            }
            case "create-tag":
                t.createTag(a[1], Long.parseLong(a[2]),
                        a.length > 3 ? org.apache.paimon.utils.TimeUtils.parseDuration(a[3])
                                : null);
                break;
            case "delete-tag":
                t.deleteTag(a[1]);
                break;
            case "rename-tag":
                t.renameTag(a[1], a[2]);
                break;
            case "replace-tag":
                t.replaceTag(a[1], Long.parseLong(a[2]), null);
                break;
            case "expire-snapshots": {
                int n = t.newExpireSnapshots()
                        .config(ExpireConfig.builder()
                                .snapshotRetainMin(Integer.parseInt(a[1]))
                                .snapshotRetainMax(Integer.parseInt(a[2]))
                                .snapshotTimeRetain(Duration.ZERO)
                                .build())
                        .expire();
                out.put("expired", n);
                break;
            }
            case "rollback":
                t.rollbackTo(Long.parseLong(a[1]));
                break;
            case "rollback-tag":
                t.rollbackTo(a[1]);
                break;
            case "set-option":
                new org.apache.paimon.schema.SchemaManager(t.fileIO(), t.location())
                        .commitChanges(org.apache.paimon.schema.SchemaChange.setOption(a[1], a[2]));
                break;
            case "watermark-targets": {
                ArrayNode ids = out.putArray("targets");
                for (int i = 1; i < a.length; i++) {
                    org.apache.paimon.Snapshot s =
                            t.snapshotManager().earlierOrEqualWatermark(Long.parseLong(a[i]));
                    if (s == null) {
                        ids.addNull();
                    } else {
                        ids.add(s.id());
                    }
                }
                break;
            }
            case "create-branch":
                if (a.length > 2) {
                    t.createBranch(a[1], a[2]);
                } else {
                    t.createBranch(a[1]);
                }
                break;
            case "fast-forward":
                t.fastForward(a[1]);
                break;
            case "reset-consumer":
                new ConsumerManager(t.fileIO(), t.location())
                        .resetConsumer(a[1], new Consumer(Long.parseLong(a[2])));
                break;
            case "clear-consumers":
                new ConsumerManager(t.fileIO(), t.location())
                        .clearConsumers(java.util.regex.Pattern.compile(".*"), null);
                break;
            case "remove-orphans": {
                var r = new LocalOrphanFilesClean(
                                t, System.currentTimeMillis() + Duration.ofDays(1).toMillis())
                        .clean();
                var deleted = out.putArray("deleted");
                String root = new File(tablePath).getAbsolutePath();
                List<String> paths = new ArrayList<>();
                for (Path p : r.getDeletedFilesPath()) {
                    paths.add(Describe.relative(p.toString(), root));
                }
                paths.sort(null);
                paths.forEach(deleted::add);
                out.put("deleted_bytes", r.getDeletedFileTotalLenInBytes());
                break;
            }
            default:
                throw new IllegalArgumentException("unknown maintain op " + a[0]);
        }
        out.put("latest_snapshot",
                t.snapshotManager().latestSnapshotId() == null
                        ? -1 : t.snapshotManager().latestSnapshotId());
        return out;
    }

    /** JSON objects to rows of the table's current schema; "_kind": "-D" etc. for PK tables. */
    static List<GenericRow> rowsFromJson(FileStoreTable t, JsonNode arr) {
        List<GenericRow> rows = new ArrayList<>();
        List<DataField> fields = t.rowType().getFields();
        for (JsonNode o : arr) {
            RowKind kind = o.has("_kind")
                    ? RowKind.fromShortString(o.get("_kind").asText()) : RowKind.INSERT;
            GenericRow r = new GenericRow(kind, fields.size());
            for (int i = 0; i < fields.size(); i++) {
                JsonNode v = o.get(fields.get(i).name());
                r.setField(i, v == null || v.isNull() ? null : value(fields.get(i).type(), v));
            }
            rows.add(r);
        }
        return rows;
    }

    private static Object value(DataType type, JsonNode v) {
        switch (type.getTypeRoot()) {
            case CHAR:
            case VARCHAR:
                return BinaryString.fromString(v.asText());
            case INTEGER:
                return v.asInt();
            case BIGINT:
                return v.asLong();
            case BOOLEAN:
                return v.asBoolean();
            case DATE:
                return (int) LocalDate.parse(v.asText()).toEpochDay();
            default:
                throw new IllegalArgumentException("append: unsupported type " + type);
        }
    }

    static long epochMillis(String date, int hour) {
        return LocalDate.parse(date).atTime(hour, 0).toInstant(ZoneOffset.UTC).toEpochMilli();
    }

    static Map<String, String> opts(String... kv) {
        Map<String, String> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            m.put(kv[i], kv[i + 1]);
        }
        return m;
    }
}
