"""scenesmith: procedural, exactly-labelled synthetic datasets rendered with headless Blender.

`scenesmith.generate(...)` is the array API (images and labels in memory, no files); the CLI
(`scenesmith generate ...`) writes datasets to disk.
"""

__version__ = "0.1.0"


def generate(*args, **kwargs):  # noqa: ANN002, ANN003 - thin re-export, documented on the target
    """Render images and labels in memory; see `scenesmith.pipeline.generate`."""
    from scenesmith.pipeline import generate as _generate

    return _generate(*args, **kwargs)
