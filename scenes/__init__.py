"""Built-in scene rule files (YAML), one per domain; see README.md here."""
