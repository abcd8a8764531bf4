#!/usr/bin/env bash
# Installs the alternatives the benchmark compares zoom-ws with, into this
# folder only (never globally):
#   bench/node_modules  Node's `ws` package (npm, --prefix bench)
#   bench/.venv         a Python venv with `websocket-client` (pip in the venv)
# Both folders are git-ignored. Idempotent: re-running only checks.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"

WS_VERSION="${WS_VERSION:-8}"
WEBSOCKET_CLIENT_VERSION="${WEBSOCKET_CLIENT_VERSION:-1.9.2}"

if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
    if ! node -e "require('$here/node_modules/ws')" >/dev/null 2>&1; then
        # --prefix keeps it local; package-lock.json pins the version.
        if [ -f "$here/package-lock.json" ]; then
            echo "bench/setup.sh: npm ci (ws, as pinned in bench/package-lock.json) into $here/node_modules"
            npm ci --prefix "$here" --no-audit --no-fund --loglevel=error
        else
            echo "bench/setup.sh: npm install ws@$WS_VERSION into $here/node_modules"
            npm install --prefix "$here" --no-audit --no-fund --loglevel=error "ws@$WS_VERSION"
        fi
    fi
    echo "bench/setup.sh: node $(node --version), ws $(node -p "require('$here/node_modules/ws/package.json').version")"
else
    echo "bench/setup.sh: node/npm not found: the Node client will be skipped" >&2
fi

if command -v python3 >/dev/null 2>&1; then
    if [ ! -x "$here/.venv/bin/python" ]; then
        echo "bench/setup.sh: creating the venv $here/.venv"
        python3 -m venv "$here/.venv"
    fi
    if ! "$here/.venv/bin/python" -c 'import websocket' >/dev/null 2>&1; then
        echo "bench/setup.sh: pip install websocket-client into the venv"
        "$here/.venv/bin/pip" install --quiet --disable-pip-version-check "websocket-client==$WEBSOCKET_CLIENT_VERSION"
    fi
    echo "bench/setup.sh: $("$here/.venv/bin/python" --version), websocket-client $("$here/.venv/bin/python" -c 'import websocket; print(websocket.__version__)')"
else
    echo "bench/setup.sh: python3 not found: the Python client will be skipped" >&2
fi
