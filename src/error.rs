//! The one public error type.
//!
//! Every variant names the thing a user can act on: the file, the snapshot id or the tag.
//! [`Error::exit_code`] maps variants onto the CLI's documented exit codes.

use std::fmt;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in tagkeeper.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The location holds no Paimon table (no `schema/schema-N` file).
    #[error("{location} is not a Paimon table: {reason}")]
    NotATable {
        /// The location as the user gave it (credentials never appear here).
        location: String,
        /// What was missing.
        reason: String,
    },

    /// The location could not be understood or the store could not be configured.
    #[error("cannot open {location}: {reason}")]
    InvalidLocation {
        /// The location as the user gave it.
        location: String,
        /// Why it was refused.
        reason: String,
    },

    /// A snapshot id that is not retained by the table.
    #[error("snapshot {id} does not exist ({available})")]
    SnapshotNotFound {
        /// The requested id.
        id: i64,
        /// A description of what does exist, e.g. "retained snapshots are 3..=9".
        available: String,
    },

    /// A tag that does not exist.
    #[error("tag '{name}' does not exist")]
    TagNotFound {
        /// The requested tag name.
        name: String,
    },

    /// A branch that does not exist.
    #[error("branch '{name}' does not exist (branches: {available})")]
    BranchNotFound {
        /// The requested branch name.
        name: String,
        /// The branches there are.
        available: String,
    },

    /// No snapshot was committed at or before a timestamp.
    #[error("no snapshot found: {detail}")]
    NoSnapshotAtTime {
        /// The requested time.
        timestamp_millis: i64,
        /// What the table does have.
        detail: String,
    },

    /// The table has no snapshot at all, and the operation needs one.
    #[error("table {table} has no snapshots yet")]
    NoSnapshots {
        /// The table location.
        table: String,
    },

    /// A tag that exists already (tags are created with a conditional create).
    #[error("tag '{name}' already exists (pointing at snapshot {snapshot_id}); use --if-not-exists to accept it")]
    TagExists {
        /// The tag name.
        name: String,
        /// The snapshot the existing tag points at.
        snapshot_id: i64,
    },

    /// A tag name that Paimon tools would mishandle or that could escape the table root.
    #[error("invalid tag name {name:?}: {reason}")]
    InvalidTagName {
        /// The rejected name (debug-escaped when printed).
        name: String,
        /// Which rule it broke.
        reason: String,
    },

    /// A command-line or API argument that cannot be used.
    #[error("{0}")]
    InvalidArgument(String),

    /// A metadata file exists but cannot be decoded.
    #[error("corrupt metadata file {path}: {reason}")]
    Corrupt {
        /// Path relative to the table root.
        path: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A metadata file that another file refers to is missing.
    #[error("missing metadata file {path} (referenced by {referenced_by})")]
    MissingFile {
        /// Path relative to the table root.
        path: String,
        /// Which file or version refers to it.
        referenced_by: String,
    },

    /// A data file of a version is missing or cannot be read as the table's data.
    #[error("cannot read data file {path}: {reason}")]
    DataFile {
        /// Path relative to the table root.
        path: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A file that must not exist already exists (conditional create lost).
    #[error("{path} already exists")]
    AlreadyExists {
        /// Path relative to the table root.
        path: String,
    },

    /// A concurrent change conflicts with this one (e.g. an overwrite of partitions that another
    /// writer changed meanwhile). Nothing of this change was committed.
    #[error("conflict: {0}")]
    Conflict(String),

    /// A commit whose outcome could not be determined (the store failed while publishing and
    /// reading back). Nothing was deleted; check `tagkeeper snapshots` before retrying.
    #[error("commit outcome unknown for {path}: {reason}")]
    CommitUnknown {
        /// The snapshot file that may or may not have been written.
        path: String,
        /// What failed.
        reason: String,
    },

    /// The command ran to the end, but some of what it planned failed: deletions (each with
    /// its storage error in the report's `failed`) or, for `auto-tag`, some tables. Its report,
    /// printed once, says which and why; running the command again finishes the work.
    #[error("{0}")]
    Incomplete(String),

    /// The command did not finish within `--timeout`. A destructive command stopped this way
    /// is finished by its next run, as after a crash (its journal).
    #[error("{0}")]
    TimedOut(String),

    /// `check` found missing or damaged files; its report lists them.
    #[error("{0}")]
    ProblemsFound(String),

    /// A cleaning run stopped before deleting anything, because it could not prove deletion
    /// safe (unreadable metadata, an empty reference set, a branch without a schema).
    #[error("{operation} aborted, nothing was deleted: {reason}")]
    Aborted {
        /// The command, e.g. `remove-orphan-files`.
        operation: &'static str,
        /// Why, naming the file or version.
        reason: String,
    },

    /// The operator answered no (or nothing) when asked to confirm a destructive command on a
    /// terminal; nothing was changed.
    #[error("{0}: not confirmed, nothing was changed (pass --yes to skip the question)")]
    Declined(String),

    /// A feature of the table that tagkeeper does not handle (yet).
    #[error("unsupported: {0}")]
    Unsupported(String),

    /// The object store failed (after its own retries).
    #[error("storage error during {operation} of {path}: {source}")]
    Storage {
        /// What was attempted: get, list, put, delete, head.
        operation: &'static str,
        /// Path relative to the table root (or a prefix for list).
        path: String,
        /// The underlying store error.
        #[source]
        source: object_store::Error,
    },
}

/// How a failure should be reported to a script: the CLI's exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitClass {
    /// 1: the user asked for something that does not exist or is not allowed.
    User,
    /// 2: metadata is corrupt or unreadable, the store failed, or a command could not carry
    /// out all it planned (`incomplete`).
    Data,
}

