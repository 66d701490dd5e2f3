"""CLI commands of the service: `serve`, `submit`, `status`, `cancel`, `delete`, `resume`, `fetch` and
`bench api`.

Kept here rather than in `scenesmith/cli.py` so that file only gains one hook line; the commands
follow its conventions (a user error, an error reply or an unreachable server exits 2 with one
line on stderr).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from scenesmith.api.protocol import JOB_ID_RE, MAX_LIST_LIMIT

DEFAULT_SERVER = "tcp://127.0.0.1:5555"


def add_api_parsers(commands: argparse._SubParsersAction, benches: argparse._SubParsersAction) -> None:
    """Register the service's subcommands on the main parser (and `bench api` on `bench`)."""
    from scenesmith import cli as base

    p = commands.add_parser("serve", help="run the API server (ZMQ): jobs, status, fetch, live streaming")
    p.add_argument("--bind", default=DEFAULT_SERVER, help="ZMQ endpoint (default: loopback only)")
    p.add_argument("--data-root", default="scenesmith_data", help="jobs, job database, token, scenes/")
    p.add_argument("--token-file", help="token every request must carry (default: DATA_ROOT/token, created)")
    p.add_argument("--curve-key", help="CURVE secret key file (created with FILE.pub); required off loopback")
    p.add_argument("--device", choices=["auto", "cpu", "gpu"], default="auto", help="render device")
    p.add_argument(
        "--workers", type=base._positive_int, help="render processes (default: one per GPU, else 1)"
    )
    p.add_argument("--image-timeout", type=base._positive_float, default=600.0, metavar="S")
    p.add_argument("--max-count", type=base._positive_int, default=10_000, help="cap on images per job")
    p.add_argument("--max-resolution", type=base._positive_int, default=2048, help="cap on pixels a side")
    p.add_argument("--max-samples", type=base._positive_int, default=1024, help="cap on Cycles samples")
    p.add_argument("--max-active-jobs", type=base._positive_int, default=1000, help="cap on queued+running")
    p.add_argument("--max-request-bytes", type=base._positive_int, default=1 << 20, help="request size limit")
    p.set_defaults(run=_cmd_serve)

    p = commands.add_parser("submit", help="queue a job on a server; prints its id")
    base._add_scene_arguments(p)
    _add_client_arguments(p)
    p.add_argument("--count", type=base._positive_int, required=True)
    p.add_argument("--seed", type=base._non_negative_int, default=0)
    p.add_argument("--resolution", type=base._resolution, help="WIDTHxHEIGHT (default: the scene's)")
    p.add_argument("--samples", type=base._samples, help="Cycles samples (default: the scene's)")
    p.add_argument("--image-format", choices=["png", "jpg"], default="png")
    p.add_argument("--outputs", help="files served per sample, comma-separated (default: all of "
                   "image,meta,instance,semantic,depth; image and meta are required)")  # fmt: skip
    p.add_argument("--wait", action="store_true", help="follow the job until it ends")
    p.set_defaults(run=_cmd_submit)

    p = commands.add_parser(
        "status", help="a job's state, progress, images/s and ETA (no JOB: the newest jobs, oldest first)"
    )
    p.add_argument("job", nargs="?", type=_job_id)
    p.add_argument(
        "--limit",
        type=_list_limit,
        default=100,
        metavar="N",
        help=f"with no JOB: list the newest N jobs (default 100, at most {MAX_LIST_LIMIT})",
    )
    _add_client_arguments(p)
    p.add_argument("--json", action="store_true", help="print the raw status JSON")
    p.set_defaults(run=_cmd_status)

    p = commands.add_parser("cancel", help="cancel a job (finished images are kept)")
    p.add_argument("job", type=_job_id)
    _add_client_arguments(p)
    p.set_defaults(run=_cmd_cancel)

    p = commands.add_parser(
        "delete", help="forget a finished, failed or cancelled job and remove its dataset on the server"
    )
    p.add_argument("job", type=_job_id)
    _add_client_arguments(p)
    p.set_defaults(run=_cmd_delete)

    p = commands.add_parser(
        "resume", help="queue a failed or cancelled job again: it renders only the images it is missing"
    )
    p.add_argument("job", type=_job_id)
    p.add_argument("--wait", action="store_true", help="follow the job until it ends")
    _add_client_arguments(p)
    p.set_defaults(run=_cmd_resume)

    p = commands.add_parser("fetch", help="copy a job's dataset from a server (resumes a partial copy)")
    p.add_argument("job", type=_job_id)
    p.add_argument("--out", required=True, help="folder to write the dataset into")
    _add_client_arguments(p)
    p.set_defaults(run=_cmd_fetch, resumes=True)

    b = benches.add_parser(
        "api", help="status latency under concurrent clients; streaming vs disk throughput"
    )
    b.add_argument("--scene", default="dice_tray")
    b.add_argument("--count", type=base._positive_int, default=40, help="images of the benchmark job")
    b.add_argument("--resolution", type=base._resolution, default=(48, 48))
    b.add_argument("--samples", type=base._samples, default=1)
    b.add_argument("--clients", type=base._positive_int, default=20)
    b.add_argument("--requests", type=base._positive_int, default=50, help="status calls per client")
    b.add_argument(
        "--stream-repeats", type=base._positive_int, default=5, help="epochs over the finished job"
    )
    b.add_argument("--json", help="also write the numbers to this JSON file")
    b.set_defaults(run=_cmd_bench_api)


