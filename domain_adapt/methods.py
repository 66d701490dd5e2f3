"""Built-in adapter methods: importing this module registers each of them (see adapter.register)."""
