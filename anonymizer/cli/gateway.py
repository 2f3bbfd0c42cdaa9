"""``anonymizer serve``, ``send`` and ``status``: the DICOM gateway."""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from anonymizer.cli import EXIT_SIGNAL, Interrupted, guarded, interrupts, json_line, main
from anonymizer.cli.commands import locate_state
from anonymizer.cli.options import (
    burned_in_option,
    key_option,
    load_secret,
    option_option,
    pixel_plan,
    profile_option,
    project_option,
    vault_option,
    vault_path_for,
)
from anonymizer.evidence import manifest
from anonymizer.gateway.backoff import RetryPolicy
from anonymizer.gateway.deliver import Deliverer, make_sender
from anonymizer.gateway.destination import parse_destination, parse_listen
from anonymizer.gateway.outbox import Item, Outbox
from anonymizer.gateway.service import Gateway, GatewayOptions
from anonymizer.gateway.status import status
from anonymizer.gateway.tls import client_context, server_context
from anonymizer.pipeline.job import Job, default_state_dir
from anonymizer.pipeline.runner import RunOptions
from anonymizer.pipeline.state import StateStore
from anonymizer.pipeline.worker import Limits, tune_gc
from anonymizer.profile.loader import load_profile

F = TypeVar("F", bound=Callable[..., Any])
FOLDER = click.Path(file_okay=False, path_type=Path)
FILE = click.Path(dir_okay=False, exists=True, path_type=Path)


class EventLog:
    """Events as JSON lines on stdout (one lock: several threads emit), or ``event key=value`` lines on stderr."""

    def __init__(self, as_json: bool):
        self.as_json = as_json
        self._lock = threading.Lock()

    def __call__(self, event: dict[str, Any]) -> None:
        with self._lock:
            if self.as_json:
                json_line(event)
            else:
                fields = " ".join(f"{k}={v}" for k, v in event.items() if k != "event")
                click.echo(f"{event['event']}: {fields}".rstrip(": "), err=True)


def _split(values: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(part.strip() for value in values for part in value.split(",") if part.strip())


def _client_tls(ca: Path | None, cert: Path | None, key: Path | None, urls: tuple[str, ...]) -> Any:
    return client_context(ca, cert, key) if any(u.lower().startswith("dicoms://") for u in urls) else None


def _retry(initial: float, ceiling: float, attempts: int = 8) -> RetryPolicy:
    return RetryPolicy(initial=initial, max_delay=max(initial, ceiling), attempts=attempts)


tls_options = [
    click.option("--tls-cert", type=FILE, default=None, help="PEM certificate (chain): serve DICOM over TLS."),
    click.option("--tls-key", type=FILE, default=None, help="PEM private key of --tls-cert."),
    click.option(
        "--tls-ca",
        type=FILE,
        default=None,
        help="PEM CA bundle: senders must show a certificate it signed; dicoms:// destinations are checked against it.",
    ),
]
retry_options = [
    click.option(
        "--retry-initial",
        default=1.0,
        show_default=True,
        type=click.FloatRange(min=0),
        help="Seconds before the first delivery retry.",
    ),
    click.option(
        "--retry-max",
        default=60.0,
        show_default=True,
        type=click.FloatRange(min=0),
        help="Longest wait between delivery retries (doubling up to it).",
    ),
]
log_option = click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="json",
    show_default=True,
    help="json: one JSON object per line on stdout.",
)


def _apply(options: list[Callable[[Any], Any]]) -> Callable[[F], F]:
    """Several click options as one decorator."""

    def decorate(func: F) -> F:
        for option in reversed(options):
            func = option(func)
        return func

    return decorate


