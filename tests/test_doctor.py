"""`scenesmith doctor`, run in-process: one tiny (32×32) draft render."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from scenesmith.cli import main

if importlib.util.find_spec("bpy") is None:  # find_spec: don't import bpy before the doctor times it
    pytest.skip("bpy not installed", allow_module_level=True)


def _run(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    return exit_info.value.code


def test_doctor_prints_and_writes_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "doctor.json"
    assert _run(["doctor", "--size", "32", "--json", str(path)]) == 0
    out = capsys.readouterr().out

    import bpy

    report = json.loads(path.read_text())
    assert set(report) == {"python", "bpy", "devices", "selected", "threads", "render"}
    assert report["python"]["version"] == ".".join(map(str, sys.version_info[:3]))
    assert report["bpy"]["version"] == bpy.app.version_string
    assert report["bpy"]["import_seconds"] >= 0
    if not report["bpy"]["already_imported"]:
        assert report["bpy"]["import_seconds"] > 0

    found = report["devices"]["found"]
    assert list(found) == ["OPTIX", "CUDA", "HIP", "ONEAPI", "METAL", "CPU"]
    assert found["CPU"], "Cycles always lists the CPU"
    selected = report["selected"]
    assert selected["requested"] == "auto" and selected["device"] in ("CPU", "GPU")
    assert any("Cycles device:" in line for line in selected["log"])
    if selected["device"] == "CPU":
        assert not any(found[b] for b in report["devices"]["backends_in_build"])
        assert selected["backend"] == "NONE"
    else:
        assert selected["names"] == found[selected["backend"]]
    assert report["threads"]["blender_threads"] >= 1

    render = report["render"]
    assert (render["scene"], render["size"], render["preset"]) == ("dice_tray", [32, 32], "draft")
    assert (render["samples"], render["adaptive_threshold"], render["denoise"]) == (16, 0.1, True)
    assert render["denoiser"] in ("OPENIMAGEDENOISE", "OPTIX")
    for stage in ("setup", "render_labels", "render_beauty", "readback"):
        assert render["stages_seconds"][stage] > 0, stage
    stages = render["stages_seconds"]
    assert render["total_seconds"] >= stages["setup"] + stages["render"] + stages["readback"]

    for label in ("python", "bpy", "devices", "selected", "threads", "denoiser", "render"):
        assert f"  {label} " in out, label
    assert f"bpy       {bpy.app.version_string} (" in out
    assert f"CPU: {', '.join(found['CPU'])}" in out
    assert "dice_tray 32x32, draft preset (16 samples" in out
    assert "render_beauty" in out and "total" in out


def test_doctor_without_bpy_exits_1_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "bpy", None)  # makes `import bpy` raise ImportError
    assert _run(["doctor", "--size", "32"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("scenesmith: error: cannot import bpy"), lines


def test_doctor_rejects_too_small_size_before_importing_bpy(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "bpy", None)
    assert _run(["doctor", "--size", "4"]) == 2
    assert "--size: expected 8 to 8192 pixels, got 4" in capsys.readouterr().err  # the flag, in its terms


def test_doctor_device_gpu_without_a_gpu_exits_1_after_its_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It fell back to the CPU and exited 0, where `generate --device gpu` refuses: a check script
    took the CPU timing for the GPU's."""
    path = tmp_path / "doctor.json"
    code = _run(["doctor", "--size", "32", "--device", "gpu", "--json", str(path)])
    report = json.loads(path.read_text())  # the report is written either way: it says why
    if report["selected"]["device"] == "GPU":
        assert code == 0
    else:
        assert code == 1 and "--device gpu: no usable Cycles GPU" in capsys.readouterr().err
