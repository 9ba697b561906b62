#!/usr/bin/env bash
# Starts N clustered gateway nodes on loopback in front of the built-in demo server:
#   node i: agent 127.0.0.1:(8080+i), ops 127.0.0.1:(9090+i), raft 127.0.0.1:(7000+i)
# Node 1 founds the cluster (--init); the others join it. State lives under $PORTCULLIS_LOCAL_DIR
# (default target/cluster-local): each node's config, policy file, data directory and log, the shared
# secret, and the pids this script started (cluster/local/down.sh stops exactly those).
# Usage: cluster/local/up.sh [N]   (default 3)
set -euo pipefail
cd "$(dirname "$0")/../.."
count="${1:-3}"
work="${PORTCULLIS_LOCAL_DIR:-target/cluster-local}"
if [ -s "$work/pids" ]; then
    echo "a local cluster is already recorded in $work/pids: run cluster/local/down.sh first" >&2
    exit 2
fi

cargo build -q -p portcullis
bin="$PWD/target/debug/portcullis"
mkdir -p "$work"
work="$(cd "$work" && pwd)"
: >"$work/pids"
umask 077
# A fresh secret for this cluster; the nodes read it from a file, never from argv.
[ -s "$work/secret" ] || od -An -tx1 -N24 /dev/urandom | tr -d ' \n' >"$work/secret"
token="local-dev-token"
token_sha="$(printf '%s' "$token" | sha256sum | cut -d' ' -f1)"

wait_ready() { # stdout-file pid
    for _ in $(seq 1 600); do
        if grep -q '^ready ' "$1" 2>/dev/null; then grep -m1 '^ready ' "$1"; return 0; fi
        kill -0 "$2" 2>/dev/null || { echo "node exited; see ${1%.out}.log" >&2; return 1; }
        sleep 0.1
    done
    echo "timed out waiting for $1" >&2
    return 1
}

for i in $(seq 1 "$count"); do
    dir="$work/node$i"
    mkdir -p "$dir"
    [ -f "$dir/policy.json" ] || echo '{"version": "1", "default": "deny", "tools": {"echo": {}}}' >"$dir/policy.json"
    cat >"$dir/portcullis.toml" <<TOML
[node]
id = "node-$i"

[listeners]
agent = "127.0.0.1:$((8080 + i))"
ops = "127.0.0.1:$((9090 + i))"

[policies.default]
file = "policy.json"

[servers.demo]
upstream = { type = "stdio", command = "$bin", args = ["demo-server"] }

[[grants]]
id = "local-dev"
token_sha256 = "$token_sha"
server = "demo"
policy = "default"
TOML
    if [ "$i" = 1 ]; then membership=(--init); else membership=(--join 127.0.0.1:7001); fi
    "$bin" serve --config "$dir/portcullis.toml" --data-dir "$dir/data" --node-id "$i" \
        --raft-addr "127.0.0.1:$((7000 + i))" "${membership[@]}" \
        --cluster-secret-file "$work/secret" >"$dir/node.out" 2>"$dir/node.log" &
    pid=$!
    echo "$pid" >>"$work/pids"
    echo "node $i (pid $pid): $(wait_ready "$dir/node.out" "$pid")"
done

cat <<TXT

$count nodes up. Try one:
  curl -s http://127.0.0.1:8081/mcp/demo -H 'Authorization: Bearer $token' ...
  (or: cargo run -q -p portcullis -- bench --url http://127.0.0.1:8082/mcp/demo --token $token --duration 3s)
Edit $work/node2/policy.json, then: kill -HUP \$(sed -n 2p $work/pids)   (every node enforces it)
Stop them with cluster/local/down.sh.
TXT
