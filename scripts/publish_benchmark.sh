#!/usr/bin/env bash
# Copy a finished `scenesmith benchmark` run into benchmark/results/NAME.{json,md} with its plots as
# NAME_*.png, so the committed numbers and pictures are exactly the run's own.
# Usage: bash scripts/publish_benchmark.sh RUN_FOLDER NAME
set -euo pipefail
run=$1
name=$2
dest="$(dirname "$0")/../benchmark/results"
cp "$run/report.json" "$dest/$name.json"
for plot in bars fractions curves predictions; do
  cp "$run/$plot.png" "$dest/${name}_$plot.png"
done
sed -E "s/\]\((bars|fractions|curves|predictions)\.png\)/](${name}_\1.png)/" "$run/report.md" > "$dest/$name.md"
echo "published $run → $dest/$name.{json,md}"
