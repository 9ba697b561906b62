//! The deployment files under `cluster/` stay usable: the YAML is well-formed, and every node config
//! they embed loads with the node's own config parser (with the files it names next to it).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

use std::path::{Path, PathBuf};

use serde_yaml_ng::Value;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo(path)).unwrap_or_else(|error| panic!("{path}: {error}"))
}

/// Every document of a YAML file.
fn documents(path: &str) -> Vec<Value> {
    let text = read(path);
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|document| {
            serde::Deserialize::deserialize(document).unwrap_or_else(|error| panic!("{path}: {error}"))
        })
        .collect()
}

/// Loads `config` from a scratch directory holding `files` (name, text) beside it.
fn loads(what: &str, config: &str, files: &[(&str, &str)]) -> portcullis_gateway::config::LoadedConfig {
    let dir = std::env::temp_dir().join(format!("portcullis-deploy-{}-{what}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("portcullis.toml"), config).unwrap();
    let loaded = portcullis_gateway::config::load_file(&dir.join("portcullis.toml"))
        .unwrap_or_else(|error| panic!("{what}: {error}"));
    let _ = std::fs::remove_dir_all(&dir);
    loaded
}

#[test]
fn the_compose_file_is_yaml_and_its_config_loads() {
    let compose = documents("cluster/compose/compose.yaml");
    assert_eq!(compose.len(), 1);
    let services = compose[0]["services"].as_mapping().expect("services");
    assert_eq!(services.len(), 3);
    for (name, service) in services {
        let command: Vec<&str> = service["command"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|arg| arg.as_str().unwrap())
            .collect();
        assert_eq!(command[0], "serve", "{name:?}");
        assert!(
            command.contains(&"--init") || command.contains(&"--join"),
            "{name:?}"
        );
    }
    let policy = read("examples/policies/demo.yaml");
    let loaded = loads(
        "compose",
        &read("cluster/compose/portcullis.toml"),
        &[("policies/demo.yaml", &policy)],
    );
    assert!(loaded.state.servers.contains_key("demo"));
}

#[test]
fn the_kubernetes_manifests_are_yaml_and_the_config_map_loads() {
    let manifests = documents("cluster/k8s/portcullis.yaml");
    let kinds: Vec<&str> = manifests
        .iter()
        .map(|doc| doc["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "ConfigMap",
            "Service",
            "Service",
            "StatefulSet",
            "PodDisruptionBudget"
        ]
    );
    let data = &manifests[0]["data"];
    let policy = data["demo.yaml"].as_str().unwrap();
    let loaded = loads(
        "k8s",
        data["portcullis.toml"].as_str().unwrap(),
        &[("demo.yaml", policy)],
    );
    assert!(loaded.state.servers.contains_key("demo"));
    // The headless Service the peer names hang off is the StatefulSet's.
    assert_eq!(
        manifests[3]["spec"]["serviceName"],
        manifests[1]["metadata"]["name"]
    );
    assert_eq!(manifests[1]["spec"]["clusterIP"], "None");
}

#[test]
fn the_systemd_unit_runs_the_annotated_config() {
    let unit = read("cluster/systemd/portcullis.service");
    assert!(unit.contains("ExecStart=/usr/local/bin/portcullis serve --config"));
    let env = read("cluster/systemd/portcullis.env");
    for key in [
        "PORTCULLIS_NODE_ID=",
        "PORTCULLIS_RAFT_ADDR=",
        "PORTCULLIS_MEMBERSHIP=",
    ] {
        assert!(env.contains(key), "{key}");
        assert!(unit.contains(key.trim_end_matches('=')), "{key}");
    }
    portcullis_gateway::config::load_file(&repo("cluster/config/portcullis.toml")).unwrap();
}
