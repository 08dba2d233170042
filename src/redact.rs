//! One redaction layer for everything tagkeeper prints or logs.
//!
//! Secrets reach tagkeeper in many forms: store options (`aws_secret_access_key=…`), the
//! environment (`AWS_SESSION_TOKEN`), the user-info of a URL (`http://user:PASSWORD@host`, an
//! endpoint or a proxy), query parameters of a location (Azure SAS tokens `sv=…&sig=…`,
//! presigned `X-Amz-Signature=…`), and service-account key JSON. Any of them can come back
//! inside another error's text (object_store and the HTTP stack quote URLs), so the CLI passes
//! every line it writes — reports, JSON documents, warnings, errors, log lines — through
//! [`redact`] just before writing it. The rules are pure ([`Redactor::redact`]); the secrets
//! known to this process are installed once at start-up ([`install`]).
//!
//! What is replaced by `***`: the user-info of any `scheme://` URL; the values of query
//! parameters that carry credentials ([`is_credential_param`]); PEM private-key blocks and the
//! value of a JSON `"private_key"`; and every occurrence of a known secret value (also
//! percent-encoded), longest first.

use std::borrow::Cow;
use std::sync::RwLock;

use memchr::memmem;

/// What replaces a secret.
pub const MASK: &str = "***";

/// Secret values shorter than this are not matched literally (a two-letter "secret" would mask
/// half the output); the structural rules still apply to them.
const MIN_SECRET_LEN: usize = 4;

/// The store options whose values are secrets (lower case; `object_store`'s keys and their
/// aliases).
pub fn is_secret_option(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    const EXACT: [&str; 6] = [
        "aws_access_key_id",
        "access_key_id",
        "google_service_account_key",
        "service_account_key",
        "azure_storage_sas_key",
        "sas_key",
    ];
    const PARTS: [&str; 8] = [
        "secret",
        "token",
        "password",
        "passwd",
        "sas",
        "private",
        "account_key",
        "_key",
    ];
    EXACT.contains(&k.as_str()) || PARTS.iter().any(|p| k.contains(p))
}

/// The environment variables whose values are secrets.
pub const SECRET_ENV: [&str; 12] = [
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AZURE_STORAGE_ACCOUNT_KEY",
    "AZURE_STORAGE_ACCESS_KEY",
    "AZURE_STORAGE_SAS_KEY",
    "AZURE_STORAGE_SAS_TOKEN",
    "AZURE_STORAGE_TOKEN",
    "AZURE_CLIENT_SECRET",
    "GOOGLE_SERVICE_ACCOUNT_KEY",
    "GOOGLE_APPLICATION_CREDENTIALS_JSON",
    "HTTPS_PROXY_PASSWORD",
];

/// Query parameters whose values are credentials (compared case-insensitively): Azure SAS
/// fields, S3 and GCS presigned-URL fields, and the usual names of tokens, keys and passwords.
pub fn is_credential_param(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    const NAMES: [&str; 26] = [
        "sig",
        "se",
        "sv",
        "st",
        "sp",
        "spr",
        "srt",
        "ss",
        "sr",
        "skoid",
        "sktid",
        "skt",
        "ske",
        "sks",
        "skv",
        "token",
        "access_token",
        "key",
        "api_key",
        "apikey",
        "password",
        "passwd",
        "pwd",
        "secret",
        "signature",
        "googleaccessid",
    ];
    NAMES.contains(&n.as_str())
        || n.starts_with("x-amz-")
        || n.starts_with("x-goog-")
        || n.contains("secret")
        || n.contains("token")
        || n.contains("password")
        || n.contains("credential")
}

/// The redaction rules with the secrets of one process.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Redactor {
    /// Known secret values, longest first.
    secrets: Vec<String>,
}

