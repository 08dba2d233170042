package tagkeeper.interop;

import org.apache.paimon.Snapshot;
import org.apache.paimon.data.BinaryRow;
import org.apache.paimon.data.BinaryString;
import org.apache.paimon.data.Decimal;
import org.apache.paimon.data.InternalRow;
import org.apache.paimon.data.Timestamp;
import org.apache.paimon.fs.Path;
import org.apache.paimon.fs.local.LocalFileIO;
import org.apache.paimon.io.DataFileMeta;
import org.apache.paimon.manifest.ManifestEntry;
import org.apache.paimon.reader.RecordReader;
import org.apache.paimon.shade.jackson2.com.fasterxml.jackson.databind.node.ArrayNode;
import org.apache.paimon.shade.jackson2.com.fasterxml.jackson.databind.node.JsonNodeFactory;
import org.apache.paimon.shade.jackson2.com.fasterxml.jackson.databind.node.ObjectNode;
import org.apache.paimon.table.FileStoreTable;
import org.apache.paimon.table.FileStoreTableFactory;
import org.apache.paimon.table.source.DataSplit;
import org.apache.paimon.table.source.DeletionFile;
import org.apache.paimon.table.source.ReadBuilder;
import org.apache.paimon.table.source.Split;
import org.apache.paimon.types.DataType;
import org.apache.paimon.types.DataTypeRoot;
import org.apache.paimon.types.RowType;

import java.io.File;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;

/**
 * What Java Paimon sees in every version of a table: for each snapshot file, tag file and branch,
 * the live data files (Java's own manifest merge, {@code FileStoreScan}), the data files of the
 * read scan plan, and the rows read with the order-independent checksum of testdata/README.md
 * ("Row checksum"), the same one scripts/peer/pypaimon_peer.py computes.
 */
final class Describe {
    private static final JsonNodeFactory J = JsonNodeFactory.instance;

    private Describe() {}

    static FileStoreTable open(String tablePath) {
        return FileStoreTableFactory.create(
                LocalFileIO.create(), new Path(new File(tablePath).getAbsolutePath()));
    }

    static ObjectNode describe(String tablePath) throws Exception {
        String root = new File(tablePath).getAbsolutePath();
        FileStoreTable table = open(root);
        ObjectNode out = versions(table, root, root);
        out.put("table", new File(root).getName());
        ArrayNode pk = out.putArray("primary_keys");
        table.primaryKeys().forEach(pk::add);
        ArrayNode parts = out.putArray("partition_keys");
        table.partitionKeys().forEach(parts::add);
        ArrayNode branches = out.putArray("branches");
        File branchDir = new File(root, "branch");
        String[] names = branchDir.list();
        if (names != null) {
            java.util.Arrays.sort(names);
            for (String dir : names) {
                if (!dir.startsWith("branch-")) {
                    continue;
                }
                String name = dir.substring("branch-".length());
                FileStoreTable b = table.switchToBranch(name);
                ObjectNode bn = versions(b, root, new File(branchDir, dir).getPath());
                bn.put("name", name);
                branches.add(bn);
            }
        }
        return out;
    }

    /**
     * Java's incremental changelog read between two versions (tags or snapshot ids, start
     * exclusive): `incremental-between` with `incremental-between-scan-mode=changelog` and
     * `incremental-between-tag-to-snapshot` (tags read as their snapshots). One entry per row,
     * in Java's order: the row kind's short string, then the values rendered as for the
     * checksum, separated by U+001F.
     */
    static ArrayNode changelogBetween(String tablePath, String from, String to) throws Exception {
        FileStoreTable t = open(new File(tablePath).getAbsolutePath()).copy(Map.of(
                "incremental-between", from + "," + to,
                "incremental-between-scan-mode", "changelog",
                "incremental-between-tag-to-snapshot", "true"));
        ArrayNode out = J.arrayNode();
        ReadBuilder rb = t.newReadBuilder();
        List<Split> splits = rb.newScan().plan().splits();
        RowType rowType = t.rowType();
        List<InternalRow.FieldGetter> getters = new ArrayList<>();
        for (int i = 0; i < rowType.getFieldCount(); i++) {
            getters.add(InternalRow.createFieldGetter(rowType.getTypeAt(i), i));
        }
        try (RecordReader<InternalRow> r = rb.newRead().createReader(splits)) {
            RecordReader.RecordIterator<InternalRow> batch;
            while ((batch = r.readBatch()) != null) {
                InternalRow row;
                while ((row = batch.next()) != null) {
                    StringBuilder line = new StringBuilder(row.getRowKind().shortString());
                    for (int i = 0; i < getters.size(); i++) {
                        line.append('\u001f');
                        line.append(render(getters.get(i).getFieldOrNull(row),
                                rowType.getTypeAt(i)));
                    }
                    out.add(line.toString());
                }
                batch.releaseBatch();
            }
        }
        return out;
    }

