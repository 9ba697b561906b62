"""A client of the Portcullis admin API that isn't ours: grpcio with stubs generated from proto/.

    python admin_grpc.py --addr HOST:PORT --token T --proto-dir DIR --out DIR POLICY_JSON

Generates the Python stubs from DIR/portcullis/admin/v1/*.proto into --out (grpcio-tools), lists the
services through server reflection (grpc.reflection.v1alpha), puts POLICY_JSON as policy `p`,
reads the cluster status and lists the approval allowances. Prints one JSON line per step; exits 0
when every step answered.
"""

import argparse
import glob
import importlib
import json
import os
import sys

import grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_tools import protoc


def emit(obj: dict) -> None:
    print(json.dumps(obj), flush=True)


def generate(proto_dir: str, out: str) -> None:
    os.makedirs(out, exist_ok=True)
    files = sorted(glob.glob(os.path.join(proto_dir, "portcullis", "admin", "v1", "*.proto")))
    if not files:
        sys.exit(f"no protos under {proto_dir}")
    include = os.path.join(os.path.dirname(protoc.__file__), "_proto")
    rc = protoc.main(["protoc", f"-I{proto_dir}", f"-I{include}", f"--python_out={out}", f"--grpc_python_out={out}", *files])
    if rc != 0:
        sys.exit(f"protoc failed with {rc}")
    sys.path.insert(0, out)


def reflected_services(channel: grpc.Channel, metadata) -> list:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    names = []
    for response in stub.ServerReflectionInfo(iter([request]), metadata=metadata, timeout=10):
        names.extend(service.name for service in response.list_services_response.service)
    return sorted(names)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--addr", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--proto-dir", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("policy")
    args = parser.parse_args()

    generate(args.proto_dir, args.out)
    policies_pb2 = importlib.import_module("portcullis.admin.v1.policies_pb2")
    policies_grpc = importlib.import_module("portcullis.admin.v1.policies_pb2_grpc")
    cluster_pb2 = importlib.import_module("portcullis.admin.v1.cluster_pb2")
    cluster_grpc = importlib.import_module("portcullis.admin.v1.cluster_pb2_grpc")
    approvals_pb2 = importlib.import_module("portcullis.admin.v1.approvals_pb2")
    approvals_grpc = importlib.import_module("portcullis.admin.v1.approvals_pb2_grpc")
    metadata = [("authorization", f"Bearer {args.token}")]

    with grpc.insecure_channel(args.addr) as channel:
        emit({"op": "services", "services": reflected_services(channel, metadata)})

        put = policies_grpc.PolicyServiceStub(channel).PutPolicy(
            policies_pb2.PutPolicyRequest(name="p", text=args.policy, mode=policies_pb2.PUT_MODE_ACTIVE),
            metadata=metadata,
            timeout=30,
        )
        emit({"op": "put", "name": put.name, "revision": put.revision, "stored": put.stored})

        status = cluster_grpc.ClusterServiceStub(channel).ClusterStatus(
            cluster_pb2.ClusterStatusRequest(), metadata=metadata, timeout=30
        )
        emit({
            "op": "status",
            "leader": status.leader,
            "nodes": [{"id": n.id, "role": n.role, "revisions": dict(n.policy_revisions)} for n in status.nodes],
        })

        try:
            cluster_grpc.ClusterServiceStub(channel).ClusterStatus(cluster_pb2.ClusterStatusRequest(), timeout=30)
            emit({"op": "anonymous", "code": "OK"})
        except grpc.RpcError as error:
            emit({"op": "anonymous", "code": error.code().name})

        listed = approvals_grpc.ApprovalServiceStub(channel).ListAllowances(
            approvals_pb2.ListAllowancesRequest(include_expired=True), metadata=metadata, timeout=30
        )
        emit({
            "op": "allowances",
            "allowances": [
                {"approval": a.approval_id, "grant": a.grant, "tool": a.tool, "until_ms": a.until_ms}
                for a in listed.allowances
            ],
        })
    return 0


if __name__ == "__main__":
    sys.exit(main())
