"""A scripted MCP agent for Portcullis tests, on whichever Python SDK the venv holds.

    python agent.py --url URL [--token T] [--mode auto|legacy|2026-07-28] [--transport streamable|sse] PLAN_JSON
    python agent.py --stdio [--mode ...] PLAN_JSON -- COMMAND [ARGS...]

PLAN_JSON is a list of steps: {"op": "list"} | {"op": "call", "tool": NAME, "args": {...}[, "progress": true]} |
{"op": "sleep", "s": 1.5}. A call with "progress" asks for progress (the SDK's progress_callback) and reports
what arrived as "progress": [{"progress", "total", "message"}].
Prints one JSON line per step: {"op": "list", "tools": [names]} | {"op": "call", "result": {...}} |
{"op": ..., "error": {"code": int|null, "message": str}}; then {"op": "done", "protocol_version": ...}.
On the 2.x SDK, --mode picks the era (`mcp.Client(mode=...)`); the 1.x SDK always runs the session era.
--transport sse speaks the legacy HTTP+SSE transport (2024-11-05; the SDK's `sse_client`) to URL (`.../sse/...`).
Exit status 0 when the plan ran (individual steps may have failed), 2 when the session could not start.
"""

import argparse
import json
import sys
from contextlib import AsyncExitStack

import anyio

try:  # mcp 2.x
    from mcp import Client as _Client2
except ImportError:  # mcp 1.x
    _Client2 = None
from mcp import StdioServerParameters
from mcp.shared._httpx_utils import create_mcp_http_client


def emit(obj: dict) -> None:
    print(json.dumps(obj), flush=True)


def error_of(exc: BaseException) -> dict:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:  # the transport's task group wraps the cause
        exc = exc.exceptions[0]
    err = getattr(exc, "error", None)  # McpError carries ErrorData
    code = getattr(err, "code", None)
    message = getattr(err, "message", None) or str(exc) or type(exc).__name__
    return {"code": code, "message": message}


class Session2:
    """2.x: mcp.Client in the chosen mode."""

    def __init__(self, client):
        self.client = client

    async def list(self):
        return [t.name for t in (await self.client.list_tools()).tools]

    async def call(self, tool, args, progress=None):
        return await self.client.call_tool(tool, args, progress_callback=progress)

    def version(self):
        return self.client.protocol_version


class Session1:
    """1.x: ClientSession after initialize."""

    def __init__(self, session, init):
        self.session, self.init = session, init

    async def list(self):
        return [t.name for t in (await self.session.list_tools()).tools]

    async def call(self, tool, args, progress=None):
        return await self.session.call_tool(tool, args, progress_callback=progress)

    def version(self):
        return self.init.protocolVersion


async def open_session(stack: AsyncExitStack, args):
    headers = {"Authorization": f"Bearer {args.token}"} if args.token else None
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if _Client2 is not None:
        from mcp.client.streamable_http import streamable_http_client

        if args.stdio:
            target = StdioServerParameters(command=command[0], args=command[1:])
        elif args.transport == "sse":
            from mcp.client.sse import sse_client

            target = sse_client(args.url, headers=headers)
        else:
            http = await stack.enter_async_context(create_mcp_http_client(headers=headers))
            target = streamable_http_client(args.url, http_client=http)
        client = await stack.enter_async_context(_Client2(target, mode=args.mode))
        return Session2(client)
    from mcp import ClientSession
    from mcp.client.stdio import stdio_client
    from mcp.client.streamable_http import streamable_http_client

    if args.stdio:
        read, write = await stack.enter_async_context(
            stdio_client(StdioServerParameters(command=command[0], args=command[1:])))
    elif args.transport == "sse":
        from mcp.client.sse import sse_client

        read, write = await stack.enter_async_context(sse_client(args.url, headers=headers))
    else:
        http = await stack.enter_async_context(create_mcp_http_client(headers=headers))
        read, write, _ = await stack.enter_async_context(streamable_http_client(args.url, http_client=http))
    session = await stack.enter_async_context(ClientSession(read, write))
    return Session1(session, await session.initialize())


async def run(args) -> int:
    plan = json.loads(args.plan)
    with anyio.fail_after(args.timeout):
        async with AsyncExitStack() as stack:
            try:
                session = await open_session(stack, args)
            except BaseException as exc:  # noqa: BLE001 - report whatever stopped the session
                emit({"op": "open", "error": error_of(exc)})
                return 2
            for step in plan:
                op = step["op"]
                try:
                    if op == "list":
                        emit({"op": op, "tools": await session.list()})
                    elif op == "call":
                        seen = []

                        async def progress(value, total, message):
                            seen.append({"progress": value, "total": total, "message": message})

                        wants = progress if step.get("progress") else None
                        result = await session.call(step["tool"], step.get("args", {}), wants)
                        line = {"op": op, "result": result.model_dump(mode="json", by_alias=True, exclude_none=True)}
                        if wants:
                            line["progress"] = seen
                        emit(line)
                    elif op == "sleep":
                        await anyio.sleep(step["s"])
                        emit({"op": op})
                    else:
                        emit({"op": op, "error": {"code": None, "message": "unknown op"}})
                except Exception as exc:  # noqa: BLE001 - a failed step is data for the test
                    emit({"op": op, "error": error_of(exc)})
            emit({"op": "done", "protocol_version": session.version()})
    return 0


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--url")
    p.add_argument("--stdio", action="store_true")
    p.add_argument("--token")
    p.add_argument("--mode", default="auto")
    p.add_argument("--transport", choices=["streamable", "sse"], default="streamable")
    p.add_argument("--timeout", type=float, default=60)
    p.add_argument("plan")
    p.add_argument("command", nargs=argparse.REMAINDER)
    args = p.parse_args()
    if not args.stdio and not args.url:
        p.error("need --url or --stdio")
    try:
        code = anyio.run(run, args)
    except BaseException as exc:  # noqa: BLE001 - e.g. a 401 surfacing from the transport's task group
        emit({"op": "fatal", "error": error_of(exc)})
        code = 2
    sys.exit(code)


if __name__ == "__main__":
    main()