impl Redactor {
    /// Rules with these secret values (empty and very short ones are dropped).
    pub fn new(secrets: impl IntoIterator<Item = String>) -> Self {
        let mut secrets: Vec<String> = secrets
            .into_iter()
            .map(|s| s.trim().to_string())
            .filter(|s| s.len() >= MIN_SECRET_LEN)
            .collect();
        // A service-account key arrives as JSON: its private key and key id are secrets too,
        // and a message may quote them on their own.
        let mut extra = Vec::new();
        for s in &secrets {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(s) {
                for field in ["private_key", "private_key_id", "client_secret"] {
                    if let Some(x) = v.get(field).and_then(serde_json::Value::as_str) {
                        extra.push(x.to_string());
                        // As it appears inside JSON text: newlines escaped.
                        extra.push(x.replace('\n', "\\n"));
                        // And line by line, as a message may quote a line of the key body.
                        extra.extend(
                            x.lines()
                                .filter(|l| !l.starts_with("-----"))
                                .map(str::to_string),
                        );
                    }
                }
            }
        }
        secrets.extend(extra.into_iter().filter(|s| s.len() >= MIN_SECRET_LEN));
        let encoded: Vec<String> = secrets
            .iter()
            .map(|s| percent_encode(s))
            .filter(|e| !secrets.contains(e))
            .collect();
        secrets.extend(encoded);
        secrets.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
        secrets.dedup();
        Redactor { secrets }
    }

    /// The secrets of store options and of the environment (`env` gives a variable's value).
    pub fn from_options_and_env(
        options: &[(String, String)],
        env: impl Fn(&str) -> Option<String>,
    ) -> Self {
        let mut secrets: Vec<String> = options
            .iter()
            .filter(|(k, _)| is_secret_option(k))
            .map(|(_, v)| v.clone())
            .collect();
        // A URL-valued option (an endpoint, a proxy) may carry a password in its user-info.
        for (_, v) in options {
            secrets.extend(url_password(v));
        }
        for name in SECRET_ENV {
            secrets.extend(env(name));
        }
        for name in [
            "AWS_ENDPOINT",
            "AWS_ENDPOINT_URL",
            "HTTPS_PROXY",
            "HTTP_PROXY",
        ] {
            if let Some(v) = env(name) {
                secrets.extend(url_password(&v));
            }
        }
        Redactor::new(secrets)
    }

    /// `text` with every secret replaced by [`MASK`] (pure).
    pub fn redact(&self, text: &str) -> String {
        self.redact_cow(text).into_owned()
    }

    /// [`Redactor::redact`], borrowing `text` when nothing in it is masked. Every rule first
    /// looks for its trigger (`-----BEGIN`, a key field, `://`, `?` or `&`, a secret) with a
    /// vectorised search: a large report (a million file paths) usually has none, and is then
    /// scanned, not copied.
    pub fn redact_cow<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let mut out = redact_private_keys(text);
        if let Cow::Owned(o) = redact_urls(&out) {
            out = Cow::Owned(o);
        }
        for s in &self.secrets {
            if memmem::find(out.as_bytes(), s.as_bytes()).is_some() {
                out = Cow::Owned(out.replace(s.as_str(), MASK));
            }
        }
        out
    }
}

/// The password of a URL's user-info, if any (for literal matching where the URL is not
/// quoted whole).
fn url_password(value: &str) -> Option<String> {
    let rest = &value[value.find("://")? + 3..];
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let userinfo = &authority[..authority.rfind('@')?];
    let password = userinfo.split_once(':').map_or(userinfo, |(_, p)| p);
    (!password.is_empty()).then(|| password.to_string())
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Characters that end a URL inside running text or JSON.
fn ends_url(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '"' | '\'' | '<' | '>' | '`' | ')' | ']' | '}' | ',' | '\\'
        )
}

