"""Probe @modelcontextprotocol/server-everything over stdio with the 1.x Python SDK.

Run with the py-mcp1 venv:  $PEERS_PY_MCP1 everything_probe.py $PEERS_EVERYTHING
                      or:  $PEERS_PY_MCP1 everything_probe.py --url URL [--token T]   (Streamable HTTP)
Connects as a client that advertises sampling, elicitation and roots, records every
server notification, and reports which tools emit progress / logging / list_changed.
Prints one JSON object.
"""

import contextlib
import json
import sys

import anyio
import mcp.types as types
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.context import RequestContext

notes: list[dict] = []


async def on_message(msg) -> None:
    if isinstance(msg, types.ServerNotification):
        notes.append(msg.root.model_dump(mode="json", exclude_none=True))


async def on_log(params: types.LoggingMessageNotificationParams) -> None:
    pass  # also delivered to on_message


async def on_sampling(ctx: RequestContext, params: types.CreateMessageRequestParams):
    return types.CreateMessageResult(role="assistant", model="test-model",
                                     content=types.TextContent(type="text", text="sampled!"))


async def on_elicit(ctx: RequestContext, params: types.ElicitRequestParams):
    return types.ElicitResult(action="decline")


async def on_roots(ctx: RequestContext):
    return types.ListRootsResult(roots=[types.Root(uri="file:///portcullis-test-root", name="root")])


def methods(since: int) -> list[str]:
    return [n["method"] for n in notes[since:]]


@contextlib.asynccontextmanager
async def transport(argv: list[str]):
    """stdio to the server-everything executable, or Streamable HTTP to `--url URL [--token T]`."""
    if argv[0] != "--url":
        async with stdio_client(StdioServerParameters(command=argv[0], args=["stdio"])) as (read, write):
            yield read, write
        return
    headers = {"Authorization": f"Bearer {argv[3]}"} if len(argv) > 3 and argv[2] == "--token" else None
    async with create_mcp_http_client(headers=headers) as http:
        async with streamable_http_client(argv[1], http_client=http) as (read, write, _):
            yield read, write


async def main(argv: list[str]) -> dict:
    out: dict = {}
    with anyio.fail_after(90):
        async with transport(argv) as (read, write):
            async with ClientSession(read, write, sampling_callback=on_sampling, elicitation_callback=on_elicit,
                                     list_roots_callback=on_roots, logging_callback=on_log,
                                     message_handler=on_message) as s:
                init = await s.initialize()
                out["server_info"] = init.serverInfo.model_dump(exclude_none=True)
                out["capabilities"] = init.capabilities.model_dump(mode="json", exclude_none=True)
                await anyio.sleep(1.0)  # conditional tools register after notifications/initialized
                out["notifications_after_initialize"] = methods(0)
                tools = (await s.list_tools()).tools
                out["tools"] = {t.name: sorted((t.inputSchema or {}).get("properties", {}).keys()) for t in tools}

                mark = len(notes)
                progress: list = []

                async def on_progress(p: float, total: float | None, message: str | None) -> None:
                    progress.append([p, total, message])

                r = await s.call_tool("trigger-long-running-operation", {"duration": 1, "steps": 3},
                                      progress_callback=on_progress)
                out["trigger-long-running-operation"] = {"progress": progress, "result": r.content[0].text,
                                                         "notifications": methods(mark)}

                mark = len(notes)
                await s.set_logging_level("debug")
                r = await s.call_tool("toggle-simulated-logging", {})
                await anyio.sleep(0.5)
                out["toggle-simulated-logging"] = {"result": r.content[0].text, "notifications": methods(mark),
                                                   "sample": notes[mark] if len(notes) > mark else None}
                await s.call_tool("toggle-simulated-logging", {})  # off again

                mark = len(notes)
                await s.subscribe_resource("demo://resource/dynamic/text/1")
                r = await s.call_tool("toggle-subscriber-updates", {})
                await anyio.sleep(0.5)
                out["toggle-subscriber-updates"] = {"result": r.content[0].text, "notifications": methods(mark)}
                await s.call_tool("toggle-subscriber-updates", {})

                mark = len(notes)
                r = await s.call_tool("trigger-sampling-request", {"prompt": "hi", "maxTokens": 10})
                out["trigger-sampling-request"] = {"result": [c.model_dump(exclude_none=True) for c in r.content][:1],
                                                   "notifications": methods(mark)}
                r = await s.call_tool("get-sum", {"a": 1, "b": 2})
                out["get-sum"] = r.content[0].text
                r = await s.call_tool("echo", {})
                out["echo(missing arg)"] = {"isError": r.isError, "text": r.content[0].text[:200]}
                out["prompts"] = [p.name for p in (await s.list_prompts()).prompts]
                out["resources(first 3)"] = [x.uri.unicode_string() if hasattr(x.uri, "unicode_string") else str(x.uri)
                                             for x in (await s.list_resources()).resources][:3]
                out["resource_templates"] = [t.uriTemplate for t in (await s.list_resource_templates()).resourceTemplates]
    return out


if __name__ == "__main__":
    print(json.dumps(anyio.run(main, sys.argv[1:]), indent=1))
