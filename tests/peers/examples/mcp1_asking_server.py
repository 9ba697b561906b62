"""An MCP server on the Python SDK 1.x (FastMCP, stdio) whose tools ask the client during a call.

Run with the py-mcp1 venv ($PEERS_PY_MCP1):
    python mcp1_asking_server.py                      # stdio
    python mcp1_asking_server.py --http --port 8767   # Streamable HTTP on 127.0.0.1:8767/mcp

Sampling goes through `ctx.session.create_message` with no related request: over Streamable HTTP the
server sends it on the client's standalone GET stream, not on the call's POST stream.

Tools: `confirm_delete(path)` elicits a yes/no, `summarize(text)` asks the client to sample,
`review(text)` does both (two questions in one call), `wipe()` asks nothing (tests deny it).
"""

import argparse

from mcp.server.fastmcp import Context, FastMCP
from mcp.types import SamplingMessage, TextContent
from pydantic import BaseModel


class Confirm(BaseModel):
    confirm: bool


mcp = FastMCP("portcullis-asking-py1")


async def ask_confirm(ctx: Context, question: str) -> str:
    answer = await ctx.elicit(message=question, schema=Confirm)
    if answer.action == "accept" and answer.data.confirm:
        return "yes"
    return f"no ({answer.action})"


async def ask_sample(ctx: Context, prompt: str) -> str:
    message = SamplingMessage(role="user", content=TextContent(type="text", text=prompt))
    result = await ctx.session.create_message(messages=[message], max_tokens=20)
    return result.content.text if isinstance(result.content, TextContent) else str(result.content)


@mcp.tool()
async def confirm_delete(path: str, ctx: Context) -> str:
    """Deletes `path` once the user confirms."""
    return f"delete {path}: {await ask_confirm(ctx, f'delete {path}?')}"


@mcp.tool()
async def summarize(text: str, ctx: Context) -> str:
    """Summarizes `text` with the client's model."""
    return f"summary: {await ask_sample(ctx, f'summarize: {text}')}"


@mcp.tool()
async def review(text: str, ctx: Context) -> str:
    """Asks to confirm, then samples: two questions in one call."""
    confirmed = await ask_confirm(ctx, f"review {text}?")
    sampled = await ask_sample(ctx, f"review: {text}")
    return f"confirmed {confirmed}, review: {sampled}"


@mcp.tool()
def wipe() -> str:
    """Asks nothing; a policy denies it."""
    return "wiped"


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--http", action="store_true", help="serve Streamable HTTP instead of stdio")
    p.add_argument("--port", type=int, default=8767)
    args = p.parse_args()
    if args.http:
        mcp.settings.host = "127.0.0.1"
        mcp.settings.port = args.port
        mcp.settings.log_level = "WARNING"
        mcp.run(transport="streamable-http")
    else:
        mcp.run()