/// User-info and credential query values of every `scheme://` URL in `text`.
fn redact_urls(text: &str) -> Cow<'_, str> {
    let finder = memmem::Finder::new("://");
    if finder.find(text.as_bytes()).is_none() {
        return redact_query_like(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = finder.find(rest.as_bytes()) {
        let (before, after) = rest.split_at(i + 3);
        out.push_str(before);
        let end = after.find(ends_url).unwrap_or(after.len());
        let (url, tail) = after.split_at(end);
        out.push_str(&redact_one_url(url));
        rest = tail;
    }
    out.push_str(rest);
    Cow::Owned(redact_query_like(&out).into_owned())
}

/// One URL after its `scheme://`: user-info masked (the query is handled with the text).
fn redact_one_url(url: &str) -> String {
    let auth_end = url.find(['/', '?', '#']).unwrap_or(url.len());
    match url[..auth_end].rfind('@') {
        Some(at) => format!("{MASK}{}", &url[at..]),
        None => url.to_string(),
    }
}

/// `?name=value` and `&name=value` pairs anywhere in `text` whose name carries credentials:
/// the value is masked. (Query strings also appear without their URL, e.g. a SAS token passed
/// on its own.)
fn redact_query_like(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    // `text[..copied]` is in `out` already (when anything was masked).
    let mut out = String::new();
    let mut copied = 0;
    let mut i = 0;
    // A parameter starts after `?` or `&`.
    while let Some(rel) = memchr::memchr2(b'?', b'&', &bytes[i..]) {
        let name_start = i + rel + 1;
        let mut j = name_start;
        while j < bytes.len()
            && (bytes[j].is_ascii_alphanumeric() || matches!(bytes[j], b'-' | b'_' | b'.'))
        {
            j += 1;
        }
        i = j;
        if j < bytes.len() && bytes[j] == b'=' && is_credential_param(&text[name_start..j]) {
            let value = j + 1;
            let end = text[value..]
                .find(|c: char| c == '&' || c == '#' || ends_url(c))
                .map_or(text.len(), |e| value + e);
            if end > value {
                out.push_str(&text[copied..value]);
                out.push_str(MASK);
                copied = end;
            }
            i = end;
        }
    }
    let out = if copied == 0 {
        Cow::Borrowed(text)
    } else {
        out.push_str(&text[copied..]);
        Cow::Owned(out)
    };
    // A bare SAS token (`sv=…&sig=…`) has no `?`: mask its first pair too.
    if let Some(rest) = out.strip_prefix("sv=") {
        let end = rest.find(['&', ' ']).unwrap_or(rest.len());
        return Cow::Owned(format!("sv={MASK}{}", &rest[end..]));
    }
    out
}

/// PEM private-key blocks, and the value of a JSON `"private_key"` field.
fn redact_private_keys(text: &str) -> Cow<'_, str> {
    let triggered = [
        "-----BEGIN",
        "\"private_key\"",
        "\"private_key_id\"",
        "\"client_secret\"",
    ]
    .iter()
    .any(|t| memmem::find(text.as_bytes(), t.as_bytes()).is_some());
    if !triggered {
        return Cow::Borrowed(text);
    }
    let mut out = text.to_string();
    while let Some(start) = out.find("-----BEGIN") {
        let Some(rel) = out[start..].find("PRIVATE KEY-----") else {
            break;
        };
        let after_begin = start + rel + "PRIVATE KEY-----".len();
        let end = match out[after_begin..].find("-----END") {
            Some(e) => {
                let e = after_begin + e;
                out[e..]
                    .find("PRIVATE KEY-----")
                    .map_or(out.len(), |k| e + k + "PRIVATE KEY-----".len())
            }
            None => out.len(),
        };
        out.replace_range(start..end, MASK);
    }
    for field in ["\"private_key\"", "\"private_key_id\"", "\"client_secret\""] {
        let mut from = 0;
        while let Some(rel) = out[from..].find(field) {
            let k = from + rel + field.len();
            let Some(q1) = out[k..].find('"').map(|q| k + q + 1) else {
                break;
            };
            // Only `"field": "value"`: a colon and spaces before the opening quote.
            if !out[k..q1 - 1].trim().eq(":") {
                from = k;
                continue;
            }
            let mut j = q1;
            let bytes = out.as_bytes();
            while j < bytes.len() && bytes[j] != b'"' {
                j += if bytes[j] == b'\\' { 2 } else { 1 };
            }
            let j = j.min(out.len());
            out.replace_range(q1..j, MASK);
            from = q1 + MASK.len();
        }
    }
    Cow::Owned(out)
}

