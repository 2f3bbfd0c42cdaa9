"""YAML profiles -> a frozen :class:`Profile` (validated, with file:line errors).

A profile names its base (``extends``), the Annex E options it adds, its own rules and
its policies. Built-in profiles live in the package's ``profiles/`` folder; option
overlays in ``profiles/options/``. Composition order (later wins among rules of equal
specificity): base profile, the profile's ``table`` rules, its options, its own rules,
then options added on the command line.

Keys: ``name``, ``version``, ``description``, ``extends``, ``kind`` (profile | option),
``code`` (CID 7050, options only), ``table`` (a Table E.1-1 column), ``options``,
``rules``, ``private_tags``, ``unlisted_tags``, ``dates``, ``output``, ``project`` (a
label mixed into the key derivation: one key, unlinkable projects), ``pixels`` (burned-in
text: ``rules``, ``burned_in``, ``fill``, ``redact``, ``ocr``; see :mod:`anonymizer.pixels.rules`).
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from anonymizer import standard
from anonymizer.errors import ProfileError, did_you_mean
from anonymizer.profile.document import Document, builtin_dir, display
from anonymizer.profile.model import Profile, Rule
from anonymizer.profile.sections import SECTIONS, Draft, collected, parse_rule_node

__all__ = ["Profile", "Rule", "builtin_dir", "builtin_names", "load_profile", "option_description", "resolve_path"]
TOP_KEYS = frozenset(
    {"name", "version", "description", "extends", "kind", "code", "table", "options", "rules"}
    | {"private_tags", "unlisted_tags", "dates", "output", "pixels"}
)


def builtin_names() -> list[str]:
    """Names of the built-in profiles (not the option overlays)."""
    return sorted(p.stem for p in builtin_dir().glob("*.yaml"))


def _option_path(name: str) -> Path:
    return builtin_dir() / "options" / f"{name}.yaml"


def _is_path(name_or_path: str) -> bool:
    """A profile reference is a file path when it has a separator or a YAML suffix, else a built-in name."""
    return "/" in name_or_path or os.sep in name_or_path or name_or_path.endswith((".yaml", ".yml"))


def resolve_path(name_or_path: str | os.PathLike[str]) -> Path:
    """A built-in profile name or a path to a YAML file -> the file's path.

    Raises
    ------
    ProfileError
        No such built-in profile, or no such file.
    """
    if not isinstance(name_or_path, str):
        name_or_path = os.fspath(name_or_path)
        if "/" not in name_or_path and os.sep not in name_or_path:
            name_or_path = os.path.join(".", name_or_path)  # a path object is never a built-in name
    candidate = builtin_dir() / f"{name_or_path}.yaml"
    if not _is_path(name_or_path):
        if candidate.is_file():
            return candidate
        raise ProfileError(f"no built-in profile {name_or_path!r}; try 'anonymizer profile list'")
    path = Path(name_or_path)
    if not path.is_file():
        raise ProfileError("profile file not found", str(path))
    return path


def _apply_option(draft: Draft, name: str, seen: tuple[Path, ...]) -> None:
    if name in draft.options:
        return
    path = _option_path(name)
    if not path.is_file():
        hint = did_you_mean(name, standard.OPTIONS) or f" (known: {', '.join(standard.OPTIONS)})"
        raise ProfileError(f"unknown option {name!r}{hint}")
    _merge(draft, path, seen, expect_kind="option")
    draft.options.append(name)


def _merge(draft: Draft, path: Path, seen: tuple[Path, ...], expect_kind: str) -> None:
    """Add one profile or option file (and what it extends) to ``draft``.

    Problems that leave the rest of the file readable (an unknown key, a bad rule, a
    layout field) are collected in ``draft.problems``, so that every one is reported.
    """
    resolved = path.resolve()
    if resolved in seen:
        raise ProfileError("profile extends itself (cycle)", display(path))
    doc = Document(path)
    keys = doc.mapping(doc.root, TOP_KEYS, "profile")
    kind = doc.choice(keys["kind"], "kind", ("profile", "option")) if "kind" in keys else "profile"
    if kind != expect_kind:
        raise doc.fail(doc.root, f"expected a {expect_kind} file, found kind {kind!r}")
    if "name" not in keys:
        raise doc.fail(doc.root, "a profile needs a 'name'")
    chain = (*seen, resolved)
    if "extends" in keys:
        parent = doc.text(keys["extends"], "extends")
        try:
            parent_path = path.parent / parent if _is_path(parent) else resolve_path(parent)
        except ProfileError as exc:
            raise doc.fail(keys["extends"], str(exc).split(": ", 1)[-1]) from None
        _merge(draft, parent_path, chain, "profile")
    for key, section in SECTIONS:
        if key in keys:
            with collected(doc):
                section(draft, doc, keys[key], kind)
    for option_node in doc.sequence(keys["options"], "options") if "options" in keys else []:
        with collected(doc):
            name = doc.text(option_node, "option")
            try:
                _apply_option(draft, name, chain)
            except ProfileError as exc:
                raise doc.fail(option_node, str(exc).split(": ", 1)[-1]) from None
    for rule_node in doc.sequence(keys["rules"], "rules") if "rules" in keys else []:
        with collected(doc):
            draft.rules.append(parse_rule_node(doc, rule_node, path.parent))
    if kind == "profile":
        draft.name = doc.text(keys["name"], "name")
        draft.source = doc.source
        if "version" in keys:
            draft.version = str(doc.value(keys["version"]))
        if "description" in keys:
            draft.description = doc.text(keys["description"], "description")
    draft.problems.extend(doc.problems)


def load_profile(name_or_path: str | os.PathLike[str], extra_options: tuple[str, ...] = ()) -> Profile:
    """Load, compose and validate a profile by built-in name or file path.

    A relative ``extends:`` path is resolved against the folder of the profile that names
    it, whether written ``x.yaml`` or ``./x.yaml``.

    Parameters
    ----------
    name_or_path : str or os.PathLike
        A built-in name (``research``) or a YAML file (a path object is always a file).
    extra_options : tuple of str
        Annex E options to add after the profile's own (``--option``).

    Returns
    -------
    Profile

    Raises
    ------
    ProfileError
        With file, line and key for any invalid content.
    """
    draft = Draft()
    _merge(draft, resolve_path(name_or_path), (), "profile")
    for option in extra_options:
        _apply_option(draft, option, ())
    if draft.problems:
        raise ProfileError.combined(draft.problems)
    return Profile(
        name=draft.name,
        version=draft.version,
        description=draft.description,
        source=draft.source,
        options=tuple(draft.options),
        rules=tuple(draft.rules),
        private_tags=draft.private_tags,
        unlisted_tags=draft.unlisted_tags,
        shift_days=draft.shift_days,
        layout=draft.layout,
        project=draft.project,
        pixels=draft.pixels,
    )


def option_description(name: str) -> str:
    """The plain-words description of a built-in profile or option (for reports)."""
    path = builtin_dir() / "options" / f"{name}.yaml"
    if not path.is_file():
        path = builtin_dir() / f"{name}.yaml"
    if not path.is_file():
        return ""
    content = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return str(content.get("description", ""))
