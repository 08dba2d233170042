//! Jackson's default pretty printer, so that JSON we write looks like Java Paimon's.
//!
//! Java writes `{\n  "key" : value,\n  …\n}` with two-space indentation, `" : "` between key and
//! value, arrays inline as `[ 1, 2 ]`, and empty containers as `{ }` / `[ ]`. Readers do not
//! care, but byte-for-byte similar files make diffs against Java-written tables meaningful.

use serde_json::Value;

/// Render a JSON value the way Jackson's `DefaultPrettyPrinter` does.
pub fn to_pretty_string(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value, 0);
    out
}

fn write_value(out: &mut String, value: &Value, depth: usize) {
    match value {
        Value::Object(map) if map.is_empty() => out.push_str("{ }"),
        Value::Object(map) => {
            out.push_str("{\n");
            let mut first = true;
            for (key, v) in map {
                if !first {
                    out.push_str(",\n");
                }
                first = false;
                indent(out, depth + 1);
                out.push_str(&Value::String(key.clone()).to_string());
                out.push_str(" : ");
                write_value(out, v, depth + 1);
            }
            out.push('\n');
            indent(out, depth);
            out.push('}');
        }
        Value::Array(items) if items.is_empty() => out.push_str("[ ]"),
        Value::Array(items) => {
            out.push_str("[ ");
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_value(out, v, depth + 1);
            }
            out.push_str(" ]");
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

fn indent(out: &mut String, depth: usize) {
    for _ in 0..depth {
        out.push_str("  ");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_jackson_layout() {
        let v: Value = serde_json::from_str(
            r#"{"version":3,"id":1,"logOffsets":{},"changelogManifestList":null,
                "tagCreateTime":[2024,1,2,10,30],"nested":{"a":[]}}"#,
        )
        .unwrap_or_default();
        let want = "{\n  \"version\" : 3,\n  \"id\" : 1,\n  \"logOffsets\" : { },\n  \
                    \"changelogManifestList\" : null,\n  \"tagCreateTime\" : [ 2024, 1, 2, 10, 30 ],\n  \
                    \"nested\" : {\n    \"a\" : [ ]\n  }\n}";
        assert_eq!(to_pretty_string(&v), want);
    }
}