    /** Rows and checksum only, for every version (cheaper than describe: no file listing). */
    static ObjectNode readAll(String tablePath) throws Exception {
        ObjectNode d = describe(tablePath);
        ObjectNode out = J.objectNode();
        collectReads(out, "", d);
        for (var b : d.withArray("branches")) {
            collectReads(out, "branch-" + b.get("name").asText() + "/", (ObjectNode) b);
        }
        return out;
    }

    private static void collectReads(ObjectNode out, String prefix, ObjectNode d) {
        for (var s : d.withArray("snapshots")) {
            out.set(prefix + "snapshot-" + s.get("id").asLong(), readOnly(s));
        }
        for (var t : d.withArray("tags")) {
            out.set(prefix + "tag-" + t.get("name").asText(), readOnly(t));
        }
    }

    private static ObjectNode readOnly(
            org.apache.paimon.shade.jackson2.com.fasterxml.jackson.databind.JsonNode v) {
        ObjectNode o = J.objectNode();
        o.put("rows", v.get("rows").asLong());
        o.put("checksum", v.get("checksum").asText());
        return o;
    }

    private static ObjectNode versions(FileStoreTable table, String root, String versionRoot)
            throws Exception {
        ObjectNode out = J.objectNode();
        ArrayNode snaps = out.putArray("snapshots");
        for (long id : listSnapshotIds(new File(versionRoot, "snapshot"))) {
            Snapshot s = table.snapshotManager().snapshot(id);
            FileStoreTable t = table.copy(Map.of("scan.snapshot-id", Long.toString(id)));
            ObjectNode v = version(t, s, root);
            v.put("id", id);
            v.put("schema_id", s.schemaId());
            v.put("commit_kind", s.commitKind().name());
            snaps.add(v);
        }
        ArrayNode tags = out.putArray("tags");
        for (String name : listTags(new File(versionRoot, "tag"))) {
            Snapshot s = table.tagManager().getOrThrow(name).trimToSnapshot();
            ObjectNode v;
            if (versionRoot.equals(root)) {
                v = version(table.copy(Map.of("scan.tag-name", name)), s, root);
            } else {
                // Java 1.4.2's StaticFromTagStartingScanner looks the tag up in the main
                // branch's tag/ directory, so scan.tag-name fails on a branch: plan the
                // tagged snapshot directly instead.
                v = version(table, s, root);
            }
            v.put("name", name);
            v.put("snapshot_id", s.id());
            v.put("schema_id", s.schemaId());
            tags.add(v);
        }
        return out;
    }

    static List<Long> listSnapshotIds(File dir) {
        List<Long> ids = new ArrayList<>();
        String[] names = dir.list();
        if (names != null) {
            for (String n : names) {
                if (n.startsWith("snapshot-") && new File(dir, n).isFile()) {
                    String suffix = n.substring("snapshot-".length());
                    if (!suffix.isEmpty() && suffix.chars().allMatch(Character::isDigit)) {
                        ids.add(Long.parseLong(suffix));
                    }
                }
            }
        }
        ids.sort(null);
        return ids;
    }

