package tagkeeper.interop;

import org.apache.paimon.catalog.Catalog;
import org.apache.paimon.catalog.CatalogContext;
import org.apache.paimon.catalog.CatalogFactory;
import org.apache.paimon.catalog.Identifier;
import org.apache.paimon.data.BinaryString;
import org.apache.paimon.data.GenericRow;
import org.apache.paimon.fs.Path;
import org.apache.paimon.schema.Schema;
import org.apache.paimon.table.FileStoreTable;
import org.apache.paimon.table.sink.BatchTableCommit;
import org.apache.paimon.table.sink.BatchTableWrite;
import org.apache.paimon.table.sink.BatchWriteBuilder;
import org.apache.paimon.types.DataTypes;
import org.apache.paimon.types.RowKind;

import java.io.File;
import java.util.ArrayList;
import java.util.List;

/**
 * Writes `legacy_09` with Java Paimon 0.9.0 (manifests and snapshots of the 0.9 layout), for
 * tagkeeper and the newer Java harness to read. Usage: Legacy09 WAREHOUSE
 */
public final class Legacy09 {
    private Legacy09() {}

    public static void main(String[] args) {
        try {
            Catalog catalog = CatalogFactory.createCatalog(
                    CatalogContext.create(new Path(new File(args[0]).getAbsolutePath())));
            catalog.createDatabase("default", true);
            Identifier id = Identifier.create("default", "legacy_09");
            catalog.dropTable(id, true);
            catalog.createTable(id, Schema.newBuilder()
                    .column("dt", DataTypes.STRING())
                    .column("k", DataTypes.BIGINT())
                    .column("v", DataTypes.STRING())
                    .primaryKey("dt", "k")
                    .partitionKeys("dt")
                    .option("bucket", "2")
                    .build(), false);
            FileStoreTable t = (FileStoreTable) catalog.getTable(id);
            List<GenericRow> rows = new ArrayList<>();
            for (int k = 0; k < 10; k++) {
                rows.add(row(RowKind.INSERT, k % 2 == 0 ? "2024-01-01" : "2024-01-02", k, "v" + k));
            }
            commit(t, rows);
            commit(t, List.of(row(RowKind.UPDATE_AFTER, "2024-01-01", 0, "u0"),
                    row(RowKind.DELETE, "2024-01-02", 3, null)));
            t.createTag("v2", 2);
            commit(t, List.of(row(RowKind.INSERT, "2024-01-03", 20, "new")));
            System.out.println("{\"written\": [\"legacy_09\"]}");
            System.exit(0);
        } catch (Throwable e) {
            System.err.println("java-peer legacy09: error: " + e);
            System.exit(1);
        }
    }

    static GenericRow row(RowKind kind, String dt, long k, String v) {
        GenericRow r = GenericRow.of(BinaryString.fromString(dt), k,
                v == null ? null : BinaryString.fromString(v));
        r.setRowKind(kind);
        return r;
    }

    static void commit(FileStoreTable t, List<GenericRow> rows) throws Exception {
        BatchWriteBuilder wb = t.newBatchWriteBuilder();
        try (BatchTableWrite w = wb.newWrite(); BatchTableCommit c = wb.newCommit()) {
            for (GenericRow r : rows) {
                w.write(r);
            }
            c.commit(w.prepareCommit());
        }
    }
}
