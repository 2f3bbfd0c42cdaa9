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
text: ``rules``, ``burned_in``, ``fill``, ``ocr``; see :mod:`anonymizer.pixels.rules`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

from anonymizer import standard
from anonymizer.errors import ProfileError
from anonymizer.pixels.rules import OCR_MODES, POLICIES, PixelPolicy, RuleError, builtin_set, parse_fill, parse_rule
from anonymizer.profile.actions import ACTIONS, code_action
from anonymizer.profile.selector import Selector, SelectorError, parse_tag_selector, parse_vr_selector

TOP_KEYS = frozenset(
    {"name", "version", "description", "extends", "kind", "code", "table", "options", "rules"}
    | {"private_tags", "unlisted_tags", "dates", "output", "pixels"}
)
RULE_KEYS = frozenset({"tag", "vr", "action", "with", "note"})
DATE_KEYS = frozenset({"shift_days"})
OUTPUT_KEYS = frozenset({"layout"})
PIXEL_KEYS = frozenset({"rules", "burned_in", "fill", "ocr"})
PRIVATE_POLICIES = ("remove", "safe", "keep")
UNLISTED_POLICIES = ("keep", "remove")
TABLE_COLUMNS = ("basic", *standard.OPTIONS)
DEFAULT_SHIFT = (-3650, -365)


@dataclass(frozen=True)
class Rule:
    """One rule: which elements, what action, with which parameters, set where."""

    selector: Selector
    action: str
    params: Mapping[str, Any]
    origin: str
    base: Path | None = None  # folder for relative file parameters (lookup CSV)


@dataclass(frozen=True)
class Profile:
    """A composed, validated profile; immutable."""

    name: str
    version: str
    description: str
    source: str
    options: tuple[str, ...]
    rules: tuple[Rule, ...]
    private_tags: str = "remove"
    unlisted_tags: str = "keep"
    shift_days: tuple[int, int] = DEFAULT_SHIFT
    layout: str | None = None
    project: str = ""
    pixels: PixelPolicy = field(default_factory=PixelPolicy)


def builtin_dir() -> Path:
    """Folder of the built-in profiles (installed package data, or the source tree)."""
    packaged = Path(str(files("anonymizer"))) / "profiles"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parents[2] / "profiles"


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


# --- YAML nodes with line numbers --------------------------------------------------------


class _Doc:
    """A parsed YAML document kept as nodes, so every error can name its line."""

    def __init__(self, path: Path):
        self.source = _display(path)
        try:
            text = path.read_text(encoding="utf-8")
            node = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 1 if mark is not None else None
            raise ProfileError(f"invalid YAML ({getattr(exc, 'problem', 'syntax')})", self.source, line) from None
        except (OSError, UnicodeDecodeError):
            raise ProfileError("cannot read profile file", self.source) from None
        if node is None:
            raise ProfileError("empty profile", self.source)
        self.root = node
        self._constructor = yaml.SafeLoader("")

    def fail(self, node: yaml.Node, message: str) -> ProfileError:
        return ProfileError(message, self.source, node.start_mark.line + 1)

    def mapping(self, node: yaml.Node, allowed: frozenset[str], what: str) -> dict[str, yaml.Node]:
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, f"{what} must be a mapping")
        out: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key not in allowed:
                raise self.fail(key_node, f"unknown key {key!r} in {what} (allowed: {', '.join(sorted(allowed))})")
            if key in out:
                raise self.fail(key_node, f"duplicate key {key!r} in {what}")
            out[key] = value_node
        return out

    def value(self, node: yaml.Node) -> Any:
        return self._constructor.construct_object(node, deep=True)

    def text(self, node: yaml.Node, what: str) -> str:
        if not isinstance(node, yaml.ScalarNode) or node.value == "":
            raise self.fail(node, f"{what} must be a non-empty string")
        return str(node.value)

    def choice(self, node: yaml.Node, what: str, allowed: tuple[str, ...]) -> str:
        value = self.text(node, what)
        if value not in allowed:
            raise self.fail(node, f"{what} must be one of {', '.join(allowed)}, not {value!r}")
        return value

    def sequence(self, node: yaml.Node, what: str) -> list[yaml.Node]:
        if not isinstance(node, yaml.SequenceNode):
            raise self.fail(node, f"{what} must be a list")
        return list(node.value)


