"""A stdio MCP server that speaks only protocol 2026-07-28 and asks its client through multi
round-trip requests. No SDK server is modern-only (the 2.x one also takes `initialize`), so this
fixture speaks the wire format itself, one JSON message per line.

Run with any Python 3:
    python modern_asking_server.py

`initialize` is refused, `server/discover` answered, and every other request must carry
`_meta["io.modelcontextprotocol/protocolVersion"] == "2026-07-28"`. Tool `confirm(path)` answers with
an `InputRequiredResult` (an `elicitation/create` under key "ok", request state "confirm-1"); the
retry carrying that state and an accepting answer gets "confirmed <path>".
"""

import json
import sys

VERSION = "2026-07-28"
META_VERSION = "io.modelcontextprotocol/protocolVersion"
TOOL = {
    "name": "confirm",
    "description": "Asks the user to confirm, then says what was confirmed.",
    "inputSchema": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
}
QUESTION = {
    "method": "elicitation/create",
    "params": {
        "message": "confirm?",
        "requestedSchema": {"type": "object", "properties": {"confirm": {"type": "boolean"}}},
    },
}


def result(id_, body: dict) -> dict:
    return {"jsonrpc": "2.0", "id": id_, "result": {**body, "resultType": body.get("resultType", "complete")}}


def error(id_, code: int, message: str) -> dict:
    return {"jsonrpc": "2.0", "id": id_, "error": {"code": code, "message": message}}


def confirm(id_, params: dict) -> dict:
    path = params.get("arguments", {}).get("path", "")
    answer = params.get("inputResponses", {}).get("ok")
    if params.get("requestState") == "confirm-1" and answer is not None:
        accepted = answer.get("action") == "accept" and answer.get("content", {}).get("confirm") is True
        text = f"confirmed {path}" if accepted else f"not confirmed {path}"
        return result(id_, {"content": [{"type": "text", "text": text}], "isError": False})
    return result(
        id_, {"resultType": "input_required", "inputRequests": {"ok": QUESTION}, "requestState": "confirm-1"}
    )


def respond(message: dict) -> dict | None:
    if "id" not in message or "method" not in message:
        return None
    id_, method, params = message["id"], message["method"], message.get("params") or {}
    if method == "initialize":
        return error(id_, -32601, f"method not found: this server speaks only {VERSION}")
    if method == "server/discover":
        return result(
            id_,
            {
                "supportedVersions": [VERSION],
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "modern-asking-py", "version": "1.0.0"},
            },
        )
    if params.get("_meta", {}).get(META_VERSION) != VERSION:
        return error(id_, -32022, f"unsupported protocol version: send _meta protocolVersion {VERSION}")
    if method == "tools/list":
        return result(id_, {"tools": [TOOL]})
    if method == "tools/call" and params.get("name") == "confirm":
        return confirm(id_, params)
    return error(id_, -32601, f"method not found: {method}")


def main() -> None:
    for line in sys.stdin:
        try:
            message = json.loads(line)
        except json.JSONDecodeError:
            continue
        reply = respond(message)
        if reply is not None:
            sys.stdout.write(json.dumps(reply) + "\n")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
