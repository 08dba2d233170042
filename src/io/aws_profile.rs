//! AWS shared config and credentials files (`~/.aws/credentials`, `~/.aws/config`), read the
//! way the AWS CLI and SDKs read them, for the parts object_store's `from_env` does not: a
//! named profile's static keys, session token, region and endpoint. The environment keeps
//! precedence (as in the SDKs' default chain: variables first, then the profile), and
//! `--store-option` still wins over both. Web identity from the environment
//! (`AWS_WEB_IDENTITY_TOKEN_FILE`, `AWS_ROLE_ARN`) and instance or container credentials are
//! object_store's own. Profiles that need a process or a role assumption are refused with the
//! command that turns them into variables, rather than silently falling through to the
//! instance metadata service.
//!
//! Pure: the environment and the files are passed in.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use object_store::aws::AmazonS3ConfigKey;

/// One profile's settings: `key -> value`, keys lower-cased.
type Section = BTreeMap<String, String>;

/// Parse an AWS INI file into sections. Comments (`#`, `;`) and indented sub-settings (a
/// service's nested block) are skipped.
fn parse(text: &str) -> BTreeMap<String, Section> {
    let mut out: BTreeMap<String, Section> = BTreeMap::new();
    let mut current: Option<String> = None;
    for raw in text.lines() {
        if raw.starts_with([' ', '\t']) {
            continue;
        }
        let line = raw.trim();
        if line.is_empty() || line.starts_with(['#', ';']) {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let name = name.trim().to_string();
            out.entry(name.clone()).or_default();
            current = Some(name);
            continue;
        }
        if let (Some(section), Some((k, v))) = (&current, line.split_once('=')) {
            if let Some(s) = out.get_mut(section) {
                s.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
    }
    out
}

/// What a profile contributes, as S3 configuration to apply after `from_env` and before the
/// user's store options. `Err` explains a profile that was asked for and cannot be used.
pub(crate) fn settings(
    env: &dyn Fn(&str) -> Option<String>,
    read: &dyn Fn(&Path) -> Option<String>,
) -> Result<Vec<(AmazonS3ConfigKey, String)>, String> {
    let set = |k: &str| env(k).filter(|v| !v.is_empty());
    let explicit = set("AWS_PROFILE").or_else(|| set("AWS_DEFAULT_PROFILE"));
    let name = explicit.clone().unwrap_or_else(|| "default".to_string());
    let home = set("HOME").map(PathBuf::from);
    let file = |var: &str, rel: &str| {
        set(var)
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(rel)))
    };
    let cred_path = file("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials");
    let config_path = file("AWS_CONFIG_FILE", ".aws/config");
    let load = |p: &Option<PathBuf>| {
        p.as_deref()
            .and_then(read)
            .map(|t| parse(&t))
            .unwrap_or_default()
    };
    let creds = load(&cred_path);
    let config = load(&config_path);
    let from_creds = creds.get(&name);
    let config_section = if name == "default" {
        config
            .get("default")
            .or_else(|| config.get("profile default"))
    } else {
        config.get(&format!("profile {name}"))
    };
    if from_creds.is_none() && config_section.is_none() {
        return match explicit {
            None => Ok(Vec::new()),
            Some(_) => Err(format!(
                "AWS_PROFILE={name}: no [{name}] in {} and no [profile {name}] in {}",
                shown(&cred_path),
                shown(&config_path)
            )),
        };
    }
    // The credentials file wins over the config file for the same key, as in the SDKs.
    let get = |k: &str| {
        from_creds
            .and_then(|s| s.get(k))
            .or_else(|| config_section.and_then(|s| s.get(k)))
            .filter(|v| !v.is_empty())
            .cloned()
    };
    let mut out = Vec::new();
    let env_keys = set("AWS_ACCESS_KEY_ID").is_some()
        || set("AWS_WEB_IDENTITY_TOKEN_FILE").is_some()
        || set("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI").is_some()
        || set("AWS_CONTAINER_CREDENTIALS_FULL_URI").is_some();
    if !env_keys {
        match (get("aws_access_key_id"), get("aws_secret_access_key")) {
            (Some(id), Some(secret)) => {
                out.push((AmazonS3ConfigKey::AccessKeyId, id));
                out.push((AmazonS3ConfigKey::SecretAccessKey, secret));
                if let Some(token) = get("aws_session_token") {
                    out.push((AmazonS3ConfigKey::Token, token));
                }
            }
            (Some(_), None) | (None, Some(_)) => {
                return Err(format!(
                    "AWS profile [{name}] has only one of aws_access_key_id and \
                     aws_secret_access_key"
                ))
            }
            (None, None) => {
                let unsupported = [
                    "credential_process",
                    "role_arn",
                    "sso_start_url",
                    "sso_session",
                    "web_identity_token_file",
                ];
                if let Some(feature) = unsupported.iter().find(|k| get(k).is_some()) {
                    return Err(format!(
                        "AWS profile [{name}] gets its credentials through {feature}, which \
                         tagkeeper does not run: export them first (`eval \"$(aws configure \
                         export-credentials --profile {name} --format env)\"`), or use web \
                         identity through AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN"
                    ));
                }
            }
        }
    }
    if set("AWS_REGION").is_none() && set("AWS_DEFAULT_REGION").is_none() {
        if let Some(region) = get("region") {
            out.push((AmazonS3ConfigKey::Region, region));
        }
    }
    if set("AWS_ENDPOINT").is_none() && set("AWS_ENDPOINT_URL").is_none() {
        if let Some(endpoint) = get("endpoint_url") {
            out.push((AmazonS3ConfigKey::Endpoint, endpoint));
        }
    }
    Ok(out)
}

