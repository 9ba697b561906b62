"""Reference fixture server for the `@modelcontextprotocol/conformance` *server* scenarios.

Python SDK 1.x low-level `Server` (legacy era, Streamable HTTP). It exists to pin down,
executably, what each conformance scenario expects (see ../README.md, "Conformance
scenarios"); the Rust fixture is meant to mirror it.

Run with the py-mcp1 venv:
    $PEERS_PY_MCP1 conformance_fixture_server.py --port 8770      # -> http://127.0.0.1:8770/mcp
    $PEERS_CONFORMANCE server --url http://127.0.0.1:8770/mcp --suite all
Prints "READY <url>" on stderr once listening. Binds 127.0.0.1 only.
"""

import argparse
import base64
import contextlib
import json
import sys
from collections.abc import AsyncIterator
from itertools import count

import anyio
import mcp.types as types
import uvicorn
from mcp.server.lowlevel import Server
from mcp.server.lowlevel.helper_types import ReadResourceContents
from mcp.server.streamable_http import EventCallback, EventId, EventMessage, EventStore, StreamId
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from pydantic import AnyUrl
from starlette.applications import Starlette
from starlette.routing import Route

# 1x1 red PNG and a 4-sample 8 kHz mono 8-bit WAV.
PNG_1X1 = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")
WAV_TINY = base64.b64encode(
    b"RIFF" + (36 + 4).to_bytes(4, "little") + b"WAVEfmt " + (16).to_bytes(4, "little")
    + (1).to_bytes(2, "little") + (1).to_bytes(2, "little") + (8000).to_bytes(4, "little")
    + (8000).to_bytes(4, "little") + (1).to_bytes(2, "little") + (8).to_bytes(2, "little")
    + b"data" + (4).to_bytes(4, "little") + b"\x80\x80\x80\x80"
).decode()

server = Server("portcullis-conformance-fixture", version="0.1.0")
subscriptions: set[str] = set()


def tool(name: str, description: str, properties: dict | None = None, required: list[str] | None = None,
         schema: dict | None = None) -> types.Tool:
    return types.Tool(name=name, description=description, inputSchema=schema or {
        "type": "object", "properties": properties or {}, "required": required or []})


TOOLS = [
    tool("test_simple_text", "Returns a simple text response"),
    tool("test_image_content", "Returns a 1x1 PNG image"),
    tool("test_audio_content", "Returns a tiny WAV clip"),
    tool("test_embedded_resource", "Returns an embedded text resource"),
    tool("test_multiple_content_types", "Returns text + image + resource"),
    tool("test_tool_with_logging", "Sends 3 info log notifications while running"),
    tool("test_error_handling", "Always returns isError=true"),
    tool("test_tool_with_progress", "Reports progress 0/100, 50/100, 100/100"),
    tool("test_sampling", "Asks the client to sample an LLM",
         {"prompt": {"type": "string", "description": "The prompt to send to the LLM"}}, ["prompt"]),
    tool("test_elicitation", "Asks the client for user input",
         {"message": {"type": "string", "description": "The message to show the user"}}, ["message"]),
    tool("test_elicitation_sep1034_defaults", "Elicitation with defaults for every primitive type"),
    tool("test_elicitation_sep1330_enums", "Elicitation with the 5 enum schema variants"),
    tool("json_schema_2020_12_tool", "Tool with JSON Schema 2020-12 features", schema={
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "$defs": {"address": {"type": "object",
                              "properties": {"street": {"type": "string"}, "city": {"type": "string"}}}},
        "properties": {"name": {"type": "string"}, "address": {"$ref": "#/$defs/address"}},
        "additionalProperties": False,
    }),
    tool("test_reconnection", "Closes the SSE stream mid-call; the result arrives after the client reconnects"),
]


def text(s: str) -> types.TextContent:
    return types.TextContent(type="text", text=s)


@server.list_tools()
async def list_tools() -> list[types.Tool]:
    return TOOLS


