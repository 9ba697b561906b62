"""Minimal MCP client on the Python SDK 1.x (ClientSession + Streamable HTTP / stdio).

Run with the py-mcp1 venv ($PEERS_PY_MCP1):
    python mcp1_client.py --url http://127.0.0.1:8766/mcp [--token T] [--deprecated-headers]
    python mcp1_client.py --stdio -- COMMAND [ARGS...]
    options: --tool NAME --args JSON   (default: add {"a": 2, "b": 3})
             --sampling   answer the server's sampling requests with "sampled <prompt>"

Prints one JSON object: {"protocol_version", "server_info", "tools", "result"}.
"""

import argparse
import json
from contextlib import AsyncExitStack

import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client, streamablehttp_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.types import CreateMessageResult, TextContent


async def sampled(context, params) -> CreateMessageResult:
    prompt = params.messages[0].content.text
    return CreateMessageResult(role="assistant", content=TextContent(type="text", text=f"sampled {prompt}"), model="test")


async def run(args: argparse.Namespace) -> dict:
    headers = {"Authorization": f"Bearer {args.token}"} if args.token else None
    async with AsyncExitStack() as stack:
        if args.stdio:
            cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
            read, write = await stack.enter_async_context(
                stdio_client(StdioServerParameters(command=cmd[0], args=cmd[1:])))
        elif args.deprecated_headers:
            # Older style, still works in 1.30 (DeprecationWarning): headers= on the transport.
            read, write, _get_session_id = await stack.enter_async_context(
                streamablehttp_client(args.url, headers=headers))
        else:
            # 1.2x+ style: headers live on an httpx.AsyncClient that the caller owns.
            http = await stack.enter_async_context(create_mcp_http_client(headers=headers))
            read, write, _get_session_id = await stack.enter_async_context(
                streamable_http_client(args.url, http_client=http))
        callback = sampled if args.sampling else None
        session = await stack.enter_async_context(ClientSession(read, write, sampling_callback=callback))
        init = await session.initialize()
        tools = await session.list_tools()
        result = await session.call_tool(args.tool, json.loads(args.args))
        return {
            "protocol_version": init.protocolVersion,
            "server_info": init.serverInfo.model_dump(mode="json", exclude_none=True),
            "tools": [t.name for t in tools.tools],
            "result": result.model_dump(mode="json", by_alias=True, exclude_none=True),
        }


async def main_async(args):
    with anyio.fail_after(args.timeout):
        return await run(args)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--url")
    p.add_argument("--stdio", action="store_true")
    p.add_argument("--token")
    p.add_argument("--deprecated-headers", action="store_true")
    p.add_argument("--sampling", action="store_true")
    p.add_argument("--tool", default="add")
    p.add_argument("--args", default='{"a": 2, "b": 3}')
    p.add_argument("--timeout", type=float, default=30)
    p.add_argument("command", nargs=argparse.REMAINDER)
    args = p.parse_args()
    if not args.stdio and not args.url:
        p.error("need --url or --stdio -- COMMAND")
    print(json.dumps(anyio.run(main_async, args)))


if __name__ == "__main__":
    main()