def _display(path: Path) -> str:
    """Built-in profiles are named relative to the profiles folder, others as given."""
    try:
        return "profiles/" + str(path.resolve().relative_to(builtin_dir().resolve()))
    except ValueError:
        return str(path)


# --- rules --------------------------------------------------------------------------------


def _rule(doc: _Doc, node: yaml.Node, base: Path) -> Rule:
    keys = doc.mapping(node, RULE_KEYS, "rule")
    if ("tag" in keys) == ("vr" in keys):
        raise doc.fail(node, "a rule needs exactly one of 'tag' or 'vr'")
    if "action" not in keys:
        raise doc.fail(node, "a rule needs an 'action'")
    try:
        if "tag" in keys:
            selector = parse_tag_selector(doc.text(keys["tag"], "tag"))
        else:
            selector = parse_vr_selector(doc.text(keys["vr"], "vr"))
    except SelectorError as exc:
        raise doc.fail(keys.get("tag", keys.get("vr", node)), str(exc)) from None
    action = doc.text(keys["action"], "action")
    if action not in ACTIONS:
        raise doc.fail(keys["action"], f"unknown action {action!r} (known: {', '.join(sorted(ACTIONS))})")
    params: dict[str, Any] = {}
    if "with" in keys:
        raw = doc.value(keys["with"])
        if not isinstance(raw, dict):
            raise doc.fail(keys["with"], "'with' must be a mapping")
        params = {str(k): v for k, v in raw.items()}
    origin = f"{doc.source}:{node.start_mark.line + 1}"
    try:
        ACTIONS[action].validate(params, base)
    except ValueError as exc:
        raise doc.fail(keys.get("with", node), f"action {action!r}: {exc}") from None
    return Rule(selector, action, params, origin, base)


def table_rules(column: str) -> tuple[Rule, ...]:
    """Rules for one column of Table E.1-1 (``basic`` or an option name)."""
    rules = []
    for attr in standard.attributes():
        code = attr.basic if column == "basic" else attr.options.get(column)
        if not code or attr.tag == "PRIVATE":
            continue  # the Private Attributes row is the ``private_tags`` policy
        action, params = code_action(code, column)
        selector = parse_tag_selector(attr.tag if "X" in attr.tag else attr.keyword or attr.tag)
        origin = f"PS3.15 E.1-1 {column} {attr.tag} {code}"
        rules.append(Rule(selector, action, params, origin))
    return tuple(rules)


# --- loading ------------------------------------------------------------------------------


@dataclass
class _Draft:
    name: str = ""
    version: str = "1"
    description: str = ""
    source: str = ""
    options: list[str] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)
    private_tags: str = "remove"
    unlisted_tags: str = "keep"
    shift_days: tuple[int, int] = DEFAULT_SHIFT
    layout: str | None = None
    project: str = ""
    pixels: PixelPolicy = field(default_factory=PixelPolicy)


def _apply_option(draft: _Draft, name: str, seen: tuple[Path, ...]) -> None:
    if name in draft.options:
        return
    path = _option_path(name)
    if not path.is_file():
        raise ProfileError(f"unknown option {name!r} (known: {', '.join(standard.OPTIONS)})")
    _merge(draft, path, seen, expect_kind="option")
    draft.options.append(name)


