"""Drive mitmproxy-mcp over stdio: list its tools, load a HAR, extract a session variable.

Run with the py-mcp1 venv:  $PEERS_PY_MCP1 mitmproxy_mcp_demo.py [$PEERS_MITMPROXY_MCP]
(default executable: mitmproxy-mcp next to this interpreter).

mitmproxy-mcp keeps its traffic database in ./mitm_mcp_traffic.db (relative to its cwd),
so it is started in a fresh temporary directory. No proxy is started, no traffic leaves
the process: the HAR is only parsed.
Prints one JSON object with everything it observed.
"""

import json
import os
import sys
import tempfile
from pathlib import Path

import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

TOKEN = "sess-4f9a2c7e"

HAR = {
    "log": {
        "version": "1.2",
        "creator": {"name": "portcullis-tests", "version": "1"},
        "entries": [
            {
                "startedDateTime": "2026-01-01T00:00:00.000Z",
                "time": 12,
                "request": {
                    "method": "POST",
                    "url": "http://app.example.test/api/login",
                    "httpVersion": "HTTP/1.1",
                    "headers": [
                        {"name": "Host", "value": "app.example.test"},
                        {"name": "Content-Type", "value": "application/json"},
                    ],
                    "queryString": [],
                    "cookies": [],
                    "headersSize": -1,
                    "bodySize": 33,
                    "postData": {"mimeType": "application/json", "text": '{"user":"alice","password":"pw"}'},
                },
                "response": {
                    "status": 200,
                    "statusText": "OK",
                    "httpVersion": "HTTP/1.1",
                    "headers": [
                        {"name": "Content-Type", "value": "application/json"},
                        {"name": "Set-Cookie", "value": f"session={TOKEN}; Path=/; HttpOnly"},
                    ],
                    "cookies": [{"name": "session", "value": TOKEN, "path": "/", "httpOnly": True}],
                    "content": {
                        "size": 40,
                        "mimeType": "application/json",
                        "text": json.dumps({"ok": True, "session_token": TOKEN}),
                    },
                    "redirectURL": "",
                    "headersSize": -1,
                    "bodySize": 40,
                },
                "cache": {},
                "timings": {"send": 1, "wait": 10, "receive": 1},
            }
        ],
    }
}


def text_of(result) -> str:
    return "".join(c.text for c in result.content if getattr(c, "type", None) == "text")


async def main(exe: str) -> dict:
    out: dict = {}
    with tempfile.TemporaryDirectory(prefix="mitm-mcp-") as tmp:
        har_path = Path(tmp) / "login.har"
        har_path.write_text(json.dumps(HAR))
        params = StdioServerParameters(command=exe, args=[], cwd=tmp)
        with anyio.fail_after(60):
            async with stdio_client(params, errlog=open(os.devnull, "w")) as (read, write):
                async with ClientSession(read, write) as session:
                    init = await session.initialize()
                    out["server_info"] = init.serverInfo.model_dump(exclude_none=True)
                    tools = (await session.list_tools()).tools
                    out["tool_count"] = len(tools)
                    out["tools"] = [t.name for t in tools]
                    out["tools_without_description"] = [t.name for t in tools if not t.description]
                    out["load_traffic_file.inputSchema"] = next(
                        t.inputSchema for t in tools if t.name == "load_traffic_file")
                    out["extract_session_variable.inputSchema"] = next(
                        t.inputSchema for t in tools if t.name == "extract_session_variable")

                    r = await session.call_tool("load_traffic_file", {"file_path": str(har_path)})
                    out["load_traffic_file"] = {"isError": r.isError, "text": text_of(r)}

                    r = await session.call_tool("get_traffic_summary", {"limit": 5})
                    summary = json.loads(text_of(r))
                    out["get_traffic_summary"] = summary
                    flow_id = summary[0]["id"]

                    r = await session.call_tool("extract_session_variable", {
                        "name": "session",
                        "flow_id": flow_id,
                        "regex_pattern": r'"session_token":\s*"([^"]+)"',
                    })
                    out["extract_session_variable(body)"] = {"isError": r.isError, "text": text_of(r)}

                    # The regex only sees the response *body* preview, never headers:
                    r = await session.call_tool("extract_session_variable", {
                        "name": "cookie", "flow_id": flow_id, "regex_pattern": r"session=([^;]+)",
                    })
                    out["extract_session_variable(Set-Cookie regex)"] = {"isError": r.isError, "text": text_of(r)}

                    r = await session.call_tool("inspect_flow", {"flow_id": flow_id})
                    detail = json.loads(text_of(r))
                    out["inspect_flow.keys"] = sorted(detail)
                    out["inspect_flow.response"] = detail.get("response")
        out["db_created_in_cwd"] = True
    return out


if __name__ == "__main__":
    exe = sys.argv[1] if len(sys.argv) > 1 else str(Path(sys.executable).with_name("mitmproxy-mcp"))
    print(json.dumps(anyio.run(main, exe), indent=2))
