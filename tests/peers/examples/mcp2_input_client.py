"""A client on the Python SDK 2.x (`mcp.Client`, 2026-07-28 unless `--mode legacy`) that answers a
server's questions: sampling replies "sampled <prompt>", elicitation accepts with {"confirm": true}.

Run with the py-mcp2 venv ($PEERS_PY_MCP2):
    python mcp2_input_client.py --url URL --token T [--mode legacy] --call NAME JSON [--call NAME JSON ...]
    python mcp2_input_client.py --call NAME JSON [...] --stdio -- COMMAND [ARGS...]   # spawn a server

--mode is the `mcp.Client` mode (default 2026-07-28; legacy gets the questions as server requests).

Prints one JSON object on stdout: {"asked": [<method> ...], "results": [<tool result> ...]}.
"""

import argparse
import json
import sys

import anyio
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp_types import CreateMessageResult, ElicitResult, TextContent


async def run(args: argparse.Namespace) -> dict:
    asked: list[str] = []

    async def sampling(context, params):
        prompt = params.messages[0].content.text
        asked.append("sampling/createMessage")
        return CreateMessageResult(
            role="assistant", content=TextContent(type="text", text=f"sampled {prompt}"), model="test"
        )

    async def elicitation(context, params):
        asked.append("elicitation/create")
        return ElicitResult(action="accept", content={"confirm": True})

    results = []

    async def call_all(target) -> None:
        async with Client(
            target, mode=args.mode, sampling_callback=sampling, elicitation_callback=elicitation
        ) as client:
            for name, arguments in args.call:
                result = await client.call_tool(name, json.loads(arguments))
                results.append(result.model_dump(mode="json", by_alias=True, exclude_none=True))

    if args.stdio:
        cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
        await call_all(StdioServerParameters(command=cmd[0], args=cmd[1:]))
    else:
        http_client = create_mcp_http_client(headers={"Authorization": f"Bearer {args.token}"})
        async with http_client:
            await call_all(streamable_http_client(args.url, http_client=http_client))
    return {"asked": asked, "results": results}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--url")
    p.add_argument("--token")
    p.add_argument("--stdio", action="store_true")
    p.add_argument("--mode", default="2026-07-28", choices=["2026-07-28", "legacy"])
    p.add_argument("--call", nargs=2, action="append", default=[], metavar=("NAME", "JSON"))
    p.add_argument("--timeout", type=float, default=30)
    p.add_argument("command", nargs=argparse.REMAINDER)
    args = p.parse_args()
    if not (args.stdio and args.command) and not (args.url and args.token):
        p.error("need --url and --token, or --stdio -- COMMAND")

    async def bounded() -> dict:
        with anyio.fail_after(args.timeout):
            return await run(args)

    print(json.dumps(anyio.run(bounded)))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
