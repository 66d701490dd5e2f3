"""Publish a finished benchmark run: its report and pictures into a results folder under one name.

Why: several runs' reports sit side by side in `benchmark/results/`, so each run's pictures are
renamed `NAME_<picture>` and the links in its Markdown follow. The picture names live here once, for
`scripts/publish_benchmark.py` and `scripts/recompute_intervals.py` alike, so a picture the report
starts drawing is renamed by both or by neither.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from scenesmith.annotate.atomic import atomic_save, atomic_write_text
from scenesmith.errors import UserError

# Every picture `report.write_report` and the runner draw into a run folder.
PICTURE = r"(?:bars|fractions|curves|reading|predictions|(?:misreads|pseudo_labels)_[a-z0-9_]+)\.(?:png|jpg)"
_PICTURE_FILE = re.compile(PICTURE)
_PICTURE_LINK = re.compile(rf"\]\(({PICTURE})\)")


def published_markdown(text: str, name: str) -> str:
    """A report's Markdown with its picture links pointing at the published copies."""
    return _PICTURE_LINK.sub(lambda link: f"]({name}_{link.group(1)})", text)


def publish_run(run: Path, name: str, dest: Path) -> list[Path]:
    """Copy RUN's report.json, report.md (links renamed) and pictures to DEST as NAME.*; the paths written.

    A picture the run did not draw (no fraction curve without a sweep) is not published, and one an
    earlier run published under NAME is removed: it would sit beside this report as if it were its own.
    """
    if not (run / "report.json").is_file() or not (run / "report.md").is_file():
        raise UserError(f"{run}: no report.json and report.md; run the benchmark (or --report-only)")
    written = []
    for picture in sorted(p for p in run.iterdir() if _PICTURE_FILE.fullmatch(p.name)):
        target = dest / f"{name}_{picture.name}"
        atomic_save(target, lambda path, source=picture: shutil.copyfile(source, path))
        written.append(target)
    json_path, md_path = dest / f"{name}.json", dest / f"{name}.md"
    atomic_save(json_path, lambda path: shutil.copyfile(run / "report.json", path))
    atomic_write_text(md_path, published_markdown((run / "report.md").read_text(), name))
    for earlier in dest.glob(f"{name}_*"):
        if _PICTURE_FILE.fullmatch(earlier.name.removeprefix(f"{name}_")) and earlier not in written:
            earlier.unlink()
    return [json_path, md_path, *written]
