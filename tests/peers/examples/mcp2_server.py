"""Minimal MCP server on the Python SDK 2.x (`mcp.server.mcpserver.MCPServer`).

Run with the py-mcp2 venv ($PEERS_PY_MCP2):
    python mcp2_server.py                                  # stdio
    python mcp2_server.py --http --port 8765               # Streamable HTTP on 127.0.0.1:8765/mcp
    python mcp2_server.py --http --port 8765 --token s3cr3t  # ... and require "Authorization: Bearer s3cr3t"

The HTTP endpoint speaks both eras: the 2026-07-28 stateless per-request envelope
(`server/discover`, no session) and the legacy `initialize` handshake with
`Mcp-Session-Id`. It prints "READY <url>" on stderr once listening.
"""

import argparse
import sys

from mcp.server.mcpserver import Context, MCPServer

server = MCPServer("portcullis-example-py2", version="0.1.0")


@server.tool()
def add(a: int, b: int) -> str:
    """Add two integers and return the sum as text."""
    return str(a + b)


@server.tool()
def fail(message: str = "boom") -> str:
    """Always fails: the result comes back with isError=true."""
    raise ValueError(message)


@server.tool()
def whoami(ctx: Context) -> str:
    """Report the Authorization header the server saw (HTTP only)."""
    headers = ctx.headers or {}
    return headers.get("authorization", "<no authorization header>")


def bearer_guard(app, token: str):
    """Plain ASGI middleware: 401 unless `Authorization: Bearer <token>`."""
    expected = f"Bearer {token}".encode()

    async def guarded(scope, receive, send):
        if scope["type"] == "http" and dict(scope["headers"]).get(b"authorization") != expected:
            await send({"type": "http.response.start", "status": 401,
                        "headers": [(b"content-type", b"text/plain"), (b"www-authenticate", b"Bearer")]})
            await send({"type": "http.response.body", "body": b"unauthorized"})
            return
        await app(scope, receive, send)

    return guarded


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--http", action="store_true", help="serve Streamable HTTP instead of stdio")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--token", help="require this bearer token (HTTP only)")
    p.add_argument("--json-response", action="store_true", help="answer POSTs with JSON instead of SSE")
    args = p.parse_args()

    if not args.http:
        server.run()  # stdio
        return

    import anyio
    import uvicorn

    # streamable_http_app() turns DNS-rebinding protection on for 127.0.0.1/localhost/::1 binds:
    # Host must be 127.0.0.1:*, localhost:* or [::1]:* (else HTTP 421), Origin (if sent)
    # http://127.0.0.1:* etc. (else 403).
    app = server.streamable_http_app(host=args.host, json_response=args.json_response)
    if args.token:
        app = bearer_guard(app, args.token)
    userver = uvicorn.Server(uvicorn.Config(app, host=args.host, port=args.port, log_level="warning"))

    async def serve() -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(userver.serve)
            with anyio.fail_after(30):
                while not userver.started:
                    await anyio.sleep(0.05)
            print(f"READY http://{args.host}:{args.port}/mcp", file=sys.stderr, flush=True)

    anyio.run(serve)


if __name__ == "__main__":
    main()
