"""A whole run as a library object: :class:`Job` owns the key, vault, state, executor and evidence.

::

    with Job(IN, OUT, "research", load_key_file("project.key")) as job:
        result = job.run()

Entering checks the folders, opens the vault (the key is checked before any file is
read) and the state (locks on the state folder and OUT). :meth:`Job.run` processes the
inputs (the runner commits every batch: files synced, then the vault, then the state),
then verifies when asked and writes the manifest. Leaving commits in the same order
(even after an error or an interrupt, so what is recorded as done is durable), removes
temporary files and closes everything. The command line's ``run`` is this object.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from anonymizer.engine.plan import Plan
from anonymizer.evidence import manifest
from anonymizer.evidence.verify import Verification, verify
from anonymizer.inputs import discover
from anonymizer.keys.secret import Secret
from anonymizer.keys.vault import MemoryVault, SqliteVault, Vault
from anonymizer.pipeline import runner
from anonymizer.pipeline.layout import DEFAULT_LAYOUT, check_template
from anonymizer.pipeline.runner import RunOptions, RunSummary, check_folders
from anonymizer.pipeline.state import StateStore
from anonymizer.pipeline.worker import FileResult, WorkerConfig
from anonymizer.pipeline.writer import publish, sweep_temporaries, write_temp
from anonymizer.profile.loader import Profile, load_profile

DEFAULT_VAULT = Path(".anonymizer/vault.db")


@dataclass
class JobResult:
    """What a run did: its counts, the verification (when asked) and the manifest written."""

    run_id: str
    summary: RunSummary
    verification: Verification | None = None
    manifest: Path | None = None

    @property
    def exit_code(self) -> int:
        """0 when every file is done and verification (if any) found nothing, else 1."""
        if self.summary.exit_code:
            return self.summary.exit_code
        return 1 if self.verification is not None and not self.verification.clean else 0


def default_state_dir(vault_path: Path, out_dir: Path) -> Path:
    """One state folder per OUT, beside the vault: ``runs/<digest of OUT's path>``."""
    digest = hashlib.sha256(str(out_dir.resolve()).encode()).hexdigest()[:16]
    return vault_path.parent / "runs" / digest


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class Job:
    """One run of a plan over IN into OUT, with its vault, state and evidence.

    Parameters
    ----------
    in_dir, out_dir : str or os.PathLike
        The inputs and the folder the de-identified files go to.
    profile : Plan, Profile, str or os.PathLike
        A compiled plan, a loaded profile, or a built-in profile name / YAML path.
    key : Secret
        The project key (:func:`anonymizer.load_key_file`).
    vault : str or os.PathLike
        The vault file (never inside OUT).
    state : str or os.PathLike or None
        The state folder (default: ``runs/<digest of OUT>`` beside the vault).
    layout : str or None
        The output path template (default: the profile's, else the built-in one).
    options : RunOptions or None
        Workers, commit size, what to redo, Dask, dry run, verification (default: one worker).

    Raises
    ------
    ProfileError, FolderError, KeyFileError, VaultError, StateError
        On entering, before any input is read.
    """

    def __init__(
        self,
        in_dir: str | os.PathLike[str],
        out_dir: str | os.PathLike[str],
        profile: Plan | Profile | str | os.PathLike[str],
        key: Secret,
        *,
        vault: str | os.PathLike[str] = DEFAULT_VAULT,
        state: str | os.PathLike[str] | None = None,
        layout: str | None = None,
        options: RunOptions | None = None,
    ):
        self.in_dir, self.out_dir = Path(in_dir), Path(out_dir)
        if isinstance(profile, Plan):
            self.plan = profile
        else:
            self.plan = Plan(profile if isinstance(profile, Profile) else load_profile(profile))
        self.key, self.options = key, options or RunOptions()
        self.vault_path = Path(vault)
        self.state_dir = Path(state) if state is not None else default_state_dir(self.vault_path, self.out_dir)
        self.layout = layout or self.plan.profile.layout or DEFAULT_LAYOUT
        self.run_id = uuid.uuid4().hex
        self.vault: Vault | None = None
        self.state: StateStore | None = None
        self.secret = key

    # --- opening and closing ------------------------------------------------------------

    def __enter__(self) -> Job:
        check_template(self.layout)
        check_folders(self.in_dir, self.out_dir, self.vault_path, self.state_dir)
        dry = self.options.dry_run
        if dry:
            self.vault = MemoryVault()
            if self.vault_path.is_file():  # the pseudonyms a real run would give
                with SqliteVault(self.vault_path, self.key, readonly=True) as existing:
                    self.secret = existing.secret
        else:
            sqlite = SqliteVault(self.vault_path, self.key, run_id=self.run_id)
            self.vault, self.secret = sqlite, sqlite.secret
        try:
            self.state = StateStore(None if dry else self.state_dir, None if dry else self.out_dir, self.run_id)
        except BaseException:
            self.vault.close()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        vault, state = self.vault, self.state
        self.vault = self.state = None
        if vault is None or state is None:
            return
        try:
            if kind is not None and not self.options.dry_run:
                sweep_temporaries(self.out_dir)  # in-flight files of an interrupted run
                os.sync()  # what the state is about to call done is on disk first
        finally:
            try:
                vault.close()  # the vault before the state: a file called done has its tokens
            finally:
                state.close()

    # --- running ------------------------------------------------------------------------

    def config(self) -> WorkerConfig:
        """What every worker gets: the compiled plan, the subkeys (never the key), the layout."""
        return WorkerConfig(self.plan, self.secret.subkeys, self.layout, None if self.options.dry_run else self.out_dir)

    def count_inputs(self) -> int:
        """The number of files under IN (a directory walk)."""
        return sum(1 for _ in discover(self.in_dir))

    def run(self, on_result: Callable[[FileResult], None] = lambda r: None) -> JobResult:
        """De-identify every input, then verify (if asked) and write the manifest.

        Parameters
        ----------
        on_result : callable
            Called with each file's :class:`~anonymizer.pipeline.worker.FileResult`, in input
            order (exceptions it raises stop the run; the job still commits on exit).

        Returns
        -------
        JobResult
        """
        if self.vault is None or self.state is None:
            raise RuntimeError("a Job runs inside its with-block")
        started = _now()
        summary = runner.run(self.in_dir, self.config(), self.vault, self.state, on_result, self.options)
        result = JobResult(self.run_id, summary)
        if self.options.dry_run:
            return result
        if self.options.verify:
            result.verification = verify(self.out_dir, self.in_dir, self.plan)
        info = manifest.RunInfo(self.run_id, started, _now(), self.secret.fingerprint, self.layout)
        content = manifest.manifest(self.plan, self.state.outputs(), info, summary.as_dict())
        if result.verification is not None:
            content["verification"] = result.verification.as_dict(findings=False)
        result.manifest = self.out_dir / manifest.MANIFEST
        publish(write_temp(manifest.encode(content), self.out_dir), result.manifest)
        return result


def run_folder(
    in_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    profile: Plan | Profile | str | os.PathLike[str],
    key: Secret,
    **settings: Any,
) -> JobResult:
    """Run a whole :class:`Job` (same guarantees as ``anonymizer run``) and return its result.

    Parameters
    ----------
    in_dir, out_dir, profile, key
        As for :class:`Job`.
    **settings
        :class:`Job`'s keyword arguments (``vault``, ``state``, ``layout``, ``options``).

    Returns
    -------
    JobResult

    Raises
    ------
    AnonymizerError
        What :class:`Job` raises on entering; files that fail are counted, not raised.
    """
    with Job(in_dir, out_dir, profile, key, **settings) as job:
        return job.run()
