//! Many tables in one run: `maintain`, `expire-snapshots`, `expire-tags`,
//! `remove-orphan-files` and `check` over several TABLE locations or every table of a
//! warehouse (`--warehouse URL [--database DB]…`), filtered by `--include`/`--exclude` globs on
//! `db.table`, `--parallel N` tables at a time.
//!
//! Each table goes through exactly the code of the single-table command (the command hands
//! its per-table function in); a table that fails is reported and the others go on, and
//! nothing of one table's outcome reaches another's (each runs on its own `Table`). One
//! table named alone, without `--warehouse`, `--include` or `--exclude`, is the single-table
//! form and prints exactly what it always printed: only the other forms get the envelope.

use std::future::Future;

use clap::Args;
use futures::StreamExt;
use serde::Serialize;
use serde_json::Value;

use super::output::{bytes, error_of, Printer};
use super::GlobalArgs;
use tagkeeper::table::Table;
use tagkeeper::{Error, Result};

/// Tables at a time unless `--parallel` says otherwise: a few tables overlap their store
/// round trips without multiplying the memory of large plans.
const DEFAULT_PARALLEL: u64 = 4;

/// The tables a command runs over: one or more locations, or a warehouse.
#[derive(Debug, Args)]
pub(crate) struct TablesArgs {
    /// The table, or several (each processed as if named alone; or none, with --warehouse).
    #[arg(required_unless_present = "warehouse", value_name = "TABLE")]
    tables: Vec<String>,
    /// Every table of this warehouse (`<db>.db/<table>/` with a `schema/` directory), as
    /// Java's procedures do with `db.*`. A table that fails is reported and the others go on.
    #[arg(long, value_name = "URL", conflicts_with = "tables")]
    warehouse: Option<String>,
    /// Only these databases of the warehouse (repeatable; name without .db).
    #[arg(long = "database", value_name = "DB", requires = "warehouse")]
    databases: Vec<String>,
    /// Only tables whose `db.table` matches this glob (`*` any run of characters, `?` one
    /// character; e.g. 'sales.*'); repeatable, any may match. For a TABLE location, `db.table`
    /// is its last two path segments without `.db` (`…/sales.db/orders` is `sales.orders`).
    #[arg(long, value_name = "PATTERN")]
    include: Vec<String>,
    /// Skip tables whose `db.table` matches this glob (repeatable; wins over --include).
    #[arg(long, value_name = "PATTERN")]
    exclude: Vec<String>,
    /// Tables processed at a time, in the multi-table form (each table's own requests stay
    /// bounded by --concurrency).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_PARALLEL,
          value_parser = clap::value_parser!(u64).range(1..))]
    parallel: u64,
}

impl TablesArgs {
    /// The warehouse, when the tables are a warehouse's.
    pub(crate) fn warehouse(&self) -> Option<&str> {
        self.warehouse.as_deref()
    }

    /// The location of the single-table form, or `None` for the multi-table form (several
    /// TABLEs, `--warehouse`, `--include` or `--exclude`).
    pub(crate) fn single(&self) -> Option<&str> {
        match self.tables.as_slice() {
            [one]
                if self.warehouse.is_none()
                    && self.include.is_empty()
                    && self.exclude.is_empty() =>
            {
                Some(one)
            }
            _ => None,
        }
    }
}

/// What the per-table function of a command returns: the report the single-table command
/// prints, its warnings, and the failure that ends the command after its report
/// (`incomplete`, `problems_found`).
pub(crate) struct TableRun<R> {
    pub(crate) report: R,
    pub(crate) warnings: Vec<String>,
    pub(crate) failure: Option<Error>,
}

impl<R: Serialize> TableRun<R> {
    /// The single-table form's output: warnings, then the report (with its failure).
    pub(crate) fn print(self, printer: &Printer, text: fn(&R) -> String) -> Result<()> {
        printer.warnings(&self.warnings);
        printer.finish(&self.report, text, self.failure)
    }
}