@main.command("serve")
@click.option("--listen", "listen_text", required=True, help="AET@HOST:PORT to receive on (AET@PORT: 127.0.0.1).")
@click.option("--out", "out_dir", required=True, type=FOLDER, help="OUT: where the de-identified files go.")
@click.option(
    "--forward",
    multiple=True,
    help="Deliver to dicom://AET@HOST:PORT, dicoms://..., dicomweb+http(s)://HOST/PATH (repeatable).",
)
@click.option(
    "--allow-aet", "allow", multiple=True, help="Calling AE titles allowed to send, comma-separated (default: any)."
)
@click.option(
    "--settle",
    default=30.0,
    show_default=True,
    type=click.FloatRange(min=0.05),
    help="Seconds without an arrival after which a study is processed (also on association release).",
)
@click.option(
    "--spool",
    "spool_dir",
    type=FOLDER,
    default=None,
    help="Spool folder (0700, outside OUT; default: spool/ in the state folder). Holds original data.",
)
@click.option(
    "--drain",
    default=30.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="On SIGTERM, seconds open associations get to finish.",
)
@_apply(tls_options)
@_apply(retry_options)
@profile_option
@option_option
@key_option
@vault_option
@project_option
@click.option("--layout", default=None, help="Output path template (default: the profile's, else the built-in).")
@click.option(
    "--state",
    "state_dir",
    type=FOLDER,
    default=None,
    help="State folder (default: runs/<digest of OUT> beside the vault).",
)
@click.option(
    "--quarantine",
    type=FOLDER,
    default=None,
    help="Copy each instance that fails here with a JSON note (outside OUT; 0700).",
)
@click.option("--retry-failed", is_flag=True, help="Try instances that failed again when their study settles.")
@click.option("--max-file-size", default=4 << 30, show_default=True, type=click.IntRange(1))
@click.option("--file-timeout", default=300.0, show_default=True, type=click.FloatRange(min=0.001))
@burned_in_option
@log_option
@guarded
def serve_command(
    listen_text: str,
    out_dir: Path,
    forward: tuple[str, ...],
    allow: tuple[str, ...],
    settle: float,
    spool_dir: Path | None,
    drain: float,
    tls_cert: Path | None,
    tls_key: Path | None,
    tls_ca: Path | None,
    retry_initial: float,
    retry_max: float,
    profile_name: str,
    options: tuple[str, ...],
    key_file: Path | None,
    vault_path: Path | None,
    project: str | None,
    layout: str | None,
    state_dir: Path | None,
    quarantine: Path | None,
    retry_failed: bool,
    max_file_size: int,
    file_timeout: float,
    burned_in: str | None,
    log_format: str,
) -> None:
    """Receive over DICOM, de-identify each settled study like 'run', deliver to --forward destinations.

    Each received instance is in the spool (synced) before the sender hears success.
    A study is processed when nothing of it arrived for --settle seconds, or when the
    association that sent it is released; OUT is what 'anonymizer run' makes from the same
    instances. Deliveries are retried with exponential backoff, recorded per instance, and
    survive a restart. SIGTERM: no new associations, open ones finish, exit 143.

    \b
    Example:
      anonymizer serve --listen DEID@0.0.0.0:11112 --out /srv/out --key-file project.key \\
          --allow-aet PACS --forward dicom://RESEARCH@research-pacs:104
    """
    listen = parse_listen(listen_text)
    for url in forward:
        parse_destination(url)
    if (tls_cert is None) != (tls_key is None):
        raise click.UsageError("--tls-cert and --tls-key go together")
    plan = pixel_plan(load_profile(profile_name, options), burned_in)
    secret = load_secret(key_file, plan.profile.project if project is None else project)
    vault = vault_path_for(secret, vault_path)
    state = state_dir or default_state_dir(vault, out_dir)
    spool = spool_dir or state / "spool"
    run_options = RunOptions(
        1, 256, False, retry_failed, None, False, False, False, Limits(max_file_size, file_timeout), quarantine
    )
    job = Job(spool, out_dir, plan, secret, vault=vault, state=state, layout=layout, options=run_options)
    server_tls = server_context(tls_cert, tls_key, tls_ca) if tls_cert is not None and tls_key is not None else None
    settings = GatewayOptions(
        listen,
        forward,
        _split(allow),
        settle,
        server_tls,
        _client_tls(tls_ca, tls_cert, tls_key, forward),
        _retry(retry_initial, retry_max),
        drain,
    )
    emit = EventLog(log_format == "json")
    tune_gc()
    try:
        with interrupts(), job:
            if job.created_vault:
                emit({"event": "vault-created", "path": str(vault)})
            Gateway(job, settings, emit).serve()
    except KeyboardInterrupt as exc:  # SIGTERM, SIGINT, SIGHUP: committed; the same command resumes
        signum = exc.signum if isinstance(exc, Interrupted) else signal.SIGINT
        emit({"event": "stopped", "signal": signal.Signals(signum).name})
        raise SystemExit(EXIT_SIGNAL[signum]) from None


