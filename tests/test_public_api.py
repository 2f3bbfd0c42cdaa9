import anonymizer

EXPORTED = [
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


def test_exported_members_are_frozen() -> None:
    assert anonymizer.__all__ == EXPORTED
    assert sorted(anonymizer.__all__) == anonymizer.__all__
    for name in EXPORTED:
        assert hasattr(anonymizer, name)