/// How a command's reports are shown and added up in the multi-table form.
pub(crate) struct Rendering<R> {
    /// The command, for messages.
    pub(crate) command: &'static str,
    /// The single-table text of a report.
    pub(crate) text: fn(&R) -> String,
    /// What a report adds to the summary's totals (name, amount).
    pub(crate) totals: fn(&R) -> Vec<(&'static str, i64)>,
}

/// Refuse the options that only make sense for one table (`--branch`, `--plan-out`…) in the
/// multi-table form: `flags` are (flag, given).
pub(crate) fn refuse(global: &GlobalArgs, command: &str, flags: &[(&str, bool)]) -> Result<()> {
    global.refuse_branch(&format!("{command} over several tables"))?;
    match flags.iter().find(|(_, given)| *given) {
        None => Ok(()),
        Some((flag, _)) => Err(Error::InvalidArgument(format!(
            "{flag}: {command} takes it only for one table; name a single TABLE (without \
             --warehouse, --include or --exclude)"
        ))),
    }
}

/// One table to run: a location named on the command line, a table directory of the
/// warehouse, or a database of it that could not be listed.
pub(crate) enum Target {
    Location(String),
    Listed(Table),
    Failed(String, Error),
}

impl Target {
    pub(crate) fn location(&self) -> &str {
        match self {
            Target::Location(l) | Target::Failed(l, _) => l,
            Target::Listed(t) => t.location(),
        }
    }
}

/// A report, rendered: its JSON, its text, and what it adds to the totals.
struct Rendered {
    json: Value,
    text: String,
    totals: Vec<(&'static str, i64)>,
}

/// One table's outcome: its report and failure, or the error that stopped it.
struct Outcome {
    table: String,
    result: Option<Rendered>,
    error: Option<Error>,
}

/// Run `per_table` over the tables of `args`, `--parallel` at a time, and print one
/// envelope: each table's outcome in input order (warehouse: database, then table name), then
/// the summary. Ends with the worst table's failure class: `incomplete` (exit 2) when any
/// table failed with an exit-2 error, else `problems_found` or `invalid_argument` (exit 1).
pub(crate) async fn run<R, F, Fut>(
    args: &TablesArgs,
    global: &GlobalArgs,
    printer: &Printer,
    render: Rendering<R>,
    per_table: F,
) -> Result<()>
where
    R: Serialize,
    F: Fn(Table) -> Fut,
    Fut: Future<Output = Result<TableRun<R>>>,
{
    let (targets, mut warnings) = targets(args, global).await?;
    let per_table = &per_table;
    let render = &render;
    let mut done: Vec<(usize, Option<Outcome>, Vec<String>)> =
        futures::stream::iter(targets.into_iter().enumerate())
            .map(|(i, target)| async move {
                let (outcome, warnings) = one(target, global, render, per_table).await;
                (i, outcome, warnings)
            })
            .buffer_unordered(usize::try_from(args.parallel).unwrap_or(usize::MAX))
            .collect()
            .await;
    // Completion order depends on the store; the report's order must not.
    done.sort_by_key(|(i, _, _)| *i);
    let mut outcomes = Vec::new();
    for (_, outcome, w) in done {
        warnings.extend(w);
        outcomes.extend(outcome);
    }
    printer.warnings(&warnings);
    let envelope = envelope(outcomes);
    let failure = overall_failure(render.command, &envelope);
    printer.finish(&envelope, |e| e.text.clone(), failure)
}

/// The tables to run, in order, and warnings about the selection (an `--include` that matched
/// nothing). Only an unlistable warehouse root, a `--database` that does not exist, or a
/// TABLE named twice is an error of the whole run.
pub(crate) async fn targets(
    args: &TablesArgs,
    global: &GlobalArgs,
) -> Result<(Vec<Target>, Vec<String>)> {
    let mut all = Vec::new();
    match &args.warehouse {
        Some(w) => {
            let store = tagkeeper::io::open_location(w, &global.store_options())?;
            let listing =
                tagkeeper::ops::warehouse::list(&store, &args.databases, &|| false).await?;
            for (location, e) in listing.failed {
                let db = last_segment(&location).trim_end_matches(".db").to_string();
                if database_selected(&db, &args.include, &args.exclude) {
                    all.push(Target::Failed(location, e));
                }
            }
            all.extend(listing.candidates.into_iter().map(Target::Listed));
        }
        None => {
            let mut seen = std::collections::BTreeSet::new();
            for t in &args.tables {
                if !seen.insert(t.trim_end_matches('/')) {
                    return Err(Error::InvalidArgument(format!(
                        "TABLE {t} is named twice: each table is processed once"
                    )));
                }
                all.push(Target::Location(t.clone()));
            }
        }
    }
    let mut warnings = Vec::new();
    for p in &args.include {
        let matched = all.iter().any(|t| match t {
            Target::Failed(..) => false,
            _ => glob_match(p, &qualified_name(t.location())),
        });
        if !matched {
            warnings.push(format!("--include {p:?} matched no table"));
        }
    }
    let selected = all
        .into_iter()
        .filter(|t| match t {
            Target::Failed(..) => true, // filtered above, by database
            _ => selected(&qualified_name(t.location()), &args.include, &args.exclude),
        })
        .collect();
    Ok((selected, warnings))
}

/// Open a target: `None` for a warehouse directory that is no table (it has no schema).
pub(crate) async fn open_target(target: Target, global: &GlobalArgs) -> Option<Result<Table>> {
    match target {
        Target::Failed(_, e) => Some(Err(e)),
        Target::Location(l) => Some(global.open(&l).await),
        Target::Listed(t) => match t.schema_ids().await {
            Ok(ids) if ids.is_empty() => None,
            Ok(_) => Some(Ok(t)),
            Err(e) => Some(Err(e)),
        },
    }
}

/// Run one table; `None` for a warehouse directory that is no table (it has no schema).
async fn one<R, F, Fut>(
    target: Target,
    global: &GlobalArgs,
    render: &Rendering<R>,
    per_table: &F,
) -> (Option<Outcome>, Vec<String>)
where
    R: Serialize,
    F: Fn(Table) -> Fut,
    Fut: Future<Output = Result<TableRun<R>>>,
{
    let location = tagkeeper::redact::redact(target.location());
    let failed = |error: Error| Outcome {
        table: location.clone(),
        result: None,
        error: Some(error),
    };
    let table = match open_target(target, global).await {
        None => return (None, Vec::new()),
        Some(Err(e)) => return (Some(failed(e)), Vec::new()),
        Some(Ok(t)) => t,
    };
    match per_table(table).await {
        Err(e) => (Some(failed(e)), Vec::new()),
        Ok(run) => {
            let warnings = run
                .warnings
                .iter()
                .map(|w| format!("{location}: {w}"))
                .collect();
            let value = match serde_json::to_value(&run.report) {
                Ok(v) => v,
                Err(e) => {
                    let e = Error::InvalidArgument(format!("cannot render JSON: {e}"));
                    return (Some(failed(e)), warnings);
                }
            };
            let result = Rendered {
                json: value,
                text: super::output::human_text(&run.report, render.text),
                totals: (render.totals)(&run.report),
            };
            let outcome = Outcome {
                table: location,
                result: Some(result),
                error: run.failure,
            };
            (Some(outcome), warnings)
        }
    }
}

/// One table in the envelope: `ok` with its `result` (the single-table report), or not ok
/// with its `error` (`kind`, `message`, `exit_code`) and, when the failure came after the
/// report (deletions that failed, problems found), the `result` too.
#[derive(Debug, Serialize)]
struct TableEntry {
    table: String,
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<Value>,
    /// For the summary: the worst exit code and kind of this table (0 when ok).
    #[serde(skip)]
    exit_code: u8,
    #[serde(skip)]
    kind: &'static str,
}

/// Counts over all tables.
#[derive(Debug, Serialize, PartialEq, Eq)]
struct Summary {
    tables: usize,
    ok: usize,
    failed: usize,
    /// The sums of what each table's report counted (the command decides what).
    totals: serde_json::Map<String, Value>,
}

/// The one document of a multi-table run.
#[derive(Debug, Serialize)]
struct Envelope {
    tables: Vec<TableEntry>,
    summary: Summary,
    /// The text form, built with the entries (the printer takes a plain function).
    #[serde(skip)]
    text: String,
}

fn envelope(outcomes: Vec<Outcome>) -> Envelope {
    let mut text = String::new();
    let mut totals: Vec<(&'static str, i64)> = Vec::new();
    let mut entries = Vec::new();
    for o in outcomes {
        let status = match &o.error {
            None => "ok".to_string(),
            Some(e) => format!("FAILED ({}): {e}", e.kind()),
        };
        text.push_str(&format!("{}: {status}\n", o.table));
        let result = o.result.map(|r| {
            text.push_str(&indent(&r.text));
            add_totals(&mut totals, &r.totals);
            r.json
        });
        entries.push(TableEntry {
            table: o.table,
            ok: o.error.is_none(),
            result,
            exit_code: o.error.as_ref().map_or(0, Error::exit_code),
            kind: o.error.as_ref().map_or("", Error::kind),
            error: o.error.as_ref().map(error_of),
        });
    }
    let failed = entries.iter().filter(|e| !e.ok).count();
    let summary = Summary {
        tables: entries.len(),
        ok: entries.len() - failed,
        failed,
        totals: totals
            .iter()
            .map(|(k, v)| (k.to_string(), Value::from(*v)))
            .collect(),
    };
    text.push_str(&summary_text(&summary, &totals));
    Envelope {
        tables: entries,
        summary,
        text,
    }
}

/// Sum `counted` into `totals`, keeping the order in which names first appear.
fn add_totals(totals: &mut Vec<(&'static str, i64)>, counted: &[(&'static str, i64)]) {
    for (name, n) in counted {
        match totals.iter_mut().find(|(k, _)| k == name) {
            Some((_, sum)) => *sum = sum.saturating_add(*n),
            None => totals.push((name, *n)),
        }
    }
}

fn summary_text(s: &Summary, totals: &[(&'static str, i64)]) -> String {
    let counted: Vec<String> = totals
        .iter()
        .map(|(k, v)| match *k {
            "bytes" => format!("{k}: {}", bytes(*v)),
            _ => format!("{k}: {v}"),
        })
        .collect();
    let counted = if counted.is_empty() {
        String::new()
    } else {
        format!("; {}", counted.join(", "))
    };
    format!(
        "{} table(s): {} ok, {} failed{counted}\n",
        s.tables, s.ok, s.failed
    )
}

fn indent(body: &str) -> String {
    body.lines().map(|l| format!("  {l}\n")).collect()
}

/// The failure that ends a multi-table run, by the worst table: any exit-2 failure makes the
/// run `incomplete` (exit 2: the other tables were processed, running again retries); only
/// exit-1 failures end it with exit 1, `problems_found` when each is that (check), else
/// `invalid_argument`.
fn overall_failure(command: &str, e: &Envelope) -> Option<Error> {
    let failed: Vec<&TableEntry> = e.tables.iter().filter(|t| !t.ok).collect();
    let worst = failed.iter().map(|t| t.exit_code).max()?;
    let message = format!(
        "{command} failed on {} of {} table(s) (first: {}); the others were processed, and the \
         report gives each table's error",
        failed.len(),
        e.tables.len(),
        failed.first().map_or("", |t| t.table.as_str())
    );
    Some(if worst >= 2 {
        Error::Incomplete(message)
    } else if failed.iter().all(|t| t.kind == "problems_found") {
        Error::ProblemsFound(message)
    } else {
        Error::InvalidArgument(message)
    })
}

/// `db.table` of a table location: its last two path segments, the first without `.db`
/// (`s3://b/wh/sales.db/orders/` is `sales.orders`); only the last when there is one.
pub(crate) fn qualified_name(location: &str) -> String {
    // A query string (an Azure SAS token) is no part of the path.
    let path = location.split('?').next().unwrap_or_default();
    let path = path.trim_end_matches('/');
    let table = last_segment(path);
    let parent = path[..path.len() - table.len()].trim_end_matches('/');
    let db = last_segment(parent);
    let db = db.strip_suffix(".db").unwrap_or(db);
    if db.is_empty() || db.ends_with(':') {
        table.to_string()
    } else {
        format!("{db}.{table}")
    }
}

fn last_segment(path: &str) -> &str {
    let path = path.trim_end_matches('/');
    path.rsplit('/').next().unwrap_or(path)
}

/// A table is selected when it matches some `include` (or there is none) and no `exclude`.
pub(crate) fn selected(name: &str, include: &[String], exclude: &[String]) -> bool {
    (include.is_empty() || include.iter().any(|p| glob_match(p, name)))
        && !exclude.iter().any(|p| glob_match(p, name))
}

/// Whether a database that could not be listed is reported: its failure hides tables, so it
/// is reported unless the filters rule out every table it could hold — no `include` could
/// match a `db.…` name, or an `exclude` matches every `db.…` name.
pub(crate) fn database_selected(db: &str, include: &[String], exclude: &[String]) -> bool {
    let prefix: Vec<char> = format!("{db}.").chars().collect();
    let could = |p: &String| glob_prefix(&p.chars().collect::<Vec<_>>(), &prefix);
    let covers = |p: &String| {
        // Every `db.X` matches when a prefix of the pattern matches `db.` exactly and the
        // rest is only stars.
        let p: Vec<char> = p.chars().collect();
        (0..=p.len()).any(|k| p[k..].iter().all(|c| *c == '*') && glob(&p[..k], &prefix))
    };
    (include.is_empty() || include.iter().any(could)) && !exclude.iter().any(covers)
}

/// Glob match of the whole `text`: `*` any run of characters (dots too), `?` one character,
/// everything else itself (case-sensitive, as table names are).
pub(crate) fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    glob(&p, &t)
}

fn glob(p: &[char], t: &[char]) -> bool {
    // Iterative with one backtrack point: linear-ish, no blow-up on many stars.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(c) if *c == '?' || *c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Whether some text starting with `prefix` matches the pattern.
fn glob_prefix(p: &[char], prefix: &[char]) -> bool {
    match (p.first(), prefix.first()) {
        (_, None) => true, // the rest of the pattern can always be matched by some text
        (None, Some(_)) => false,
        (Some('*'), Some(_)) => glob_prefix(&p[1..], prefix) || glob_prefix(p, &prefix[1..]),
        (Some(c), Some(t)) => (*c == '?' || c == t) && glob_prefix(&p[1..], &prefix[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn globs() {
        let cases = [
            ("sales.*", "sales.orders", true),
            ("sales.*", "sales.", true),
            ("sales.*", "salesx.orders", false),
            ("sales.*", "ops.sales", false),
            ("*.events_*", "web.events_2024", true),
            ("*.events_*", "web.events", false),
            ("*", "a.b", true),
            ("*", "", true),
            ("", "", true),
            ("", "a", false),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("a?c", "abbc", false),
            ("*a*b*", "xxaxxbxx", true),
            ("*a*b*", "xxbxxaxx", false),
            ("a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false),
            ("Sales.*", "sales.orders", false),
            ("d?.t", "db.t", true),
            ("é.*", "é.t", true),
        ];
        for (p, t, want) in cases {
            assert_eq!(glob_match(p, t), want, "{p} on {t}");
        }
    }

    #[test]
    fn include_and_exclude() {
        let inc = v(&["sales.*", "*.events_*"]);
        let exc = v(&["sales.tmp_*"]);
        let picked: Vec<&str> = [
            "sales.orders",
            "sales.tmp_x",
            "web.events_1",
            "web.pages",
            "ops.events",
        ]
        .into_iter()
        .filter(|n| selected(n, &inc, &exc))
        .collect();
        assert_eq!(picked, ["sales.orders", "web.events_1"]);
        assert!(selected("any.thing", &[], &[]));
        assert!(!selected("any.thing", &[], &v(&["*"])));
    }

    #[test]
    fn unlistable_databases_follow_the_filters() {
        let none: Vec<String> = Vec::new();
        assert!(database_selected("sales", &none, &none));
        assert!(database_selected("sales", &v(&["sales.*"]), &none));
        assert!(database_selected("sales", &v(&["*.events"]), &none));
        assert!(database_selected("sales", &v(&["s*"]), &none));
        assert!(!database_selected("sales", &v(&["web.*"]), &none));
        assert!(!database_selected("sales", &v(&["sales"]), &none));
        assert!(!database_selected("sales", &none, &v(&["sales.*"])));
        assert!(!database_selected("sales", &none, &v(&["*"])));
        assert!(!database_selected("sales", &none, &v(&["s*"])));
        // Excluding some tables of it does not hide the others' failure.
        assert!(database_selected("sales", &none, &v(&["sales.tmp_*"])));
        assert!(database_selected("sales", &none, &v(&["*.tmp"])));
    }

    #[test]
    fn qualified_names() {
        let cases = [
            ("/wh/sales.db/orders", "sales.orders"),
            ("/wh/sales.db/orders/", "sales.orders"),
            ("s3://bucket/wh/web.db/events", "web.events"),
            ("az://c/wh/a.db/t?sv=1&sig=x", "a.t"),
            ("/tmp/x/t", "x.t"),
            ("t", "t"),
            ("s3://bucket", "bucket"),
            ("memory://", "memory:"),
        ];
        for (l, want) in cases {
            assert_eq!(qualified_name(l), want, "{l}");
        }
    }

    fn entry(ok: bool, code: u8, kind: &'static str) -> TableEntry {
        TableEntry {
            table: format!("t-{kind}"),
            ok,
            result: None,
            error: None,
            exit_code: code,
            kind,
        }
    }

    fn failure_of(entries: Vec<TableEntry>) -> Option<(&'static str, u8)> {
        let e = Envelope {
            tables: entries,
            summary: Summary {
                tables: 0,
                ok: 0,
                failed: 0,
                totals: serde_json::Map::new(),
            },
            text: String::new(),
        };
        overall_failure("check", &e).map(|e| (e.kind(), e.exit_code()))
    }

    #[test]
    fn the_worst_table_decides_the_exit_code() {
        assert_eq!(failure_of(vec![entry(true, 0, "")]), None);
        assert_eq!(failure_of(vec![]), None);
        assert_eq!(
            failure_of(vec![entry(true, 0, ""), entry(false, 1, "problems_found")]),
            Some(("problems_found", 1))
        );
        assert_eq!(
            failure_of(vec![
                entry(false, 1, "not_a_table"),
                entry(false, 1, "problems_found")
            ]),
            Some(("invalid_argument", 1))
        );
        assert_eq!(
            failure_of(vec![
                entry(false, 1, "problems_found"),
                entry(false, 2, "corrupt")
            ]),
            Some(("incomplete", 2))
        );
    }

    #[test]
    fn totals_add_up_in_first_seen_order() {
        let mut t = Vec::new();
        add_totals(&mut t, &[("snapshots", 2), ("bytes", 10)]);
        add_totals(&mut t, &[("bytes", 5), ("files", 1)]);
        assert_eq!(t, [("snapshots", 2), ("bytes", 15), ("files", 1)]);
        let s = Summary {
            tables: 3,
            ok: 2,
            failed: 1,
            totals: serde_json::Map::new(),
        };
        assert_eq!(
            summary_text(&s, &t),
            "3 table(s): 2 ok, 1 failed; snapshots: 2, bytes: 15 B, files: 1\n"
        );
    }

    #[test]
    fn one_table_alone_is_the_single_form() {
        use clap::Parser;
        #[derive(Parser)]
        struct P {
            #[command(flatten)]
            t: TablesArgs,
        }
        let single = |args: &[&str]| {
            let p = P::try_parse_from(std::iter::once("x").chain(args.iter().copied()))
                .map_err(|e| e.to_string())?;
            Ok::<_, String>(p.t.single().map(str::to_string))
        };
        assert_eq!(single(&["/a"]), Ok(Some("/a".to_string())));
        assert_eq!(single(&["/a", "/b"]), Ok(None));
        assert_eq!(single(&["/a", "--include", "*"]), Ok(None));
        assert_eq!(single(&["/a", "--exclude", "x"]), Ok(None));
        assert_eq!(single(&["--warehouse", "/w"]), Ok(None));
        assert!(single(&["/a", "--warehouse", "/w"]).is_err());
        assert!(single(&["--database", "d"]).is_err());
        assert!(single(&[]).is_err());
        assert!(single(&["/a", "--parallel", "0"]).is_err());
    }
}
