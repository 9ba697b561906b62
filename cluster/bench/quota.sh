#!/usr/bin/env bash
# Cluster-wide limits under load: three clustered nodes (release build) in front of one demo upstream
# (Streamable HTTP). Two grants on the same cluster call the same tool: one under a cluster-wide
# per-identity rate limit set so high it never refuses (every call still reserves from the node's
# quota slice), one under a policy with no counter. Phases alternate (limited, open, open, limited, ...);
# each phase loads all three nodes at once, as fast as possible, and sums their calls/s. The nodes'
# logs give the quota entries each proposed per second while loaded.
# Usage: cluster/bench/quota.sh [ROUNDS] [SESSIONS_PER_NODE] [SECONDS]   (defaults 3, 16, 10)
#        PORTCULLIS_BIN=path/to/portcullis cluster/bench/quota.sh ...   (skip the build)
# Everything listens on 127.0.0.1; the script ends exactly the processes it started.
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds="${1:-3}"
sessions="${2:-16}"
secs="${3:-10}"

source cluster/bench/lib.sh
free_port() { # asks the kernel for a free port on 127.0.0.1
    "$bin" demo-server --http 127.0.0.1:0 2>"$work/probe.log" & local probe=$!
    local url; url="$(wait_for_line "$work/probe.log" 'http://' | grep -o 'http://[^ ]*')"
    kill "$probe"; wait "$probe" 2>/dev/null || true
    echo "$url" | sed 's#http://127.0.0.1:\([0-9]*\).*#\1#'
}

start_upstream

cat >"$work/limited.json" <<'JSON'
{"version": "1", "default": "deny", "tools": {"echo": {"rate_limit": {"max": 1000000000, "window": 60, "per": "identity"}}}}
JSON
cat >"$work/open.json" <<'JSON'
{"version": "1", "default": "deny", "tools": {"echo": {}}}
JSON
sha() { printf %s "$1" | sha256sum | cut -d' ' -f1; }
PORTCULLIS_CLUSTER_SECRET="$(od -An -tx1 -N24 /dev/urandom | tr -d ' \n')"
export PORTCULLIS_CLUSTER_SECRET

agents=()
seed=""
for i in 1 2 3; do
    dir="$work/n$i"
    mkdir -p "$dir"
    cat >"$dir/portcullis.toml" <<TOML
[listeners]
agent = "127.0.0.1:0"
ops = "127.0.0.1:0"
[limits]
max_sessions = 10000
[audit]
enabled = true
path = "audit.jsonl"
[policies.limited]
file = "../limited.json"
[policies.open]
file = "../open.json"
[servers.demo]
upstream = { type = "http", url = "$upstream" }
[[grants]]
id = "limited"
token_sha256 = "$(sha limited-token)"
server = "demo"
policy = "limited"
[[grants]]
id = "open"
token_sha256 = "$(sha open-token)"
server = "demo"
policy = "open"
TOML
    raft="127.0.0.1:$(free_port)"
    if [ "$i" = 1 ]; then membership=(--init); seed="$raft"; else membership=(--join "$seed"); fi
    "$bin" serve --config "$dir/portcullis.toml" --data-dir "$dir/data" --node-id "$i" --raft-addr "$raft" \
        "${membership[@]}" --log info --log-format json >"$dir/serve.out" 2>"$dir/node.log" &
    pids+=($!)
    agents+=("$(wait_for_line "$dir/serve.out" '^ready' | sed 's/^ready agent=\([^ ]*\).*/\1/')")
done
sleep 2

phase() { # token -> prints the summed ok calls/s of three concurrent bench runs, one per node
    local token="$1" outs=()
    for i in 0 1 2; do
        "$bin" bench --url "http://${agents[$i]}/mcp/demo" --token "$token" --sessions "$sessions" \
            --duration "${secs}s" --warmup 1s --tool echo --args '{"text": "hello"}' >"$work/bench$i.out" &
        outs+=($!)
    done
    wait "${outs[@]}"
    # Answered calls per second (ok), and how many were refused (tool errors: policy denials here).
    cat "$work"/bench?.out | grep -o '([0-9]* ok, [0-9]* tool errors, [0-9]* failed) in [0-9.]*s' \
        | tr -d '(),s' | awk '{ ok += $1 / $9; refused += $3 } END { printf "%.0f ok/s (%d refused)", ok, refused }'
}

echo "## ${rounds} rounds: 3 nodes x ${sessions} sessions, ${secs} s per phase, limited and open alternating"
windows=()
limited_phase() {
    local start end
    start="$(date -u +%Y-%m-%dT%H:%M:%S.%6NZ)"
    limited="$(phase limited-token)"
    end="$(date -u +%Y-%m-%dT%H:%M:%S.%6NZ)"
    windows+=("$start $end")
}
for round in $(seq 1 "$rounds"); do
    # Which side goes first alternates, so neither always follows the other's load.
    if [ $((round % 2)) = 1 ]; then limited_phase; open="$(phase open-token)"
    else open="$(phase open-token)"; limited_phase; fi
    echo "round $round: cluster-wide limit $limited; no limit $open"
done
sleep 6 # the nodes log their quota entries every 5 s

# Quota entries per second while the limit was loaded: each log event covers the 5 s before it; count
# the events that lie entirely inside a limited phase.
for w in "${windows[@]}"; do
    read -r start end <<<"$w"
    from="$(date -u -d "${start/T/ } 5 seconds" +%Y-%m-%dT%H:%M:%S.%6NZ)"
    for i in 1 2 3; do
        grep '"quota entries proposed"' "$work/n$i/node.log" \
            | awk -v from="$from" -v end="$end" -v node="$i" '
                { match($0, /"timestamp":"[^"]*"/); ts = substr($0, RSTART + 13, RLENGTH - 14)
                  match($0, /"entries":[0-9]+/); e = substr($0, RSTART + 10, RLENGTH - 10)
                  match($0, /"seconds":[0-9]+/); s = substr($0, RSTART + 10, RLENGTH - 10)
                  if (ts >= from && ts <= end) { entries += e; seconds += s } }
                END { if (seconds > 0) printf "node %s: %.1f quota entries/s\n", node, entries / seconds }'
    done | sed "s/^/phase from $start: /"
done
