"""The ``anonymizer`` command: the only place that prints, reads the environment or exits.

Exit codes: 0 all done, 1 some files failed, 2 usage or profile error, 3 key or vault error.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from anonymizer.errors import AnonymizerError
from anonymizer.version import __version__

F = TypeVar("F", bound=Callable[..., Any])
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_KEY = 0, 1, 2, 3
# Every error code (anonymizer.errors) and the exit code it ends a command with.
EXIT_CODES = {
    "profile": EXIT_USAGE,
    "folders": EXIT_USAGE,
    "state": EXIT_USAGE,
    "cluster": EXIT_USAGE,
    "key": EXIT_KEY,
    "vault": EXIT_KEY,
    "manifest": EXIT_FAILED,
    "storage": EXIT_FAILED,
    "input": EXIT_FAILED,
    "token-collision": EXIT_FAILED,
    "action": EXIT_FAILED,
    "error": EXIT_FAILED,
}


def guarded(func: F) -> F:
    """Turn library errors into one line on stderr and the exit code :data:`EXIT_CODES` gives."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except AnonymizerError as exc:
            click.echo(f"error: {exc.code}: {exc}", err=True)
            sys.exit(EXIT_CODES.get(exc.code, EXIT_FAILED))

    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, package_name="anonymizer-dicom")
def main() -> None:
    """De-identify DICOM files with PS3.15 profiles.

    \b
    Example:
      anonymizer keygen project.key
      anonymizer run dicom-in/ dicom-out/ --profile research --key-file project.key
    """
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)
    logging.getLogger("pydicom").disabled = True  # its messages quote element values


from anonymizer.cli import commands, profiles, vault, verify  # noqa: E402,F401  (registers the commands)
