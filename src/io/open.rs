//! Open a table location: a local path, `file://`, `s3://`, `gs://`, `az://`/`abfss://`, or
//! `memory://`. Credentials, region and endpoint come from each backend's environment variables
//! (object_store's `from_env`), then from explicit `KEY=VALUE` store options, which win.

use std::path::Path as FsPath;
use std::str::FromStr;
use std::sync::Arc;

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ClientConfigKey, ObjectStore, RetryConfig};
use url::Url;

use super::local::StagedLocalStore;
use super::{TableStore, DEFAULT_CONCURRENCY};
use crate::error::{Error, Result};

/// How to reach a store.
#[derive(Clone, Default)]
pub struct StoreOptions {
    /// Backend configuration keys and values (e.g. `aws_endpoint`). Values are never printed.
    pub options: Vec<(String, String)>,
    /// Requests in flight; 0 means [`DEFAULT_CONCURRENCY`].
    pub concurrency: usize,
}

impl std::fmt::Debug for StoreOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Keys only: values may be secrets.
        let keys: Vec<&str> = self.options.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("StoreOptions")
            .field("option_keys", &keys)
            .field("concurrency", &self.concurrency)
            .finish()
    }
}

impl StoreOptions {
    fn concurrency(&self) -> usize {
        if self.concurrency == 0 {
            DEFAULT_CONCURRENCY
        } else {
            self.concurrency
        }
    }
}

/// rustls' process-wide crypto provider: ring (reqwest is built without one, so that
/// aws-lc-rs is not compiled at all). Installed before the first HTTP client is built; a
/// provider the embedding program installed first is kept.
fn install_tls_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// Open the store holding `location`, rooted at it.
pub fn open_location(location: &str, opts: &StoreOptions) -> Result<TableStore> {
    let shown = redact(location);
    let invalid = |reason: String| Error::InvalidLocation {
        location: shown.clone(),
        reason,
    };
    if !location.contains("://") {
        if !opts.options.is_empty() {
            return Err(invalid(
                "store options apply to object-store URLs only".into(),
            ));
        }
        let (store, root, dir) = local_store(FsPath::new(location)).map_err(&invalid)?;
        return Ok(TableStore::new(store, &root, opts.concurrency(), shown).with_local_dir(dir));
    }
    let url = Url::parse(location).map_err(|e| invalid(format!("not a valid URL: {e}")))?;
    install_tls_provider();
    let root = Path::from_url_path(url.path())
        .map_err(|e| invalid(format!("bad path in URL: {e}")))?
        .to_string();
    // One retry budget: object_store's own HTTP retries are off, `TableStore`'s policy
    // retries what is transient within its time budget. Requests time out (20 s, connecting
    // 5 s) so that a hung endpoint fails the command within about a minute; store options
    // `timeout` and `connect_timeout` override these.
    let retry = RetryConfig {
        max_retries: 0,
        retry_timeout: std::time::Duration::from_secs(30),
        ..RetryConfig::default()
    };
    // Set as configuration (not a whole `ClientOptions`, which would drop what `from_env`
    // read, such as allow-http), before the user's options so that theirs win.
    let timeouts = [
        (ClientConfigKey::Timeout, "20s"),
        (ClientConfigKey::ConnectTimeout, "5s"),
    ];
    let store: Arc<dyn ObjectStore> = match url.scheme() {
        "file" => {
            let dir = url
                .to_file_path()
                .map_err(|()| invalid("a file:// URL must hold an absolute local path".into()))?;
            let (store, root, dir) = local_store(&dir).map_err(&invalid)?;
            return Ok(TableStore::new(store, &root, opts.concurrency(), shown).with_local_dir(dir));
        }
        "memory" => Arc::new(InMemory::new()),
        "s3" | "s3a" => {
            let mut b = AmazonS3Builder::from_env().with_url(location).with_retry(retry);
            for (k, v) in timeouts {
                b = b.with_config(AmazonS3ConfigKey::Client(k), v);
            }
            // What the environment lacks, from the AWS profile (AWS_PROFILE or default).
            let profile = super::aws_profile::settings(&|k| std::env::var(k).ok(), &|p| {
                std::fs::read_to_string(p).ok()
            })
            .map_err(&invalid)?;
            crate::redact::remember(
                profile
                    .iter()
                    .filter(|(k, _)| {
                        matches!(k, AmazonS3ConfigKey::SecretAccessKey | AmazonS3ConfigKey::Token)
                    })
                    .map(|(_, v)| v.clone()),
            );
            for (k, v) in profile {
                b = b.with_config(k, v);
            }
            for (k, v) in &opts.options {
                let key = AmazonS3ConfigKey::from_str(k)
                    .map_err(|_| invalid(format!("unknown S3 store option '{k}'")))?;
                b = b.with_config(key, v);
            }
            Arc::new(b.build().map_err(|e| invalid(sanitize(&e.to_string())))?)
        }
        "gs" => {
            let mut b = GoogleCloudStorageBuilder::from_env().with_url(location).with_retry(retry);
            for (k, v) in timeouts {
                b = b.with_config(GoogleConfigKey::Client(k), v);
            }
            for (k, v) in &opts.options {
                let key = GoogleConfigKey::from_str(k)
                    .map_err(|_| invalid(format!("unknown GCS store option '{k}'")))?;
                b = b.with_config(key, v);
            }
            Arc::new(b.build().map_err(|e| invalid(sanitize(&e.to_string())))?)
        }
        "az" | "adl" | "azure" | "abfs" | "abfss" => {
            let mut b = MicrosoftAzureBuilder::from_env().with_url(location).with_retry(retry);
            for (k, v) in timeouts {
                b = b.with_config(AzureConfigKey::Client(k), v);
            }
            for (k, v) in &opts.options {
                let key = AzureConfigKey::from_str(k)
                    .map_err(|_| invalid(format!("unknown Azure store option '{k}'")))?;
                b = b.with_config(key, v);
            }
            Arc::new(b.build().map_err(|e| invalid(sanitize(&e.to_string())))?)
        }
        other => return Err(invalid(format!(
            "unsupported scheme '{other}' (use a local path, file://, s3://, gs://, az://, abfss:// or memory://)"
        ))),
    };
    Ok(TableStore::new(store, &root, opts.concurrency(), shown))
}

