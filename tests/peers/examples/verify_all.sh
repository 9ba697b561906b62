#!/usr/bin/env bash
# Re-run every check that tests/peers/README.md reports as verified.
# Usage: tests/peers/examples/verify_all.sh      (installs missing peers first)
# All servers bind 127.0.0.1 on free ports, run in a scratch directory, and are
# stopped by pid on exit. Every wait is bounded.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
env_lines="$("$here/../install.sh" all)" || { echo "install.sh all failed" >&2; exit 1; }
eval "$env_lines"
export PEERS_NODE PEERS_CONFORMANCE PEERS_INSPECTOR PEERS_EVERYTHING PEERS_PY_MCP2 PEERS_PY_MCP1 PEERS_MITMPROXY_MCP PEERS_PY_GRPC

work="$(mktemp -d)"
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
cd "$work" || exit 1
export HOME="$work/home"  # the Inspector CLI writes ~/.mcp-inspector/
mkdir -p "$HOME"

passed=0
failed=0
free_port() { "$PEERS_PY_MCP2" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# start NAME CMD...: run a server in the background, wait (<=30 s) for "READY" on its stderr.
start() {
    local name=$1 _
    shift
    "$@" 2>"$work/$name.err" &
    pids+=($!)
    for _ in $(seq 150); do
        grep -q READY "$work/$name.err" && return 0
        sleep 0.2
    done
    echo "server $name did not become ready:" >&2
    cat "$work/$name.err" >&2
    return 1
}

# expect WHAT EXPECTED_RC PATTERN CMD...: run CMD (<=120 s), check exit code and that stdout+stderr matches PATTERN.
expect() {
    local what=$1 want_rc=$2 pattern=$3 rc=0
    shift 3
    timeout 120 "$@" >"$work/out" 2>&1 || rc=$?
    if [[ $rc -eq $want_rc ]] && grep -Eq -- "$pattern" "$work/out"; then
        echo "ok   $what"
        passed=$((passed + 1))
    else
        echo "FAIL $what (rc=$rc, want $want_rc, pattern '$pattern')"
        sed 's/^/     | /' "$work/out" | tail -n 20
        failed=$((failed + 1))
    fi
}

P2=$(free_port) P2T=$(free_port) P1T=$(free_port) PFX=$(free_port)
start py2 "$PEERS_PY_MCP2" "$here/mcp2_server.py" --http --port "$P2" || exit 1
start py2tok "$PEERS_PY_MCP2" "$here/mcp2_server.py" --http --port "$P2T" --token s3cr3t || exit 1
start py1tok "$PEERS_PY_MCP1" "$here/mcp1_server.py" --http --port "$P1T" --token tok1 || exit 1
start fixture "$PEERS_PY_MCP1" "$here/conformance_fixture_server.py" --port "$PFX" || exit 1

U2="http://127.0.0.1:$P2/mcp" U2T="http://127.0.0.1:$P2T/mcp" U1T="http://127.0.0.1:$P1T/mcp"
UFX="http://127.0.0.1:$PFX/mcp"

# --- Python SDK 2.x client
for mode in auto 2026-07-28; do
    expect "py2 client mode=$mode -> py2 http" 0 '"protocol_version": "2026-07-28".*"text": "5"' \
        "$PEERS_PY_MCP2" "$here/mcp2_client.py" --mode "$mode" --url "$U2"
done
expect "py2 client mode=legacy -> py2 http" 0 '"protocol_version": "2025-11-25".*"text": "5"' \
    "$PEERS_PY_MCP2" "$here/mcp2_client.py" --mode legacy --url "$U2"
expect "py2 client bearer -> py2 http (whoami)" 0 '"text": "Bearer s3cr3t"' \
    "$PEERS_PY_MCP2" "$here/mcp2_client.py" --url "$U2T" --token s3cr3t --tool whoami --args '{}'
expect "py2 client without token -> 401 -> MCPError" 1 'MCPError' \
    "$PEERS_PY_MCP2" "$here/mcp2_client.py" --url "$U2T"
expect "py2 client tool error -> isError true" 0 '"isError": true' \
    "$PEERS_PY_MCP2" "$here/mcp2_client.py" --url "$U2" --tool fail --args '{}'
expect "py2 client stdio -> py2 server" 0 '"protocol_version": "2026-07-28".*"text": "5"' \
    "$PEERS_PY_MCP2" "$here/mcp2_client.py" --stdio -- "$PEERS_PY_MCP2" "$here/mcp2_server.py"
expect "py2 client auto -> py1 http (falls back to legacy)" 0 '"protocol_version": "2025-11-25".*"text": "5"' \
    "$PEERS_PY_MCP2" "$here/mcp2_client.py" --url "$U1T" --token tok1
expect "py2 client mode=2026-07-28 -> py1 http fails" 1 'Missing session ID' \
    "$PEERS_PY_MCP2" "$here/mcp2_client.py" --mode 2026-07-28 --url "$U1T" --token tok1

# --- Python SDK 1.x client
expect "py1 client bearer -> py1 http (whoami)" 0 '"text": "Bearer tok1"' \
    "$PEERS_PY_MCP1" "$here/mcp1_client.py" --url "$U1T" --token tok1 --tool whoami --args '{}'
expect "py1 client deprecated headers= -> py1 http" 0 '"text": "Bearer tok1"' \
    "$PEERS_PY_MCP1" "$here/mcp1_client.py" --url "$U1T" --token tok1 --deprecated-headers --tool whoami --args '{}'
expect "py1 client -> py2 http (legacy)" 0 '"protocol_version": "2025-11-25".*"text": "5"' \
    "$PEERS_PY_MCP1" "$here/mcp1_client.py" --url "$U2"
expect "py1 client stdio -> py1 server" 0 '"text": "5"' \
    "$PEERS_PY_MCP1" "$here/mcp1_client.py" --stdio -- "$PEERS_PY_MCP1" "$here/mcp1_server.py"

# --- MCP Inspector CLI
expect "inspector tools/list http + header" 0 '"name": "whoami"' \
    "$PEERS_INSPECTOR" --cli "$U2T" --header "Authorization: Bearer s3cr3t" --method tools/list
expect "inspector tools/call http + header" 0 '"text": "Bearer s3cr3t"' \
    "$PEERS_INSPECTOR" --cli "$U2T" --header "Authorization: Bearer s3cr3t" --method tools/call --tool-name whoami
expect "inspector tools/call modern era" 0 '"text": "42"' \
    "$PEERS_INSPECTOR" --cli "$U2" --protocol-era modern --method tools/call --tool-name add --tool-args-json '{"a":40,"b":2}' -q
expect "inspector tool error -> exit 5" 5 'tool_is_error' \
    "$PEERS_INSPECTOR" --cli "$U2" --method tools/call --tool-name fail --tool-arg message=x
expect "inspector missing token -> exit 3" 3 'auth_required' \
    "$PEERS_INSPECTOR" --cli "$U2T" --method tools/list
expect "inspector stdio everything echo" 0 'Echo: hi' \
    "$PEERS_INSPECTOR" --cli "$PEERS_EVERYTHING" --method tools/call --tool-name echo --tool-arg message=hi -q
expect "inspector unknown tool -> exit 5" 5 'tool_not_found' \
    "$PEERS_INSPECTOR" --cli "$PEERS_EVERYTHING" --method tools/call --tool-name nope -q

# --- server-everything, mitmproxy-mcp, grpc
expect "everything probe (progress/logging/list_changed)" 0 'notifications/tools/list_changed' \
    "$PEERS_PY_MCP1" "$here/everything_probe.py" "$PEERS_EVERYTHING"
expect "mitmproxy-mcp: 25 tools, HAR load + extract" 0 "Extracted and set [$]session = sess-4f9a2c7e" \
    "$PEERS_PY_MCP1" "$here/mitmproxy_mcp_demo.py" "$PEERS_MITMPROXY_MCP"
expect "grpc echo + reflection" 0 'demo.Echo' "$PEERS_PY_GRPC" "$here/grpc_echo_demo.py"

# --- conformance suite against the reference fixture
expect "conformance --suite all vs fixture" 0 'Total: 44 passed, 0 failed' \
    "$PEERS_CONFORMANCE" server --url "$UFX" --suite all
expect "conformance single scenario" 0 'Passed: 2/2, 0 failed' \
    "$PEERS_CONFORMANCE" server --url "$UFX" --scenario dns-rebinding-protection
expect "conformance failing scenario -> exit 1" 1 "Passed: 0/1, 1 failed" \
    "$PEERS_CONFORMANCE" server --url "$U2" --scenario tools-call-image

echo "verify_all: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
