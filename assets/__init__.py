"""Small, license-clean assets used by the built-in scenes."""
