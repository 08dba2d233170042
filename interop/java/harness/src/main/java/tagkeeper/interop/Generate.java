package tagkeeper.interop;

import org.apache.paimon.catalog.Catalog;
import org.apache.paimon.catalog.CatalogContext;
import org.apache.paimon.catalog.CatalogFactory;
import org.apache.paimon.catalog.Identifier;
import org.apache.paimon.consumer.Consumer;
import org.apache.paimon.consumer.ConsumerManager;
import org.apache.paimon.data.BinaryRow;
import org.apache.paimon.data.BinaryString;
import org.apache.paimon.data.Decimal;
import org.apache.paimon.data.GenericRow;
import org.apache.paimon.data.Timestamp;
import org.apache.paimon.disk.IOManager;
import org.apache.paimon.fs.Path;
import org.apache.paimon.index.HashBucketAssigner;
import org.apache.paimon.manifest.ManifestCommittable;
import org.apache.paimon.operation.LocalOrphanFilesClean;
import org.apache.paimon.options.ExpireConfig;
import org.apache.paimon.schema.Schema;
import org.apache.paimon.schema.SchemaChange;
import org.apache.paimon.shade.jackson2.com.fasterxml.jackson.databind.node.ArrayNode;
import org.apache.paimon.shade.jackson2.com.fasterxml.jackson.databind.node.JsonNodeFactory;
import org.apache.paimon.shade.jackson2.com.fasterxml.jackson.databind.node.ObjectNode;
import org.apache.paimon.Snapshot;
import org.apache.paimon.deletionvectors.BitmapDeletionVector;
import org.apache.paimon.deletionvectors.DeletionVector;
import org.apache.paimon.deletionvectors.append.BaseAppendDeleteFileMaintainer;
import org.apache.paimon.index.IndexFileMeta;
import org.apache.paimon.io.CompactIncrement;
import org.apache.paimon.io.DataFileMeta;
import org.apache.paimon.io.DataIncrement;
import org.apache.paimon.manifest.FileKind;
import org.apache.paimon.manifest.IndexManifestEntry;
import org.apache.paimon.manifest.ManifestEntry;
import org.apache.paimon.table.FileStoreTable;
import org.apache.paimon.table.sink.CommitMessageImpl;
import org.apache.paimon.table.sink.BatchTableCommit;
import org.apache.paimon.table.sink.BatchTableWrite;
import org.apache.paimon.table.sink.BatchWriteBuilder;
import org.apache.paimon.table.sink.CommitMessage;
import org.apache.paimon.table.sink.RowPartitionKeyExtractor;
import org.apache.paimon.table.sink.StreamTableWrite;
import org.apache.paimon.table.sink.StreamWriteBuilder;
import org.apache.paimon.table.sink.TableCommitImpl;
import org.apache.paimon.types.DataTypes;
import org.apache.paimon.types.RowKind;

import java.io.File;
import java.math.BigDecimal;
import java.time.Duration;
import java.time.LocalDateTime;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Writes the Java tables (testdata/java/README.md lists them). Values are fixed, so rows and
 * checksums are the same on every run; file names (UUIDs) and times are not.
 */
final class Generate {
    private Generate() {}

    /** Tables written only when named: they cannot be committed as fixtures. */
    static final Set<String> LIVE_ONLY =
            Set.of("external_paths", "orc_evolved", "pk_dv_bitmap64", "append_dv", "iceberg_hadoop");

    /** The warehouse being written (absolute). */
    static String warehouseRoot;

    interface TableWriter {
        void write(Catalog catalog, Identifier id) throws Exception;
    }

    static ObjectNode generate(String warehouse, Set<String> only) throws Exception {
        Map<String, TableWriter> tables = new java.util.LinkedHashMap<>();
        tables.put("append_unaware", Generate::appendUnaware);
        tables.put("append_fixed", Generate::appendFixed);
        tables.put("append_orc", (c, i) -> appendFormat(c, i, "orc"));
        tables.put("append_avro", (c, i) -> appendFormat(c, i, "avro"));
        tables.put("pk_compacted", Generate::pkCompacted);
        tables.put("pk_dynamic", Generate::pkDynamic);
        tables.put("pk_dv", Generate::pkDeletionVectors);
        tables.put("changelog_input", (c, i) -> pkChangelog(c, i, "input"));
        tables.put("changelog_lookup", (c, i) -> pkChangelog(c, i, "lookup"));
        tables.put("changelog_full", (c, i) -> pkChangelog(c, i, "full-compaction"));
        tables.put("changelog_decoupled", Generate::changelogDecoupled);
        tables.put("schema_evolved", Generate::schemaEvolved);
        tables.put("tags_expired", Generate::tagsExpired);
        tables.put("branched", Generate::branched);
        tables.put("consumers", Generate::consumers);
        tables.put("java_rolled_back", Generate::rolledBack);
        tables.put("orphans_cleaned", Generate::orphansCleaned);
        tables.put("auto_tag", Generate::autoTag);
        tables.put("iceberg_compat", Generate::icebergCompat);
        tables.put("auto_tag_stream", Generate::autoTagStream);
        tables.put("auto_tag_process", Generate::autoTagProcess);
        tables.put("auto_tag_batch", Generate::autoTagBatch);
        tables.put("statistics", Generate::statistics);
        tables.put("pk_postpone", Generate::pkPostpone);
        tables.put("pk_first_row", Generate::pkFirstRow);
        tables.put("pk_partial_update", Generate::pkPartialUpdate);
        tables.put("pk_partial_update_delete", Generate::pkPartialUpdateDelete);
        tables.put("pk_partial_update_groups", Generate::pkPartialUpdateGroups);
        tables.put("pk_aggregation", Generate::pkAggregation);
        tables.put("pk_aggregation_default", Generate::pkAggregationDefault);
        tables.put("pk_sequence_field", (c, i) -> pkSequenceField(c, i, "ascending"));
        tables.put("pk_sequence_field_desc", (c, i) -> pkSequenceField(c, i, "descending"));
        // Written only when asked for by name (its data files carry absolute paths, so it
        // cannot be committed as a fixture): generated live by the tests.
        tables.put("external_paths", Generate::externalPaths);
        // Written only when asked for by name, so that adding it rewrote no committed fixture.
        tables.put("orc_evolved", Generate::orcEvolved);
        tables.put("pk_dv_bitmap64", Generate::pkDeletionVectors64);
        tables.put("append_dv", Generate::appendDeletionVectors);
        tables.put("iceberg_hadoop", Generate::icebergHadoop);

        ObjectNode out = JsonNodeFactory.instance.objectNode();
        ArrayNode written = out.putArray("written");
        Catalog catalog = CatalogFactory.createCatalog(
                CatalogContext.create(new Path(new File(warehouse).getAbsolutePath())));
        catalog.createDatabase("default", true);
        warehouseRoot = new File(warehouse).getAbsolutePath();
        for (var e : tables.entrySet()) {
            if (only.isEmpty() ? LIVE_ONLY.contains(e.getKey()) : !only.contains(e.getKey())) {
                continue;
            }
            Identifier id = Identifier.create("default", e.getKey());
            catalog.dropTable(id, true);
            e.getValue().write(catalog, id);
            written.add(e.getKey());
        }
        if (only.isEmpty() || only.contains("auto_tag_stream")) {
            // The auto-tag matrix over copies of auto_tag_stream (testdata/java/auto_tag_cases.json).
            out.set("auto_tag_cases", AutoTagCases.run(
                    new File(warehouseRoot, "default.db/auto_tag_stream").getPath(),
                    new File(warehouseRoot, ".auto-tag-scratch").getPath()));
            AutoTagCases.deleteDir(new File(warehouseRoot, ".auto-tag-scratch"));
        }
        for (String name : only) {
            if (!tables.containsKey(name)) {
                throw new IllegalArgumentException("no such table: " + name);
            }
        }
        return out;
    }

