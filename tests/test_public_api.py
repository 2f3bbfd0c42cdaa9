"""The public API, computed rather than copied (as httpx's tests/test_exported_members.py)."""

from __future__ import annotations

import inspect
import pkgutil
import types

import anonymizer
from anonymizer import errors


def _public_names(module: types.ModuleType) -> list[str]:
    """What the module binds at its top level that is neither private nor a submodule."""
    return sorted(
        name
        for name, value in vars(module).items()
        if (not name.startswith("_") or name == "__version__") and not isinstance(value, types.ModuleType)
    )


def test_all_is_sorted_and_equals_the_public_names() -> None:
    assert anonymizer.__all__ == sorted(anonymizer.__all__)
    assert anonymizer.__all__ == _public_names(anonymizer)


def test_every_error_class_is_exported_with_a_unique_stable_code() -> None:
    classes = [c for _, c in inspect.getmembers(errors, inspect.isclass) if issubclass(c, errors.AnonymizerError)]
    assert {c.__name__ for c in classes} <= set(anonymizer.__all__)
    codes = [c.code for c in classes]
    assert len(codes) == len(set(codes)) and all(codes)


def test_every_error_code_has_an_exit_code() -> None:
    from anonymizer.cli import EXIT_CODES

    classes = [c for _, c in inspect.getmembers(errors, inspect.isclass) if issubclass(c, errors.AnonymizerError)]
    assert {c.code for c in classes} == set(EXIT_CODES)


def test_no_error_class_is_defined_outside_errors() -> None:
    """One error tree: every AnonymizerError subclass lives in anonymizer.errors."""
    for info in pkgutil.walk_packages(anonymizer.__path__, "anonymizer."):
        if info.name.startswith("anonymizer.cli") or info.name == "anonymizer.__main__":
            continue
        module = __import__(info.name, fromlist=["_"])
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, errors.AnonymizerError):
                assert value.__module__ == "anonymizer.errors", (info.name, value.__name__)


def test_public_functions_document_parameters_returns_and_raises() -> None:
    """numpydoc: every exported function and class documents what it takes (a summary at least)."""
    for name in anonymizer.__all__:
        value = getattr(anonymizer, name)
        if inspect.isfunction(value) or inspect.isclass(value):
            assert inspect.getdoc(value), name
            if inspect.isfunction(value) and inspect.signature(value).parameters:
                assert "Parameters" in (value.__doc__ or ""), name
