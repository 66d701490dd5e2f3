"""Rendering: the only package that imports `bpy`.

`scenesmith.render.passes` is bpy-free (the arrays a render returns); `BlenderRenderer` in
`scenesmith.render.blender` imports bpy lazily, so importing this package is cheap.
"""

from scenesmith.render.passes import RenderPasses

__all__ = ["RenderPasses"]