    // ---------------------------------------------------------------- helpers

    static BinaryString s(String v) {
        return v == null ? null : BinaryString.fromString(v);
    }

    /** (id BIGINT, name STRING, dt STRING): n rows from id start, some names NULL. */
    static List<GenericRow> appendRows(long start, int n, String... dts) {
        List<GenericRow> rows = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            long id = start + i;
            String name = id % 4 == 3 ? null : "name-" + id;
            rows.add(GenericRow.of(id, s(name), s(dts[i % dts.length])));
        }
        return rows;
    }

    static Schema appendSchema(Map<String, String> options, boolean partitioned) {
        Schema.Builder b = Schema.newBuilder()
                .column("id", DataTypes.BIGINT())
                .column("name", DataTypes.STRING())
                .column("dt", DataTypes.STRING());
        if (partitioned) {
            b.partitionKeys("dt");
        }
        options.forEach(b::option);
        return b.build();
    }

    /** (dt STRING, k BIGINT, v STRING), primary key (dt, k), partition dt. */
    static Schema pkSchema(Map<String, String> options) {
        Schema.Builder b = Schema.newBuilder()
                .column("dt", DataTypes.STRING())
                .column("k", DataTypes.BIGINT())
                .column("v", DataTypes.STRING())
                .primaryKey("dt", "k")
                .partitionKeys("dt");
        options.forEach(b::option);
        return b.build();
    }

    static GenericRow pk(RowKind kind, String dt, long k, String v) {
        GenericRow r = GenericRow.of(s(dt), k, s(v));
        r.setRowKind(kind);
        return r;
    }

    static FileStoreTable create(Catalog c, Identifier id, Schema schema) throws Exception {
        c.createTable(id, schema, false);
        return (FileStoreTable) c.getTable(id);
    }

    static FileStoreTable reload(Catalog c, Identifier id) throws Exception {
        return (FileStoreTable) c.getTable(id);
    }

    /** One batch commit. */
    static void commit(FileStoreTable t, List<GenericRow> rows) throws Exception {
        BatchWriteBuilder wb = t.newBatchWriteBuilder();
        try (BatchTableWrite w = wb.newWrite(); BatchTableCommit c = wb.newCommit()) {
            w.withIOManager(ioManager());
            if (t.coreOptions().bucket() == -1 && !t.primaryKeys().isEmpty()) {
                // Dynamic bucket: TableWrite cannot pick the bucket itself; assign it the way
                // Flink's HashBucketAssignerOperator does (one assigner, index loaded from the
                // latest snapshot so a key keeps its bucket across commits).
                HashBucketAssigner assigner = new HashBucketAssigner(t.snapshotManager(),
                        wb.toString(), t.store().newIndexFileHandler(), 1, 1, 0,
                        t.coreOptions().dynamicBucketTargetRowNum(),
                        t.coreOptions().dynamicBucketMaxBuckets());
                RowPartitionKeyExtractor ex = new RowPartitionKeyExtractor(t.schema());
                for (GenericRow r : rows) {
                    w.write(r, assigner.assign(ex.partition(r),
                            ex.trimmedPrimaryKey(r).hashCode()));
                }
            } else {
                for (GenericRow r : rows) {
                    w.write(r);
                }
            }
            c.commit(w.prepareCommit());
        }
    }

    private static IOManager io;

    /**
     * Spill space for lookup compaction (deletion vectors, lookup changelog): one per JVM,
     * closed (its temp directory deleted) when the JVM exits.
     */
    static synchronized IOManager ioManager() {
        if (io == null) {
            io = IOManager.create(System.getProperty("java.io.tmpdir"));
            IOManager m = io;
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                try {
                    m.close();
                } catch (Exception e) {
                    // Best effort: only a temp directory is left behind.
                }
            }));
        }
        return io;
    }

    /** A batch overwrite of the given partition (empty map: the whole table). */
    static void overwrite(FileStoreTable t, Map<String, String> partition, List<GenericRow> rows)
            throws Exception {
        BatchWriteBuilder wb = t.newBatchWriteBuilder().withOverwrite(partition);
        try (BatchTableWrite w = wb.newWrite(); BatchTableCommit c = wb.newCommit()) {
            w.withIOManager(ioManager());
            for (GenericRow r : rows) {
                w.write(r);
            }
            c.commit(w.prepareCommit());
        }
    }

    /** Full compaction of the given buckets of one partition, as its own commit. */
    static void fullCompact(FileStoreTable t, GenericRow partitionOf, int... buckets)
            throws Exception {
        BatchWriteBuilder wb = t.newBatchWriteBuilder();
        try (BatchTableWrite w = wb.newWrite(); BatchTableCommit c = wb.newCommit()) {
            w.withIOManager(ioManager());
            BinaryRow part = w.getPartition(partitionOf);
            for (int b : buckets) {
                w.compact(part, b, true);
            }
            c.commit(w.prepareCommit());
        }
    }

    /** A streaming commit carrying a watermark: what drives TagAutoCreation in watermark mode. */
    static void commitWithWatermark(FileStoreTable t, List<GenericRow> rows, long watermark,
            long identifier) throws Exception {
        StreamWriteBuilder wb = t.newStreamWriteBuilder();
        try (StreamTableWrite w = wb.newWrite();
                TableCommitImpl c = (TableCommitImpl) wb.newCommit()) {
            w.withIOManager(ioManager());
            for (GenericRow r : rows) {
                w.write(r);
            }
            ManifestCommittable mc = new ManifestCommittable(identifier, watermark);
            for (CommitMessage m : w.prepareCommit(true, identifier)) {
                mc.addFileCommittable(m);
            }
            c.commit(mc);
        }
    }

    static void expire(FileStoreTable t, int retainMin, int retainMax) {
        t.newExpireSnapshots()
                .config(ExpireConfig.builder()
                        .snapshotRetainMin(retainMin)
                        .snapshotRetainMax(retainMax)
                        .snapshotTimeRetain(Duration.ZERO)
                        .build())
                .expire();
    }

    // ---------------------------------------------------------------- tables

    static void appendUnaware(Catalog c, Identifier id) throws Exception {
        FileStoreTable t = create(c, id, appendSchema(Harness.opts("bucket", "-1"), true));
        commit(t, appendRows(0, 10, "2024-01-01", "2024-01-02"));
        commit(t, appendRows(10, 6, "2024-01-02"));
        t.createTag("t2", 2);
        overwrite(t, Harness.opts("dt", "2024-01-01"), appendRows(100, 3, "2024-01-01"));
        commit(t, appendRows(20, 5, "2024-01-03"));
    }

    static void appendFixed(Catalog c, Identifier id) throws Exception {
        FileStoreTable t = create(c, id,
                appendSchema(Harness.opts("bucket", "2", "bucket-key", "id"), true));
        commit(t, appendRows(0, 12, "2024-01-01", "2024-01-02"));
        commit(t, appendRows(12, 8, "2024-01-01"));
        commit(t, appendRows(20, 4, "2024-01-03"));
    }

    static void appendFormat(Catalog c, Identifier id, String format) throws Exception {
        FileStoreTable t = create(c, id,
                appendSchema(Harness.opts("bucket", "-1", "file.format", format), true));
        commit(t, appendRows(0, 8, "2024-01-01", "2024-01-02"));
        commit(t, appendRows(8, 4, "2024-01-02"));
        t.createTag("first", 1);
    }

    /** Inserts, updates and deletes over two partitions and 2 buckets, then full compaction. */
    static void pkCompacted(Catalog c, Identifier id) throws Exception {
        FileStoreTable t = create(c, id, pkSchema(Harness.opts("bucket", "2")));
        pkHistory(t);
        fullCompact(t, pk(RowKind.INSERT, "2024-01-01", 0, null), 0, 1);
        commit(t, List.of(pk(RowKind.INSERT, "2024-01-01", 1, "after-compaction"),
                pk(RowKind.DELETE, "2024-01-02", 2, null)));
        t.createTag("compacted", 4);
    }

    /** Three commits: 12 inserts, 4 updates, 2 deletes (+1 insert), over 2 partitions. */
    static void pkHistory(FileStoreTable t) throws Exception {
        List<GenericRow> rows = new ArrayList<>();
        for (int k = 0; k < 12; k++) {
            rows.add(pk(RowKind.INSERT, k % 2 == 0 ? "2024-01-01" : "2024-01-02", k, "v" + k));
        }
        commit(t, rows);
        commit(t, List.of(pk(RowKind.UPDATE_AFTER, "2024-01-01", 0, "u0"),
                pk(RowKind.UPDATE_AFTER, "2024-01-01", 2, "u2"),
                pk(RowKind.UPDATE_AFTER, "2024-01-02", 3, "u3"),
                pk(RowKind.INSERT, "2024-01-02", 5, "u5")));
        commit(t, List.of(pk(RowKind.DELETE, "2024-01-01", 4, null),
                pk(RowKind.DELETE, "2024-01-02", 7, null),
                pk(RowKind.INSERT, "2024-01-02", 99, "new")));
    }

    static void pkDynamic(Catalog c, Identifier id) throws Exception {
        FileStoreTable t = create(c, id,
                pkSchema(Harness.opts("bucket", "-1", "dynamic-bucket.target-row-num", "4")));
        pkHistory(t);
    }

    /**
     * An append table (unaware bucket, partitioned by dt) with deletion vectors, written the way
     * Spark's DELETE writes them (PaimonSparkWriter.persistDeletionVectors): rows deleted from
     * a data file by a vector in an index file, then more rows of the same file (the vector
     * replaced), and a vector on a file of another partition; tags before and between.
     */
    static void appendDeletionVectors(Catalog c, Identifier id) throws Exception {
        FileStoreTable t = create(c, id,
                appendSchema(Harness.opts("deletion-vectors.enabled", "true"), true));
        commit(t, appendRows(0, 40, "2024-01-01", "2024-01-02"));
        commit(t, appendRows(100, 10, "2024-01-02"));
        t.createTag("before", 2);
        deleteRows(t, "2024-01-01", 0, new long[] {0, 3, 7});
        t.createTag("first-delete", 3);
        deleteRows(t, "2024-01-01", 0, new long[] {0, 3, 7, 8, 19});
        deleteRows(t, "2024-01-02", 1, new long[] {1, 2});
    }

    /**
     * Delete row positions of one data file (the `which`-th of the partition's live files in
     * name order) through the unaware-bucket deletion-vector maintainer, committing the index
     * files it writes. The vector replaces any earlier one of the file, so `positions` holds all.
     */
    static void deleteRows(FileStoreTable t, String dt, int which, long[] positions)
            throws Exception {
        Snapshot snapshot = t.snapshotManager().latestSnapshot();
        BinaryRow partition = null;
        List<DataFileMeta> files = new ArrayList<>();
        for (ManifestEntry e : t.store().newScan().withSnapshot(snapshot).plan().files()) {
            if (e.partition().getString(0).toString().equals(dt)) {
                partition = e.partition();
                files.add(e.file());
            }
        }
        files.sort((a, b) -> a.fileName().compareTo(b.fileName()));
        DeletionVector dv = new BitmapDeletionVector();
        for (long p : positions) {
            dv.delete(p);
        }
        BaseAppendDeleteFileMaintainer m = BaseAppendDeleteFileMaintainer.forUnawareAppend(
                t.store().newIndexFileHandler(), snapshot, partition);
        m.notifyNewDeletionVector(files.get(which).fileName(), dv);
        List<IndexFileMeta> added = new ArrayList<>();
        List<IndexFileMeta> deleted = new ArrayList<>();
        for (IndexManifestEntry e : m.persist()) {
            (e.kind() == FileKind.ADD ? added : deleted).add(e.indexFile());
        }
        CommitMessageImpl msg = new CommitMessageImpl(m.getPartition(), m.getBucket(), null,
                new DataIncrement(List.of(), List.of(), List.of(), added, deleted),
                CompactIncrement.emptyIncrement());
        BatchWriteBuilder wb = t.newBatchWriteBuilder();
        try (BatchTableCommit tc = wb.newCommit()) {
            tc.commit(List.of(msg));
        }
    }

    /** pk_dv with `deletion-vectors.bitmap64`: 64-bit roaring deletion vectors (magic V2). */
    static void pkDeletionVectors64(Catalog c, Identifier id) throws Exception {
        FileStoreTable t = create(c, id, pkSchema(Harness.opts("bucket", "1",
                "deletion-vectors.enabled", "true", "deletion-vectors.bitmap64", "true")));
        pkHistory(t);
        fullCompact(t, pk(RowKind.INSERT, "2024-01-01", 0, null), 0);
        commit(t, List.of(pk(RowKind.UPDATE_AFTER, "2024-01-01", 6, "after-dv")));
    }

    static void pkDeletionVectors(Catalog c, Identifier id) throws Exception {
        FileStoreTable t = create(c, id,
                pkSchema(Harness.opts("bucket", "1", "deletion-vectors.enabled", "true")));
        pkHistory(t);
        fullCompact(t, pk(RowKind.INSERT, "2024-01-01", 0, null), 0);
        commit(t, List.of(pk(RowKind.UPDATE_AFTER, "2024-01-01", 6, "after-dv")));
    }

    static void pkChangelog(Catalog c, Identifier id, String producer) throws Exception {
        FileStoreTable t = create(c, id, pkSchema(Harness.opts("bucket", "1",
                "changelog-producer", producer, "full-compaction.delta-commits", "2")));
        pkHistory(t);
    }

    /** Changelog kept longer than snapshots: expiring snapshots writes changelog/changelog-N. */
    static void changelogDecoupled(Catalog c, Identifier id) throws Exception {
        FileStoreTable t = create(c, id, pkSchema(Harness.opts("bucket", "1",
                "changelog-producer", "input",
                "snapshot.num-retained.min", "1", "snapshot.num-retained.max", "2",
                "changelog.num-retained.max", "10")));
        pkHistory(t);
        commit(t, List.of(pk(RowKind.INSERT, "2024-01-03", 50, "late")));
    }

    /** Add, rename, widen and drop a column, with a commit after each schema. */
    static void schemaEvolved(Catalog c, Identifier id) throws Exception {
        FileStoreTable t = create(c, id, Schema.newBuilder()
                .column("id", DataTypes.BIGINT())
                .column("name", DataTypes.STRING())
                .column("n", DataTypes.INT())
                .build());
        commit(t, List.of(GenericRow.of(1L, s("a"), 10), GenericRow.of(2L, s(null), 20)));
        c.alterTable(id, SchemaChange.addColumn("score", DataTypes.INT()), false);
        t = reload(c, id);
        commit(t, List.of(GenericRow.of(3L, s("c"), 30, 300)));
        c.alterTable(id, SchemaChange.renameColumn("name", "label"), false);
        t = reload(c, id);
        commit(t, List.of(GenericRow.of(4L, s("d"), 40, null)));
        c.alterTable(id, SchemaChange.updateColumnType("n", DataTypes.BIGINT()), false);
        t = reload(c, id);
        commit(t, List.of(GenericRow.of(5L, s("e"), 5_000_000_000L, 500)));
        c.alterTable(id, SchemaChange.dropColumn("score"), false);
        t = reload(c, id);
        commit(t, List.of(GenericRow.of(6L, s("f"), 60L)));
        t.createTag("before-drop", 4);
    }

    /** Manual tags with and without retention; Java expires the tagged snapshots. */
    static void tagsExpired(Catalog c, Identifier id) throws Exception {
        FileStoreTable t = create(c, id, appendSchema(Harness.opts(), true));
        for (int i = 0; i < 6; i++) {
            commit(t, appendRows(i * 10L, 5, i % 2 == 0 ? "2024-01-01" : "2024-01-02"));
        }
        overwrite(t, Harness.opts("dt", "2024-01-01"), appendRows(500, 2, "2024-01-01"));
        t.createTag("first", 1);
        t.createTag("kept-a-day", 3, Duration.ofDays(1));
        t.createTag("mid", 4);
        expire(t, 1, 2);
    }

    /** A branch made from a tag, written on both sides, with its own tag. */
    static void branched(Catalog c, Identifier id) throws Exception {
        FileStoreTable t = create(c, id, appendSchema(Harness.opts(), true));
        commit(t, appendRows(0, 5, "2024-01-01"));
        commit(t, appendRows(5, 5, "2024-01-02"));
        t.createTag("base", 2);
        t.createBranch("dev", "base");
        commit(t, appendRows(10, 3, "2024-01-03"));
        FileStoreTable dev = t.switchToBranch("dev");
        commit(dev, appendRows(1000, 4, "2024-02-01"));
        commit(dev, appendRows(1004, 2, "2024-01-01"));
        dev.createTag("dev-tag", 4);
    }

    /** A consumer holds snapshot 3 while Java expires the rest. */
    static void consumers(Catalog c, Identifier id) throws Exception {
        FileStoreTable t = create(c, id, appendSchema(Harness.opts(), false));
        for (int i = 0; i < 6; i++) {
            commit(t, appendRows(i * 10L, 3, "2024-01-01"));
        }
        new ConsumerManager(t.fileIO(), t.location()).resetConsumer("reader-a", new Consumer(3));
        new ConsumerManager(t.fileIO(), t.location()).resetConsumer("reader-b", new Consumer(5));
        expire(t, 1, 1);
    }

    /** Java's rollback (which deletes the newer snapshots' files), then a new snapshot 4. */
    static void rolledBack(Catalog c, Identifier id) throws Exception {
        FileStoreTable t = create(c, id, appendSchema(Harness.opts(), false));
        for (int i = 0; i < 6; i++) {
            commit(t, appendRows(i * 10L, 4, "2024-01-01"));
        }
        t.createTag("keep", 2);
        t.createTag("gone", 5);
        t.rollbackTo(3);
        commit(t, appendRows(900, 2, "2024-01-09"));
    }

    /** An uncommitted write leaves data files; Java's LocalOrphanFilesClean removes them. */
    static void orphansCleaned(Catalog c, Identifier id) throws Exception {
        FileStoreTable t = create(c, id, appendSchema(Harness.opts(), true));
        commit(t, appendRows(0, 6, "2024-01-01", "2024-01-02"));
        BatchWriteBuilder wb = t.newBatchWriteBuilder();
        try (BatchTableWrite w = wb.newWrite()) {
            for (GenericRow r : appendRows(100, 4, "2024-01-01", "2024-01-05")) {
                w.write(r);
            }
            w.prepareCommit(); // files written, never committed: orphans
        }
        commit(t, appendRows(6, 3, "2024-01-02"));
        t.createTag("t1", 1);
        new LocalOrphanFilesClean(t, System.currentTimeMillis() + Duration.ofDays(1).toMillis())
                .clean();
    }

    /** Watermark-driven daily tags, at most 3 kept (tag.num-retained-max). */
    static void autoTag(Catalog c, Identifier id) throws Exception {
        FileStoreTable t = create(c, id, appendSchema(Harness.opts(
                "tag.automatic-creation", "watermark",
                "tag.creation-period", "daily",
                "tag.num-retained-max", "3"), false));
        String[] days = {"2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05",
                "2024-01-06"};
        long ident = 1;
        for (String day : days) {
            commitWithWatermark(t, appendRows(ident * 10, 2, day),
                    Harness.epochMillis(day, 12), ident++);
        }
    }

    /** Iceberg-compatible metadata written next to the table. */
    static void icebergCompat(Catalog c, Identifier id) throws Exception {
        FileStoreTable t = create(c, id, appendSchema(Harness.opts(
                "bucket", "-1", "metadata.iceberg.storage", "table-location"), true));
        commit(t, appendRows(0, 6, "2024-01-01", "2024-01-02"));
        commit(t, appendRows(6, 3, "2024-01-03"));
    }

    /**
     * iceberg_compat with its Iceberg metadata in a Hadoop catalog's warehouse
     * ({@code <warehouse>/iceberg/default/iceberg_hadoop/metadata}), outside the table.
     */
    static void icebergHadoop(Catalog c, Identifier id) throws Exception {
        FileStoreTable t = create(c, id, appendSchema(Harness.opts(
                "bucket", "-1", "metadata.iceberg.storage", "hadoop-catalog"), true));
        commit(t, appendRows(0, 6, "2024-01-01", "2024-01-02"));
        commit(t, appendRows(6, 3, "2024-01-03"));
    }

    /** 16 appends, no automatic tags: the snapshots the auto-tag matrix rewrites. */
    static void autoTagStream(Catalog c, Identifier id) throws Exception {
        FileStoreTable t = create(c, id, appendSchema(Harness.opts(), false));
        for (int i = 0; i < AutoTagCases.SNAPSHOTS; i++) {
            commit(t, appendRows(i * 10L, 2, "2024-01-01"));
        }
    }

    /**
     * Process-time daily tags made by Java's writer at each commit, at most 2. Every commit
     * falls on the day of the run: one tag, named after the day before (Java's first tag is the
     * period before the first snapshot's time).
     */
    static void autoTagProcess(Catalog c, Identifier id) throws Exception {
        FileStoreTable t = create(c, id, appendSchema(Harness.opts(
                "tag.automatic-creation", "process-time",
                "tag.creation-period", "daily",
                "sink.process-time-zone", "UTC",
                "tag.num-retained-max", "2"), false));
        for (int i = 0; i < 4; i++) {
            commitWithWatermark(t, appendRows(i * 10L, 2, "2024-01-01"), Long.MIN_VALUE, i + 1);
        }
    }

    /**
     * tag.automatic-creation = batch: after each batch write Java (Flink's
     * BatchWriteGeneratorTagOperator) runs TagBatchCreation, which tags the latest snapshot
     * batch-write-yyyy-MM-dd (replacing a tag of that name) and then keeps at most
     * tag.num-retained-max tags of any kind, deleting the oldest (here the manual tag).
     */
    static void autoTagBatch(Catalog c, Identifier id) throws Exception {
        FileStoreTable t = create(c, id, appendSchema(Harness.opts(
                "tag.automatic-creation", "batch",
                "sink.process-time-zone", "UTC",
                "tag.num-retained-max", "2"), false));
        commit(t, appendRows(0, 3, "2024-01-01"));
        t.createTag("manual-1", 1);
        commit(t, appendRows(10, 3, "2024-01-01"));
        t.createTag("manual-2", 2);
        commit(t, appendRows(20, 3, "2024-01-01"));
        new org.apache.paimon.tag.TagBatchCreation(t).createTag();
        commit(t, appendRows(30, 3, "2024-01-01"));
        new org.apache.paimon.tag.TagBatchCreation(t).createTag();
    }

    /** A statistics file committed by Java (an ANALYZE snapshot), carried by later snapshots. */
    static void statistics(Catalog c, Identifier id) throws Exception {
        FileStoreTable t = create(c, id, appendSchema(Harness.opts(), true));
        commit(t, appendRows(0, 6, "2024-01-01", "2024-01-02"));
        commit(t, appendRows(6, 4, "2024-01-02"));
        long latest = t.snapshotManager().latestSnapshotId();
        BatchWriteBuilder wb = t.newBatchWriteBuilder();
        try (BatchTableCommit bc = wb.newCommit()) {
            bc.updateStatistics(new org.apache.paimon.stats.Statistics(
                    latest, t.schema().id(), 10L, 1000L));
        }
        t.createTag("analyzed", 3);
        commit(t, appendRows(10, 3, "2024-01-03"));
    }

    /** Primary key, bucket = -2 (postpone): writes wait in bucket-postpone for compaction. */
    static void pkPostpone(Catalog c, Identifier id) throws Exception {
        FileStoreTable t = create(c, id, pkSchema(Harness.opts("bucket", "-2")));
        pkHistory(t);
        t.createTag("postponed", 2);
    }

    /** Data files under two external roots (round-robin), next to the warehouse. */
    static void externalPaths(Catalog c, Identifier id) throws Exception {
        String a = new File(warehouseRoot, "external-a").toURI().toString();
        String b = new File(warehouseRoot, "external-b").toURI().toString();
        FileStoreTable t = create(c, id, appendSchema(Harness.opts(
                "data-file.external-paths", a + "," + b,
                "data-file.external-paths.strategy", "round-robin"), true));
        commit(t, appendRows(0, 6, "2024-01-01", "2024-01-02"));
        commit(t, appendRows(6, 4, "2024-01-03"));
        t.createTag("first", 1);
        overwrite(t, Harness.opts("dt", "2024-01-01"), appendRows(100, 2, "2024-01-01"));
    }
    // ---------------------------------------------------------------- merge engines

    static GenericRow row(RowKind kind, Object... values) {
        GenericRow r = GenericRow.of(values);
        r.setRowKind(kind);
        return r;
    }

    static GenericRow ins(Object... values) {
        return row(RowKind.INSERT, values);
    }

    static Decimal dec(String v) {
        return v == null ? null : Decimal.fromBigDecimal(new BigDecimal(v), 10, 2);
    }

    /** Full compaction of bucket 0 of an unpartitioned table. */
    static void compactAll(FileStoreTable t) throws Exception {
        BatchWriteBuilder wb = t.newBatchWriteBuilder();
        try (BatchTableWrite w = wb.newWrite(); BatchTableCommit c = wb.newCommit()) {
            w.withIOManager(ioManager());
            w.compact(BinaryRow.EMPTY_ROW, 0, true);
            c.commit(w.prepareCommit());
        }
    }

    /**
     * first-row (ignore-delete): later versions of a key are ignored; Java's batch read skips
     * level 0, so rows appear only once compacted (snapshot 1 reads 0 rows). Java's writer
     * compacts on its own after commits too (COMPACT snapshots 2, 4 and 6).
     */
    static void pkFirstRow(Catalog c, Identifier id) throws Exception {
        FileStoreTable t = create(c, id, Schema.newBuilder()
                .column("k", DataTypes.BIGINT()).column("v", DataTypes.STRING())
                .column("n", DataTypes.INT()).primaryKey("k")
                .option("bucket", "1").option("merge-engine", "first-row")
                .option("ignore-delete", "true").build());
        commit(t, List.of(ins(0L, s("a0"), 0), ins(1L, s("a1"), null), ins(2L, null, 2),
                ins(3L, s("a3"), 3)));
        commit(t, List.of(ins(0L, s("b0"), 10), ins(2L, s("b2"), 12), ins(4L, s("b4"), 14),
                row(RowKind.DELETE, 1L, s("a1"), null)));
        compactAll(t);
        t.createTag("compacted", 4);
        commit(t, List.of(ins(1L, s("c1"), 21), ins(7L, s("c7"), 27)));
    }

    /** (k BIGINT, a STRING, b INT, d DECIMAL(10,2)), primary key k, bucket 1. */
    static Schema.Builder partialSchema() {
        return Schema.newBuilder()
                .column("k", DataTypes.BIGINT()).column("a", DataTypes.STRING())
                .column("b", DataTypes.INT()).column("d", DataTypes.DECIMAL(10, 2))
                .primaryKey("k").option("bucket", "1").option("merge-engine", "partial-update");
    }

    /** partial-update with ignore-delete: NULLs keep earlier values, deletes are ignored. */
    static void pkPartialUpdate(Catalog c, Identifier id) throws Exception {
        FileStoreTable t = create(c, id, partialSchema().option("ignore-delete", "true").build());
        commit(t, List.of(ins(0L, s("a0"), null, null), ins(1L, s("a1"), 1, dec("1.10")),
                ins(2L, null, 2, null)));
        commit(t, List.of(ins(0L, null, 10, null), ins(1L, null, null, dec("1.50")),
                ins(3L, s("a3"), null, dec("3.00"))));
        commit(t, List.of(ins(0L, s("a0b"), null, dec("0.30")),
                row(RowKind.DELETE, 1L, null, null, null), ins(2L, s("a2"), null, null)));
        compactAll(t);
        commit(t, List.of(ins(1L, s("a1c"), null, null), ins(2L, null, 22, null),
                ins(4L, null, null, null)));
        t.createTag("compacted", 4);
    }

    /** partial-update.remove-record-on-delete: -D removes the row, a later insert restarts it. */
    static void pkPartialUpdateDelete(Catalog c, Identifier id) throws Exception {
        FileStoreTable t = create(c, id,
                partialSchema().option("partial-update.remove-record-on-delete", "true").build());
        commit(t, List.of(ins(0L, s("a0"), 0, null), ins(1L, s("a1"), 1, dec("1.00")),
                ins(2L, s("a2"), 2, dec("2.00"))));
        commit(t, List.of(row(RowKind.DELETE, 1L, null, null, null), ins(2L, null, 20, null)));
        commit(t, List.of(ins(1L, null, 11, null), row(RowKind.DELETE, 2L, null, null, null),
                row(RowKind.UPDATE_BEFORE, 0L, null, null, null)));
        compactAll(t);
        commit(t, List.of(ins(2L, s("a2c"), null, null), ins(0L, null, null, dec("0.50"))));
    }

    /** Sequence groups: g1 orders (a, b), g2 orders d; out-of-order group values. */
    static void pkPartialUpdateGroups(Catalog c, Identifier id) throws Exception {
        FileStoreTable t = create(c, id, Schema.newBuilder()
                .column("k", DataTypes.BIGINT()).column("a", DataTypes.STRING())
                .column("b", DataTypes.INT()).column("g1", DataTypes.INT())
                .column("d", DataTypes.DECIMAL(10, 2)).column("g2", DataTypes.INT())
                .primaryKey("k").option("bucket", "1").option("merge-engine", "partial-update")
                .option("fields.g1.sequence-group", "a,b")
                .option("fields.g2.sequence-group", "d").build());
        commit(t, List.of(ins(0L, s("a0"), 0, 5, dec("0.10"), 5),
                ins(1L, s("a1"), 1, 5, null, null)));
        commit(t, List.of(ins(0L, s("old"), 9, 3, dec("0.20"), 7),
                ins(1L, null, 11, 6, dec("1.10"), 1)));
        commit(t, List.of(ins(0L, s("tie"), null, 5, null, null),
                ins(1L, s("a1c"), null, null, dec("1.20"), 0), ins(2L, s("a2"), 2, 1, null, 1)));
        compactAll(t);
        commit(t, List.of(ins(2L, s("a2d"), 22, 0, dec("2.20"), 2)));
    }

    /** One column per aggregate function; retractions (-U, -D) where Java allows them. */
    static void pkAggregation(Catalog c, Identifier id) throws Exception {
        Schema.Builder b = Schema.newBuilder()
                .column("k", DataTypes.BIGINT())
                .column("s_sum", DataTypes.BIGINT()).column("d_sum", DataTypes.DECIMAL(10, 2))
                .column("mx", DataTypes.INT()).column("mn", DataTypes.STRING())
                .column("lv", DataTypes.STRING()).column("lnn", DataTypes.STRING())
                .column("fv", DataTypes.STRING()).column("fnn", DataTypes.STRING())
                .column("la", DataTypes.STRING()).column("ba", DataTypes.BOOLEAN())
                .column("bo", DataTypes.BOOLEAN()).column("pr", DataTypes.INT())
                .primaryKey("k").option("bucket", "1").option("merge-engine", "aggregation")
                .option("fields.s_sum.aggregate-function", "sum")
                .option("fields.d_sum.aggregate-function", "sum")
                .option("fields.mx.aggregate-function", "max")
                .option("fields.mn.aggregate-function", "min")
                .option("fields.lv.aggregate-function", "last_value")
                .option("fields.fv.aggregate-function", "first_value")
                .option("fields.fnn.aggregate-function", "first_non_null_value")
                .option("fields.la.aggregate-function", "listagg")
                .option("fields.la.list-agg-delimiter", "|")
                .option("fields.ba.aggregate-function", "bool_and")
                .option("fields.bo.aggregate-function", "bool_or")
                .option("fields.pr.aggregate-function", "product");
        // Functions without retraction ignore it (Java refuses -U/-D for them otherwise).
        for (String f : new String[] {"mx", "mn", "fv", "fnn", "la", "ba", "bo"}) {
            b.option("fields." + f + ".ignore-retract", "true");
        }
        FileStoreTable t = create(c, id, b.build());
        commit(t, List.of(
                ins(0L, 1L, dec("1.10"), 5, s("m"), s("x"), s("x"), s("first"), null, s("p"),
                        true, false, 2),
                ins(1L, null, null, null, null, null, null, null, null, null, null, null, null),
                ins(2L, 7L, dec("0.01"), -1, s("b"), s("l"), s("l"), null, s("f2"), s("q"),
                        false, true, 3)));
        commit(t, List.of(
                ins(0L, 2L, dec("2.20"), 3, s("a"), null, null, s("second"), s("nn"), s("r"),
                        true, null, 3),
                ins(1L, 5L, dec("5.00"), 9, s("z"), s("v1"), s("v1"), s("f1"), s("g1"),
                        s("s"), null, false, null),
                ins(3L, 3L, null, null, null, s("w"), null, null, null, s(""), null, null, 4)));
        commit(t, List.of(
                ins(0L, null, dec("-0.30"), 8, s("n"), s("y"), null, s("third"), s("nn2"),
                        null, false, true, 5),
                row(RowKind.UPDATE_BEFORE, 2L, 7L, dec("0.01"), null, null, s("l"), s("l"),
                        null, null, null, null, null, 3),
                ins(1L, 1L, null, 10, s("c"), null, s("v2"), null, null, s("t"), true, null,
                        2)));
        compactAll(t);
        commit(t, List.of(
                ins(0L, 10L, dec("1.00"), 1, s("zz"), s("last"), s("last"), s("4th"), s("x"),
                        s("u"), true, false, 2),
                row(RowKind.DELETE, 1L, 5L, dec("1.00"), null, null, null, null, null, null,
                        null, null, null, null),
                ins(2L, 1L, null, null, null, null, null, null, null, s("v"), null, null, 2)));
        t.createTag("compacted", 4);
    }

    /**
     * fields.default-aggregate-function = sum with aggregation.remove-record-on-delete: -D
     * removes the row; an insert after it starts from the deleted row's values.
     */
    static void pkAggregationDefault(Catalog c, Identifier id) throws Exception {
        FileStoreTable t = create(c, id, Schema.newBuilder()
                .column("k", DataTypes.BIGINT()).column("n", DataTypes.INT())
                .column("m", DataTypes.BIGINT()).column("tag", DataTypes.STRING())
                .primaryKey("k").option("bucket", "1").option("merge-engine", "aggregation")
                .option("fields.default-aggregate-function", "sum")
                .option("fields.tag.aggregate-function", "last_value")
                .option("aggregation.remove-record-on-delete", "true").build());
        commit(t, List.of(ins(0L, 1, 10L, s("a")), ins(1L, 2, 20L, s("b")),
                ins(2L, 3, null, s("c"))));
        commit(t, List.of(ins(0L, 1, 1L, null), row(RowKind.DELETE, 1L, 2, 20L, s("b")),
                ins(2L, 4, 4L, s("c2"))));
        commit(t, List.of(ins(1L, 5, null, s("b2")), row(RowKind.DELETE, 2L, 1, 1L, null)));
    }

    /**
     * sequence.field (ts, ts2) orders versions, not commit order; ties fall back to the
     * sequence number. With sort-order descending the smallest value wins.
     */
    static void pkSequenceField(Catalog c, Identifier id, String order) throws Exception {
        boolean asc = order.equals("ascending");
        Schema.Builder b = Schema.newBuilder()
                .column("k", DataTypes.BIGINT()).column("ts", DataTypes.BIGINT())
                .column("ts2", DataTypes.INT()).column("v", DataTypes.STRING())
                .primaryKey("k").option("bucket", "1")
                .option("sequence.field", asc ? "ts,ts2" : "ts")
                .option("sequence.field.sort-order", order);
        FileStoreTable t = create(c, id, b.build());
        commit(t, List.of(ins(0L, 10L, 0, s("v0@10")), ins(1L, 10L, 5, s("v1@10.5")),
                ins(2L, 10L, 0, s("v2@10")), ins(3L, 10L, 0, s("v3@10"))));
        commit(t, List.of(ins(0L, 5L, 0, s("v0@5")), ins(1L, 10L, 1, s("v1@10.1")),
                ins(2L, 20L, 0, s("v2@20")), ins(3L, 10L, 0, s("v3@10-tie"))));
        commit(t, List.of(ins(0L, 7L, 9, s("v0@7")), row(RowKind.DELETE, 2L, 15L, 0, null),
                ins(4L, 1L, 0, s("v4@1"))));
        compactAll(t);
        commit(t, List.of(ins(1L, 12L, 0, s("v1@12")), ins(4L, 0L, 0, s("v4@0")),
                row(RowKind.DELETE, 3L, 10L, 0, null)));
        t.createTag("compacted", 4);
    }

    /**
     * ORC data files with what a reader must handle beyond append_orc: a primary-key table
     * (system columns), NULLs, DECIMAL, DATE, TIMESTAMP(6) (one in year 9999), TIMESTAMP_LTZ(3),
     * BOOLEAN, several stripes per file (tiny `orc.stripe.size`), then an added, a renamed and a
     * widened column and a dropped one, with updates and a delete after each change.
     */
    static void orcEvolved(Catalog c, Identifier id) throws Exception {
        FileStoreTable t = create(c, id, Schema.newBuilder()
                .column("k", DataTypes.BIGINT().notNull())
                .column("name", DataTypes.STRING())
                .column("n", DataTypes.INT())
                .column("price", DataTypes.DECIMAL(10, 2))
                .column("d", DataTypes.DATE())
                .column("ts", DataTypes.TIMESTAMP(6))
                .column("ltz", DataTypes.TIMESTAMP_WITH_LOCAL_TIME_ZONE(3))
                .column("flag", DataTypes.BOOLEAN())
                .primaryKey("k")
                .option("bucket", "1")
                .option("file.format", "orc")
                .option("orc.stripe.size", "1024")
                .option("orc.rows.between.memory.checks", "100")
                .build());
        List<GenericRow> rows = new ArrayList<>();
        for (long k = 0; k < 3000; k++) {
            if (k % 5 == 4) {
                rows.add(GenericRow.of(k, null, null, null, null, null, null, null));
                continue;
            }
            Timestamp ts = k == 3
                    ? Timestamp.fromLocalDateTime(LocalDateTime.of(9999, 12, 31, 23, 59, 59,
                            999_999_000))
                    : Timestamp.fromEpochMillis(1_704_067_200_000L + k * 1_001,
                            (int) (k % 1000) * 1000);
            rows.add(GenericRow.of(k, s("name-" + k), (int) k * 7 - 9000,
                    Decimal.fromUnscaledLong(k * 101 - 50_000, 10, 2), (int) (19_000 + k), ts,
                    Timestamp.fromEpochMillis(1_704_067_200_000L + k * 60_001), k % 2 == 0));
        }
        commit(t, rows);
        c.alterTable(id, SchemaChange.addColumn("score", DataTypes.INT()), false);
        c.alterTable(id, SchemaChange.renameColumn("name", "label"), false);
        c.alterTable(id, SchemaChange.updateColumnType("n", DataTypes.BIGINT()), false);
        t = reload(c, id);
        Timestamp now = Timestamp.fromEpochMillis(1_800_000_000_000L, 123_000);
        Timestamp nowMillis = Timestamp.fromEpochMillis(1_800_000_000_000L);
        commit(t, List.of(
                GenericRow.of(1L, s("one"), 5_000_000_000L, Decimal.fromUnscaledLong(1, 10, 2),
                        20_000, now, nowMillis, true, 11),
                GenericRow.ofKind(RowKind.DELETE, 2L, null, null, null, null, null, null, null,
                        null),
                GenericRow.of(5000L, null, null, null, null, null, null, null, 12)));
        t.createTag("evolved", 2);
        c.alterTable(id, SchemaChange.dropColumn("flag"), false);
        t = reload(c, id);
        commit(t, List.of(GenericRow.of(3L, s("three"), -1L, Decimal.fromUnscaledLong(-99, 10, 2),
                -1, now, nowMillis, 33)));
    }
}
