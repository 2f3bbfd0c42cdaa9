"""Compile a :class:`Profile` into a :class:`Plan` once: rule indexes and the decision for one element.

Resolution for one element, first match wins:

1. a rule for its tag inside a matching sequence path (longest path first);
2. a rule for its exact tag;
3. a mask rule (``(60xx,3000)``), most specific first (a matching path adds to it);
4. private elements: a rule for ``(gggg,xxee)@CREATOR``, then ``private`` (each with a
   matching path first), then the ``private_tags`` policy (``safe`` uses the TCIA
   knowledge base);
5. a VR rule;
6. inside a sequence being replaced (D) or cleaned (C): code triplets kept (CodeMeaning
   cleaned for private coding schemes), other text and dates replaced / cleaned;
7. group lengths and public tags the data dictionary does not know: remove (fail closed);
   other public tags: the ``unlisted_tags`` policy, except that ``keep`` never keeps an
   attribute the supplement marks identifying (its code applies: fail closed).

A rule with a sequence path (``Seq/...``) applies only inside that path. Among rules of
one kind, the later rule wins. Combined codes (``conform``) are resolved per SOP class
from the attribute's Type in that IOD.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import asdict
from typing import Any, TypeVar

from anonymizer import standard
from anonymizer.dicom import vr as vrs
from anonymizer.dicom.tags import format_tag, keyword, known
from anonymizer.engine.bound import (
    CLEAN_PRIVATE_MEANING,
    CODE_MEANING,
    CODE_VOCABULARY,
    IN_CLEANED,
    IN_REPLACED,
    KEEP_PRIVATE,
    KEEP_UNLISTED,
    KEEP_VOCABULARY,
    PRIVATE_TEXT,
    REMOVE_GROUP_LENGTH,
    REMOVE_ILLEGAL_PRIVATE,
    REMOVE_NOT_SAFE,
    REMOVE_PRIVATE,
    REMOVE_UNKNOWN,
    REMOVE_UNLISTED,
    SAFE_PRIVATE,
    Bound,
    default,
)
from anonymizer.pixels.rules import RuleIndex
from anonymizer.profile.actions import ACTIONS, Action, Edit, FileContext, code_action, resolve_combined
from anonymizer.profile.loader import Profile, Rule
from anonymizer.profile.pseudonyms import Lookup
from anonymizer.text.identifiers import Element

T = TypeVar("T")
PATIENT_ID = 0x00100020
Path_ = tuple[int, ...]


class _PatientIdOf:
    """The object's PatientID as an element, for an action that follows the PatientID rule."""

    tag, keyword = PATIENT_ID, "PatientID"

    def __init__(self, value: str, vr: str):
        self.value, self.VR = value, vr


class Follow(Action):
    """Apply the PatientID rule's action to the object's PatientID and write its result here.

    Made per leader by :func:`follower`, so that it is counted and explained under the
    leader's action name.
    """

    def __init__(self, leader: Action):
        super().__init__({"source": "PatientID"})
        self.leader = leader

    def __reduce__(self) -> tuple[Any, ...]:
        return follower, (self.leader,)  # the class is made per leader: rebuild it in the worker

    def __call__(self, elem: Element, ctx: FileContext) -> Edit:
        vr = elem.VR if elem.VR in vrs.TEXT else "LO"
        return self.leader(_PatientIdOf(ctx.patient_id, vr), ctx)


def follower(leader: Action) -> Follow:
    """A :class:`Follow` of ``leader`` that carries the leader's action name and code."""
    kind = type(f"Follow{type(leader).__name__}", (Follow,), {"name": leader.name, "code": leader.code})
    return kind(leader)  # type: ignore[no-any-return]


def _inside(stack: Path_, path: Path_) -> bool:
    """The element's sequence stack ends with ``path`` (an empty path matches anywhere)."""
    return not path or stack[-len(path) :] == path


