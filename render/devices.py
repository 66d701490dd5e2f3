"""Pick the Cycles compute device (GPU if one is usable, else CPU).

Why a module: Cycles reports a backend as *available* when it was compiled in, even on a
machine without the driver (bpy wheels ship CUDA/OptiX/HIP/oneAPI), so "backend enum accepts
OPTIX" is not evidence of a GPU. We only choose a backend that lists at least one non-CPU
device after `refresh_devices()`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from scenesmith.errors import UserError

log = logging.getLogger(__name__)

# Preference order: OptiX (RT cores + OptiX denoiser) > CUDA > HIP > oneAPI > Metal.
GPU_BACKENDS = ("OPTIX", "CUDA", "HIP", "ONEAPI", "METAL")


@dataclass(frozen=True)
class DeviceChoice:
    """What Cycles was told to use."""

    device: str  # 'CPU' or 'GPU' (scene.cycles.device)
    backend: str  # 'NONE' for CPU, else one of GPU_BACKENDS
    names: tuple[str, ...] = field(default_factory=tuple)
    # Cycles device ids when only some GPUs of the backend are used (names of identical GPUs repeat).
    ids: tuple[str, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, Any]:
        return {"device": self.device, "backend": self.backend, "names": list(self.names)}


def _cycles_prefs() -> Any:
    import bpy

    return bpy.context.preferences.addons["cycles"].preferences


def _available_backends(prefs: Any) -> list[str]:
    """Backends this Blender build accepts (the enum is dynamic, so probe by assignment)."""
    found = []
    for backend in GPU_BACKENDS:
        try:
            prefs.compute_device_type = backend
        except (TypeError, ValueError):
            continue
        found.append(backend)
    return found


def available_backends() -> list[str]:
    """GPU backends compiled into this Blender build (not evidence of a GPU, see module doc).

    Probing changes the process-global Cycles preferences, so the previous backend is restored.
    """
    prefs = _cycles_prefs()
    previous = prefs.compute_device_type
    try:
        return _available_backends(prefs)
    finally:
        prefs.compute_device_type = previous


def list_devices() -> dict[str, list[str]]:
    """Cycles devices per backend: {"OPTIX": [...], "CUDA": [...], ..., "CPU": [...]} (names).

    Every backend of GPU_BACKENDS is a key (an empty list when the build lacks it or no device of
    that type was found), then "CPU". Only devices whose type is the backend count: Cycles lists
    the CPU under every backend. For diagnostics (`scenesmith doctor`); the process-global
    preferences (backend, enabled devices) are restored afterwards, so a previous
    `select_device` choice still holds.
    """
    prefs = _cycles_prefs()
    previous = prefs.compute_device_type
    used = {d.id: d.use for d in prefs.devices}
    found: dict[str, list[str]] = {backend: [] for backend in GPU_BACKENDS}
    try:
        for backend in _available_backends(prefs):
            try:
                prefs.compute_device_type = backend
                prefs.refresh_devices()
                found[backend] = [d.name for d in prefs.get_devices_for_type(backend) if d.type == backend]
            except Exception as exc:  # noqa: BLE001 - driver probing can fail in many ways
                log.debug("Cycles backend %s unusable: %s", backend, exc)
        try:
            prefs.compute_device_type = "NONE"
            prefs.refresh_devices()
            found["CPU"] = [d.name for d in prefs.devices if d.type == "CPU"]
        except Exception as exc:  # noqa: BLE001
            log.debug("Cycles CPU device listing failed: %s", exc)
            found["CPU"] = []
    finally:
        prefs.compute_device_type = previous
        for d in prefs.devices:
            if d.id in used:
                d.use = used[d.id]
    return found


def select_device(requested: str = "auto") -> DeviceChoice:
    """Configure Cycles preferences for `requested` ('auto' | 'cpu' | 'gpu') and report it.

    With no usable GPU, both 'auto' and 'gpu' configure the CPU here (with a warning for 'gpu') and
    say so in the returned choice: whether that is acceptable is the caller's decision. The pools and
    benches refuse it for 'gpu' (`check_device`: a GPU demand must not render for hours on the CPU);
    only 'auto' falls back.
    """
    if requested not in ("auto", "cpu", "gpu"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'gpu', got {requested!r}")
    try:
        prefs = _cycles_prefs()
    except (KeyError, AttributeError) as exc:  # pragma: no cover - Cycles always ships with bpy
        log.warning("Cycles add-on preferences unavailable (%s); using CPU", exc)
        return DeviceChoice("CPU", "NONE")

    if requested != "cpu":
        for backend in _available_backends(prefs):
            try:
                prefs.compute_device_type = backend
                prefs.refresh_devices()
                gpus = [d for d in prefs.get_devices_for_type(backend) if d.type == backend]
            except Exception as exc:  # noqa: BLE001 - driver probing can fail in many ways
                log.debug("Cycles backend %s unusable: %s", backend, exc)
                continue
            if not gpus:
                continue
            for d in prefs.devices:
                # Render on the GPUs only; mixing in the CPU slows GPU renders down.
                d.use = d.type == backend
            names = tuple(d.name for d in gpus)
            log.info("Cycles device: GPU via %s (%s)", backend, ", ".join(names))
            return DeviceChoice("GPU", backend, names)
        level = logging.WARNING if requested == "gpu" else logging.INFO
        log.log(level, "No usable Cycles GPU found (requested %r); rendering on CPU", requested)

    try:
        prefs.compute_device_type = "NONE"
        prefs.refresh_devices()
        cpus = tuple(d.name for d in prefs.devices if d.type == "CPU")
    except Exception:  # noqa: BLE001
        cpus = ()
    log.info("Cycles device: CPU (%s)", ", ".join(cpus) or "unknown")
    return DeviceChoice("CPU", "NONE", cpus)


def apply_device(choice: DeviceChoice) -> None:
    """Re-apply a previous choice to the (process-global) Cycles preferences without probing.

    A GPU choice that cannot be re-applied is an error: Cycles would render on the CPU while the
    dataset's record said GPU (and at a CPU's speed). A CPU choice falls back to Cycles' own default,
    which is the CPU anyway.
    """
    try:
        prefs = _cycles_prefs()
        prefs.compute_device_type = choice.backend
        if choice.device == "GPU" and not any(d.type == choice.backend for d in prefs.devices):
            # Another renderer's close() (factory settings) emptied the list: with no device enabled,
            # Cycles would render on the CPU while the settings recorded the GPU.
            prefs.refresh_devices()
        for d in prefs.devices:
            if choice.device != "GPU":
                d.use = d.type == "CPU"
            else:
                d.use = d.type == choice.backend and (not choice.ids or d.id in choice.ids)
        enabled = [d for d in prefs.devices if d.use]
    except Exception as exc:  # noqa: BLE001 - bpy raises plain TypeError/AttributeError/RuntimeError here
        if choice.device == "GPU":
            raise RuntimeError(f"could not re-apply the Cycles GPU device {choice.backend}: {exc}") from exc
        log.debug("could not re-apply Cycles device %s: %s", choice, exc)
        return
    if choice.device == "GPU" and not enabled:
        raise RuntimeError(
            f"Cycles lists no {choice.backend} device {', '.join(choice.names)} any more: it would render "
            "on the CPU"
        )


def restrict_to_gpu(choice: DeviceChoice, index: int) -> DeviceChoice:
    """Keep only the `index`-th GPU of a GPU choice (one worker per GPU); a CPU choice is unchanged.

    Why: Cycles splits one image over every enabled GPU, which scales badly next to running one
    image per GPU in parallel; the pool starts one worker per GPU and gives each its own device.
    """
    if choice.device != "GPU":
        return choice
    prefs = _cycles_prefs()
    gpus = [d for d in prefs.devices if d.type == choice.backend]
    if not 0 <= index < len(gpus):
        raise ValueError(f"GPU index {index} out of range: {len(gpus)} {choice.backend} device(s)")
    chosen = gpus[index]
    for d in prefs.devices:
        d.use = d.id == chosen.id
    return DeviceChoice("GPU", choice.backend, (chosen.name,), (chosen.id,))


def check_device(requested: str, device: dict[str, Any], where: str) -> None:
    """`--device gpu` is a demand: a worker that found no GPU stops the run rather than render for
    hours on the CPU with nothing said (`auto` is the setting that falls back)."""
    if requested == "gpu" and device["device"] != "GPU":
        raise UserError(
            f"--device gpu: the render worker {where} found no usable Cycles GPU (OptiX, CUDA, HIP, "
            "oneAPI or Metal); check the GPU driver, or use --device auto to fall back to the CPU"
        )


def describe_device(device: dict[str, Any]) -> str:
    """'the GPU via OPTIX (NVIDIA H100)' or 'the CPU (…)': the line `--device auto` owes the user."""
    names = ", ".join(device.get("names") or []) or "unknown"
    if device.get("device") == "GPU":
        return f"the GPU via {device.get('backend')} ({names})"
    return f"the CPU ({names})"