@main.command("send")
@click.argument("out_dir", type=FOLDER)
@click.option(
    "--to", "url", required=True, help="dicom://AET@HOST:PORT, dicoms://..., or dicomweb+http(s)://HOST/PATH."
)
@click.option("--aet", default="ANONYMIZER", show_default=True, help="Our calling AE title (DIMSE).")
@click.option(
    "--state", "state_dir", type=FOLDER, default=None, help="Where delivery records live (default: OUT's state folder)."
)
@vault_option
@click.option(
    "--attempts",
    default=8,
    show_default=True,
    type=click.IntRange(1),
    help="Failed attempts in a row before giving up (run again to resume).",
)
@click.option("--retry-failed", is_flag=True, help="Send instances refused before once more.")
@_apply(retry_options)
@_apply(tls_options)
@log_option
@guarded
def send_command(
    out_dir: Path,
    url: str,
    aet: str,
    state_dir: Path | None,
    vault_path: Path | None,
    attempts: int,
    retry_failed: bool,
    retry_initial: float,
    retry_max: float,
    tls_cert: Path | None,
    tls_key: Path | None,
    tls_ca: Path | None,
    log_format: str,
) -> None:
    """Deliver an existing OUT to a destination: each instance once, resumable.

    OUT must hold exactly what its manifest lists (checked by SHA-256 first). What was
    delivered is recorded in the state folder; running the same command again sends
    only what is not delivered yet. Exit 0 when everything is delivered, 1 otherwise.

    \b
    Example:
      anonymizer send dicom-out/ --to dicomweb+https://research.example.org/dicom-web
    """
    sender = make_sender(url, aet, _client_tls(tls_ca, tls_cert, tls_key, (url,)))
    content = manifest.check(out_dir)
    folder = state_dir or locate_state(out_dir, vault_path)
    emit = EventLog(log_format == "json")
    items = [Item(str(f["sop_instance_uid"]), str(f["path"]), str(f["sha256"])) for f in content["files"]]
    stop = threading.Event()
    with StateStore(folder, out_dir, "send"), Outbox(folder) as outbox:  # locks OUT: no run or serve meanwhile
        outbox.queue([url], items)
        if retry_failed:
            outbox.retry_failed(url)
        deliverer = Deliverer(folder, out_dir, url, sender, _retry(retry_initial, retry_max, attempts), emit, stop)
        try:
            with interrupts():
                deliverer.run(until_done=True)
        except KeyboardInterrupt as exc:
            signum = exc.signum if isinstance(exc, Interrupted) else signal.SIGINT
            emit({"event": "stopped", "signal": signal.Signals(signum).name})
            raise SystemExit(EXIT_SIGNAL[signum]) from None
        counts = {s: outbox.count(url, s) for s in ("delivered", "pending", "failed")}
    emit({"event": "send-finished", "destination": url, **counts})
    raise SystemExit(0 if counts["pending"] == counts["failed"] == 0 else 1)


@main.command("status")
@click.argument("out_dir", type=FOLDER)
@click.option(
    "--state", "state_dir", type=FOLDER, default=None, help="The gateway's state folder (default: found for OUT)."
)
@vault_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@guarded
def status_command(out_dir: Path, state_dir: Path | None, vault_path: Path | None, as_json: bool) -> None:
    """Spool depth, pending and failed deliveries per destination, the last error (read-only).

    \b
    Example:
      anonymizer status /srv/out --vault /srv/deid/vault.db
    """
    found = status(state_dir or locate_state(out_dir, vault_path))
    if as_json:
        click.echo(json.dumps(found.as_dict(), sort_keys=True))
        return
    click.echo(f"spool\t{found.spool}")
    click.echo(f"pending\t{found.pending}")
    click.echo(f"failed inputs\t{found.failed_inputs}")
    for destination, counts in found.deliveries.items():
        click.echo(f"{destination}\t" + "\t".join(f"{k} {v}" for k, v in sorted(counts.items())))
    if found.last_error:
        error = found.last_error
        click.echo(f"last error\t{error.get('at')}\t{error.get('destination')}\t{error.get('error')}")
