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


def shown_pictures(markdown: str) -> list[str]:
    """The report pictures a Markdown report links, in the order it shows them."""
    return list(dict.fromkeys(link.group(1) for link in _PICTURE_LINK.finditer(markdown)))


def remove_unshown_pictures(folder: Path, shown: list[str], prefix: str = "") -> None:
    """Remove every report picture in FOLDER (named PREFIX + picture) that is not in SHOWN.

    Why: a folder holds one report, and everything in it that looks like a report picture is taken for
    that report's (the publisher copies them, readers open them). A picture an earlier report drew and
    this one does not show (an arm left out by --arms, no fraction sweep, no reading matrix) would pass
    for this report's. One rule for the run folder and the published folder, so none is forgotten.
    """
    for path in folder.glob(f"{prefix}*"):
        picture = path.name.removeprefix(prefix)
        if _PICTURE_FILE.fullmatch(picture) and picture not in shown:
            path.unlink()


def publish_run(run: Path, name: str, dest: Path) -> list[Path]:
    """Copy RUN's report.json, report.md (links renamed) and the pictures it shows to DEST as NAME.*;
    the paths written. A picture an earlier run published under NAME and this report does not show is
    removed."""
    if not (run / "report.json").is_file() or not (run / "report.md").is_file():
        raise UserError(f"{run}: no report.json and report.md; run the benchmark (or --report-only)")
    markdown = (run / "report.md").read_text()
    shown = shown_pictures(markdown)
    if missing := [picture for picture in shown if not (run / picture).is_file()]:
        raise UserError(f"{run}/report.md shows {', '.join(missing)}, not in the folder; run --report-only")
    written = []
    for picture in shown:
        target = dest / f"{name}_{picture}"
        atomic_save(target, lambda path, source=run / picture: shutil.copyfile(source, path))
        written.append(target)
    json_path, md_path = dest / f"{name}.json", dest / f"{name}.md"
    atomic_save(json_path, lambda path: shutil.copyfile(run / "report.json", path))
    atomic_write_text(md_path, published_markdown(markdown, name))
    remove_unshown_pictures(dest, shown, prefix=f"{name}_")
    return [json_path, md_path, *written]