static GLOBAL: RwLock<Option<Redactor>> = RwLock::new(None);

/// Install the secrets of this process (the CLI does it once, before anything is printed).
pub fn install(redactor: Redactor) {
    if let Ok(mut g) = GLOBAL.write() {
        *g = Some(redactor);
    }
}

/// Add secrets learned after [`install`] (credentials read from an AWS profile file when a
/// store is opened), so that no output ever shows them either.
pub fn remember(more: impl IntoIterator<Item = String>) {
    if let Ok(mut g) = GLOBAL.write() {
        let mut secrets = g.take().map(|r| r.secrets).unwrap_or_default();
        secrets.extend(more);
        *g = Some(Redactor::new(secrets));
    }
}

/// `text` redacted with the installed secrets (with the structural rules only before
/// [`install`]).
pub fn redact(text: &str) -> String {
    redact_cow(text).into_owned()
}

/// [`redact`], borrowing `text` when nothing in it is masked (large reports, streamed).
pub fn redact_cow(text: &str) -> Cow<'_, str> {
    match GLOBAL.read() {
        Ok(g) => match g.as_ref() {
            Some(r) => r.redact_cow(text),
            None => Redactor::default().redact_cow(text),
        },
        Err(_) => Redactor::default().redact_cow(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(secrets: &[&str]) -> Redactor {
        Redactor::new(secrets.iter().map(|s| s.to_string()))
    }

    #[test]
    fn url_user_info_is_masked_wherever_the_url_appears() {
        let t = "error: Generic S3 error: http://admin:PASSWORD1@127.0.0.1:9/bucket/t (refused)";
        let out = r(&[]).redact(t);
        assert_eq!(
            out,
            "error: Generic S3 error: http://***@127.0.0.1:9/bucket/t (refused)"
        );
        let json = r#"{"message":"proxy http://u:p4ss@proxy:3128 failed"}"#;
        assert_eq!(
            r(&[]).redact(json),
            r#"{"message":"proxy http://***@proxy:3128 failed"}"#
        );
    }

    #[test]
    fn credential_query_values_are_masked() {
        let sas = "az://c/wh/t?sv=2022-11-02&ss=b&se=2030-01-01&sp=rl&sig=SECRETSIG%3D&other=1";
        let out = r(&[]).redact(sas);
        assert!(!out.contains("SECRETSIG"), "{out}");
        assert!(out.contains("other=1"), "{out}");
        assert!(out.starts_with("az://c/wh/t?sv=***&ss=***"), "{out}");
        let presigned =
            "https://b.s3.amazonaws.com/k?X-Amz-Credential=AKIA1234%2F&X-Amz-Signature=abcdef";
        let out = r(&[]).redact(presigned);
        assert!(
            !out.contains("AKIA1234") && !out.contains("abcdef"),
            "{out}"
        );
        assert_eq!(r(&[]).redact("sv=2022&sig=SIGSIG"), "sv=***&sig=***");
        assert_eq!(r(&[]).redact("a & b = c"), "a & b = c");
    }

    #[test]
    fn known_secrets_are_masked_also_percent_encoded() {
        let red = r(&["s3cr3t/val+ue", "ab"]);
        assert_eq!(red.redact("x s3cr3t/val+ue y"), "x *** y");
        assert_eq!(red.redact("x s3cr3t%2Fval%2Bue y"), "x *** y");
        // Too short to match literally.
        assert_eq!(red.redact("abc"), "abc");
    }

    #[test]
    fn private_keys_are_masked() {
        let pem = "key: -----BEGIN PRIVATE KEY-----\nMIIEv\nabc\n-----END PRIVATE KEY----- end";
        assert_eq!(r(&[]).redact(pem), "key: *** end");
        let json = r#"{"type":"service_account","private_key_id":"k123","private_key": "-----BEGIN RSA PRIVATE KEY-----\nAAA\n-----END RSA PRIVATE KEY-----\n"}"#;
        let out = r(&[]).redact(json);
        assert!(!out.contains("AAA") && !out.contains("k123"), "{out}");
        assert!(out.contains(r#""type":"service_account""#), "{out}");
    }

    #[test]
    fn secrets_from_options_and_environment() {
        let options = vec![
            (
                "aws_secret_access_key".to_string(),
                "OPTSECRET1".to_string(),
            ),
            ("aws_region".to_string(), "eu-west-1".to_string()),
            (
                "aws_endpoint".to_string(),
                "http://user:ENDPOINTPW@host:9000".to_string(),
            ),
            (
                "proxy_url".to_string(),
                "http://p:PROXYPW@proxy:3128".to_string(),
            ),
        ];
        let env = |k: &str| (k == "AWS_SESSION_TOKEN").then(|| "ENVTOKEN99".to_string());
        let red = Redactor::from_options_and_env(&options, env);
        let out = red.redact("OPTSECRET1 eu-west-1 ENDPOINTPW PROXYPW ENVTOKEN99");
        assert_eq!(out, "*** eu-west-1 *** *** ***");
        let key = r#"{"private_key":"-----BEGIN PRIVATE KEY-----\nKEYBODY\n-----END PRIVATE KEY-----\n","client_email":"x@y"}"#;
        let red = Redactor::from_options_and_env(
            &[("google_service_account_key".to_string(), key.to_string())],
            |_| None,
        );
        assert!(!red.redact("body KEYBODY").contains("KEYBODY"));
    }

    #[test]
    fn secret_option_names() {
        for k in [
            "aws_secret_access_key",
            "AWS_SESSION_TOKEN",
            "azure_storage_account_key",
            "azure_storage_sas_key",
            "google_service_account_key",
            "bearer_token",
            "client_secret",
        ] {
            assert!(is_secret_option(k), "{k}");
        }
        for k in [
            "aws_region",
            "aws_endpoint",
            "azure_storage_account_name",
            "bucket",
        ] {
            assert!(!is_secret_option(k), "{k}");
        }
    }

    /// The rules as they were first written (a straightforward copy-everything version), kept
    /// as the oracle for the trigger-skipping rules above.
    mod reference {
        use super::super::{ends_url, is_credential_param, redact_one_url, Redactor, MASK};

        /// The redactor before its rules learned to skip text without triggers: every rule
        /// copies and scans the whole text.
        pub(super) fn redact(r: &Redactor, text: &str) -> String {
            let mut out = redact_private_keys(text);
            out = redact_urls(&out);
            for s in &r.secrets {
                if out.contains(s.as_str()) {
                    out = out.replace(s.as_str(), MASK);
                }
            }
            out
        }

        /// User-info and credential query values of every `scheme://` URL in `text`.
        fn redact_urls(text: &str) -> String {
            let mut out = String::with_capacity(text.len());
            let mut rest = text;
            while let Some(i) = rest.find("://") {
                let (before, after) = rest.split_at(i + 3);
                out.push_str(before);
                let end = after.find(ends_url).unwrap_or(after.len());
                let (url, tail) = after.split_at(end);
                out.push_str(&redact_one_url(url));
                rest = tail;
            }
            out.push_str(rest);
            redact_query_like(&out)
        }

        /// `?name=value` and `&name=value` pairs anywhere in `text` whose name carries credentials:
        /// the value is masked. (Query strings also appear without their URL, e.g. a SAS token passed
        /// on its own.)
        fn redact_query_like(text: &str) -> String {
            let mut out = String::with_capacity(text.len());
            let chars: Vec<char> = text.chars().collect();
            let mut i = 0;
            while i < chars.len() {
                let c = chars[i];
                out.push(c);
                i += 1;
                // A parameter starts after `?` or `&`, or at the very start of a bare SAS token.
                let starts = matches!(c, '?' | '&');
                if !starts {
                    continue;
                }
                let name_start = i;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric() || matches!(chars[i], '-' | '_' | '.'))
                {
                    i += 1;
                }
                let name: String = chars[name_start..i].iter().collect();
                out.push_str(&name);
                if i < chars.len() && chars[i] == '=' && is_credential_param(&name) {
                    out.push('=');
                    i += 1;
                    let mut masked = false;
                    while i < chars.len()
                        && chars[i] != '&'
                        && chars[i] != '#'
                        && !ends_url(chars[i])
                    {
                        i += 1;
                        masked = true;
                    }
                    if masked {
                        out.push_str(MASK);
                    }
                }
            }
            // A bare SAS token (`sv=…&sig=…`) has no `?`: mask its first pair too.
            if let Some(rest) = out.strip_prefix("sv=") {
                let end = rest.find(['&', ' ']).unwrap_or(rest.len());
                return format!("sv={MASK}{}", &rest[end..]);
            }
            out
        }

        /// PEM private-key blocks, and the value of a JSON `"private_key"` field.
        fn redact_private_keys(text: &str) -> String {
            let mut out = text.to_string();
            while let Some(start) = out.find("-----BEGIN") {
                let Some(rel) = out[start..].find("PRIVATE KEY-----") else {
                    break;
                };
                let after_begin = start + rel + "PRIVATE KEY-----".len();
                let end = match out[after_begin..].find("-----END") {
                    Some(e) => {
                        let e = after_begin + e;
                        out[e..]
                            .find("PRIVATE KEY-----")
                            .map_or(out.len(), |k| e + k + "PRIVATE KEY-----".len())
                    }
                    None => out.len(),
                };
                out.replace_range(start..end, MASK);
            }
            for field in ["\"private_key\"", "\"private_key_id\"", "\"client_secret\""] {
                let mut from = 0;
                while let Some(rel) = out[from..].find(field) {
                    let k = from + rel + field.len();
                    let Some(q1) = out[k..].find('"').map(|q| k + q + 1) else {
                        break;
                    };
                    // Only `"field": "value"`: a colon and spaces before the opening quote.
                    if !out[k..q1 - 1].trim().eq(":") {
                        from = k;
                        continue;
                    }
                    let mut j = q1;
                    let bytes = out.as_bytes();
                    while j < bytes.len() && bytes[j] != b'"' {
                        j += if bytes[j] == b'\\' { 2 } else { 1 };
                    }
                    let j = j.min(out.len());
                    out.replace_range(q1..j, MASK);
                    from = q1 + MASK.len();
                }
            }
            out
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        /// Texts built from the pieces every rule looks for (and plain text, multi-byte
        /// characters and Unicode spaces between them) redact exactly as the reference does.
        #[test]
        fn redaction_equals_the_reference_rules(
            pieces in proptest::collection::vec(proptest::sample::select(vec![
                "plain path/dt=1/bucket-0/data-1.parquet", " ", "\u{a0}", "é", "\n", "\"",
                "?", "&", "#", "=", "sig", "sv=", "X-Amz-Signature", "token", "other", "1",
                "https://", "s3://", "://", "user:pa55word@", "@", "/", "host",
                "-----BEGIN ", "PRIVATE KEY-----", "-----END ", "\"private_key\"", ": ",
                "\"private_key_id\"", "\"client_secret\"", "\\", "SECRETVALUE", "SECRET%2FV",
            ]), 0..24),
        ) {
            let text: String = pieces.concat();
            let r = Redactor::new(["SECRETVALUE".to_string(), "SECRET/V".to_string()]);
            proptest::prop_assert_eq!(r.redact(&text), reference::redact(&r, &text));
            let plain = Redactor::default();
            proptest::prop_assert_eq!(plain.redact(&text), reference::redact(&plain, &text));
        }
    }
}
