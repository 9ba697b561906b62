//! A server's upstream as the store keeps it: the config file's `upstream = { type = ... }` table as
//! JSON, with paths already resolved against the config file that introduced it.

use anyhow::{Context as _, bail};
use portcullis_gateway::config::UpstreamSection;
use portcullis_gateway::state::UpstreamSpec;
use serde::Deserialize;
use serde_json::Value;

/// The JSON form of an upstream: the config file's table.
pub fn to_json(spec: &UpstreamSpec) -> Value {
    let section = match spec.clone() {
        UpstreamSpec::Stdio {
            command,
            args,
            env,
            cwd,
        } => UpstreamSection::Stdio {
            command,
            args,
            env,
            cwd,
        },
        UpstreamSpec::Http { url } => UpstreamSection::Http { url },
        UpstreamSpec::Sse { url } => UpstreamSection::Sse { url },
    };
    // Paths, strings and maps: nothing here can fail to serialize.
    serde_json::to_value(section).unwrap_or(Value::Null)
}

/// Reads an upstream back, with the config loader's rules.
///
/// # Errors
/// When the JSON is not an upstream the gateway understands.
pub fn from_json(value: &Value) -> anyhow::Result<UpstreamSpec> {
    let section = UpstreamSection::deserialize(value).context("not an upstream the gateway understands")?;
    Ok(match section {
        UpstreamSection::Stdio {
            command,
            args,
            env,
            cwd,
        } => UpstreamSpec::Stdio {
            command,
            args,
            env,
            cwd,
        },
        UpstreamSection::Http { url } => UpstreamSpec::Http { url: http_url(url)? },
        UpstreamSection::Sse { url } => UpstreamSpec::Sse { url: http_url(url)? },
    })
}

fn http_url(url: String) -> anyhow::Result<String> {
    if !url.starts_with("http://") {
        bail!("upstream url {url:?} must start with http://");
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    use serde_json::json;

    use super::*;

    #[test]
    fn upstreams_round_trip_and_bad_ones_are_refused() {
        let stdio = UpstreamSpec::Stdio {
            command: PathBuf::from("portcullis"),
            args: vec!["demo-server".to_owned()],
            env: BTreeMap::from([("A".to_owned(), "1".to_owned())]),
            cwd: Some(PathBuf::from("work")),
        };
        assert_eq!(from_json(&to_json(&stdio)).unwrap(), stdio);
        let http = UpstreamSpec::Http {
            url: "http://127.0.0.1:1/mcp".to_owned(),
        };
        assert_eq!(from_json(&to_json(&http)).unwrap(), http);
        let sse = UpstreamSpec::Sse {
            url: "http://127.0.0.1:1/sse".to_owned(),
        };
        assert_eq!(from_json(&to_json(&sse)).unwrap(), sse);
        assert!(from_json(&json!({"type": "sse", "url": "ftp://x"})).is_err());
        assert!(from_json(&json!({"type": "http", "url": "ftp://x"})).is_err());
        assert!(from_json(&json!({"type": "carrier-pigeon"})).is_err());
    }
}
