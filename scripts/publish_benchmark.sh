#!/usr/bin/env bash
# Copy a finished `scenesmith benchmark` run into benchmark/results/NAME.{json,md} with its plots as
# NAME_*.png / NAME_predictions.jpg, so the committed numbers and pictures are exactly the run's own.
# Usage: bash scripts/publish_benchmark.sh RUN_FOLDER NAME
set -euo pipefail
run=$1
name=$2
dest="$(dirname "$0")/../benchmark/results"
cp "$run/report.json" "$dest/$name.json"
for plot in bars.png fractions.png curves.png predictions.jpg; do
  cp "$run/$plot" "$dest/${name}_$plot"
done
if [[ -f "$run/reading.png" ]]; then  # absent when the run's scores predate the reading matrix
  cp "$run/reading.png" "$dest/${name}_reading.png"
fi
for sheet in "$run"/misreads_*.jpg; do  # the misread real validation dice, when the report drew them
  if [[ -f "$sheet" ]]; then cp "$sheet" "$dest/${name}_$(basename "$sheet")"; fi
done
# the adaptation study's targets, recorded beside the arms' (when NAME_adapt.json exists)
python3 "$(dirname "$0")/publish_adaptation.py" --record "$name"
sed -E "s/\]\((bars|fractions|curves|reading|predictions|misreads_[a-z0-9_]+)\.(png|jpg)\)/](${name}_\1.\2)/" "$run/report.md" > "$dest/$name.md"
echo "published $run → $dest/$name.{json,md}"
