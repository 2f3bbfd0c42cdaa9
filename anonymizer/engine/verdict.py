"""Does a plan meet the PS3.15 Basic Application Level Confidentiality Profile?

Every row of Table E.1-1 must be handled at least as strictly as its Basic code says, or
relaxed only as far as an option the profile declares allows (the option's column for
that row). The marks depend on the answer: PatientIdentityRemoved ``YES`` and code 113100
only for a plan that meets the profile (:mod:`anonymizer.engine.marks`).

What each code accepts, from the strictest: X only removal; Z and D also an empty value
or a replacement (dummy, pseudonym, keyed hash, crosswalk); U also a remapped UID; C also
cleaning (and, for dates, the keyed shift); K anything. A reference sequence whose items
hold only SOP classes and UIDs may be kept with every UID remapped (``remap_uid``): each
UID inside is handled by its own row (U), so the kept sequence discloses what its removal
would, and references between the objects of a study keep resolving (TCIA does the same).
"""

from __future__ import annotations

from dataclasses import dataclass

from anonymizer import standard
from anonymizer.engine.plan import Plan

_REPLACING = frozenset({"remove", "empty", "replace", "pseudonymize", "hash", "lookup"})
ACCEPTS: dict[str, frozenset[str] | None] = {
    "X": frozenset({"remove"}),
    "Z": _REPLACING,
    "D": _REPLACING,
    "U": _REPLACING | {"remap_uid"},
    "C": _REPLACING | {"remap_uid", "clean", "shift_date", "generalize"},
    "K": None,  # anything, keep included
}
UID_REFERENCES = frozenset(
    {
        "ReferencedStudySequence",
        "ReferencedPerformedProcedureStepSequence",
        "ReferencedImageSequence",
        "SourceImageSequence",
    }
)


@dataclass(frozen=True)
class Shortfall:
    """One Table E.1-1 row the plan handles less strictly than the Basic Profile allows."""

    tag: str
    keyword: str
    required: str  # the Basic code, with the declared options' codes that relax it
    action: str
    origin: str

    def line(self) -> str:
        return f"{self.tag} {self.keyword}: {self.action} ({self.origin}); the profile requires {self.required}"


def _accepted(codes: list[str]) -> frozenset[str] | None:
    found: set[str] = set()
    for code in codes:
        for letter in code.replace("*", "").split("/"):
            accepts = ACCEPTS.get(letter, frozenset())
            if accepts is None:
                return None
            found |= accepts
    return frozenset(found)


def _tag_of(text: str) -> int:
    """A representative tag of a Table E.1-1 row, repeating groups included: ``(60XX,3000)`` -> 0x60003000."""
    group, element = text[1:5].replace("X", "0"), text[6:10]
    return int(group + ("0010" if "X" in element else element), 16)


def shortfalls(plan: Plan) -> tuple[Shortfall, ...]:
    """The rows of Table E.1-1 that ``plan`` falls short on (empty: it meets the Basic Profile)."""
    found = []
    options = plan.options
    for attr in standard.rows():
        codes = [attr.basic, *[attr.options[o] for o in options if attr.options.get(o)]]
        required = " or ".join(dict.fromkeys(codes))
        if attr.tag == "PRIVATE":
            policy = plan.profile.private_tags
            if policy == "keep" or (policy == "safe" and "retain-safe-private" not in options):
                found.append(Shortfall("(gggg,eeee)", "private attributes", required, policy, "private_tags"))
            continue
        accepted = _accepted(codes)
        if accepted is None:
            continue
        bound = plan.resolve(_tag_of(attr.tag), attr.vr, (), "", None, None)
        if bound.name == "remap_uid" and attr.keyword in UID_REFERENCES:
            continue
        if bound.name not in accepted:
            found.append(Shortfall(attr.tag, attr.keyword or attr.name, required, bound.name, bound.origin))
    return tuple(found)


def meets_basic(plan: Plan) -> bool:
    """The plan meets the Basic Profile (remembered per plan)."""
    return not plan.memo("verdict", "basic", lambda: shortfalls(plan))
