#!/usr/bin/env bash
# Create .venv (Python 3.11) and install scenesmith with its test tools. Idempotent and quick when
# nothing changed: the install is skipped while pyproject.toml matches the last successful install
# and that install already covered the optional groups asked for (EXTRAS).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
if ! command -v "$PYTHON" >/dev/null 2>&1; then
    echo "scenesmith needs Python 3.11 (bpy 5.0.x is built for exactly 3.11); set PYTHON=/path/to/python3.11" >&2
    exit 1
fi
if [ ! -x .venv/bin/python ]; then
    if ! "$PYTHON" -m venv .venv; then
        rm -rf .venv  # half made (no pip): the next run would take it for a working one
        echo "could not create .venv; on Debian/Ubuntu: sudo apt install python3.11-venv" >&2
        exit 1
    fi
fi
# EXTRAS: the optional dependency groups to install (scripts/test.sh adds ray for the Ray backend's tests).
EXTRAS=${EXTRAS:-test}
stamp=.venv/.scenesmith-installed
# The stamp holds pyproject.toml's hash and the groups installed with it (sha256 by Python: macOS has no
# sha256sum).
digest=$(.venv/bin/python -c 'import hashlib; print(hashlib.sha256(open("pyproject.toml", "rb").read()).hexdigest())')
installed=""
if [ -f "$stamp" ] && [ "$(cut -d' ' -f1 "$stamp")" = "$digest" ]; then
    installed=$(cut -s -d' ' -f2 "$stamp")
fi
missing=$(comm -13 <(tr ',' '\n' <<<"$installed" | sort -u) <(tr ',' '\n' <<<"$EXTRAS" | sort -u) | paste -sd, -)
if [ -z "$installed" ] || [ -n "$missing" ]; then
    # Both groups, so switching between the demo's and the tests' EXTRAS does not reinstall each time.
    groups=$( (tr ',' '\n' <<<"$installed"; tr ',' '\n' <<<"$EXTRAS") | { grep -v '^$' || true; } | sort -u | paste -sd, -)
    .venv/bin/python -m pip install --quiet --upgrade pip
    # torch/torchvision are pinned in pyproject.toml to the builds that pip finds locally here.
    .venv/bin/python -m pip install --quiet -e ".[$groups]"
    if ! .venv/bin/python -c "import bpy" 2>/dev/null; then
        echo "bpy (Blender as a Python module) is installed but does not load; it needs the X11/GL" \
            "libraries even headless. On Debian/Ubuntu: sudo apt install libx11-6 libxrender1 libxfixes3" \
            "libxi6 libxkbcommon0 libsm6 libgl1. The error:" >&2
        .venv/bin/python -c "import bpy" >&2 || true
        exit 1
    fi
    echo "$digest $groups" > "$stamp"
fi