def _add_client_arguments(parser: argparse.ArgumentParser) -> None:
    from scenesmith import cli as base

    group = parser.add_argument_group("server")
    group.add_argument(
        "--server", default=os.environ.get("SCENESMITH_SERVER", DEFAULT_SERVER), help="server ZMQ endpoint"
    )
    group.add_argument(
        "--token-file",
        help="file holding the server's token (or set SCENESMITH_TOKEN_FILE to it, or SCENESMITH_TOKEN)",
    )
    group.add_argument("--server-key", help="server CURVE public key (40 chars, or a file) for non-loopback")
    group.add_argument(
        "--timeout", type=base._positive_float, default=30.0, metavar="S", help="seconds per try (3 tries)"
    )


def _job_id(text: str) -> str:
    """Checked here, so a mistyped id is not sent (or, with no server, not waited on for 3 tries)."""
    if not JOB_ID_RE.fullmatch(text):
        raise argparse.ArgumentTypeError(f"expected a job id: 16 hex digits, as submit prints; got {text!r}")
    return text


def _list_limit(text: str) -> int:
    """`status --limit`: checked here, where the server's cap can be named, not as a bad_request."""
    from scenesmith import cli as base

    value = base._positive_int(text)
    if value > MAX_LIST_LIMIT:
        raise argparse.ArgumentTypeError(f"expected at most {MAX_LIST_LIMIT} (the server's cap), got {value}")
    return value


def _client(args: argparse.Namespace):  # noqa: ANN202 - scenesmith.api.Client
    from scenesmith.api.client import Client

    return Client(args.server, token_file=args.token_file, server_key=args.server_key, timeout_s=args.timeout)


def _cmd_serve(args: argparse.Namespace) -> int:
    from scenesmith.api.jobs import Limits
    from scenesmith.api.server import ServerConfig, serve
    from scenesmith.render.pool import PoolConfig

    config = ServerConfig(
        bind=args.bind,
        data_root=Path(args.data_root),
        token_file=Path(args.token_file) if args.token_file else None,
        curve_key=Path(args.curve_key) if args.curve_key else None,
        device=args.device,
        pool=PoolConfig(workers=args.workers, timeout_s=args.image_timeout),
        limits=Limits(
            max_count=args.max_count,
            max_resolution=args.max_resolution,
            max_samples=args.max_samples,
            max_active_jobs=args.max_active_jobs,
            max_request_bytes=args.max_request_bytes,
        ),
    )
    return serve(config)


