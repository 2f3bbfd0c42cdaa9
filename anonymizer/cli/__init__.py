"""The ``anonymizer`` command: the only place that prints, reads the environment or exits.

Exit codes (every command):

\b
  0    done: every input has an output or was skipped by design; verify found nothing
  1    some files failed (now or in an earlier run not retried), OUT's storage failed,
       OUT and its manifest disagree, or verify found something
  2    usage, profile or state error (OUT locked or made with another profile/key/layout)
  3    key or vault error (wrong key, damaged vault, not OUT's vault)
  129  interrupted by SIGHUP, 130 by SIGINT (Ctrl-C), 143 by SIGTERM: what was done is
       committed; run the same command to resume

With ``--log-format json`` every line the command writes, on stdout and stderr, is one
JSON object: events, errors, and other libraries' log records (with safe fields only).
"""

from __future__ import annotations

import functools
import importlib
import json
import logging
import signal
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar, TypeVar

import click

from anonymizer.errors import AnonymizerError
from anonymizer.version import __version__

F = TypeVar("F", bound=Callable[..., Any])
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_KEY = 0, 1, 2, 3
# 128 + the signal's number on POSIX (SIGHUP does not exist on Windows)
EXIT_SIGNAL: dict[int, int] = {
    number: 128 + int(number)
    for number in (getattr(signal, name, None) for name in ("SIGHUP", "SIGINT", "SIGTERM"))
    if number is not None
}
# Every error code (anonymizer.errors) and the exit code it ends a command with.
EXIT_CODES = {
    "profile": EXIT_USAGE,
    "folders": EXIT_USAGE,
    "state": EXIT_USAGE,
    "cluster": EXIT_USAGE,
    "gateway": EXIT_USAGE,
    "key": EXIT_KEY,
    "vault": EXIT_KEY,
    "manifest": EXIT_FAILED,
    "storage": EXIT_FAILED,
    "input": EXIT_FAILED,
    "token-collision": EXIT_FAILED,
    "action": EXIT_FAILED,
    "error": EXIT_FAILED,
}
OUR_LOGGERS = ("anonymizer",)  # their messages carry safe fields only; other libraries' are dropped in JSON


class Interrupted(KeyboardInterrupt):
    """SIGINT, SIGTERM or SIGHUP arrived: stop, commit what is done, exit 128 + the signal."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def json_line(record: dict[str, Any], stream: Any = None) -> None:
    """One JSON object on one line (stdout unless ``stream``), flushed."""
    out = stream or sys.stdout
    out.write(json.dumps(record, sort_keys=True) + "\n")
    out.flush()


def asks_for_json(argv: Sequence[str]) -> bool:
    """Does a command line ask for JSON logs (``--log-format json`` or ``--log-format=json``)?"""
    args = list(argv)
    pairs = zip(args, [*args[1:], ""][: len(args)], strict=True)
    return any((a == "--log-format" and b == "json") or a == "--log-format=json" for a, b in pairs)


def json_mode() -> bool:
    """Is this command writing JSON logs (set by :class:`Main` from its command line)?"""
    ctx = click.get_current_context(silent=True)
    return bool(ctx is not None and (ctx.find_root().obj or {}).get("json"))


def report_error(code: str, message: str) -> None:
    """An error as one line on stderr: JSON in JSON mode, else ``error: code: message``."""
    if json_mode():
        json_line({"event": "error", "code": code, "message": message}, sys.stderr)
    else:
        click.echo(f"error: {code}: {message}", err=True)


def guarded(func: F) -> F:
    """Turn library errors into one line on stderr and the exit code :data:`EXIT_CODES` gives."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except AnonymizerError as exc:
            report_error(exc.code, str(exc))
            sys.exit(EXIT_CODES.get(exc.code, EXIT_FAILED))

    return wrapper  # type: ignore[return-value]


@contextmanager
def interrupts() -> Iterator[None]:
    """SIGTERM and SIGHUP raise :class:`Interrupted` like Ctrl-C does; once, then they are ignored."""

    def stop(signum: int, frame: object) -> None:
        for number in EXIT_SIGNAL:
            signal.signal(number, signal.SIG_IGN)  # the cleanup is not interrupted in turn
        raise Interrupted(signum)

    previous = {number: signal.signal(number, stop) for number in EXIT_SIGNAL}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


class _SafeRecords(logging.Handler):
    """Log records as JSON lines (or text lines): ours with their message, others' without.

    Other libraries' messages (and Python warnings) can quote values or paths, so in JSON
    mode only the logger, the level and a warning's category are kept.
    """

    def __init__(self, as_json: bool):
        super().__init__(logging.INFO)
        self.as_json = as_json

    def emit(self, record: logging.LogRecord) -> None:
        ours = record.name.split(".")[0] in OUR_LOGGERS
        if self.as_json:
            fields: dict[str, Any] = {"event": "log", "logger": record.name, "level": record.levelname}
            if ours:
                fields["message"] = record.getMessage()
            json_line(fields, sys.stderr)
        elif ours or record.levelno >= logging.ERROR:
            sys.stderr.write(f"{record.levelname.lower()}: {record.name}: {record.getMessage() if ours else ''}\n")


def _configure_logging(as_json: bool) -> None:
    root = logging.getLogger()
    root.handlers[:] = [_SafeRecords(as_json)]
    root.setLevel(logging.WARNING)
    logging.getLogger("pydicom").disabled = True  # its messages quote element values
    logging.getLogger("distributed").setLevel(logging.ERROR)
    warnings.simplefilter("ignore")  # library warnings quote values (pydicom); the engine's own are events


class Main(click.Group):
    """The command group; in JSON mode its usage errors are JSON lines too.

    The gateway's commands are imported when one of them is asked for (or ``--help``
    lists them): ``run`` does not pay for pynetdicom and an HTTP client at start-up.
    """

    LAZY: ClassVar[dict[str, str]] = {"serve": "gateway", "send": "gateway", "status": "gateway"}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self.LAZY))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.LAZY and cmd_name not in self.commands:
            importlib.import_module(f"anonymizer.cli.{self.LAZY[cmd_name]}")
        return super().get_command(ctx, cmd_name)

    def main(self, args: Sequence[str] | None = None, *extra: Any, **kwargs: Any) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        as_json = asks_for_json(argv)
        kwargs["obj"] = {"json": as_json}
        if not as_json or not kwargs.get("standalone_mode", True):
            return super().main(argv, *extra, **kwargs)
        try:
            super().main(argv, *extra, **{**kwargs, "standalone_mode": False})
        except click.ClickException as exc:
            json_line({"event": "error", "code": "usage", "message": exc.format_message()}, sys.stderr)
            sys.exit(exc.exit_code)
        except click.exceptions.Abort:
            json_line({"event": "error", "code": "interrupted", "message": "interrupted"}, sys.stderr)
            sys.exit(EXIT_SIGNAL[signal.SIGINT])
        sys.exit(EXIT_OK)


@click.group(cls=Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, package_name="anonymizer-dicom")
def main() -> None:
    """De-identify DICOM files with PS3.15 profiles.

    \b
    Exit codes: 0 done, 1 files failed / storage fault / findings, 2 usage or profile
    error, 3 key or vault error, 129/130/143 interrupted by SIGHUP/SIGINT/SIGTERM.

    \b
    Example:
      anonymizer keygen project.key
      anonymizer run dicom-in/ dicom-out/ --profile research --key-file project.key
    """
    _configure_logging(json_mode())


from anonymizer.cli import commands, profiles, vault, verify  # noqa: E402,F401  (registers the commands)
