# Sourced by the bench scripts: the binary to run, a scratch directory, and the processes started,
# ended (by pid, nothing else) when the script exits.
# Expects to run from the repository root; PORTCULLIS_BIN skips the build and uses that binary.

bin="${PORTCULLIS_BIN:-}"
if [ -z "$bin" ]; then
    cargo build --release -q -p portcullis
    bin="$PWD/target/release/portcullis"
fi
work="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

wait_for_line() { # file pattern: prints the first matching line, or fails after 20 s
    for _ in $(seq 1 400); do
        if grep -q "$2" "$1" 2>/dev/null; then grep -m1 "$2" "$1"; return 0; fi
        sleep 0.05
    done
    echo "timed out waiting for '$2' in $1" >&2; cat "$1" >&2; return 1
}

start_upstream() { # starts the built-in demo server over HTTP; sets $upstream to its URL
    "$bin" demo-server --http 127.0.0.1:0 2>"$work/upstream.log" &
    pids+=($!)
    upstream="$(wait_for_line "$work/upstream.log" 'http://' | grep -o 'http://[^ ]*')"
}
