// Java Paimon's own expiration on a table, for tests/it/changelogs.rs: run with the harness's
// classpath as a single-file program (`java -cp CP JavaExpire.java TABLE OP ARGS...`).
//   snapshots RETAIN_MIN RETAIN_MAX   ExpireSnapshotsImpl with the table's changelog options
//   changelogs RETAIN_MAX             ExpireChangelogImpl as the expire_changelogs procedure
//   changelogs-all                    ExpireChangelogImpl.expireAll (delete_all => true)
import java.io.File;
import java.time.Duration;

import org.apache.paimon.CoreOptions;
import org.apache.paimon.fs.Path;
import org.apache.paimon.fs.local.LocalFileIO;
import org.apache.paimon.options.ExpireConfig;
import org.apache.paimon.table.ExpireChangelogImpl;
import org.apache.paimon.table.FileStoreTable;
import org.apache.paimon.table.FileStoreTableFactory;

public class JavaExpire {
    public static void main(String[] a) throws Exception {
        FileStoreTable t = FileStoreTableFactory.create(
                LocalFileIO.create(), new Path(new File(a[0]).getAbsolutePath()));
        CoreOptions o = t.coreOptions();
        int n;
        switch (a[1]) {
            case "snapshots":
                n = t.newExpireSnapshots()
                        .config(ExpireConfig.builder()
                                .snapshotRetainMin(Integer.parseInt(a[2]))
                                .snapshotRetainMax(Integer.parseInt(a[3]))
                                .snapshotTimeRetain(Duration.ZERO)
                                .changelogRetainMax(o.changelogNumRetainMax())
                                .changelogRetainMin(o.changelogNumRetainMin())
                                .changelogTimeRetain(o.changelogTimeRetain())
                                .build())
                        .expire();
                break;
            case "changelogs":
                n = t.newExpireChangelog()
                        .config(ExpireConfig.builder()
                                .changelogRetainMax(Integer.parseInt(a[2]))
                                .build())
                        .expire();
                break;
            case "changelogs-all":
                ((ExpireChangelogImpl) t.newExpireChangelog()).expireAll();
                n = -1;
                break;
            default:
                throw new IllegalArgumentException(a[1]);
        }
        System.out.println(n);
    }
}