def _cmd_submit(args: argparse.Namespace) -> int:
    from scenesmith.api.client import ApiError
    from scenesmith.cli import Terminated
    from scenesmith.errors import UserError

    scene: str | None = args.scene
    scene_yaml = None
    path = Path(args.scene)
    if path.suffix in {".yaml", ".yml"} or path.is_file():
        try:
            scene_yaml, scene = path.read_text(encoding="utf-8"), None
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"{args.scene}: cannot read scene file ({exc})") from None
    outputs = [o.strip() for o in args.outputs.split(",")] if args.outputs else None
    with _client(args) as client:
        try:
            job = client.submit(
                scene,
                scene_yaml=scene_yaml,
                count=args.count,
                seed=args.seed,
                overrides=args.overrides,
                resolution=args.resolution,
                samples=args.samples,
                image_format=args.image_format,
                outputs=outputs,
            )
        except ApiError as exc:  # the server knows the file's text as "request": name the file
            if scene_yaml is None or not exc.message.startswith("request"):
                raise
            raise ApiError(exc.code, args.scene + exc.message.removeprefix("request")) from None
        print(job, flush=True)
        if not args.wait:
            return 0
        try:
            status = _follow(client, job)
        except Terminated:
            raise  # SIGTERM: the CLI's own exit (143) and message
        except KeyboardInterrupt:  # the job is queued: running the command again would queue another
            print(
                f"scenesmith: stopped following; job {job} goes on on the server "
                f"(`scenesmith status {job}` follows it, `scenesmith cancel {job}` stops it)",
                file=sys.stderr,
            )
            return 130
    return 0 if status["state"] == "complete" else 1


def _follow(client: Any, job: str) -> dict[str, Any]:
    import time

    last = None
    while True:
        status = client.status(job)
        line = _status_line(status)
        if line != last:
            print(line, file=sys.stderr, flush=True)
            last = line
        if status["state"] in ("complete", "failed", "cancelled"):
            return status
        time.sleep(1.0)


def _status_line(status: dict[str, Any]) -> str:
    parts = [status["id"], status["state"], f"{status['done']}/{status['total']}"]
    if status.get("images_per_s"):
        parts.append(f"{status['images_per_s']:.3g} img/s")
    if status.get("eta_s") is not None:
        parts.append(f"ETA {status['eta_s']:.0f} s")
    if status.get("position") is not None:
        parts.append(f"queue position {status['position']}")
    if status.get("error"):
        parts.append(f"error: {status['error']}")
    return "  ".join(parts)


def _cmd_status(args: argparse.Namespace) -> int:
    with _client(args) as client:
        statuses = [client.status(args.job)] if args.job else client.list(args.limit)
    for status in statuses:
        print(json.dumps(status) if args.json else _status_line(status))
    if not args.job and len(statuses) == args.limit:  # older jobs may exist: say that the list is cut
        print(
            f"scenesmith: the newest {args.limit} jobs; older ones may exist "
            f"(--limit up to {MAX_LIST_LIMIT})",
            file=sys.stderr,
        )
    return 0


def _cmd_cancel(args: argparse.Namespace) -> int:
    with _client(args) as client:
        print(_status_line(client.cancel(args.job)))
    return 0


def _cmd_delete(args: argparse.Namespace) -> int:
    with _client(args) as client:
        client.delete(args.job)
    print(f"job {args.job} deleted: its dataset on the server is removed")
    return 0


def _cmd_resume(args: argparse.Namespace) -> int:
    with _client(args) as client:
        print(_status_line(client.resume(args.job)), flush=True)
        if args.wait:
            return 0 if _follow(client, args.job)["state"] == "complete" else 1
    return 0


def _cmd_fetch(args: argparse.Namespace) -> int:
    """Exit 0 only for a complete dataset: a script that fetches and then trains must not train on
    the part of a running, failed or cancelled job without being told."""
    with _client(args) as client:
        status = client.status(args.job)  # before the copy: a job that completes during it was not whole
        out = client.fetch(args.job, Path(args.out))
    if status["state"] == "complete":
        print(f"dataset: {out.resolve()}")
        return 0
    from scenesmith.api.protocol import TERMINAL_STATES

    done = status["done"]
    copied = f"copied the {done}+ images finished to {out.resolve()}" if done else "no image was finished"
    then = (
        f"`scenesmith resume {args.job}` renders the rest"
        if status["state"] in TERMINAL_STATES
        else "fetch again when it is complete"
    )
    print(
        f"scenesmith: job {args.job} is {status['state']} ({done}/{status['total']}): {copied}; {then}",
        file=sys.stderr,
    )
    return 1


def _cmd_bench_api(args: argparse.Namespace) -> int:
    from scenesmith.api.bench import run_api_benchmark
    from scenesmith.cli import _print_and_save

    result = run_api_benchmark(
        scene=args.scene,
        count=args.count,
        resolution=args.resolution,
        samples=args.samples,
        clients=args.clients,
        requests=args.requests,
        stream_repeats=args.stream_repeats,
    )
    _print_and_save(result, args.json)
    return 0
