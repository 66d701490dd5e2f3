#!/usr/bin/env bash
# One domain-adaptation study in the layout scripts/publish_adaptation.py reads: the gap of SYNTH to the
# real train split before adaptation, then per method: fit on the real train photos → apply → check
# (label alignment, no-copy) → gap. Steps already done are skipped, so a stopped study resumes.
# Images are adapted with seed 7, the benchmark's synthetic seed, so a study of SYNTH measures the very set
# that `scenesmith benchmark --adapter` trains on (ADAPT_SEED overrides).
# Usage: bash scripts/adaptation_study.sh SYNTH_DIR REAL_COCO STUDY_DIR METHOD [METHOD ...]
#   e.g. bash scripts/adaptation_study.sh "$SCENESMITH_CACHE/synthetic/dice_tray_v5_..." \
#          ../shared/datasets/dice/annotations.json runs/dice_adapt fda histogram sensor
set -euo pipefail
synthetic=$1 real=$2 study=$3
shift 3
mkdir -p "$study/models"
gap() { [[ -f "$2/gap.json" ]] || scenesmith gap "$1" "$real" --split-b train --out "$2"; }
gap "$synthetic" "$study/gap_none"
for method in "$@"; do
  model="$study/models/$method" adapted="$study/adapted_$method"
  [[ -f "$model/adapter.json" ]] || scenesmith adapt train --synthetic "$synthetic" --real "$real" \
    --split train --method "$method" --out "$model"
  scenesmith adapt apply --model "$model" --seed "${ADAPT_SEED:-7}" "$synthetic" "$adapted"
  # exit 1 means a near-copy was found: that is a result to publish, not a failure of the study
  scenesmith adapt check "$adapted" --real "$real" --original "$synthetic" --json "$study/check_$method.json" \
    || [[ $? == 1 ]]
  gap "$adapted" "$study/gap_$method"
done