/// For a location that is a local path (or `file://` URL), create the directory if needed, so
/// that a new table can be created there. Other locations are left alone.
pub fn ensure_local_dir(location: &str) -> Result<()> {
    let dir = if !location.contains("://") {
        Some(std::path::PathBuf::from(location))
    } else if location.starts_with("file://") {
        Url::parse(location)
            .ok()
            .and_then(|u| u.to_file_path().ok())
    } else {
        None
    };
    if let Some(dir) = dir {
        std::fs::create_dir_all(&dir).map_err(|e| Error::InvalidLocation {
            location: redact(location),
            reason: format!("cannot create directory: {e}"),
        })?;
    }
    Ok(())
}

/// A `LocalFileSystem` rooted at `dir`, which must exist, with its canonical path. Writes are
/// staged under hidden names and published whole ([`StagedLocalStore`]), and fsynced so that a
/// snapshot whose put returned is durable.
pub(crate) fn local_store(
    dir: &FsPath,
) -> std::result::Result<(Arc<dyn ObjectStore>, String, std::path::PathBuf), String> {
    let canonical = std::fs::canonicalize(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    if !canonical.is_dir() {
        return Err(format!("{} is not a directory", dir.display()));
    }
    let store = LocalFileSystem::new_with_prefix(&canonical).map_err(|e| e.to_string())?;
    Ok((
        Arc::new(StagedLocalStore::new(store, true)),
        String::new(),
        canonical,
    ))
}

/// The location without user info, query or fragment (where credentials hide in URLs).
pub(crate) fn redact(location: &str) -> String {
    match Url::parse(location) {
        Ok(mut url) if location.contains("://") => {
            let had_secret =
                !url.username().is_empty() || url.password().is_some() || url.query().is_some();
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.set_query(None);
            url.set_fragment(None);
            let s = url.to_string();
            if had_secret {
                format!("{s} (credentials removed)")
            } else {
                s
            }
        }
        _ => location.to_string(),
    }
}

/// Builder errors can echo configuration; keep only the first line and drop anything that
/// looks like a key=value pair.
fn sanitize(message: &str) -> String {
    let first = message.lines().next().unwrap_or_default();
    if first.contains('=') {
        "the store configuration was rejected (details withheld: they may contain credentials)"
            .into()
    } else {
        first.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_credentials() {
        let r = redact("s3://AKIA:secret@bucket/wh/t?X-Amz-Signature=abc");
        assert!(
            !r.contains("secret") && !r.contains("AKIA") && !r.contains("abc"),
            "{r}"
        );
        assert_eq!(redact("s3://bucket/wh/t"), "s3://bucket/wh/t");
    }

    #[test]
    fn debug_hides_option_values() {
        let o = StoreOptions {
            options: vec![("aws_secret_access_key".into(), "hunter2".into())],
            concurrency: 0,
        };
        assert!(!format!("{o:?}").contains("hunter2"));
    }

    #[test]
    fn refuses_bad_locations() {
        let opts = StoreOptions::default();
        for loc in ["ftp://x/y", "/definitely/not/here", "s3://b/t?"] {
            let r = open_location(
                loc,
                &StoreOptions {
                    options: vec![("nope".into(), "v".into())],
                    ..opts.clone()
                },
            );
            assert!(r.is_err(), "{loc}");
        }
        let r = open_location(
            "s3://bucket/t",
            &StoreOptions {
                options: vec![("not_a_key".into(), "v".into())],
                concurrency: 1,
            },
        );
        assert!(matches!(r, Err(Error::InvalidLocation { .. })));
    }
}