class Plan:
    """A compiled profile: rule indexes built once, decisions remembered per structure.

    The rules and the digest never change after compiling. Decisions that depend only
    on structure (tag, VR, mode, path, creator, SOP class; never a value) are memoised
    in the plan; the memo is rebuilt in each process (it is not pickled), so a plan
    can be sent to workers.

    Parameters
    ----------
    profile : Profile
        A composed, validated profile (:func:`anonymizer.load_profile`).
    """

    def __init__(self, profile: Profile):
        self.profile = profile
        self.options = profile.options
        self._exact: dict[int, Bound] = {}
        self._pathed: dict[int, list[tuple[Path_, Bound]]] = {}
        self._masks: list[tuple[Path_, int, int, Bound]] = []
        self._private: dict[tuple[int, str, int], list[tuple[Path_, Bound]]] = {}
        self._all_private: list[tuple[Path_, Bound]] = []
        self._vr: dict[str, Bound] = {}
        self._bounds: list[Bound] = []
        masks: list[tuple[int, int, tuple[Path_, int, int, Bound]]] = []
        for order, rule in enumerate(profile.rules):
            combined = str(rule.params["code"]) if rule.action == "conform" else ""
            bound = Bound(ACTIONS[rule.action](rule.params, rule.base), rule.origin, combined)
            self._bounds.append(bound)
            self._index(rule, bound, order, masks)
        self._follow_patient_id()
        masks.sort(key=lambda m: (m[0], m[1]), reverse=True)  # specificity (path included), then later first
        self._masks = [entry for _, _, entry in masks]
        for entries in (*self._pathed.values(), *self._private.values(), self._all_private):
            entries.sort(key=lambda item: len(item[0]), reverse=True)  # stable: later wins below
        self._path_scoped = (
            bool(self._pathed)
            or any(path for path, *_ in self._masks)
            or any(path for entries in (*self._private.values(), self._all_private) for path, _ in entries)
        )
        self.pixel_rules = RuleIndex(profile.pixels)
        self.digest = self._digest()
        self._memo: dict[str, dict[Any, Any]] = {}
        self._decisions: dict[tuple[Any, ...], Bound] = {}

    def _follow_patient_id(self) -> None:
        """A ``pseudonymize`` rule with ``source: PatientID`` and no format follows the PatientID rule.

        The follower applies the PatientID rule's own action (pseudonym, crosswalk, hash,
        removal...) to the object's PatientID, so PatientName carries what PatientID
        carries, whatever a derived profile sets.
        """
        leader = self._exact.get(PATIENT_ID)
        for tag, bound in list(self._exact.items()):
            params = bound.action.with_
            if bound.name != "pseudonymize" or "source" not in params or "format" in params or tag == PATIENT_ID:
                continue
            origin = f"{bound.origin} (follows PatientID's rule at {leader.origin})" if leader else bound.origin
            self._exact[tag] = Bound(follower(leader.action) if leader else bound.action, origin)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_memo": {}, "_decisions": {}}

    def memo(self, kind: str, key: Any, build: Callable[[], T]) -> T:
        """``build()`` remembered under ``(kind, key)`` in this process (keys are structure, never values).

        Parameters
        ----------
        kind : str
            The table the value belongs to (``conform``, ``marks``, ...).
        key : hashable
            What the value depends on, within ``kind`` (tags, VRs, SOP classes; never a value).
        build : callable
            Makes the value, called without arguments when none is remembered.

        Returns
        -------
        object
            The remembered value, or the one ``build()`` returns (a None is built again
            each time).
        """
        table = self._memo.setdefault(kind, {})
        found = table.get(key)
        if found is None:
            found = table[key] = build()
        return found

    def lookup_records(self) -> list[tuple[str, str, str]]:
        """The pairs of every ``lookup`` crosswalk, as vault records.

        Returns
        -------
        list of (str, str, str)
            ``(namespace, token, original)``: the namespace is the rule's ``namespace``, else
            the attribute's keyword (or its tag); the token is the crosswalk's new value.
        """
        records = []
        for bound, rule in zip(self._bounds, self.profile.rules, strict=True):
            if isinstance(bound.action, Lookup) and rule.selector.tag is not None:
                records += bound.action.records(keyword(rule.selector.tag) or format_tag(rule.selector.tag))
        return records

    def _index(self, rule: Rule, bound: Bound, order: int, masks: list[Any]) -> None:
        sel = rule.selector
        if sel.path and sel.tag is not None:
            entries = self._pathed.setdefault(sel.tag, [])
            entries[:] = [e for e in entries if e[0] != sel.path]
            entries.append((sel.path, bound))
        elif sel.tag is not None:
            self._exact[sel.tag] = bound
        elif sel.mask is not None:
            masks.append((sel.specificity, order, (sel.path, sel.mask[0], sel.mask[1], bound)))
        elif sel.private is not None:
            entries = self._private.setdefault(sel.private, [])
            entries[:] = [e for e in entries if e[0] != sel.path]
            entries.append((sel.path, bound))
        elif sel.all_private:
            self._all_private[:] = [e for e in self._all_private if e[0] != sel.path]
            self._all_private.append((sel.path, bound))
        elif sel.vr is not None:
            self._vr[sel.vr] = bound

    def _digest(self) -> str:
        """SHA-256 of the compiled rules, the crosswalks' content and the policies."""
        parts = [
            (
                r.selector.text,
                r.action,
                json.dumps(dict(r.params), sort_keys=True, default=str),
                b.action.content_digest(),
            )
            for r, b in zip(self.profile.rules, self._bounds, strict=True)
        ]
        payload = json.dumps(
            [
                parts,
                self.profile.private_tags,
                self.profile.unlisted_tags,
                self.profile.shift_days,
                list(self.options),
                json.dumps(asdict(self.profile.pixels), sort_keys=True, default=str),
            ]
        )
        return hashlib.sha256(payload.encode()).hexdigest()

    # --- resolution ----------------------------------------------------------------------

    def _conformed(self, bound: Bound, tag: int, iod: str | None, nested: bool) -> Bound:
        code = bound.combined
        if not code:
            return bound

        def build() -> Bound:
            attr_type = standard.attribute_type(keyword(tag), iod, nested)
            name = resolve_combined(code, attr_type)
            where = iod or "unknown SOP class"
            return default(name, f"{bound.origin} -> {name} (Type {attr_type or 'absent'} in {where})")

        return self.memo("conform", (tag, iod, nested, code), build)

    def resolve(self, tag: int, vr: str, stack: Path_, mode: str, creator: str | None, iod: str | None) -> Bound:
        """The decision for one element (see the module docstring for the order).

        Parameters
        ----------
        tag : int
            The element's tag.
        vr : str
            The VR it is stored with.
        stack : tuple of int
            The tags of the sequences that enclose it, outermost first.
        mode : str
            ``"D"`` inside a replaced sequence, ``"C"`` inside a cleaned one, else ``""``.
        creator : str or None
            The lower-case private creator of a private element.
        iod : str or None
            The object's IOD key (combined codes are resolved for it).

        Returns
        -------
        Bound
            The action to apply and its origin (a rule's profile file:line, or the policy
            or default that decided).
        """
        where = stack if self._path_scoped else bool(stack)
        key = (tag, vr, mode, where, creator, iod)
        found = self._decisions.get(key)
        if found is None:
            found = self._decisions[key] = self._resolve(tag, vr, stack, mode, creator, iod)
        return found

    def _resolve(self, tag: int, vr: str, stack: Path_, mode: str, creator: str | None, iod: str | None) -> Bound:
        nested = bool(stack)
        for path, bound in self._pathed.get(tag, ()):
            if _inside(stack, path):
                return self._conformed(bound, tag, iod, nested)
        exact = self._exact.get(tag)
        if exact is not None:
            return self._conformed(exact, tag, iod, nested)
        for path, value, care, bound in self._masks:
            if tag & care == value and _inside(stack, path):
                return self._conformed(bound, tag, iod, nested)
        group, element = tag >> 16, tag & 0xFFFF
        if group % 2:
            return self._resolve_private(group, element, creator, vr, stack)
        found = self._vr.get(vr)
        if found is not None:
            return found
        if mode and tag in CODE_VOCABULARY:
            return KEEP_VOCABULARY
        if mode and tag == CODE_MEANING:
            return CLEAN_PRIVATE_MEANING
        if mode == "D" and vr in IN_REPLACED:
            return IN_REPLACED[vr]
        if mode == "C" and vr in IN_CLEANED:
            return IN_CLEANED[vr]
        if element == 0 or not known(tag):
            return REMOVE_GROUP_LENGTH if element == 0 else REMOVE_UNKNOWN
        if self.profile.unlisted_tags == "remove":
            return REMOVE_UNLISTED
        row = standard.supplement_by_tag().get(tag)
        return KEEP_UNLISTED if row is None else self._fail_closed(row, tag, iod, nested)

    def _fail_closed(self, row: standard.Attribute, tag: int, iod: str | None, nested: bool) -> Bound:
        """``unlisted_tags: keep`` never keeps an attribute the supplement marks identifying:
        its code applies (the last declared option with a code for it, else the Basic code)."""
        column = next((o for o in reversed(self.options) if row.options.get(o)), "basic")
        code = row.options.get(column, row.basic)
        name, params = code_action(code, column)
        origin = f"unlisted_tags: keep, but {row.reason} ({row.source}): {column} {code} (fail closed)"
        return self._conformed(Bound(ACTIONS[name](params), origin, params.get("code", "")), tag, iod, nested)

    def _resolve_private(self, group: int, element: int, creator: str | None, vr: str, stack: Path_) -> Bound:
        if creator is None:
            return REMOVE_ILLEGAL_PRIVATE
        for entries in (self._private.get((group, creator, element & 0xFF), ()), self._all_private):
            for path, bound in entries:
                if _inside(stack, path):
                    return bound
        policy = self.profile.private_tags
        if policy == "remove":
            return REMOVE_PRIVATE
        if policy == "keep":
            return KEEP_PRIVATE
        disposition = standard.private_dispositions().get(f"{group:04x}|{creator}|{element & 0xFF:02x}")
        if disposition == "k" and vr in PRIVATE_TEXT:
            disposition = "k-text"  # kept text still loses this object's identifiers
        return SAFE_PRIVATE.get(disposition or "", REMOVE_NOT_SAFE)

    def explain(self, sop_class_uid: str | None = None) -> Iterator[tuple[str, str, str, str]]:
        """Rows (tag, keyword, action, origin): every Table E.1-1 attribute, then the rest.

        Parameters
        ----------
        sop_class_uid : str or None
            Resolve combined codes for this SOP class (None, or a class the tables do not
            know: the strictest Type of any IOD).

        Yields
        ------
        tuple of (str, str, str, str)
            ``(tag, keyword, action, origin)``; besides a tag, ``tag`` can be a mask, a
            sequence path, a private ``(gggg,xxee)@creator``, ``VR xx`` or ``other public``
            (the keyword then a description or empty).
        """
        iod = standard.iod_for_sop_class(sop_class_uid) if sop_class_uid else None
        seen: set[int] = set()
        for attr in standard.rows():
            if attr.tag == "PRIVATE":
                policy = f"private_tags: {self.profile.private_tags}"
                yield ("(gggg,eeee) odd", "private attributes", policy, "profile policy")
                continue
            if "X" in attr.tag:
                group = int(attr.tag[1:5].replace("X", "0"), 16) << 16
                bound = next((b for _, v, _, b in self._masks if group == v & 0xFFFF0000), None)
                yield (attr.tag, attr.name, bound.name if bound else "keep", bound.origin if bound else "no rule")
                continue
            tag = int(attr.tag[1:5] + attr.tag[6:10], 16)
            seen.add(tag)
            bound = self.resolve(tag, attr.vr, (), "", None, iod)
            yield (attr.tag, attr.keyword, bound.name, bound.origin)
        for tag, bound in sorted(self._exact.items()):
            if tag not in seen:
                yield (format_tag(tag), keyword(tag), bound.name, bound.origin)
        for tag, entries in sorted(self._pathed.items()):
            for path, bound in entries:
                yield ("/".join(format_tag(t) for t in (*path, tag)), "", bound.name, bound.origin)
        for (group, creator, element), entries in sorted(self._private.items()):
            for path, bound in entries:
                where = "".join(f"{format_tag(t)}/" for t in path)
                yield (f"{where}({group:04X},xx{element:02X})@{creator}", "", bound.name, bound.origin)
        for vr, bound in sorted(self._vr.items()):
            yield (f"VR {vr}", "", bound.name, bound.origin)
        yield ("other public", "", self.profile.unlisted_tags, "unlisted_tags")
