#!/usr/bin/env bash
# Set everything up, render a small labelled dataset of the built-in dice_tray scene, draw a
# contact sheet of it, and say where both are.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
OUT=${OUT:-out/dice_tray_demo}
.venv/bin/scenesmith generate dice_tray --count "${COUNT:-8}" --seed 0 --resolution 320x320 --samples 16 --out "$OUT"
.venv/bin/scenesmith sheet "$OUT" --out "$OUT/contact_sheet.png"
echo "Done. Images, masks, depth and COCO annotations are in $(cd "$OUT" && pwd)"
