"""The public API, computed rather than copied (as httpx's tests/test_exported_members.py)."""

from __future__ import annotations

import ast
import inspect
import pkgutil
import re
import textwrap
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


def _section(doc: str, *titles: str) -> bool:
    """Whether the numpydoc docstring has one of these section headings (a title underlined by dashes)."""
    return any(re.search(rf"^{title}\n-{{3,}}$", doc, re.MULTILINE) for title in titles)


def _raises_of_its_own(function: types.FunctionType) -> bool:
    """Whether its source raises itself: ``raise X`` or ``raise X from Y``, not a bare re-raise."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    return any(isinstance(node, ast.Raise) and node.exc is not None for node in ast.walk(tree))


def _documented_callables() -> list[tuple[str, types.FunctionType]]:
    """Every exported function, and every public method an exported class (not an exception) defines itself."""
    found: list[tuple[str, types.FunctionType]] = []
    for name in anonymizer.__all__:
        value = getattr(anonymizer, name)
        if inspect.isfunction(value):
            found.append((name, value))
        elif inspect.isclass(value) and not issubclass(value, BaseException):
            for attribute, member in vars(value).items():
                if not attribute.startswith("_") and inspect.isfunction(member):
                    found.append((f"{name}.{attribute}", member))
    return found


def _missing_sections(function: types.FunctionType) -> list[str]:
    doc = inspect.getdoc(function)
    if not doc:
        return ["docstring"]
    signature = inspect.signature(function)
    missing = []
    if [p for p in signature.parameters if p not in ("self", "cls")] and not _section(doc, "Parameters"):
        missing.append("Parameters")
    if signature.return_annotation not in (None, "None", inspect.Signature.empty) and not _section(
        doc, "Returns", "Yields"
    ):
        missing.append("Returns")
    if _raises_of_its_own(function) and not _section(doc, "Raises"):
        missing.append("Raises")
    return missing


def test_public_functions_document_parameters_returns_and_raises() -> None:
    """numpydoc: every exported class has a docstring; every exported function and public method documents
    its Parameters, its Returns (or Yields) unless it returns None, and its Raises when it raises itself."""
    missing = [name for name in anonymizer.__all__ if inspect.isclass(getattr(anonymizer, name))]
    missing = [f"{name}: docstring" for name in missing if not inspect.getdoc(getattr(anonymizer, name))]
    for name, function in _documented_callables():
        missing += [f"{name}: {section}" for section in _missing_sections(function)]
    assert not missing, "missing numpydoc sections:\n" + "\n".join(missing)
