"""gRPC smoke: compile a proto with grpc_tools, serve it on 127.0.0.1 with reflection, call it.

Run with the py-grpc venv: $PEERS_PY_GRPC grpc_echo_demo.py
Prints the echo reply and the reflected service list.
"""

import sys
import tempfile
from concurrent import futures
from pathlib import Path

import grpc
from grpc_tools import protoc

PROTO = """syntax = "proto3";
package demo;
service Echo { rpc Say (Msg) returns (Msg); }
message Msg { string text = 1; }
"""

with tempfile.TemporaryDirectory() as tmp:
    Path(tmp, "echo.proto").write_text(PROTO)
    # Same as: python -m grpc_tools.protoc -I. --python_out=. --grpc_python_out=. echo.proto
    rc = protoc.main(["protoc", f"-I{tmp}", f"--python_out={tmp}", f"--grpc_python_out={tmp}", f"{tmp}/echo.proto"])
    assert rc == 0, rc
    sys.path.insert(0, tmp)
    import echo_pb2
    import echo_pb2_grpc
    from grpc_reflection.v1alpha import reflection, reflection_pb2, reflection_pb2_grpc

    class Echo(echo_pb2_grpc.EchoServicer):
        def Say(self, request, context):
            return echo_pb2.Msg(text="echo:" + request.text)

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    echo_pb2_grpc.add_EchoServicer_to_server(Echo(), server)
    reflection.enable_server_reflection(
        [echo_pb2.DESCRIPTOR.services_by_name["Echo"].full_name, reflection.SERVICE_NAME], server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            print(echo_pb2_grpc.EchoStub(channel).Say(echo_pb2.Msg(text="hi"), timeout=5).text)
            replies = reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
                iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5)
            print(sorted(s.name for s in next(replies).list_services_response.service))
    finally:
        server.stop(0)
