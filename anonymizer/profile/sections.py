"""The parts of a profile file: its rules and its policy sections, parsed into a :class:`Draft`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from anonymizer import standard
from anonymizer.errors import ProfileError, did_you_mean
from anonymizer.pixels.rules import (
    OCR_MODES,
    POLICIES,
    REDACT_MODES,
    PixelPolicy,
    RuleError,
    builtin_set,
    parse_fill,
    parse_rule,
)
from anonymizer.profile.actions import ACTIONS, Action, code_action
from anonymizer.profile.document import Document
from anonymizer.profile.model import DEFAULT_SHIFT, Rule
from anonymizer.profile.selector import Selector, SelectorError, parse_tag_selector, parse_vr_selector, possible_vrs
from anonymizer.profile.template import check_template

RULE_KEYS = frozenset({"tag", "vr", "action", "with", "note"})
DATE_KEYS = frozenset({"shift_days"})
OUTPUT_KEYS = frozenset({"layout"})
PIXEL_KEYS = frozenset({"rules", "burned_in", "fill", "ocr", "redact"})
PRIVATE_POLICIES = ("remove", "safe", "keep")
UNLISTED_POLICIES = ("keep", "remove")
TABLE_COLUMNS = ("basic", *standard.OPTIONS)


def parse_rule_node(doc: Document, node: yaml.Node, base: Path) -> Rule:
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
        hint = did_you_mean(action, ACTIONS) or f" (known: {', '.join(sorted(ACTIONS))})"
        raise doc.fail(keys["action"], f"unknown action {action!r}{hint}")
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
    mismatch = vr_mismatch(selector, ACTIONS[action])
    if mismatch:
        raise doc.fail(keys["action"], mismatch)
    return Rule(selector, action, params, origin, base)


def vr_mismatch(selector: Selector, action: type[Action]) -> str:
    """Why ``action`` cannot apply to what ``selector`` selects ("" when it can).

    Checked against the data dictionary's VR of a tag, every VR a mask can meet, and the
    VR of a ``vr:`` rule; private selectors can meet any VR and are checked per element.
    """
    if action.handles is None:
        return ""
    possible = possible_vrs(selector)
    if possible is None:
        return ""
    wrong = sorted(possible - action.handles - {"SQ"})
    if not wrong:
        return ""
    handled = ", ".join(sorted(action.handles))
    return f"action {action.name!r} cannot apply to {selector.text} (VR {', '.join(wrong)}); it handles {handled}"


def table_rules(column: str) -> tuple[Rule, ...]:
    """Rules for one column of Table E.1-1 and its supplement (``basic`` or an option name)."""
    rules = []
    for attr in standard.rows():
        code = attr.basic if column == "basic" else attr.options.get(column)
        if not code or attr.tag == "PRIVATE":
            continue  # the Private Attributes row is the ``private_tags`` policy
        action, params = code_action(code, column)
        selector = parse_tag_selector(attr.tag if "X" in attr.tag else attr.keyword or attr.tag)
        origin = f"{attr.source} {column} {attr.tag} {code}" + (f" ({attr.reason})" if attr.reason else "")
        rules.append(Rule(selector, action, params, origin, table=True))
    return tuple(rules)


@dataclass
class Draft:
    """A profile being composed (mutable), before it is frozen into a Profile."""

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
    problems: list[ProfileError] = field(default_factory=list)


def _code(draft: Draft, doc: Document, node: yaml.Node, kind: str) -> None:
    if kind != "option":
        raise doc.fail(node, "'code' is only for option files")


def _table(draft: Draft, doc: Document, node: yaml.Node, kind: str) -> None:
    draft.rules.extend(table_rules(doc.choice(node, "table", TABLE_COLUMNS)))


def _private(draft: Draft, doc: Document, node: yaml.Node, kind: str) -> None:
    draft.private_tags = doc.choice(node, "private_tags", PRIVATE_POLICIES)


def _unlisted(draft: Draft, doc: Document, node: yaml.Node, kind: str) -> None:
    draft.unlisted_tags = doc.choice(node, "unlisted_tags", UNLISTED_POLICIES)


def _dates(draft: Draft, doc: Document, node: yaml.Node, kind: str) -> None:
    draft.shift_days = _shift_days(doc, node)


def _project(draft: Draft, doc: Document, node: yaml.Node, kind: str) -> None:
    draft.project = doc.text(node, "project")


def _output(draft: Draft, doc: Document, node: yaml.Node, kind: str) -> None:
    out = doc.mapping(node, OUTPUT_KEYS, "output")
    if "layout" in out:
        draft.layout = doc.text(out["layout"], "output.layout")
        try:
            check_template(draft.layout)
        except ProfileError as exc:
            raise doc.fail(out["layout"], str(exc).split(": ", 1)[-1]) from None


def _pixel_section(draft: Draft, doc: Document, node: yaml.Node, kind: str) -> None:
    draft.pixels = _pixels(doc, node, draft.pixels)


SECTIONS = (
    ("code", _code),
    ("table", _table),
    ("private_tags", _private),
    ("unlisted_tags", _unlisted),
    ("dates", _dates),
    ("project", _project),
    ("output", _output),
    ("pixels", _pixel_section),
)


def _pixels(doc: Document, node: yaml.Node, policy: PixelPolicy) -> PixelPolicy:
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
    if "redact" in keys:
        policy = replace(policy, redact=_redact_modes(doc, keys["redact"], dict(policy.redact)))
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


def _redact_modes(doc: Document, node: yaml.Node, modes: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """``redact: band`` (every modality) or ``redact: {US: band, default: boxes}`` over the base's."""
    if isinstance(node, yaml.ScalarNode):
        return (("default", doc.choice(node, "pixels.redact", REDACT_MODES)),)
    if not isinstance(node, yaml.MappingNode):
        raise doc.fail(node, "pixels.redact must be boxes, band or a mapping of Modality to boxes or band")
    for key_node, value_node in node.value:
        key = str(key_node.value)
        key = key if key == "default" else key.upper()
        modes[key] = doc.choice(value_node, f"pixels.redact.{key}", REDACT_MODES)
    return tuple(sorted(modes.items()))


def _shift_days(doc: Document, node: yaml.Node) -> tuple[int, int]:
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


@contextmanager
def collected(doc: Document) -> Iterator[None]:
    """A problem inside is recorded in ``doc.problems`` and loading goes on."""
    try:
        yield
    except ProfileError as exc:
        doc.problems.append(exc)
