"""`scenesmith doctor`: what this machine renders with, and how fast, in a few seconds.

Why: "is Blender picking up my GPU?" and "why is one image this slow?" are the first questions on
a new machine, and the answers are scattered (bpy build, Cycles backends, driver libraries,
threads, denoiser). The doctor gathers them and times one small `draft` render of the built-in
`dice_tray` scene through the same `BlenderRenderer` a dataset run uses, split by stage.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import platform
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any, TextIO

from scenesmith.console import output_silenced

DOCTOR_SCENE = "dice_tray"
DOCTOR_PRESET = "draft"
# Stages of `RenderPasses.timings` that the summary shows, in pipeline order.
STAGES = ("setup", "render_labels", "render_beauty", "readback")


class BpyUnavailable(RuntimeError):
    """bpy could not be imported (not installed, wrong Python, missing system libraries)."""


@contextlib.contextmanager
def _native_output_captured(lines: list[str]) -> Iterator[None]:
    """Like `scenesmith.console.output_silenced((1, 2))`, but keep what native code printed (driver probes
    explain a missing GPU, e.g. "CUEW initialization failed") instead of dropping it."""
    if os.environ.get("SCENESMITH_NATIVE_LOG") == "1":
        yield
        return
    with tempfile.TemporaryFile(mode="w+b") as sink:
        sys.stdout.flush()
        sys.stderr.flush()
        saved = {fd: os.dup(fd) for fd in (1, 2)}
        try:
            for fd in saved:
                os.dup2(sink.fileno(), fd)
            yield
        finally:
            ctypes.CDLL(None).fflush(None)  # drain native stdio buffers while they still point at `sink`
            for fd, copy in saved.items():
                os.dup2(copy, fd)
                os.close(copy)
            sink.seek(0)
            text = sink.read().decode("utf-8", errors="replace")
            lines.extend(line.strip() for line in text.splitlines() if line.strip())


class _ListHandler(logging.Handler):
    def __init__(self, records: list[str]) -> None:
        super().__init__(logging.INFO)
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        prefix = f"{record.levelname.lower()}: " if record.levelno >= logging.WARNING else ""
        self.records.append(prefix + record.getMessage())


@contextlib.contextmanager
def _log_captured(logger_name: str, records: list[str]) -> Iterator[None]:
    """Collect INFO+ messages of one logger, whatever the root logger's level is."""
    logger = logging.getLogger(logger_name)
    handler = _ListHandler(records)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _import_bpy() -> tuple[Any, float, bool]:
    already = "bpy" in sys.modules
    started = time.perf_counter()
    try:
        import bpy
    except Exception as exc:  # noqa: BLE001 - ImportError, or OSError for a missing system library
        raise BpyUnavailable(f"cannot import bpy ({type(exc).__name__}: {exc})") from exc
    return bpy, time.perf_counter() - started, already


