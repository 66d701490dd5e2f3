"""Errors the CLI turns into exit code 2: input the user can fix (besides scene-rule errors)."""


class UserError(ValueError):
    """Bad input outside the scene rules: output-folder clash, wrong dataset path, bad arguments."""
