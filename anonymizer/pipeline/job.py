"""A whole run as a library object: :class:`Job` owns the key, vault, state, executor and evidence.

::

    with Job(IN, OUT, "research", load_key_file("project.key"), vault="vault.db") as job:
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
import json
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from anonymizer.engine.plan import Plan
from anonymizer.errors import AnonymizerError, FolderError, StateError, VaultError
from anonymizer.evidence import manifest
from anonymizer.evidence.verify import verify
from anonymizer.inputs import discover
from anonymizer.keys.memory import MemoryVault
from anonymizer.keys.secret import Secret
from anonymizer.keys.store import Vault
from anonymizer.keys.vault import SqliteVault
from anonymizer.pipeline import runner
from anonymizer.pipeline.reconcile import reconcile
from anonymizer.pipeline.runner import JobResult, RunOptions, RunSummary, check_folders
from anonymizer.pipeline.settle import storage_fault
from anonymizer.pipeline.state import StateStore
from anonymizer.pipeline.worker import FileResult, WorkerConfig
from anonymizer.pipeline.writer import publish, sweep_temporaries, write_temp
from anonymizer.profile.loader import Profile, load_profile
from anonymizer.profile.template import DEFAULT_LAYOUT, check_template
from anonymizer.version import __version__


def default_state_dir(vault_path: Path, out_dir: Path) -> Path:
    """One state folder per OUT, beside the vault: ``runs/<digest of OUT's path>``."""
    digest = hashlib.sha256(str(out_dir.resolve()).encode()).hexdigest()[:16]
    return vault_path.parent / "runs" / digest


