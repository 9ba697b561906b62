"""Minimal MCP server on the Python SDK 1.x (`mcp.server.fastmcp.FastMCP`).

Run with the py-mcp1 venv ($PEERS_PY_MCP1):
    python mcp1_server.py                                      # stdio
    python mcp1_server.py --http --port 8766                   # Streamable HTTP on 127.0.0.1:8766/mcp
    python mcp1_server.py --http --port 8766 --token s3cr3t    # ... requiring "Authorization: Bearer s3cr3t"
    python mcp1_server.py --sse --port 8766                    # legacy HTTP+SSE (2024-11-05) on 127.0.0.1:8766/sse

Legacy era only (initialize handshake, protocol 2025-11-25, Mcp-Session-Id).
Prints "READY <url>" on stderr once listening.
"""

import argparse
import sys

from mcp.server.fastmcp import Context, FastMCP


def build(host: str, port: int, json_response: bool) -> FastMCP:
    # host/port are constructor settings in 1.x; host=127.0.0.1 also turns on
    # DNS-rebinding protection (Host must be 127.0.0.1:*/localhost:*/[::1]:*).
    mcp = FastMCP("portcullis-example-py1", host=host, port=port, json_response=json_response)

    @mcp.tool()
    def add(a: int, b: int) -> str:
        """Add two integers and return the sum as text."""
        return str(a + b)

    @mcp.tool()
    def fail(message: str = "boom") -> str:
        """Always fails: the result comes back with isError=true."""
        raise ValueError(message)

    @mcp.tool()
    def whoami(ctx: Context) -> str:
        """Report the Authorization header the server saw (HTTP only)."""
        request = ctx.request_context.request
        return request.headers.get("authorization", "<no authorization header>") if request else "<stdio>"

    return mcp


def bearer_guard(app, token: str):
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
    p.add_argument("--http", action="store_true")
    p.add_argument("--sse", action="store_true", help="serve the legacy HTTP+SSE transport instead")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8766)
    p.add_argument("--token")
    p.add_argument("--json-response", action="store_true")
    args = p.parse_args()
    mcp = build(args.host, args.port, args.json_response)
    if not args.http and not args.sse:
        mcp.run()  # stdio
        return
    # Without the READY line and the token guard this is just: mcp.run("streamable-http") (or "sse")
    import anyio
    import uvicorn

    app = mcp.sse_app() if args.sse else mcp.streamable_http_app()
    path = "/sse" if args.sse else "/mcp"
    if args.token:
        app = bearer_guard(app, args.token)
    userver = uvicorn.Server(uvicorn.Config(app, host=args.host, port=args.port, log_level="warning"))

    async def serve() -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(userver.serve)
            with anyio.fail_after(30):
                while not userver.started:
                    await anyio.sleep(0.05)
            print(f"READY http://{args.host}:{args.port}{path}", file=sys.stderr, flush=True)

    anyio.run(serve)


if __name__ == "__main__":
    main()
