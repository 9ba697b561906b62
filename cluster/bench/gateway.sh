#!/usr/bin/env bash
# Benchmarks one gateway node against a fast upstream (the built-in demo server over Streamable HTTP),
# directly and through the gateway in the same run, with policy, counters and audit on:
#   1. added latency at a fixed rate (phases interleaved: direct, gateway, direct, ...), then the
#      same against a bare reverse proxy on the same HTTP stack (no MCP work: the cost of the hop)
#      and against a one-thread TCP byte relay (no HTTP at all: the floor for any separate process)
#   2. throughput as fast as possible, many sessions, direct vs gateway
#   3. node RSS idle, then after opening N idle sessions (RSS per idle session)
# Usage: [PORTCULLIS_BIN=path] cluster/bench/gateway.sh [RATE] [SESSIONS_FOR_MEMORY]   (defaults 2000 and 10000)
# Everything listens on 127.0.0.1; the script ends exactly the processes it started.
set -euo pipefail
cd "$(dirname "$0")/../.."
rate="${1:-2000}"
idle_sessions="${2:-10000}"

source cluster/bench/lib.sh
cargo build --release -q -p portcullis-bench --example bare_proxy --example tcp_relay
bare_bin="$PWD/target/release/examples/bare_proxy"
relay_bin="$PWD/target/release/examples/tcp_relay"
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # utime + stime, in clock ticks
# Context switches of all the process's threads: each is a sleep and a wake-up, the dearest thing a
# call does on a VM whose idle cores halt.
switches() { cat /proc/"$1"/task/*/status | awk '/ctxt_switches/ {n += $2} END {print n}'; }

start_upstream
"$bare_bin" "$upstream" >"$work/bare.out" &
pids+=($!)
bare="$(wait_for_line "$work/bare.out" '^ready' | sed 's/^ready //')"
"$relay_bin" "$(echo "$upstream" | sed 's#^http://\([^/]*\).*#\1#')" >"$work/relay.out" &
pids+=($!)
relay="$(wait_for_line "$work/relay.out" '^ready' | sed 's/^ready //')${upstream#http://*/}"

# One tool with three conditions (one a regex) and a counter: the policy path a real call takes.
cat >"$work/policy.json" <<'JSON'
{"version": "1", "default": "deny", "hide": ["clear_*"], "tools": {"echo": {
  "require": [{"path": "args.text", "op": "exists"}, {"path": "args.text", "op": "regex", "value": "^[a-z ]{1,64}$"}],
  "deny_if": [{"path": "identity.labels.team", "op": "eq", "value": "blocked"}],
  "limits": [{"counter": "calls", "max": 1000000000, "window": "day"}]}}}
JSON
token_sha="$(printf %s bench-token | sha256sum | cut -d' ' -f1)"
cat >"$work/portcullis.toml" <<TOML
[node]
id = "bench"
[listeners]
agent = "127.0.0.1:0"
ops = "127.0.0.1:0"
[limits]
max_sessions = $((idle_sessions + 1000))
[audit]
enabled = true
path = "audit.jsonl"
[policies.bench]
file = "policy.json"
[servers.demo]
upstream = { type = "http", url = "$upstream" }
[[grants]]
id = "bench"
token_sha256 = "$token_sha"
labels = { team = "bench" }
server = "demo"
policy = "bench"
TOML
"$bin" serve --config "$work/portcullis.toml" --log warn >"$work/serve.out" 2>"$work/serve.log" &
node=$!
pids+=("$node")
agent="$(wait_for_line "$work/serve.out" '^ready' | sed 's/^ready agent=\([^ ]*\).*/\1/')"
gateway="http://$agent/mcp/demo"
sleep 1
idle_rss="$(rss_kib "$node")"

echo "## fixed rate: $rate calls/s, 8 sessions, 4+4 phases of 5 s (a = direct, b = through the gateway)"
ticks_before="$(cpu_ticks "$node")"
switches_before="$(switches "$node")"
"$bin" bench --url "$gateway" --token bench-token --baseline "$upstream" --rate "$rate" --sessions 8 \
    --duration 40s --warmup 2s --phases 4 --tool echo --args '{"text": "hello"}' | tee "$work/fixed.out"
# The node idles while the direct phases run, so its CPU time is the gateway calls' (and warm-ups').
gateway_calls="$(sed -n 's/^b: \([0-9]*\) calls.*/\1/p' "$work/fixed.out")"
cpu_us=$(( ($(cpu_ticks "$node") - ticks_before) * 1000000 / $(getconf CLK_TCK) ))
echo "node CPU (user + system) per gateway call: $(( cpu_us / gateway_calls )) µs over $gateway_calls calls"
echo "node context switches per gateway call: $(( ($(switches "$node") - switches_before) * 100 / gateway_calls ))/100"
echo
echo "## fixed rate: $rate calls/s, the hop alone (a = direct, b = bare proxy on the same HTTP stack)"
"$bin" bench --url "$bare" --baseline "$upstream" --rate "$rate" --sessions 8 \
    --duration 40s --warmup 2s --phases 4 --tool echo --args '{"text": "hello"}'
echo
echo "## fixed rate: $rate calls/s, the floor (a = direct, b = one-thread TCP byte relay, no HTTP parsing)"
"$bin" bench --url "$relay" --baseline "$upstream" --rate "$rate" --sessions 8 \
    --duration 40s --warmup 2s --phases 4 --tool echo --args '{"text": "hello"}'
echo
echo "## fixed rate: $rate calls/s, the gateway's own work (a = bare proxy, b = through the gateway)"
"$bin" bench --url "$gateway" --token bench-token --baseline "$bare" --rate "$rate" --sessions 8 \
    --duration 40s --warmup 2s --phases 4 --tool echo --args '{"text": "hello"}'
echo
echo "## as fast as possible: 64 sessions, 2+2 phases of 5 s"
"$bin" bench --url "$gateway" --token bench-token --baseline "$upstream" --sessions 64 \
    --duration 20s --warmup 2s --phases 2 --tool echo --args '{"text": "hello"}'
echo
before="$(rss_kib "$node")"
"$bin" bench --url "$gateway" --token bench-token --open-sessions "$idle_sessions"
sleep 1
after="$(rss_kib "$node")"
echo "## memory"
echo "node RSS idle (before any load): $((idle_rss / 1024)) MiB (${idle_rss} KiB)"
echo "node RSS before opening sessions: ${before} KiB, after $idle_sessions idle sessions: ${after} KiB"
echo "per idle session: $(( (after - before) * 1024 / idle_sessions )) bytes"
echo "audit records written: $(wc -l <"$work/audit.jsonl")"