impl ExitClass {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            ExitClass::User => 1,
            ExitClass::Data => 2,
        }
    }
}

impl fmt::Display for ExitClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitClass::User => f.write_str("user error"),
            ExitClass::Data => f.write_str("corrupt or unreadable metadata"),
        }
    }
}

impl Error {
    /// Which exit code class this error belongs to.
    pub fn class(&self) -> ExitClass {
        match self {
            Error::NotATable { .. }
            | Error::InvalidLocation { .. }
            | Error::SnapshotNotFound { .. }
            | Error::TagNotFound { .. }
            | Error::BranchNotFound { .. }
            | Error::TagExists { .. }
            | Error::NoSnapshotAtTime { .. }
            | Error::NoSnapshots { .. }
            | Error::InvalidTagName { .. }
            | Error::InvalidArgument(_)
            | Error::AlreadyExists { .. }
            | Error::Conflict(_)
            | Error::ProblemsFound(_)
            | Error::Declined(_)
            | Error::Unsupported(_) => ExitClass::User,
            Error::Corrupt { .. }
            | Error::MissingFile { .. }
            | Error::DataFile { .. }
            | Error::Storage { .. }
            | Error::CommitUnknown { .. }
            | Error::Incomplete(_)
            | Error::TimedOut(_)
            | Error::Aborted { .. } => ExitClass::Data,
        }
    }

    /// Process exit code for this error (1 user error, 2 corrupt/unreadable metadata, a store
    /// failure, or an incomplete run).
    pub fn exit_code(&self) -> u8 {
        self.class().code()
    }

    /// A short machine-readable kind, used in JSON error output.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::NotATable { .. } => "not_a_table",
            Error::InvalidLocation { .. } => "invalid_location",
            Error::SnapshotNotFound { .. } => "snapshot_not_found",
            Error::TagNotFound { .. } => "tag_not_found",
            Error::TagExists { .. } => "tag_exists",
            Error::BranchNotFound { .. } => "branch_not_found",
            Error::NoSnapshotAtTime { .. } => "no_snapshot_at_time",
            Error::NoSnapshots { .. } => "no_snapshots",
            Error::InvalidTagName { .. } => "invalid_tag_name",
            Error::InvalidArgument(_) => "invalid_argument",
            Error::Corrupt { .. } => "corrupt",
            Error::MissingFile { .. } => "missing_file",
            Error::DataFile { .. } => "data_file",
            Error::AlreadyExists { .. } => "already_exists",
            Error::Unsupported(_) => "unsupported",
            Error::Conflict(_) => "conflict",
            Error::Incomplete(_) => "incomplete",
            Error::ProblemsFound(_) => "problems_found",
            Error::CommitUnknown { .. } => "commit_unknown",
            Error::Storage { .. } => "storage",
            Error::Aborted { .. } => "aborted",
            Error::Declined(_) => "declined",
            Error::TimedOut(_) => "timed_out",
        }
    }

    /// What to do about a store failure, when its cause is recognisable: no credentials, a
    /// refused or unresolvable endpoint, refused credentials, a missing bucket, a timeout.
    /// Read from the whole chain of causes (object_store keeps the useful part a few levels
    /// down: "error sending request" wraps "Connection refused").
    pub fn hint(&self) -> Option<&'static str> {
        let Error::Storage { source, .. } = self else {
            return None;
        };
        let mut chain = String::new();
        let mut cause: Option<&dyn std::error::Error> = Some(source);
        while let Some(c) = cause {
            chain.push_str(&c.to_string());
            chain.push('\n');
            cause = c.source();
        }
        let store = match source {
            object_store::Error::Generic { store, .. } => store,
            _ => "",
        };
        storage_hint(store, &chain)
    }

    /// Shorthand for [`Error::DataFile`].
    pub(crate) fn data_file(path: impl Into<String>, reason: impl fmt::Display) -> Self {
        Error::DataFile {
            path: path.into(),
            reason: reason.to_string(),
        }
    }

    /// Shorthand for [`Error::Corrupt`].
    pub(crate) fn corrupt(path: impl Into<String>, reason: impl fmt::Display) -> Self {
        Error::Corrupt {
            path: path.into(),
            reason: reason.to_string(),
        }
    }
}

