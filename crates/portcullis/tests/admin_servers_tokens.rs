//! The admin API's server and token services against a three-node cluster, through followers: an
//! upstream is validated with the gateway's own rules, a new server serves agents on every node, a
//! server in use can't be removed; admin tokens are created, identify their holder, and stop working
//! everywhere when revoked; and the `portcullis servers` / `portcullis tokens` CLIs.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod support;

use std::time::{Duration, Instant};

use portcullis_bench::{Era, McpSession, Target};
use portcullis_proto::admin::server_service_client::ServerServiceClient;
use portcullis_proto::admin::token_service_client::TokenServiceClient;
use portcullis_proto::admin::{
    CreateTokenRequest, GetServerRequest, ListServersRequest, ListTokensRequest, PutServerRequest,
    RemoveServerRequest, RevokeTokenRequest, Role, WhoAmIRequest,
};
use serde_json::{Value, json};
use support::admin::{Authed, channel};
use support::admin_cluster::{ADMIN_TOKEN, AGENT_TOKEN, Cluster, PATIENCE, VIEWER_TOKEN};
use tonic::Code;

fn servers(url: &str, token: Option<&str>) -> ServerServiceClient<Authed> {
    ServerServiceClient::new(channel(url, token))
}

fn tokens(url: &str, token: Option<&str>) -> TokenServiceClient<Authed> {
    TokenServiceClient::new(channel(url, token))
}

