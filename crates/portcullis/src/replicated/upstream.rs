//! A server's upstream as the store keeps it: the config file's `upstream = { type = ... }` table as
//! JSON, with paths already resolved against the config file that introduced it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use portcullis_gateway::state::UpstreamSpec;
use serde::Deserialize;
use serde_json::{Value, json};

/// The JSON form, mirroring the config file's table (the gateway keeps that type private).
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum Stored {
    Stdio {
        command: PathBuf,
        #[serde(default)]
        args: Vec<String>,
        #[serde(default)]
        env: BTreeMap<String, String>,
        cwd: Option<PathBuf>,
    },
    Http {
        url: String,
    },
}

/// The JSON form of an upstream.
pub fn to_json(spec: &UpstreamSpec) -> Value {
    match spec {
        UpstreamSpec::Stdio {
            command,
            args,
            env,
            cwd,
        } => {
            let mut out = json!({
                "type": "stdio",
                "command": command.to_string_lossy(),
                "args": args,
                "env": env,
            });
            if let (Some(cwd), Some(object)) = (cwd, out.as_object_mut()) {
                object.insert("cwd".to_owned(), Value::from(cwd.to_string_lossy()));
            }
            out
        }
        UpstreamSpec::Http { url } => json!({"type": "http", "url": url}),
    }
}

/// Reads an upstream back, with the config loader's rules.
///
/// # Errors
/// When the JSON is not an upstream the gateway understands.
pub fn from_json(value: &Value) -> anyhow::Result<UpstreamSpec> {
    let stored = Stored::deserialize(value).context("not an upstream the gateway understands")?;
    Ok(match stored {
        Stored::Stdio {
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
        Stored::Http { url } => {
            if !url.starts_with("http://") {
                bail!("upstream url {url:?} must start with http://");
            }
            UpstreamSpec::Http { url }
        }
    })
}

#[cfg(test)]
mod tests {
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
        assert!(from_json(&json!({"type": "http", "url": "ftp://x"})).is_err());
        assert!(from_json(&json!({"type": "carrier-pigeon"})).is_err());
    }
}
