"""Copy a finished `scenesmith benchmark` run into benchmark/results/NAME.{json,md} with its pictures.

The pictures become NAME_<picture> (bars, fractions, curves, reading, predictions, misread and
pseudo-label sheets) and the Markdown's links follow, so the committed numbers and pictures are exactly
the run's own. Where benchmark/results/NAME_adapt.json exists, the adaptation study's targets are
recorded in NAME.json beside the arms'.
Usage: python scripts/publish_benchmark.py RUN_FOLDER NAME
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from publish_adaptation import record_in_benchmark

from scenesmith.benchmark.publish import publish_run
from scenesmith.errors import UserError

RESULTS = Path(__file__).resolve().parent.parent / "benchmark" / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="the benchmark's --out folder")
    parser.add_argument("name", help="the published name, e.g. dice")
    args = parser.parse_args()
    try:
        publish_run(args.run, args.name, RESULTS)
    except UserError as error:
        sys.exit(f"publish_benchmark: {error}")
    adapt_path = RESULTS / f"{args.name}_adapt.json"
    if adapt_path.exists():
        record_in_benchmark(RESULTS / f"{args.name}.json", adapt_path)
    print(f"published {args.run} → {RESULTS / args.name}.{{json,md}}")


if __name__ == "__main__":
    main()
