"""Tokens, CURVE keys, bind-address checks and dataset-relative paths: the server's trust edges.

Why in one place: each rule here is what keeps a request from another process or machine from
reading or writing what it should not, and they are easier to audit together.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import re
import secrets
from pathlib import Path, PurePosixPath

import zmq

from scenesmith.errors import UserError

_LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1", "[::1]"}


def ensure_token(path: Path) -> str:
    """The server's token from `path`, creating a fresh random one (mode 0600) if it does not exist."""
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(32) + "\n")
    return read_token(path)


def read_token(path: Path) -> str:
    """A token file's first line; a missing or empty file is a user error (CLI exit 2)."""
    try:
        token = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read token file ({exc})") from None
    if len(token) < 16:
        raise UserError(f"{path}: token file must hold a token of at least 16 characters")
    return token


def token_matches(given: object, expected: str) -> bool:
    """Constant-time comparison, so response timing leaks nothing about the token. A string UTF-8
    cannot encode (a lone surrogate, as JSON's "\\ud800" decodes to) is simply not the token: raising
    would answer `internal` and log a traceback for every such request, unauthenticated."""
    if not isinstance(given, str):
        return False
    try:
        given_bytes = given.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return hmac.compare_digest(given_bytes, expected.encode("utf-8"))


def is_loopback(endpoint: str) -> bool:
    """Whether a ZMQ endpoint only accepts connections from this machine (tcp on loopback, ipc)."""
    if endpoint.startswith(("ipc://", "inproc://")):
        return True
    match = re.fullmatch(r"tcp://(.+):(\d+|\*)", endpoint)
    if not match:
        raise UserError(f"--bind {endpoint!r}: expected tcp://HOST:PORT or ipc://PATH")
    host = match.group(1)
    if host in _LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # "*", an interface name or a hostname: reachable from elsewhere


def load_or_create_curve_key(path: Path) -> tuple[bytes, bytes]:
    """(public, secret) Z85 CURVE keys; a missing secret-key file is generated (mode 0600) together
    with `<path>.pub`, the public key clients need (`--server-key`)."""
    path = Path(path)
    if not path.exists():
        public, secret = zmq.curve_keypair()
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(secret + b"\n")
        Path(f"{path}.pub").write_bytes(public + b"\n")
    try:
        secret = path.read_bytes().strip()
        public = zmq.curve_public(secret)
    except (OSError, ValueError, zmq.ZMQError) as exc:
        raise UserError(f"{path}: not a Z85 CURVE secret key ({exc})") from None
    return public, secret


def read_server_key(value: str) -> bytes:
    """A server public key given inline (40 Z85 characters) or as a file holding it."""
    text = value.strip()
    if len(text) != 40 or Path(text).exists():
        try:
            text = Path(value).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise UserError(
                f"--server-key {value!r}: neither a 40-character Z85 key nor a file ({exc})"
            ) from None
    if len(text) != 40:
        raise UserError(f"--server-key {value!r}: a CURVE public key is 40 Z85 characters")
    return text.encode("ascii")


def safe_relative_path(path: str) -> PurePosixPath | None:
    """`path` as a plain relative POSIX path inside its base, or None (absolute, '..', odd parts)."""
    if not path or "\\" in path or "\x00" in path or path.startswith("/"):
        return None
    pure = PurePosixPath(path)
    if pure.is_absolute() or any(part in ("", ".", "..") for part in path.split("/")):
        return None
    return pure


def hide_server_paths(message: str, data_root: Path) -> str:
    """`message` as a client may read it: a path under the data root relative to it (`scenes/x.yaml`,
    as requests name scene files; `jobs/ID/...`), a built-in scene as `builtin:NAME.yaml`, a file of
    the install as `scenesmith/...`.

    Why: error replies and job errors quote file paths, and the absolute ones tell any token holder the
    server's folder layout and user names while giving nothing it can act on. The server's log keeps
    them whole. The longest folder is replaced first, so a data root inside the install stays relative.
    """
    from scenesmith.procedural.composition import builtin_dir

    install = Path(__file__).resolve().parent.parent  # holds the packages api/, procedural/, ...
    folders = sorted(
        [(Path(data_root).resolve(), ""), (builtin_dir().resolve(), "builtin:"), (install, "scenesmith/")],
        key=lambda pair: len(str(pair[0])),
        reverse=True,
    )
    for folder, name in folders:
        # A path only where the folder's name ends: /srv/data must not eat the front of /srv/data2.
        message = re.sub(
            re.escape(str(folder)) + r"(?:/|(?![\w.-]))",
            lambda match, name=name: name if match.group().endswith("/") else name.rstrip(":/") or ".",
            message,
        )
    return message
