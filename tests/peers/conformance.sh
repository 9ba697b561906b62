#!/usr/bin/env bash
# Runs the official MCP conformance suite (@modelcontextprotocol/conformance, every server scenario)
# against our fixture server three ways: directly, through a Portcullis node with an allow-all policy,
# and through a node with a restrictive policy. Writes the scenario-by-scenario comparison as markdown.
#
# Usage: tests/peers/conformance.sh [OUT.md]      (default: print to stdout)
#   PORTCULLIS_BIN   the portcullis binary (default: target/debug/portcullis, built if missing)
# Exit status 1 when a scenario that passes directly fails through the allow-all gateway, or when the
# restrictive run does not fail exactly as its policy says; 0 otherwise.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
repo="$(cd "$here/../.." && pwd -P)"
out="${1:-/dev/stdout}"
bin="${PORTCULLIS_BIN:-$repo/target/debug/portcullis}"
if [[ ! -x "$bin" ]]; then
    (cd "$repo" && cargo build -q -p portcullis)
fi
eval "$(bash "$here/install.sh" conformance py-mcp1 | sed 's/^/export /')"

work="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

wait_for() { # file pattern -> the first matching line
    for _ in $(seq 1 400); do
        if grep -q "$2" "$1" 2>/dev/null; then grep -m1 "$2" "$1"; return 0; fi
        sleep 0.05
    done
    echo "conformance.sh: timed out waiting for '$2' in $1:" >&2; cat "$1" >&2; return 1
}

port="$("$PEERS_PY_MCP1" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
"$PEERS_PY_MCP1" "$here/examples/conformance_fixture_server.py" --port "$port" 2>"$work/fixture.log" &
pids+=($!)
direct="$(wait_for "$work/fixture.log" READY | awk '{print $2}')"

# A node in front of the fixture; anonymous access because the suite sends no token. Started in this
# shell (not in a command substitution) so its pid reaches the cleanup; its URL lands in $node_url.
start_node() { # name policy-json
    mkdir -p "$work/$1"
    printf '%s' "$2" >"$work/$1/policy.json"
    cat >"$work/$1/portcullis.toml" <<TOML
[listeners]
agent = "127.0.0.1:0"
ops = "127.0.0.1:0"
[audit]
path = "audit.jsonl"
[policies.conformance]
file = "policy.json"
[servers.fixture]
upstream = { type = "http", url = "$direct" }
anonymous_policy = "conformance"
TOML
    "$bin" serve --config "$work/$1/portcullis.toml" --log warn >"$work/$1/serve.out" 2>"$work/$1/serve.log" &
    pids+=($!)
    node_url="http://$(wait_for "$work/$1/serve.out" '^ready' | sed 's/^ready agent=\([^ ]*\).*/\1/')/mcp/fixture"
}
start_node allow '{"version": "1", "default": "allow"}'
allow_url="$node_url"
strict_policy='{"version": "1", "default": "allow", "hide": ["test_image_content"],
  "tools": {"test_simple_text": {"action": "deny", "reason": "denied by the conformance policy"}}}'
start_node strict "$strict_policy"
strict_url="$node_url"

run_suite() { # label url
    mkdir -p "$work/runs/$1"
    # Exit status 1 only says some check failed; the checks themselves are compared below.
    "$PEERS_CONFORMANCE" server --url "$2" --suite all -o "$work/runs/$1" >"$work/runs/$1.log" 2>&1 || true
}
run_suite direct "$direct"
run_suite allow "$allow_url"
run_suite strict "$strict_url"

"$PEERS_PY_MCP1" - "$work/runs" "$out" <<'PY'
import json, pathlib, re, sys

runs, out = pathlib.Path(sys.argv[1]), sys.argv[2]

def load(label):
    """scenario -> (status, checks) where status is pass | warn | FAIL."""
    results = {}
    for checks_file in (runs / label).glob("server-*/checks.json"):
        # server-<scenario>-<YYYY-MM-DDTHH-MM-SS...>
        scenario = re.sub(r"-\d{4}-\d{2}-\d{2}T.*$", "", checks_file.parent.name[len("server-"):])
        checks = json.loads(checks_file.read_text())
        statuses = {c["status"] for c in checks}
        status = "FAIL" if "FAILURE" in statuses else ("warn" if "WARNING" in statuses else "pass")
        results[scenario] = (status, checks)
    return results

direct, allow, strict = load("direct"), load("allow"), load("strict")
if not direct:
    sys.exit("conformance.sh: the suite produced no results against the fixture")

def denied_text(checks):
    for check in checks:
        text = json.dumps(check.get("details", {}))
        if "[POLICY DENIED]" in text:
            return True
    return False

# What the restrictive policy must do: deny test_simple_text with its reason (a tool result, so the suite's
# shallow check still passes: we look for the denial in the details), hide test_image_content (its scenario
# fails); everything else as direct.
expect_strict = {
    "tools-call-simple-text": lambda s, c: denied_text(c),
    "tools-call-image": lambda s, c: s == "FAIL",
}
problems, rows = [], []
for scenario in sorted(direct):
    d = direct[scenario][0]
    a = allow.get(scenario, ("missing", []))[0]
    s_status, s_checks = strict.get(scenario, ("missing", []))
    if d != "FAIL" and a == "FAIL" or a == "missing":
        problems.append(f"{scenario}: passes directly ({d}) but not through the gateway ({a})")
    rule = expect_strict.get(scenario)
    if rule:
        ok = rule(s_status, s_checks)
        note = "denied by policy, reason passed to the client" if scenario == "tools-call-simple-text" else "hidden by policy: the call is refused"
        if not ok:
            problems.append(f"{scenario}: the restrictive policy did not act as written")
    else:
        ok = s_status == a
        note = ""
        if not ok:
            problems.append(f"{scenario}: restrictive run {s_status}, allow-all run {a}")
    rows.append(f"| {scenario} | {d} | {a} | {s_status}{'' if ok else ' (unexpected)'} | {note} |")

passed = lambda r: sum(1 for v in r.values() if v[0] != "FAIL")
lines = [
    "# Conformance: the official MCP suite, directly and through Portcullis",
    "",
    "Generated by `bash tests/peers/conformance.sh docs/conformance.md`: `@modelcontextprotocol/conformance`",
    "`server --suite all` against our fixture server (`tests/peers/examples/conformance_fixture_server.py`,",
    "Python SDK 1.x, Streamable HTTP), then against a Portcullis node in front of it with an allow-all policy,",
    "then with a restrictive policy (`test_simple_text` denied, `test_image_content` hidden).",
    "`pass` = every check succeeded, `warn` = only SHOULD-level warnings, `FAIL` = a check failed.",
    "",
    f"Scenarios passing: direct {passed(direct)}/{len(direct)}, allow-all gateway {passed(allow)}/{len(direct)},"
    f" restrictive gateway {passed(strict)}/{len(direct)}.",
    "",
    "| scenario | direct | gateway, allow-all | gateway, restrictive | note |",
    "|---|---|---|---|---|",
    *rows,
    "",
]
if problems:
    lines += ["## Differences", "", *[f"- {p}" for p in problems], ""]
pathlib.Path(out).write_text("\n".join(lines)) if out != "/dev/stdout" else print("\n".join(lines))
for p in problems:
    print(f"conformance.sh: {p}", file=sys.stderr)
sys.exit(1 if problems else 0)
PY