fn put(name: &str, upstream: &str) -> PutServerRequest {
    PutServerRequest {
        name: name.to_owned(),
        upstream_json: upstream.to_owned(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_and_tokens_through_followers() {
    let cluster = Cluster::start("admin-servers", 3);
    let follower = cluster.node(3).admin_url();
    let mut admin = servers(&follower, Some(ADMIN_TOKEN));

    // Upstreams the gateway can't run are refused before anything is proposed.
    for bad in [
        "not json",
        r#"{"type": "carrier-pigeon"}"#,
        r#"{"type": "http", "url": "ftp://example/mcp"}"#,
        r#"{"type": "http", "url": "http://127.0.0.1:1/mcp", "extra": 1}"#,
    ] {
        let refused = admin.put_server(put("x", bad)).await.unwrap_err();
        assert_eq!(refused.code(), Code::InvalidArgument, "{bad}: {refused:?}");
        assert!(refused.message().contains("upstream_json"), "{refused:?}");
    }
    let viewer = servers(&follower, Some(VIEWER_TOKEN))
        .put_server(put("x", r#"{"type": "http", "url": "http://127.0.0.1:1/mcp"}"#))
        .await
        .unwrap_err();
    assert_eq!(viewer.code(), Code::PermissionDenied);
    let update_only = PutServerRequest {
        must_exist: true,
        ..put("ghost", r#"{"type": "http", "url": "http://127.0.0.1:1/mcp"}"#)
    };
    assert_eq!(
        admin.put_server(update_only).await.unwrap_err().code(),
        Code::NotFound
    );
    assert_eq!(
        admin
            .get_server(GetServerRequest {
                name: "ghost".to_owned()
            })
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );
    assert_eq!(
        admin
            .remove_server(RemoveServerRequest {
                name: "ghost".to_owned()
            })
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );

    // A second name for the demo server (anonymous, under policy p), put through a follower, serves
    // agents on another node.
    let demo = admin
        .get_server(GetServerRequest {
            name: "demo".to_owned(),
        })
        .await
        .unwrap()
        .into_inner();
    let added = admin
        .put_server(PutServerRequest {
            anonymous_policy: "p".to_owned(),
            ..put("demo2", &demo.upstream_json)
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(added.anonymous_policy, "p");
    let target = Target {
        url: format!("http://{}/mcp/demo2", cluster.node(1).agent),
        token: None,
        era: Era::Session,
    };
    let start = Instant::now();
    let mut session = loop {
        match McpSession::open(&target).await {
            Ok(session) => break session,
            Err(error) => assert!(start.elapsed() < PATIENCE, "demo2 never served: {error}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let reply = session
        .request("tools/call", json!({"name": "echo", "arguments": {"text": "hi"}}))
        .await
        .unwrap();
    assert_eq!(reply["result"]["content"][0]["text"], "hi", "{reply}");
    let names: Vec<String> = admin
        .list_servers(ListServersRequest {})
        .await
        .unwrap()
        .into_inner()
        .servers
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names, ["demo", "demo2"]);
    let in_use = admin
        .remove_server(RemoveServerRequest {
            name: "demo".to_owned(),
        })
        .await
        .unwrap_err();
    assert_eq!(in_use.code(), Code::FailedPrecondition, "{in_use:?}");
    admin
        .remove_server(RemoveServerRequest {
            name: "demo2".to_owned(),
        })
        .await
        .unwrap();

    // Tokens: create through a follower, it identifies its holder on every node; revoke, refused.
    let mut root = tokens(&follower, Some(ADMIN_TOKEN));
    let bad_role = root
        .create_token(CreateTokenRequest {
            name: "ci".to_owned(),
            role: Role::Unspecified.into(),
        })
        .await
        .unwrap_err();
    assert_eq!(bad_role.code(), Code::InvalidArgument);
    let listing = tokens(&follower, Some(VIEWER_TOKEN))
        .list_tokens(ListTokensRequest {})
        .await
        .unwrap_err();
    assert_eq!(listing.code(), Code::PermissionDenied);
    let created = root
        .create_token(CreateTokenRequest {
            name: "ci".to_owned(),
            role: Role::Viewer.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(created.secret.starts_with("pca_"));
    let duplicate = root
        .create_token(CreateTokenRequest {
            name: "ci".to_owned(),
            role: Role::Admin.into(),
        })
        .await
        .unwrap_err();
    assert_eq!(duplicate.code(), Code::AlreadyExists);
    let mut ci = tokens(&cluster.node(1).admin_url(), Some(&created.secret));
    let start = Instant::now();
    let me = loop {
        match ci.who_am_i(WhoAmIRequest {}).await {
            Ok(me) => break me.into_inner(),
            Err(status) => assert!(start.elapsed() < PATIENCE, "{status:?}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!((me.name.as_str(), me.role()), ("ci", Role::Viewer));
    let listed = root
        .list_tokens(ListTokensRequest {})
        .await
        .unwrap()
        .into_inner()
        .tokens;
    assert!(listed.iter().any(|t| t.name == "ops-admin") && listed.iter().any(|t| t.name == "ci"));
    root.revoke_token(RevokeTokenRequest {
        name: "ci".to_owned(),
    })
    .await
    .unwrap();
    let start = Instant::now();
    loop {
        match ci.who_am_i(WhoAmIRequest {}).await {
            Err(status) if status.code() == Code::Unauthenticated => break,
            other => assert!(start.elapsed() < PATIENCE, "still admitted: {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        root.revoke_token(RevokeTokenRequest {
            name: "ghost".to_owned()
        })
        .await
        .unwrap_err()
        .code(),
        Code::NotFound
    );

    // The CLIs.
    let cli = |args: &[&str]| {
        std::process::Command::new(support::EXE)
            .args(args)
            .env("PORTCULLIS_ADMIN_ADDR", &follower)
            .env("PORTCULLIS_ADMIN_TOKEN", ADMIN_TOKEN)
            .output()
            .unwrap()
    };
    let put = cli(&[
        "servers",
        "put",
        "files",
        "--upstream",
        r#"{"type":"http","url":"http://127.0.0.1:1/mcp"}"#,
        "-o",
        "json",
    ]);
    assert!(put.status.success(), "{put:?}");
    let put: Value = serde_json::from_slice(&put.stdout).unwrap();
    assert_eq!(put["upstream"]["url"], "http://127.0.0.1:1/mcp");
    let bad = cli(&["servers", "put", "files", "--upstream", "{}"]);
    assert_eq!(bad.status.code(), Some(1), "{bad:?}");
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("invalidargument"),
        "{bad:?}"
    );
    let table = String::from_utf8(cli(&["servers", "list"]).stdout).unwrap();
    assert!(table.starts_with("NAME") && table.contains("\nfiles "), "{table}");
    let removed = cli(&["servers", "remove", "files"]);
    assert!(removed.status.success(), "{removed:?}");
    let made = cli(&["tokens", "create", "robot", "--role", "approver", "-o", "json"]);
    assert!(made.status.success(), "{made:?}");
    let made: Value = serde_json::from_slice(&made.stdout).unwrap();
    assert_eq!(made["token"]["role"], "approver");
    let whoami = std::process::Command::new(support::EXE)
        .args(["tokens", "whoami", "-o", "json", "--addr", &follower])
        .env("PORTCULLIS_ADMIN_TOKEN", made["secret"].as_str().unwrap())
        .output()
        .unwrap();
    let whoami: Value = serde_json::from_slice(&whoami.stdout).unwrap_or(Value::Null);
    assert_eq!(whoami["name"], "robot", "{whoami}");
    let stranger = std::process::Command::new(support::EXE)
        .args(["tokens", "whoami", "--addr", &follower, "--token", AGENT_TOKEN])
        .output()
        .unwrap();
    assert_eq!(stranger.status.code(), Some(1), "{stranger:?}");
    assert!(
        String::from_utf8_lossy(&stranger.stderr).contains("unauthenticated"),
        "{stranger:?}"
    );
    let revoked = cli(&["tokens", "revoke", "robot"]);
    assert!(revoked.status.success(), "{revoked:?}");
}
