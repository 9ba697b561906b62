"""Minimal MCP client on the Python SDK 2.x (`mcp.Client`).

Run with the py-mcp2 venv ($PEERS_PY_MCP2):
    python mcp2_client.py --url http://127.0.0.1:8765/mcp [--mode auto|legacy|2026-07-28] [--token T]
    python mcp2_client.py --stdio -- COMMAND [ARGS...]          # spawn a stdio server
    options: --tool NAME --args JSON   (default: add {"a": 2, "b": 3})

Prints one JSON object on stdout:
    {"protocol_version": ..., "server_info": ..., "tools": [...], "result": {...}}
Exit status 0 even when the tool result has isError=true (that is a result, not a failure).

mode (mcp.Client(..., mode=...)):
  "auto"       (default) POST server/discover at 2026-07-28; any MCP error -> falls back to
               the legacy initialize handshake (2025-11-25).
  "legacy"     initialize handshake only (pre-2026 behaviour, Mcp-Session-Id, ...).
  "2026-07-28" adopt the modern stateless per-request envelope directly, no probe.
"""

import argparse
import json
import sys

import anyio
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client


async def run(args: argparse.Namespace) -> dict:
    if args.stdio:
        cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
        target = StdioServerParameters(command=cmd[0], args=cmd[1:])
        http_client = None
    elif args.token:
        # Extra headers (e.g. a bearer token) go on an httpx2.AsyncClient handed to the transport.
        # The caller owns that client: enter it before the Client, close it after.
        http_client = create_mcp_http_client(headers={"Authorization": f"Bearer {args.token}"})
        target = streamable_http_client(args.url, http_client=http_client)
    else:
        target = args.url  # a plain URL string = Streamable HTTP with default headers
        http_client = None

    async def body() -> dict:
        async with Client(target, mode=args.mode) as client:
            tools = await client.list_tools()
            result = await client.call_tool(args.tool, json.loads(args.args))
            return {
                "protocol_version": client.protocol_version,
                "server_info": client.server_info.model_dump(mode="json") if client.server_info else None,
                "tools": [t.name for t in tools.tools],
                "result": result.model_dump(mode="json", by_alias=True, exclude_none=True),
            }

    with anyio.fail_after(args.timeout):
        if http_client is not None:
            async with http_client:
                return await body()
        return await body()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--url")
    p.add_argument("--stdio", action="store_true")
    p.add_argument("--mode", default="auto")
    p.add_argument("--token")
    p.add_argument("--tool", default="add")
    p.add_argument("--args", default='{"a": 2, "b": 3}')
    p.add_argument("--timeout", type=float, default=30)
    p.add_argument("command", nargs=argparse.REMAINDER)
    args = p.parse_args()
    if not args.stdio and not args.url:
        p.error("need --url or --stdio -- COMMAND")
    print(json.dumps(anyio.run(run, args)))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
