"""Scene rules (YAML) → validated, seeded, pure-data scene descriptions. Never imports bpy."""
