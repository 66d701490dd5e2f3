#!/usr/bin/env bash
# Create .venv (Python 3.11) and install scenesmith with its test tools. Idempotent and quick when
# nothing changed: the install is skipped while pyproject.toml matches the last successful install.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
if ! command -v "$PYTHON" >/dev/null 2>&1; then
    echo "scenesmith needs Python 3.11 (bpy 5.0.x is built for exactly 3.11); set PYTHON=/path/to/python3.11" >&2
    exit 1
fi
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
# EXTRAS: the optional dependency groups to install (scripts/test.sh adds ray for the Ray backend's tests).
EXTRAS=${EXTRAS:-test}
stamp=.venv/.scenesmith-installed
want="$(sha256sum pyproject.toml | cut -d' ' -f1) $EXTRAS"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    .venv/bin/python -m pip install --quiet --upgrade pip
    # torch/torchvision are pinned in pyproject.toml to the builds that pip finds locally here.
    .venv/bin/python -m pip install --quiet -e ".[$EXTRAS]"
    echo "$want" > "$stamp"
fi
