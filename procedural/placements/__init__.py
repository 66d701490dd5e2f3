"""Plug-ins: every module here registers itself with scenesmith.procedural.registry."""
