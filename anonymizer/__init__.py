"""anonymizer-dicom: rules-based DICOM de-identification (PS3.15 Annex E).

A whole run, with the same guarantees as ``anonymizer run``::

    from anonymizer import Job, load_key_file

    key = load_key_file("project.key")
    with Job("dicom-in", "dicom-out", "research", key, vault="vault.db") as job:
        result = job.run()

One object at a time::

    plan = Plan(load_profile("research"))
    outcome = deidentify(dataset, plan, load_key_file("project.key"))
"""

from anonymizer.engine.apply import Outcome, deidentify
from anonymizer.engine.plan import Plan
from anonymizer.errors import (
    ActionError,
    AnonymizerError,
    ClusterError,
    FolderError,
    GatewayError,
    InputError,
    KeyFileError,
    ManifestError,
    ProfileError,
    StateError,
    StorageError,
    TokenCollisionError,
    VaultError,
)
from anonymizer.evidence.report import render_report
from anonymizer.evidence.verify import Finding, Verification, verify
from anonymizer.keys.memory import MemoryVault
from anonymizer.keys.secret import Secret, Subkeys, generate_key_file, load_key_file
from anonymizer.keys.store import Vault
from anonymizer.keys.vault import SqliteVault
from anonymizer.pipeline.job import Job, run_folder
from anonymizer.pipeline.runner import JobResult, RunOptions, RunSummary
from anonymizer.pipeline.worker import FileResult
from anonymizer.profile.loader import Profile, Rule, load_profile
from anonymizer.version import __version__

__all__ = [
    "ActionError",
    "AnonymizerError",
    "ClusterError",
    "FileResult",
    "Finding",
    "FolderError",
    "GatewayError",
    "InputError",
    "Job",
    "JobResult",
    "KeyFileError",
    "ManifestError",
    "MemoryVault",
    "Outcome",
    "Plan",
    "Profile",
    "ProfileError",
    "Rule",
    "RunOptions",
    "RunSummary",
    "Secret",
    "SqliteVault",
    "StateError",
    "StorageError",
    "Subkeys",
    "TokenCollisionError",
    "Vault",
    "VaultError",
    "Verification",
    "__version__",
    "deidentify",
    "generate_key_file",
    "load_key_file",
    "load_profile",
    "render_report",
    "run_folder",
    "verify",
]
