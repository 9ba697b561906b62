#!/usr/bin/env bash
# Stops exactly the nodes cluster/local/up.sh started (the pids it recorded), SIGTERM first, then
# SIGKILL after 10 s. Data directories stay, so up.sh restarts the same cluster; delete
# $PORTCULLIS_LOCAL_DIR (default target/cluster-local) to start over.
set -euo pipefail
cd "$(dirname "$0")/../.."
work="${PORTCULLIS_LOCAL_DIR:-target/cluster-local}"
[ -s "$work/pids" ] || { echo "no local cluster recorded in $work/pids" >&2; exit 0; }

ours() { # pid: still a portcullis process (not a recycled pid)?
    kill -0 "$1" 2>/dev/null && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -q 'portcullis serve'
}
mapfile -t pids <"$work/pids"
for pid in "${pids[@]}"; do ours "$pid" && kill -TERM "$pid"; done
for _ in $(seq 1 100); do
    alive=0
    for pid in "${pids[@]}"; do ours "$pid" && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
done
for pid in "${pids[@]}"; do
    if ours "$pid"; then echo "pid $pid did not stop on SIGTERM: killing it" >&2; kill -KILL "$pid"; fi
done
: >"$work/pids"
echo "stopped ${#pids[@]} node(s)"