def run_doctor(device: str = "auto", size: int = 128) -> dict[str, Any]:
    """Probe Python, bpy, Cycles devices and threads, and time one `draft` render at size×size.

    Returns a JSON-able report. Raises BpyUnavailable if bpy cannot be imported, and the usual
    SceneRuleError for a size the scene rules reject (< 8).
    """
    from scenesmith.pipeline import render_settings
    from scenesmith.procedural.build import build_scene
    from scenesmith.procedural.loader import load_scene
    from scenesmith.render.presets import apply_preset

    report: dict[str, Any] = {
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
            "executable": sys.executable,
            "platform": platform.platform(),
        }
    }
    # The scene first: bad input fails before the (slow) bpy import.
    started = time.perf_counter()
    loaded = load_scene(DOCTOR_SCENE, [f"render.resolution=[{int(size)}, {int(size)}]"])
    desc = build_scene(loaded.rules, 0, 0)
    build_seconds = time.perf_counter() - started
    settings = apply_preset(render_settings(loaded, device), DOCTOR_PRESET)

    bpy, import_seconds, already = _import_bpy()
    report["bpy"] = {
        "version": bpy.app.version_string,
        "import_seconds": import_seconds,
        # In a process that already imported bpy the import time is ~0 and says nothing.
        "already_imported": already,
        "build_hash": bpy.app.build_hash.decode() if isinstance(bpy.app.build_hash, bytes) else "",
    }

    from scenesmith.render.devices import GPU_BACKENDS, available_backends, list_devices, select_device

    native: list[str] = []
    device_log: list[str] = []
    with _native_output_captured(native):  # the first probe is the one drivers complain in
        in_build = available_backends()
        found = list_devices()
    # Silenced, not captured: stderr now also carries our own log lines, which `device_log` holds.
    with output_silenced((1, 2)), _log_captured("scenesmith.render.devices", device_log):
        choice = select_device(device)
    report["devices"] = {
        "gpu_backends": list(GPU_BACKENDS),
        "backends_in_build": in_build,
        "found": found,
        "native_messages": native,
    }
    report["selected"] = {"requested": device, **choice.as_dict(), "log": device_log}

    from scenesmith.render.blender import BlenderRenderer

    started = time.perf_counter()
    with BlenderRenderer(settings) as renderer:
        init_seconds = time.perf_counter() - started
        render = renderer.scene.render
        threads = {
            "setting": settings.threads,  # 0 = Blender picks
            "blender_mode": render.threads_mode,
            "blender_threads": int(render.threads),
            "cpu_count": os.cpu_count(),
            "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        }
        started = time.perf_counter()
        passes = renderer.render(desc)
        total_seconds = time.perf_counter() - started
    report["threads"] = threads
    report["render"] = {
        "scene": DOCTOR_SCENE,
        "size": [int(size), int(size)],
        "preset": DOCTOR_PRESET,
        "samples": settings.samples,
        "adaptive_threshold": settings.adaptive_threshold,
        "denoise": settings.denoise,
        "denoiser": passes.settings.get("denoiser"),
        "device": passes.settings.get("device"),
        "objects": len(desc.objects),
        "first_scene_build_seconds": build_seconds,  # includes lazy imports
        "renderer_init_seconds": init_seconds,
        "stages_seconds": {k: float(v) for k, v in passes.timings.items()},
        "total_seconds": total_seconds,
    }
    return report


def _fmt_devices(found: dict[str, list[str]], in_build: list[str]) -> str:
    parts = []
    for backend, names in found.items():
        if names:
            parts.append(f"{backend}: {', '.join(names)}")
        elif backend == "CPU" or backend in in_build:
            parts.append(f"{backend}: none")
        else:
            parts.append(f"{backend}: not in build")
    return " | ".join(parts)


def format_report(report: dict[str, Any]) -> str:
    """The report as aligned plain-text lines (what `scenesmith doctor` prints)."""
    py, bpy_, dev, sel, thr, ren = (
        report["python"], report["bpy"], report["devices"], report["selected"], report["threads"],
        report["render"],
    )  # fmt: skip
    imported = "already imported" if bpy_["already_imported"] else f"import {bpy_['import_seconds']:.2f} s"
    chosen = sel["device"] if sel["device"] == "CPU" else f"GPU via {sel['backend']}"
    lines = [
        ("python", f"{py['version']} ({py['executable']})"),
        ("bpy", f"{bpy_['version']} ({imported})"),
        ("devices", _fmt_devices(dev["found"], dev["backends_in_build"])),
        ("selected", f"{chosen}: {', '.join(sel['names']) or 'unknown'} (requested {sel['requested']!r})"),
    ]
    lines += [("", message) for message in sel["log"]]
    lines += [("driver", message) for message in dev["native_messages"]]
    lines += [
        (
            "threads",
            f"{thr['blender_threads']} ({thr['blender_mode']}; {thr['usable_cpus']} usable of "
            f"{thr['cpu_count']} CPUs)",
        ),
        ("denoiser", str(ren["denoiser"])),
        (
            "render",
            f"{ren['scene']} {ren['size'][0]}x{ren['size'][1]}, {ren['preset']} preset "
            f"({ren['samples']} samples, adaptive {ren['adaptive_threshold']}, "
            f"denoise {'on' if ren['denoise'] else 'off'})",
        ),
    ]
    stages = ren["stages_seconds"]
    lines.append(("", " | ".join(f"{k} {stages.get(k, float('nan')):.3f} s" for k in STAGES)))
    lines.append(
        (
            "",
            f"total {ren['total_seconds']:.3f} s per image (+ once: renderer start "
            f"{ren['renderer_init_seconds']:.2f} s, first scene build "
            f"{ren['first_scene_build_seconds']:.2f} s)",
        )
    )
    return "\n".join(["scenesmith doctor", *(f"  {k:10s}{v}" for k, v in lines)])


def print_report(report: dict[str, Any], file: TextIO | None = None) -> None:
    print(format_report(report), file=file or sys.stdout)
