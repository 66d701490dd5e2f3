#!/usr/bin/env bash
# Set everything up, lint, and run the whole test suite. Fails on any failure, and also when no
# test ran at all (pytest exit code 5).
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS=test,ray bash scripts/setup.sh  # ray: the Ray backend's tests run in CI, not skipped
.venv/bin/ruff check .
set +e
.venv/bin/python -m pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
    echo "pytest collected no tests: failing" >&2
    exit 1
fi
exit "$status"
