"""anonymizer-dicom: rules-based DICOM de-identification (PS3.15 Annex E).

>>> from anonymizer import Plan, deidentify, load_key_file, load_profile
>>> plan = Plan(load_profile("research"))                      # doctest: +SKIP
>>> outcome = deidentify(dataset, plan, load_key_file(path))   # doctest: +SKIP
"""

from anonymizer.engine.plan import Outcome, Plan, deidentify
from anonymizer.errors import (
    ActionError,
    AnonymizerError,
    InputError,
    KeyFileError,
    ProfileError,
)
from anonymizer.keys.secret import Secret, generate_key_file, load_key_file
from anonymizer.keys.vault import MemoryVault, SqliteVault, Vault
from anonymizer.pipeline.runner import RunOptions, RunSummary, run
from anonymizer.pipeline.worker import FileResult, WorkerConfig
from anonymizer.profile.loader import Profile, Rule, load_profile
from anonymizer.version import __version__

__all__ = [
    "ActionError",
    "AnonymizerError",
    "FileResult",
    "InputError",
    "KeyFileError",
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
    "Vault",
    "WorkerConfig",
    "__version__",
    "deidentify",
    "generate_key_file",
    "load_key_file",
    "load_profile",
    "run",
]