/// One planned deletion that failed, with the error that stopped it: the kind is the
/// [`Error::kind`] of that error (`storage` for a store failure), so a script can tell a
/// permission problem from a missing file without parsing the message.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FailedDeletion {
    /// The key that could not be deleted, relative to the table root (a directory ends in `/`).
    pub path: String,
    /// [`Error::kind`] of the failure.
    pub kind: String,
    /// The failure as the store reported it.
    pub message: String,
}

impl FailedDeletion {
    /// The failure to delete `path`.
    pub fn new(path: impl Into<String>, error: &Error) -> Self {
        FailedDeletion {
            path: path.into(),
            kind: error.kind().to_string(),
            message: error.to_string(),
        }
    }
}

impl fmt::Display for FailedDeletion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.path, self.kind, self.message)
    }
}

/// [`Error::Incomplete`] for a command whose planned deletions did not all succeed, or `None`
/// when they did.
pub fn incomplete(command: &str, failed: &[FailedDeletion]) -> Option<Error> {
    let first = failed.first()?;
    Some(Error::Incomplete(format!(
        "{command}: {} planned deletion(s) failed (the report lists them; first {first}); \
         run the command again to finish",
        failed.len()
    )))
}

/// The hint for a store failure from the backend's name and the text of its causes (pure).
fn storage_hint(store: &str, chain: &str) -> Option<&'static str> {
    let text = chain.to_ascii_lowercase();
    let has = |needles: &[&str]| needles.iter().any(|n| text.contains(n));
    if has(&["169.254.169.254", "/latest/api/token", "instance metadata"]) {
        return Some(
            "no AWS credentials were found, so the instance metadata service was asked: set \
             AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE (read from \
             ~/.aws/credentials and ~/.aws/config), or AWS_WEB_IDENTITY_TOKEN_FILE with \
             AWS_ROLE_ARN, or pass --store-option aws_access_key_id=… and \
             aws_secret_access_key=…",
        );
    }
    if has(&["connection refused"]) {
        return Some(
            "nothing accepts connections at the endpoint: check the endpoint (--store-option \
             aws_endpoint=…, AWS_ENDPOINT) and that the server is running",
        );
    }
    if has(&[
        "dns error",
        "failed to lookup address",
        "name or service not known",
    ]) {
        return Some(
            "the endpoint's host name does not resolve: check the endpoint and the bucket name",
        );
    }
    if has(&[
        "nosuchbucket",
        "specified bucket does not exist",
        "containernotfound",
    ]) {
        return Some("the bucket (container) does not exist: check the location's bucket name");
    }
    if has(&[
        "invalidaccesskeyid",
        "signaturedoesnotmatch",
        "accessdenied",
        "403 forbidden",
        "authorizationfailure",
        "authenticationfailed",
        "401 unauthorized",
    ]) {
        return Some(
            "the store refused the credentials: check the key pair (or profile) and its \
             permission to list, read and write under the table's location",
        );
    }
    if has(&["timed out", "timeout"]) {
        return Some(
            "the endpoint did not answer in time: check the endpoint and the network; \
             requests time out after 20 s (store options timeout, connect_timeout) and \
             --timeout bounds the whole command",
        );
    }
    if store == "GCS" && has(&["credential", "token"]) {
        return Some(
            "GCS credentials: set GOOGLE_APPLICATION_CREDENTIALS (or \
             GOOGLE_SERVICE_ACCOUNT) to a service-account key file, or run on a machine with a \
             service account",
        );
    }
    if store == "MicrosoftAzure" && has(&["credential", "token"]) {
        return Some(
            "Azure credentials: set AZURE_STORAGE_ACCOUNT_NAME with AZURE_STORAGE_ACCOUNT_KEY \
             (or a SAS token, or a service principal: AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, \
             AZURE_TENANT_ID)",
        );
    }
    None
}

#[cfg(test)]
mod hint_tests {
    use super::storage_hint;

    #[test]
    fn causes_map_to_what_to_do() {
        let cases = [
            ("S3", "Generic S3 error: Error performing PUT http://169.254.169.254/latest/api/token in 5ms - Server returned non-2xx status code: 403 Forbidden", "no AWS credentials"),
            ("S3", "Error performing GET http://127.0.0.1:1/b\nHTTP error: error sending request\nclient error (Connect)\ntcp connect error: Connection refused (os error 111)", "nothing accepts connections"),
            ("S3", "error sending request\nclient error (Connect)\ndns error: failed to lookup address information: Name or service not known", "does not resolve"),
            ("S3", "Received redirect without LOCATION\n<Code>NoSuchBucket</Code>", "bucket (container) does not exist"),
            ("S3", "403 Forbidden: <Code>SignatureDoesNotMatch</Code>", "refused the credentials"),
            ("S3", "error sending request\noperation timed out", "did not answer in time"),
        ];
        for (store, chain, want) in cases {
            let got = storage_hint(store, chain).unwrap_or_default();
            assert!(got.contains(want), "{chain}: {got}");
        }
        assert_eq!(storage_hint("S3", "Object at location x not found"), None);
    }
}
