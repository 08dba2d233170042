//! The secrets corpus: recognisable fake secrets in every form tagkeeper can receive them —
//! the environment, store options, the user-info of an endpoint and of a proxy URL, a
//! location's query string (an Azure SAS token, a presigned S3 signature), a service-account
//! key's JSON and a key file — through every command, on success and on failure, plain,
//! `--json` and `-vv`. All output, and every file tagkeeper writes (saved plans, journals, tags,
//! snapshots, manifests), is searched for each of them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::copy_table;
use crate::fixtures::walk;

/// Each a secret nothing else in the output could contain by chance.
const ENV_SECRET: &str = "EnvSecretKey0001";
const ENV_TOKEN: &str = "EnvSessionToken0002";
const OPT_SECRET: &str = "OptSecretKey0003";
const OPT_AZURE_KEY: &str = "OptAzureAccountKey0004";
const KEY_BODY: &str = "PrivKeyBody0005LineOfBase64";
const KEY_ID: &str = "PrivKeyId0006";
const URL_PASSWORD: &str = "UrlPassword0007";
const PROXY_PASSWORD: &str = "ProxyPassword0008";
const SAS_SIGNATURE: &str = "SasSignature0009";
const PRESIGNED: &str = "PresignedSig0010";
const KEY_FILE_SECRET: &str = "KeyFileSecret0011";

const ALL: [&str; 11] = [
    ENV_SECRET,
    ENV_TOKEN,
    OPT_SECRET,
    OPT_AZURE_KEY,
    KEY_BODY,
    KEY_ID,
    URL_PASSWORD,
    PROXY_PASSWORD,
    SAS_SIGNATURE,
    PRESIGNED,
    KEY_FILE_SECRET,
];

fn service_account_json() -> String {
    serde_json::json!({
        "type": "service_account",
        "private_key_id": KEY_ID,
        "private_key": format!("-----BEGIN PRIVATE KEY-----\n{KEY_BODY}\n-----END PRIVATE KEY-----\n"),
        "client_email": "x@y.iam.gserviceaccount.com"
    })
    .to_string()
}

/// A key file whose content is not valid JSON (so a parser that quotes it would leak it).
fn key_file(dir: &Path) -> PathBuf {
    let p = dir.join("key.json");
    std::fs::write(&p, format!("{{ \"private_key\": {KEY_FILE_SECRET} ")).unwrap();
    p
}

/// Run the binary with every secret in its environment and options.
fn run(args: &[&str], key_file: &Path) -> Output {
    let mut all: Vec<String> = vec![
        "--store-option".into(),
        format!("aws_secret_access_key={OPT_SECRET}"),
        "--store-option".into(),
        format!("azure_storage_account_key={OPT_AZURE_KEY}"),
        "--store-option".into(),
        format!("proxy_url=http://proxyuser:{PROXY_PASSWORD}@127.0.0.1:9"),
        "--store-option".into(),
        format!("google_service_account={}", key_file.display()),
    ];
    all.extend(args.iter().map(|s| s.to_string()));
    Command::new(env!("CARGO_BIN_EXE_tagkeeper"))
        .args(&all)
        .env("AWS_SECRET_ACCESS_KEY", ENV_SECRET)
        .env("AWS_SESSION_TOKEN", ENV_TOKEN)
        .env("GOOGLE_SERVICE_ACCOUNT_KEY", service_account_json())
        .output()
        .expect("run tagkeeper")
}

fn assert_no_secret(context: &str, text: &str) {
    for s in ALL {
        assert!(!text.contains(s), "{context}: {s} leaked:\n{text}");
    }
}

/// Every file under `dir`, as bytes, searched for every secret.
fn assert_no_secret_in_files(context: &str, dir: &Path) {
    for rel in walk(dir) {
        let bytes = std::fs::read(dir.join(&rel)).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert_no_secret(&format!("{context}: file {rel}"), &text);
    }
}

const FORMS: [&[&str]; 3] = [&[], &["--json"], &["-vv"]];