    static List<String> listTags(File dir) {
        List<String> tags = new ArrayList<>();
        String[] names = dir.list();
        if (names != null) {
            for (String n : names) {
                if (n.startsWith("tag-") && new File(dir, n).isFile()) {
                    tags.add(n.substring("tag-".length()));
                }
            }
        }
        tags.sort(null);
        return tags;
    }

    /** One version: live files (Java's manifest merge), the read plan's files, rows, checksum. */
    private static ObjectNode version(FileStoreTable t, Snapshot snapshot, String root)
            throws Exception {
        ObjectNode v = J.objectNode();
        RowType partType = t.schema().logicalPartitionType();
        List<String> partKeys = t.partitionKeys();
        // Live files exactly as Java's FileStoreScan merges the snapshot's manifests.
        List<ManifestEntry> entries = t.store().newScan().withSnapshot(snapshot).plan().files();
        TreeMap<String, ObjectNode> files = new TreeMap<>();
        long fileRows = 0;
        for (ManifestEntry e : entries) {
            DataFileMeta f = e.file();
            String path = filePath(t, e.partition(), e.bucket(), f, root);
            ObjectNode fn = J.objectNode();
            fn.put("path", path);
            fn.set("partition", partition(e.partition(), partType, partKeys));
            fn.put("bucket", e.bucket());
            fn.put("level", f.level());
            fn.put("file_size", f.fileSize());
            fn.put("row_count", f.rowCount());
            if (files.put(path, fn) != null) {
                throw new IllegalStateException("file listed twice: " + path);
            }
            fileRows += f.rowCount();
        }
        ArrayNode fa = v.putArray("files");
        files.values().forEach(fa::add);
        v.put("file_row_count", fileRows);

        // What a batch read plans: for primary-key tables with deletion vectors only the
        // files above level 0 (and the deletion files that apply to them).
        ReadBuilder rb = t.newReadBuilder();
        List<Split> splits = Long.valueOf(snapshot.id()).equals(t.snapshotManager().latestSnapshotId())
                || t.options().containsKey("scan.snapshot-id")
                || t.options().containsKey("scan.tag-name")
                ? rb.newScan().plan().splits()
                : new ArrayList<>(t.newSnapshotReader().withSnapshot(snapshot).read().splits());
        TreeMap<String, String> planFiles = new TreeMap<>();
        Set<String> deletionFiles = new HashSet<>();
        for (Split sp : splits) {
            DataSplit ds = (DataSplit) sp;
            if (ds.snapshotId() != snapshot.id()) {
                throw new IllegalStateException(
                        "planned snapshot " + ds.snapshotId() + ", wanted " + snapshot.id());
            }
            List<DataFileMeta> dfs = ds.dataFiles();
            Optional<List<DeletionFile>> dvs = ds.deletionFiles();
            for (int i = 0; i < dfs.size(); i++) {
                String p = filePath(t, ds.partition(), ds.bucket(), dfs.get(i), root);
                String dv = null;
                if (dvs.isPresent() && dvs.get().get(i) != null) {
                    dv = relative(dvs.get().get(i).path(), root);
                    deletionFiles.add(dv);
                }
                planFiles.put(p, dv == null ? "" : dv);
            }
        }
        ArrayNode pf = v.putArray("plan_files");
        planFiles.keySet().forEach(pf::add);
        ArrayNode df = v.putArray("deletion_files");
        new java.util.TreeSet<>(deletionFiles).forEach(df::add);

        long rows = 0;
        long sum = 0;
        if (!splits.isEmpty()) {
            RowType rowType = t.rowType();
            List<InternalRow.FieldGetter> getters = new ArrayList<>();
            for (int i = 0; i < rowType.getFieldCount(); i++) {
                getters.add(InternalRow.createFieldGetter(rowType.getTypeAt(i), i));
            }
            try (RecordReader<InternalRow> r = rb.newRead().createReader(splits)) {
                RecordReader.RecordIterator<InternalRow> batch;
                while ((batch = r.readBatch()) != null) {
                    InternalRow row;
                    while ((row = batch.next()) != null) {
                        StringBuilder line = new StringBuilder();
                        for (int i = 0; i < getters.size(); i++) {
                            if (i > 0) {
                                line.append('\u001f');
                            }
                            line.append(render(getters.get(i).getFieldOrNull(row),
                                    rowType.getTypeAt(i)));
                        }
                        sum += rowHash(line.toString());
                        rows++;
                    }
                    batch.releaseBatch();
                }
            }
        }
        v.put("rows", rows);
        v.put("checksum", String.format("%016x", sum));
        return v;
    }

