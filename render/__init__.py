"""Rendering: the only package that imports `bpy`.

`scenesmith.render.passes` and `scenesmith.render.settings` are bpy-free (the arrays a render
returns, and how to render); `BlenderRenderer` in `scenesmith.render.blender` imports bpy lazily,
so importing this package is cheap.
"""

from scenesmith.render.passes import RenderPasses
from scenesmith.render.settings import RenderSettings

__all__ = ["RenderPasses", "RenderSettings"]
