"""Errors the CLI turns into exit code 2: input the user can fix (besides scene-rule errors)."""


class UserError(ValueError):
    """Bad input outside the scene rules: output-folder clash, wrong dataset path, bad arguments."""


class DatasetMismatch(UserError):
    """An output folder holds another dataset (other rules, seed, format or scenesmith version).

    Why its own type: the CLI tells the user to pick another `--out`, while the API server, whose
    jobs own their folders, must say what changed and what the job's owner can do instead.
    """

    def __init__(self, message: str, differing: list[str]) -> None:
        super().__init__(message)
        self.differing = differing


def identity_differences(older: dict, newer: dict) -> list[str]:
    """The keys in which two dataset identities differ, a key only one side has included (identities
    name `plugin_revisions` only when some plug-in was revised)."""
    keys = dict.fromkeys([*newer, *older])
    return [k for k in keys if k != "dataset_key" and older.get(k) != newer.get(k)]