fn shown(p: &Option<PathBuf>) -> String {
    p.as_ref()
        .map_or("(no HOME)".to_string(), |p| p.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CREDS: &str = "\
[default]
aws_access_key_id = AKIDDEFAULT
aws_secret_access_key = secretdefault

# a comment
[ci]
aws_access_key_id=AKIDCI
aws_secret_access_key=secretci
aws_session_token = tok
";
    const CONFIG: &str = "\
[default]
region = eu-west-1

[profile ci]
region = us-east-2
endpoint_url = http://127.0.0.1:9000
s3 =
  addressing_style = path

[profile sso]
sso_session = corp
region = us-east-1

[profile half]
aws_access_key_id = AKIDHALF
";

    fn run(vars: &[(&str, &str)]) -> Result<Vec<(AmazonS3ConfigKey, String)>, String> {
        let env = |k: &str| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        };
        let read = |p: &Path| match p.to_str() {
            Some("/home/op/.aws/credentials") => Some(CREDS.to_string()),
            Some("/home/op/.aws/config") => Some(CONFIG.to_string()),
            _ => None,
        };
        settings(&env, &read)
    }

    fn keys(v: &[(AmazonS3ConfigKey, String)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(k, v)| (k.as_ref().to_string(), v.clone()))
            .collect()
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_default_profile_without_variables() {
        let got = run(&[("HOME", "/home/op")]).unwrap();
        assert_eq!(
            keys(&got),
            pairs(&[
                ("aws_access_key_id", "AKIDDEFAULT"),
                ("aws_secret_access_key", "secretdefault"),
                ("aws_region", "eu-west-1"),
            ])
        );
    }

    #[test]
    fn a_named_profile_with_token_region_and_endpoint() {
        let got = run(&[("HOME", "/home/op"), ("AWS_PROFILE", "ci")]).unwrap();
        assert_eq!(
            keys(&got),
            pairs(&[
                ("aws_access_key_id", "AKIDCI"),
                ("aws_secret_access_key", "secretci"),
                ("aws_session_token", "tok"),
                ("aws_region", "us-east-2"),
                ("aws_endpoint", "http://127.0.0.1:9000"),
            ])
        );
    }

    #[test]
    fn variables_win_over_the_profile() {
        let got = run(&[
            ("HOME", "/home/op"),
            ("AWS_PROFILE", "ci"),
            ("AWS_ACCESS_KEY_ID", "AKIDENV"),
            ("AWS_REGION", "ap-south-1"),
            ("AWS_ENDPOINT", "http://elsewhere"),
        ])
        .unwrap();
        assert_eq!(keys(&got), Vec::<(String, String)>::new());
        // Web identity from the environment is object_store's: no profile keys beside it.
        let got = run(&[
            ("HOME", "/home/op"),
            ("AWS_WEB_IDENTITY_TOKEN_FILE", "/var/run/token"),
        ])
        .unwrap();
        assert_eq!(keys(&got), pairs(&[("aws_region", "eu-west-1")]));
    }

    #[test]
    fn files_named_by_variables() {
        let vars = [
            ("AWS_SHARED_CREDENTIALS_FILE", "/home/op/.aws/credentials"),
            ("AWS_CONFIG_FILE", "/nowhere"),
            ("AWS_PROFILE", "ci"),
        ];
        let got = run(&vars).unwrap();
        assert_eq!(
            keys(&got),
            pairs(&[
                ("aws_access_key_id", "AKIDCI"),
                ("aws_secret_access_key", "secretci"),
                ("aws_session_token", "tok"),
            ])
        );
    }

    #[test]
    fn profiles_that_cannot_be_used_say_why() {
        let e = run(&[("HOME", "/home/op"), ("AWS_PROFILE", "nope")]).unwrap_err();
        assert_eq!(
            e,
            "AWS_PROFILE=nope: no [nope] in /home/op/.aws/credentials and no [profile nope] \
             in /home/op/.aws/config"
        );
        let e = run(&[("HOME", "/home/op"), ("AWS_PROFILE", "sso")]).unwrap_err();
        assert!(
            e.contains("through sso_session") && e.contains("export-credentials --profile sso"),
            "{e}"
        );
        let e = run(&[("HOME", "/home/op"), ("AWS_PROFILE", "half")]).unwrap_err();
        assert!(e.contains("only one of"), "{e}");
        // No files and no profile asked for: nothing, and no error.
        assert_eq!(run(&[("HOME", "/empty")]).unwrap(), Vec::new());
    }
}