@server.call_tool(validate_input=False)
async def call_tool(name: str, args: dict):
    ctx = server.request_context
    session, rid = ctx.session, ctx.request_id
    if name == "test_simple_text":
        return [text("This is a simple text response for testing.")]
    if name == "test_image_content":
        return [types.ImageContent(type="image", data=PNG_1X1, mimeType="image/png")]
    if name == "test_audio_content":
        return [types.AudioContent(type="audio", data=WAV_TINY, mimeType="audio/wav")]
    if name == "test_embedded_resource":
        return [types.EmbeddedResource(type="resource", resource=types.TextResourceContents(
            uri=AnyUrl("test://embedded-resource"), mimeType="text/plain",
            text="This is an embedded resource content."))]
    if name == "test_multiple_content_types":
        return [text("Multiple content types test:"),
                types.ImageContent(type="image", data=PNG_1X1, mimeType="image/png"),
                types.EmbeddedResource(type="resource", resource=types.TextResourceContents(
                    uri=AnyUrl("test://mixed-content-resource"), mimeType="application/json",
                    text=json.dumps({"test": "data", "value": 123})))]
    if name == "test_tool_with_logging":
        for i, msg in enumerate(["Tool execution started", "Tool processing data", "Tool execution completed"]):
            if i:
                await anyio.sleep(0.05)
            await session.send_log_message("info", msg, related_request_id=rid)
        return [text("Tool with logging executed successfully")]
    if name == "test_error_handling":
        return types.CallToolResult(isError=True, content=[
            text("This tool intentionally returns an error for testing")])
    if name == "test_tool_with_progress":
        token = ctx.meta.progressToken if ctx.meta else None
        for i, p in enumerate([0, 50, 100]):
            if i:
                await anyio.sleep(0.05)
            if token is not None:
                await session.send_progress_notification(token, p, 100, related_request_id=str(rid))
        return [text("Tool with progress executed successfully")]
    if name == "test_sampling":
        r = await session.create_message(
            [types.SamplingMessage(role="user", content=text(args.get("prompt", "")))], max_tokens=100,
            related_request_id=rid)
        return [text(f"LLM response: {getattr(r.content, 'text', r.content)}")]
    if name == "test_elicitation":
        r = await session.elicit(args.get("message", ""), {
            "type": "object",
            "properties": {"username": {"type": "string", "description": "User's response"},
                           "email": {"type": "string", "description": "User's email address"}},
            "required": ["username", "email"]}, related_request_id=rid)
        return [text(f"User response: action={r.action}, content={json.dumps(r.content)}")]
    if name == "test_elicitation_sep1034_defaults":
        r = await session.elicit("Please review and update the form fields with defaults", {
            "type": "object",
            "properties": {
                "name": {"type": "string", "description": "User name", "default": "John Doe"},
                "age": {"type": "integer", "description": "User age", "default": 30},
                "score": {"type": "number", "description": "User score", "default": 95.5},
                "status": {"type": "string", "description": "User status",
                           "enum": ["active", "inactive", "pending"], "default": "active"},
                "verified": {"type": "boolean", "description": "Verification status", "default": True}}},
            related_request_id=rid)
        return [text(f"Elicitation completed: action={r.action}, content={json.dumps(r.content)}")]
    if name == "test_elicitation_sep1330_enums":
        r = await session.elicit("Please select options from the enum fields", {
            "type": "object",
            "properties": {
                "untitledSingle": {"type": "string", "enum": ["option1", "option2", "option3"]},
                "titledSingle": {"type": "string", "oneOf": [
                    {"const": "value1", "title": "First Option"}, {"const": "value2", "title": "Second Option"},
                    {"const": "value3", "title": "Third Option"}]},
                "legacyEnum": {"type": "string", "enum": ["opt1", "opt2", "opt3"],
                               "enumNames": ["Option One", "Option Two", "Option Three"]},
                "untitledMulti": {"type": "array", "items": {"type": "string",
                                                             "enum": ["option1", "option2", "option3"]}},
                "titledMulti": {"type": "array", "items": {"anyOf": [
                    {"const": "value1", "title": "First Choice"}, {"const": "value2", "title": "Second Choice"},
                    {"const": "value3", "title": "Third Choice"}]}}}},
            related_request_id=rid)
        return [text(f"Elicitation completed: action={r.action}, content={json.dumps(r.content)}")]
    if name == "json_schema_2020_12_tool":
        return [text(f"json_schema_2020_12_tool called with {json.dumps(args)}")]
    if name == "test_reconnection":
        if ctx.close_sse_stream is not None:  # only with an event store + a client that can resume
            await anyio.sleep(0.05)
            await ctx.close_sse_stream()
        await anyio.sleep(0.2)
        return [text("Reconnection test completed successfully")]
    raise ValueError(f"Unknown tool: {name}")


@server.list_resources()
async def list_resources() -> list[types.Resource]:
    return [
        types.Resource(uri=AnyUrl("test://static-text"), name="static-text",
                       description="A static text resource", mimeType="text/plain"),
        types.Resource(uri=AnyUrl("test://static-binary"), name="static-binary",
                       description="A static binary resource (PNG)", mimeType="image/png"),
        types.Resource(uri=AnyUrl("test://watched-resource"), name="watched-resource",
                       description="A resource that can be subscribed to", mimeType="text/plain"),
    ]


@server.list_resource_templates()
async def list_resource_templates() -> list[types.ResourceTemplate]:
    return [types.ResourceTemplate(uriTemplate="test://template/{id}/data", name="template-data",
                                   description="Parameterised data resource", mimeType="application/json")]


@server.read_resource()
async def read_resource(uri: AnyUrl):
    u = str(uri)
    if u == "test://static-text":
        return [ReadResourceContents("This is the content of the static text resource.", "text/plain")]
    if u == "test://static-binary":
        return [ReadResourceContents(base64.b64decode(PNG_1X1), "image/png")]
    if u == "test://watched-resource":
        return [ReadResourceContents("Watched resource content.", "text/plain")]
    if u.startswith("test://template/") and u.endswith("/data"):
        rid = u[len("test://template/"):-len("/data")]
        return [ReadResourceContents(json.dumps({"id": rid, "templateTest": True, "data": f"Data for ID: {rid}"}),
                                     "application/json")]
    raise ValueError(f"Unknown resource: {u}")


