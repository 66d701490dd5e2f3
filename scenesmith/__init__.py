"""scenesmith: procedural, exactly-labelled synthetic datasets rendered with headless Blender.

`scenesmith.generate(...)` is the array API (images and labels in memory, no files); the CLI
(`scenesmith generate ...`) writes datasets to disk.
"""

__version__ = "0.1.0"
