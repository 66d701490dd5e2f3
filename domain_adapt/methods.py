"""Built-in adapter methods: importing this module registers each of them (see adapter.register)."""

from scenesmith.domain_adapt import fda, histogram, learned_methods, sensor_fit  # noqa: F401