def now() -> str:
    """The time now, as the manifest and the state write it (UTC, seconds)."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class Job:
    """One run of a plan over IN into OUT, with its vault, state and evidence.

    Entering binds the run to what made OUT: the state records the plan's digest, the
    derivation keys' fingerprint, the project, the layout, the tool version and the
    vault's identity. A run whose binding differs stops before reading any file (unless
    ``options.force``: every file is made again and what the old binding left is removed);
    a run whose recorded vault is missing or another one stops too. OUT is then
    reconciled with the state (:mod:`anonymizer.pipeline.reconcile`).

    Parameters
    ----------
    in_dir, out_dir : str or os.PathLike
        The inputs and the folder the de-identified files go to.
    profile : Plan, Profile, str or os.PathLike
        A compiled plan, a loaded profile, or a built-in profile name / YAML path.
    key : Secret
        The project key (:func:`anonymizer.load_key_file`).
    vault : str or os.PathLike
        The vault file (never inside OUT); created when it does not exist and OUT has
        no recorded vault.
    state : str or os.PathLike or None
        The state folder (default: ``runs/<digest of OUT>`` beside the vault).
    layout : str or None
        The output path template (default: the profile's, else the built-in one).
    options : RunOptions or None
        Workers, commit size, what to redo, Dask, dry run, verification (default: one worker).

    Raises
    ------
    ProfileError, FolderError, StateError, ManifestError
        On entering (exit 2, or 1 for altered outputs), before any input is read.
    KeyFileError, VaultError
        The key does not open the vault, or the vault is missing, damaged or not OUT's.
    """

    def __init__(
        self,
        in_dir: str | os.PathLike[str],
        out_dir: str | os.PathLike[str],
        profile: Plan | Profile | str | os.PathLike[str],
        key: Secret,
        *,
        vault: str | os.PathLike[str],
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
        self.created_vault = False  # this run made a new vault (the CLI says where)
        self.redone = 0  # outputs found missing in OUT, made again by this run
        self.binding: dict[str, str] = {}
        self._binding_id = ""
        self._swept = False  # OUT was swept of an interrupted run's temporaries (by the first pass)
        self.summary = RunSummary()  # filled as the run goes (also what an interrupted run did)

    # --- opening and closing ------------------------------------------------------------

    def __enter__(self) -> Job:
        check_template(self.layout)
        check_folders(self.in_dir, self.out_dir, self.vault_path, self.state_dir)
        review = self.options.quarantine
        if review is not None and any(p == review.resolve() or p in review.resolve().parents for p in self._roots()):
            raise FolderError("the quarantine folder must be outside IN and OUT")
        if self.options.dry_run:
            self.vault = MemoryVault()
            if self.vault_path.is_file():  # the pseudonyms a real run would give
                with SqliteVault(self.vault_path, self.key, readonly=True) as existing:
                    self.secret = existing.secret
            self.state = StateStore(None, None, self.run_id)
            return self
        try:
            if self.vault_path.exists():  # the key is checked before anything is written
                self._open_vault()
            self.state = StateStore(self.state_dir, self.out_dir, self.run_id)
            self._check_vault()
            self._bind()
            self.redone = reconcile(self.out_dir, self.state, self.options.check)
            self.state.commit()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _roots(self) -> tuple[Path, Path]:
        return self.in_dir.resolve(), self.out_dir.resolve()

    def _open_vault(self) -> None:
        self.created_vault = not self.vault_path.exists()
        sqlite = SqliteVault(self.vault_path, self.key, run_id=self.run_id)
        self.vault, self.secret = sqlite, sqlite.secret

    def _check_vault(self) -> None:
        """The vault must be the one the state recorded for OUT (a missing one is never recreated)."""
        assert self.state is not None
        expected = (self.state.binding() or {}).get("vault") or self._manifest_vault()
        if self.vault is None:
            if expected:
                raise VaultError(
                    f"the vault OUT was made with is missing at {self.vault_path}; restore it (or give --vault "
                    "where it is), or start a new OUT with a new state"
                )
            self._open_vault()
        assert isinstance(self.vault, SqliteVault)
        if expected and self.vault.identity != expected:
            raise VaultError(
                f"the vault at {self.vault_path} is not the one OUT was made with; give --vault the right one, "
                "or start a new OUT with a new state"
            )

    def _manifest_vault(self) -> str:
        """The vault identity OUT's manifest records ("" without one)."""
        try:
            return str(json.loads((self.out_dir / manifest.MANIFEST).read_text(encoding="utf-8")).get("vault", ""))
        except (OSError, ValueError, AttributeError):
            return ""

    def _bind(self) -> None:
        assert self.state is not None and isinstance(self.vault, SqliteVault)
        self.binding = {
            "plan": self.plan.digest,
            "keys": self.secret.derivation_fingerprint,
            "project": self.secret.project,
            "layout": self.layout,
            "tool": __version__,
            "vault": self.vault.identity,
        }
        recorded = self.state.binding()
        if recorded is None and not self.state.is_empty():
            recorded = {}  # a state written before bindings were recorded: what made OUT is unknown
        if recorded is not None and recorded != self.binding:
            changed = ", ".join(k for k in self.binding if recorded.get(k) != self.binding[k])
            if not self.options.force:
                raise StateError(
                    f"OUT was made with another {changed} than this run's; --force makes every file again "
                    "into this OUT (and removes what the old one left), or give a new OUT"
                )
            try:  # the manifest named the old plan: until this run ends, OUT has none
                (self.out_dir / manifest.MANIFEST).unlink(missing_ok=True)
            except OSError as exc:
                raise storage_fault(exc) from None
        text = json.dumps(self.binding, sort_keys=True)
        self.state.set_meta("binding", text)
        self._binding_id = hashlib.sha256(text.encode()).hexdigest()[:16]

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        vault, state = self.vault, self.state
        self.vault = self.state = None
        failing = kind is not None
        try:
            if failing and not self.options.dry_run:
                sweep_temporaries(self.out_dir)  # in-flight files of an interrupted run
                os.sync()  # what the state is about to call done is on disk first
        finally:
            try:
                if vault is not None:
                    vault.close()  # the vault before the state: a file called done has its tokens
            except AnonymizerError:
                if not failing:
                    raise  # else the error that stopped the run is the one to report
            finally:
                try:
                    if state is not None:
                        state.close()
                except AnonymizerError:
                    if not failing:
                        raise

    # --- running ------------------------------------------------------------------------

    def config(self) -> WorkerConfig:
        """What every worker gets: the compiled plan, the subkeys (never the key), the layout.

        Returns
        -------
        WorkerConfig
            With OUT, or no OUT for a dry run, and the options' resource limits.
        """
        out = None if self.options.dry_run else self.out_dir
        return WorkerConfig(self.plan, self.secret.subkeys, self.layout, out, self.options.limits)

    def count_inputs(self) -> int:
        """The number of inputs under IN (a directory walk; nothing is read).

        Returns
        -------
        int
            The inputs a run goes over; OUT's files and walk problems (broken links, loops)
            are not counted.
        """
        return sum(1 for _ in discover(self.in_dir, self.out_dir))

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

        Raises
        ------
        StorageError
            OUT's storage failed (full, read-only): the run stops; the same command resumes.
        """
        if self.vault is None or self.state is None:
            raise RuntimeError("a Job runs inside its with-block")
        started = now()
        self.summary = summary = RunSummary()
        failed: set[int] = set()  # inputs with no output: verification leaves them out

        def record(result: FileResult) -> None:
            if result.status == "failed" or result.reason == "failed-before":
                failed.add(result.ordinal)
            on_result(result)

        self.process(self.in_dir, record, summary)
        result = JobResult(self.run_id, summary)
        if self.options.dry_run:
            return result
        content = self._manifest(summary, started)
        result.manifest = self._publish(content)
        if self.options.verify:  # against the manifest just written: OUT must hold exactly what it lists
            pixels = "examined" if self.plan.profile.pixels.burned_in == "ocr" else ""  # the pixel step's outputs
            result.verification = verify(self.out_dir, self.in_dir, self.plan, failed=failed, pixels=pixels)
            content["verification"] = result.verification.as_dict(findings=False)
            self._publish(content)
        return result

    def process(
        self, folder: Path, on_result: Callable[[FileResult], None], summary: RunSummary | None = None
    ) -> RunSummary:
        """De-identify the inputs under ``folder`` (IN, or a folder inside it) and commit; no manifest.

        The gateway calls this once per settled study, then :meth:`write_manifest`.

        Parameters
        ----------
        folder : Path
            The inputs to process: IN, a folder inside it, or one file.
        on_result : callable
            Called with each file's :class:`~anonymizer.pipeline.worker.FileResult`, in input
            order; what it raises propagates (the job still commits on exit).
        summary : RunSummary or None
            Counts to add to (default: new ones).

        Returns
        -------
        RunSummary
            ``summary`` (or the new counts), filled in.

        Raises
        ------
        RuntimeError
            When called outside the job's with-block.
        StorageError
            OUT's, the state's or the vault's storage failed: the run stops; the same command resumes.
        ProfileError
            A ``lookup`` crosswalk gives two originals one pseudonym.
        VaultError
            The vault cannot be written (damaged, or re-keyed while this run uses it).
        ClusterError
            With ``options.dask``: the cluster cannot be started or reached.
        """
        if self.vault is None or self.state is None:
            raise RuntimeError("a Job runs inside its with-block")
        # Only the first pass can meet an interrupted run's temporaries, unless worker processes
        # (which can die mid-write) run the files; a sweep walks all of OUT.
        sweep = not self._swept or self.options.workers != 1 or self.options.dask is not None
        self._swept = True
        return runner.run(
            folder, self.config(), self.vault, self.state, on_result, self.options, self._binding_id, summary, sweep
        )

    def write_manifest(self, summary: RunSummary, started: str) -> Path:
        """Write OUT's manifest for everything the state records.

        Parameters
        ----------
        summary : RunSummary
            This run's counts (the manifest records them).
        started : str
            When the run started, as the manifest writes times (ISO 8601, UTC, seconds).

        Returns
        -------
        Path
            The manifest written in OUT.

        Raises
        ------
        StorageError
            OUT's storage failed (full, read-only).
        """
        return self._publish(self._manifest(summary, started))

    def _manifest(self, summary: RunSummary, started: str) -> dict[str, Any]:
        assert self.state is not None
        info = manifest.RunInfo(self.run_id, started, now(), self.secret.fingerprint, self.layout)
        state = self.state
        files = manifest.Files(
            lambda: ((o.path, o.sop_uid, o.sha256, o.pixels) for o in state.outputs()), state.count_outputs()
        )
        content = manifest.manifest(self.plan, files, info, summary.as_dict(), state.dataset_counts())
        content["vault"] = self.binding.get("vault", "")
        return content

    def _publish(self, content: dict[str, Any]) -> Path:
        path = self.out_dir / manifest.MANIFEST
        try:
            publish(write_temp(manifest.chunks(content), self.out_dir), path)
        except OSError as exc:
            raise storage_fault(exc) from None
        return path


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