/// Successful commands on a local table, each in every form; then every file the commands
/// wrote (tags, snapshots, saved plans, journals).
#[test]
fn no_secret_in_the_output_or_files_of_successful_commands() {
    let (_d, dir) = copy_table("tagged");
    let keys = tempfile::tempdir().unwrap();
    let key = key_file(keys.path());
    // A file:// URL: store options are accepted there (a bare path refuses them).
    let t = format!("file://{}", dir.display());
    let plan = keys.path().join("plan.json");
    let plan = plan.to_str().unwrap();
    let commands: Vec<Vec<&str>> = vec![
        vec!["snapshots", &t],
        vec!["tags", &t],
        vec!["files", &t, "--tag", "first"],
        vec!["schema", &t],
        vec!["check", &t],
        vec![
            "create-tag",
            &t,
            "made",
            "--snapshot",
            "4",
            "--if-not-exists",
        ],
        vec!["expire-snapshots", &t, "--dry-run"],
        vec!["expire-tags", &t, "--dry-run"],
        vec!["rollback-to", &t, "--snapshot", "5", "--dry-run"],
        vec!["remove-orphan-files", &t, "--dry-run"],
        vec!["read", &t, "--tag", "first"],
        vec!["diff", &t, "--from", "first", "--to", "latest"],
        vec!["maintain", &t, "--dry-run"],
        vec![
            "auto-tag",
            &t,
            "--mode",
            "process-time",
            "--period-duration",
            "1 h",
            "--time-zone",
            "UTC",
            "--dry-run",
        ],
        vec!["replace-tag", &t, "made", "--snapshot", "4"],
        vec!["delete-tag", &t, "release-a", "--plan-out", plan],
        vec!["rename-tag", &t, "made", "made2"],
    ];
    for form in FORMS {
        for c in &commands {
            let mut args: Vec<&str> = form.to_vec();
            args.extend(c.iter().copied());
            let out = run(&args, &key);
            let context = format!("{args:?}");
            assert!(
                out.status.success(),
                "{context}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let all = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert_no_secret(&context, &all);
            if c[0] == "delete-tag" {
                let saved = std::fs::read_to_string(plan).unwrap();
                assert_no_secret("the saved plan", &saved);
                std::fs::remove_file(plan).unwrap();
            }
            if c[0] == "rename-tag" {
                // Back, for the next form.
                let back = run(&["rename-tag", &t, "made2", "made"], &key);
                assert!(back.status.success());
            }
        }
    }
    // A real destructive run writes journals and tag files.
    let out = run(&["delete-tag", &t, "release-a"], &key);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_no_secret_in_files("the table", &dir);
}

/// Failures that quote locations and endpoints: a location with a SAS token in its query
/// string, a presigned-style location with an endpoint whose URL holds a password (on a port
/// that refuses connections), in every form.
#[test]
fn no_secret_in_the_output_of_failures() {
    let keys = tempfile::tempdir().unwrap();
    let key = key_file(keys.path());
    let sas =
        format!("file:///nonexistent/wh/t?sv=2022-11-02&ss=b&se=2030-01-01&sig={SAS_SIGNATURE}");
    let presigned = format!("s3://bucket/t?X-Amz-Signature={PRESIGNED}");
    let endpoint = format!("aws_endpoint=http://admin:{URL_PASSWORD}@127.0.0.1:9");
    let gcs_key = format!("google_service_account={}", key.display());
    let failures: Vec<Vec<&str>> = vec![
        vec!["snapshots", &sas],
        // A broken key file: the credential parser's error must not quote it.
        vec!["snapshots", "gs://bucket/t", "--store-option", &gcs_key],
        vec!["delete-tag", &sas, "x"],
        vec![
            "snapshots",
            &presigned,
            "--store-option",
            &endpoint,
            "--store-option",
            "aws_allow_http=true",
            "--store-option",
            "aws_access_key_id=AKIAEXAMPLE",
        ],
    ];
    for form in FORMS {
        for c in &failures {
            let mut args: Vec<&str> = form.to_vec();
            args.extend(c.iter().copied());
            let out = run(&args, &key);
            let context = format!("{args:?}");
            assert!(!out.status.success(), "{context}: succeeded");
            let stdout = String::from_utf8_lossy(&out.stdout);
            let all = format!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
            assert_no_secret(&context, &all);
            // The failure was reported, with the location's harmless parts.
            assert!(all.contains("error"), "{context}: {all}");
            if form == ["--json"] {
                let v: serde_json::Value = serde_json::from_str(&stdout)
                    .unwrap_or_else(|e| panic!("{context}: one JSON document ({e}): {stdout}"));
                assert!(v["error"]["message"].is_string(), "{context}: {v}");
            }
        }
    }
}