    private static String filePath(
            FileStoreTable t, BinaryRow partition, int bucket, DataFileMeta f, String root) {
        if (f.externalPath().isPresent()) {
            // Absolute, as pypaimon_peer.py reports external files.
            return new Path(f.externalPath().get()).toUri().getPath();
        }
        Path p = t.store().pathFactory().createDataFilePathFactory(partition, bucket).toPath(f);
        return relative(p.toString(), root);
    }

    static String relative(String path, String root) {
        String p = new Path(path).toUri().getPath();
        String r = root.endsWith("/") ? root : root + "/";
        if (!p.startsWith(r)) {
            return p;
        }
        return p.substring(r.length());
    }

    private static ObjectNode partition(BinaryRow part, RowType type, List<String> keys) {
        ObjectNode o = J.objectNode();
        for (int i = 0; i < keys.size(); i++) {
            DataType ft = type.getTypeAt(i);
            Object val = InternalRow.createFieldGetter(ft, i).getFieldOrNull(part);
            String k = keys.get(i);
            if (val == null) {
                o.putNull(k);
            } else if (val instanceof Integer || val instanceof Long || val instanceof Short
                    || val instanceof Byte) {
                if (ft.getTypeRoot() == DataTypeRoot.DATE) {
                    o.put(k, LocalDate.ofEpochDay(((Number) val).longValue()).toString());
                } else {
                    o.put(k, ((Number) val).longValue());
                }
            } else if (val instanceof Boolean) {
                o.put(k, (Boolean) val);
            } else {
                o.put(k, render(val, ft));
            }
        }
        return o;
    }

    /** testdata/README.md "Row checksum": one value as text. */
    static String render(Object v, DataType type) {
        if (v == null) {
            return "\\N";
        }
        switch (type.getTypeRoot()) {
            case BOOLEAN:
                return ((Boolean) v) ? "true" : "false";
            case TINYINT:
            case SMALLINT:
            case INTEGER:
            case BIGINT:
                return Long.toString(((Number) v).longValue());
            case CHAR:
            case VARCHAR:
                return ((BinaryString) v).toString();
            case DATE:
                return LocalDate.ofEpochDay(((Number) v).longValue()).toString();
            case TIMESTAMP_WITHOUT_TIME_ZONE:
            case TIMESTAMP_WITH_LOCAL_TIME_ZONE: {
                LocalDateTime t = ((Timestamp) v).toLocalDateTime();
                String s = String.format("%04d-%02d-%02dT%02d:%02d:%02d", t.getYear(),
                        t.getMonthValue(), t.getDayOfMonth(), t.getHour(), t.getMinute(),
                        t.getSecond());
                int micros = t.getNano() / 1000;
                return micros == 0 ? s : s + String.format(".%06d", micros);
            }
            case DECIMAL: {
                BigDecimal d = ((Decimal) v).toBigDecimal();
                return d.toString();
            }
            case BINARY:
            case VARBINARY: {
                StringBuilder sb = new StringBuilder();
                for (byte b : (byte[]) v) {
                    sb.append(String.format("%02x", b & 0xff));
                }
                return sb.toString();
            }
            default:
                // FLOAT/DOUBLE would need Python's repr(float); the tables do not use them.
                throw new IllegalArgumentException("checksum: unsupported type " + type);
        }
    }

    static long rowHash(String line) throws Exception {
        byte[] d = MessageDigest.getInstance("SHA-256")
                .digest(line.getBytes(StandardCharsets.UTF_8));
        long h = 0;
        for (int i = 7; i >= 0; i--) {
            h = (h << 8) | (d[i] & 0xffL);
        }
        return h;
    }
}