@server.subscribe_resource()
async def subscribe(uri: AnyUrl) -> None:
    subscriptions.add(str(uri))


@server.unsubscribe_resource()
async def unsubscribe(uri: AnyUrl) -> None:
    subscriptions.discard(str(uri))


@server.set_logging_level()
async def set_level(level: types.LoggingLevel) -> None:
    return None  # -> {}


@server.list_prompts()
async def list_prompts() -> list[types.Prompt]:
    arg = types.PromptArgument
    return [
        types.Prompt(name="test_simple_prompt", description="A simple prompt without arguments"),
        types.Prompt(name="test_prompt_with_arguments", description="A prompt with two required arguments",
                     arguments=[arg(name="arg1", description="First test argument", required=True),
                                arg(name="arg2", description="Second test argument", required=True)]),
        types.Prompt(name="test_prompt_with_embedded_resource", description="A prompt embedding a resource",
                     arguments=[arg(name="resourceUri", description="URI of the resource to embed", required=True)]),
        types.Prompt(name="test_prompt_with_image", description="A prompt with image content"),
    ]


@server.get_prompt()
async def get_prompt(name: str, args: dict[str, str] | None) -> types.GetPromptResult:
    args = args or {}
    msg = types.PromptMessage
    if name == "test_simple_prompt":
        return types.GetPromptResult(messages=[msg(role="user", content=text("This is a simple prompt for testing."))])
    if name == "test_prompt_with_arguments":
        return types.GetPromptResult(messages=[msg(role="user", content=text(
            f"Prompt with arguments: arg1='{args.get('arg1')}', arg2='{args.get('arg2')}'"))])
    if name == "test_prompt_with_embedded_resource":
        return types.GetPromptResult(messages=[
            msg(role="user", content=types.EmbeddedResource(type="resource", resource=types.TextResourceContents(
                uri=AnyUrl(args.get("resourceUri", "test://example-resource")), mimeType="text/plain",
                text="Embedded resource content for testing."))),
            msg(role="user", content=text("Please process the embedded resource above."))])
    if name == "test_prompt_with_image":
        return types.GetPromptResult(messages=[
            msg(role="user", content=types.ImageContent(type="image", data=PNG_1X1, mimeType="image/png")),
            msg(role="user", content=text("Please analyze the image above."))])
    raise ValueError(f"Unknown prompt: {name}")


@server.completion()
async def complete(ref, argument: types.CompletionArgument, context) -> types.Completion:
    values = [v for v in ["paris", "park", "party"] if v.startswith(argument.value)]
    return types.Completion(values=values, total=len(values), hasMore=False)


class MemoryEventStore(EventStore):
    """Minimal resumability store (needed for test_reconnection / SSE polling)."""

    def __init__(self) -> None:
        self.events: list[tuple[EventId, StreamId, types.JSONRPCMessage | None]] = []
        self.ids = count(1)

    async def store_event(self, stream_id: StreamId, message: types.JSONRPCMessage | None) -> EventId:
        eid = str(next(self.ids))
        self.events.append((eid, stream_id, message))
        return eid

    async def replay_events_after(self, last_event_id: EventId, send_callback: EventCallback) -> StreamId | None:
        idx = next((i for i, e in enumerate(self.events) if e[0] == last_event_id), None)
        if idx is None:
            return None
        stream = self.events[idx][1]
        for eid, sid, message in self.events[idx + 1:]:
            if sid == stream and message is not None:
                await send_callback(EventMessage(message, eid))
        return stream


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=8770)
    args = p.parse_args()
    manager = StreamableHTTPSessionManager(
        app=server, event_store=MemoryEventStore(), retry_interval=500,
        security_settings=TransportSecuritySettings(  # DNS-rebinding protection (dns-rebinding-protection)
            enable_dns_rebinding_protection=True,
            allowed_hosts=["127.0.0.1:*", "localhost:*", "[::1]:*"],
            allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"]))

    class Handle:  # an ASGI object, not a function: Starlette's Route would wrap a function as request->response
        async def __call__(self, scope, receive, send):
            await manager.handle_request(scope, receive, send)

    @contextlib.asynccontextmanager
    async def lifespan(app) -> AsyncIterator[None]:
        async with manager.run():
            yield

    # Route (not Mount): a Mount would answer POST /mcp with a 307 to /mcp/, which the
    # dns-rebinding-protection scenario (raw undici request, no redirect following) counts as failure.
    app = Starlette(routes=[Route("/mcp", endpoint=Handle(), methods=["GET", "POST", "DELETE"])], lifespan=lifespan)
    userver = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=args.port, log_level="warning"))

    async def serve() -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(userver.serve)
            with anyio.fail_after(30):
                while not userver.started:
                    await anyio.sleep(0.05)
            print(f"READY http://127.0.0.1:{args.port}/mcp", file=sys.stderr, flush=True)

    anyio.run(serve)


if __name__ == "__main__":
    main()
