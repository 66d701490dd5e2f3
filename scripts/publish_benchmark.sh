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
if [[ -f "$dest/${name}_adapt.json" ]]; then  # the adaptation study's targets, recorded beside the arms'
  python3 - "$dest/$name.json" "$dest/${name}_adapt.json" <<'PY'
import json
import sys
from pathlib import Path

bench_path, adapt_path = Path(sys.argv[1]), Path(sys.argv[2])
bench, adapt = json.loads(bench_path.read_text()), json.loads(adapt_path.read_text())
per_adapter = {}
for method, study in adapt["adapters"].items():
    gain = bench["headline"].get(f"adapted_{method}_only_minus_synthetic_only_points")
    per_adapter[method] = {
        "image_auc_drop": study["auc_target"]["drop"],
        "image_auc_drop_met": study["auc_target"]["met"],
        "label_alignment": study["label_alignment"],
        "label_alignment_met": study["alignment_met"],
        "near_copies": study["near_copies"],
        "adapted_only_minus_synthetic_only_points": None if gain is None else gain["value"],
    }
bench["domain_adaptation"] = {"study": adapt_path.name, "image_auc_before": adapt["before"]["image_auc"],
                              "adapters": per_adapter}
bench_path.write_text(json.dumps(bench, indent=2) + "\n")
PY
fi
sed -E "s/\]\((bars|fractions|curves|reading|predictions)\.(png|jpg)\)/](${name}_\1.\2)/" "$run/report.md" > "$dest/$name.md"
echo "published $run → $dest/$name.{json,md}"
