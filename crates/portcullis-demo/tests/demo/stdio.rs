//! The stdio transport over an in-process duplex pipe.

use portcullis_demo::{DemoConfig, DemoServer, serve_stdio};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, duplex};

#[tokio::test]
async fn stdio_session_list_call_and_errors() {
    // One pipe per direction, like a child's stdin and stdout: closing "stdin" ends the server.
    let (mut client_write, server_read) = duplex(64 * 1024);
    let (server_write, client_read) = duplex(64 * 1024);
    let server = DemoServer::new(DemoConfig {
        page_size: Some(5),
        ..DemoConfig::default()
    });
    let task = tokio::spawn(serve_stdio(server, BufReader::new(server_read), server_write));
    let mut lines = BufReader::new(client_read).lines();

    let mut exchange = async |line: &str| -> Value {
        client_write
            .write_all(format!("{line}\n").as_bytes())
            .await
            .unwrap();
        serde_json::from_str(&lines.next_line().await.unwrap().unwrap()).unwrap()
    };

    let init = exchange(r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#).await;
    assert_eq!(init["result"]["protocolVersion"], "2025-11-25");
    // A notification gets no reply: the next line read must answer the ping after it.
    let ping = exchange("{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n{\"jsonrpc\":\"2.0\",\"id\":\"p\",\"method\":\"ping\"}").await;
    assert_eq!(ping, json!({"jsonrpc": "2.0", "id": "p", "result": {}}));

    let first = exchange(r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#).await;
    assert_eq!(first["result"]["tools"].as_array().unwrap().len(), 5);
    let cursor = first["result"]["nextCursor"].as_str().unwrap().to_owned();
    let second = exchange(
        &json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list", "params": {"cursor": cursor}}).to_string(),
    )
    .await;
    assert_eq!(second["result"]["tools"].as_array().unwrap().len(), 4);
    assert!(second["result"].get("nextCursor").is_none());

    let echo = exchange(r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"echo","arguments":{"text":"ok"}}}"#).await;
    assert_eq!(echo["result"]["content"][0]["text"], "ok");

    let unknown =
        exchange(r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"nope","arguments":{}}}"#)
            .await;
    assert_eq!(unknown["error"]["code"], -32602);

    let malformed = exchange(r#"{"jsonrpc":"2.0","id":6,"method""#).await;
    assert_eq!(
        (malformed["id"].clone(), malformed["error"]["code"].clone()),
        (Value::Null, json!(-32700))
    );

    let unknown_method = exchange(r#"{"jsonrpc":"2.0","id":7,"method":"resources/list"}"#).await;
    assert_eq!(unknown_method["error"]["code"], -32601);

    drop(client_write);
    task.await.unwrap().unwrap();
    assert!(
        lines.next_line().await.unwrap().is_none(),
        "server wrote past its last reply"
    );
}