def _merge(draft: _Draft, path: Path, seen: tuple[Path, ...], expect_kind: str) -> None:
    resolved = path.resolve()
    if resolved in seen:
        raise ProfileError("profile extends itself (cycle)", _display(path))
    doc = _Doc(path)
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
    if "code" in keys and kind != "option":
        raise doc.fail(keys["code"], "'code' is only for option files")
    if "table" in keys:
        draft.rules.extend(table_rules(doc.choice(keys["table"], "table", TABLE_COLUMNS)))
    if "private_tags" in keys:
        draft.private_tags = doc.choice(keys["private_tags"], "private_tags", PRIVATE_POLICIES)
    if "unlisted_tags" in keys:
        draft.unlisted_tags = doc.choice(keys["unlisted_tags"], "unlisted_tags", UNLISTED_POLICIES)
    if "dates" in keys:
        draft.shift_days = _shift_days(doc, keys["dates"])
    if "project" in keys:
        draft.project = doc.text(keys["project"], "project")
    if "output" in keys:
        out = doc.mapping(keys["output"], OUTPUT_KEYS, "output")
        if "layout" in out:
            draft.layout = doc.text(out["layout"], "output.layout")
    if "pixels" in keys:
        draft.pixels = _pixels(doc, keys["pixels"], draft.pixels)
    for option_node in doc.sequence(keys["options"], "options") if "options" in keys else []:
        name = doc.text(option_node, "option")
        try:
            _apply_option(draft, name, chain)
        except ProfileError as exc:
            raise doc.fail(option_node, str(exc).split(": ", 1)[-1]) from None
    for rule_node in doc.sequence(keys["rules"], "rules") if "rules" in keys else []:
        draft.rules.append(_rule(doc, rule_node, path.parent))
    if kind == "profile":
        draft.name = doc.text(keys["name"], "name")
        draft.source = doc.source
        if "version" in keys:
            draft.version = str(doc.value(keys["version"]))
        if "description" in keys:
            draft.description = doc.text(keys["description"], "description")


def _pixels(doc: _Doc, node: yaml.Node, policy: PixelPolicy) -> PixelPolicy:
    """The ``pixels`` section over the base profile's: settings replace, rules add up."""
    keys = doc.mapping(node, PIXEL_KEYS, "pixels")
    if "burned_in" in keys:
        policy = replace(policy, burned_in=doc.choice(keys["burned_in"], "pixels.burned_in", POLICIES))
    if "ocr" in keys:
        policy = replace(policy, ocr=doc.choice(keys["ocr"], "pixels.ocr", OCR_MODES))
    if "fill" in keys:
        try:
            policy = replace(policy, fill=parse_fill(doc.value(keys["fill"])))
        except RuleError as exc:
            raise doc.fail(keys["fill"], f"pixels.{exc}") from None
    rules, sets = list(policy.rules), list(policy.sets)
    for item in doc.sequence(keys["rules"], "pixels.rules") if "rules" in keys else []:
        try:
            if isinstance(item, yaml.ScalarNode):
                rules.extend(builtin_set(str(item.value)))
                sets.append(str(item.value))
            else:
                rules.append(parse_rule(doc.value(item), f"{doc.source}:{item.start_mark.line + 1}"))
        except RuleError as exc:
            raise doc.fail(item, f"pixel rule: {exc}") from None
    return replace(policy, rules=tuple(rules), sets=tuple(sets))


def _shift_days(doc: _Doc, node: yaml.Node) -> tuple[int, int]:
    keys = doc.mapping(node, DATE_KEYS, "dates")
    if "shift_days" not in keys:
        return DEFAULT_SHIFT
    value = doc.value(keys["shift_days"])
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        or value[0] > value[1]
    ):
        raise doc.fail(keys["shift_days"], "dates.shift_days must be [low, high] integers, low <= high")
    if value == [0, 0]:
        raise doc.fail(
            keys["shift_days"], "dates.shift_days [0, 0] would not shift; use retain-longitudinal-full-dates"
        )
    return (value[0], value[1])


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
    draft = _Draft()
    _merge(draft, resolve_path(name_or_path), (), "profile")
    for option in extra_options:
        _apply_option(draft, option, ())
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
