"""What a plan decides for one element (:class:`Bound`) and the decisions made without a rule."""

from __future__ import annotations

from dataclasses import dataclass, field

from anonymizer.profile.actions import ACTIONS, Action


@dataclass(frozen=True)
class Bound:
    """A resolved decision: the action object and where it came from."""

    action: Action
    origin: str
    combined: str = ""  # a PS3.15 combined code, resolved per IOD (action "conform")
    name: str = field(init=False)  # the action's name, read per element

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", self.action.name)


def default(name: str, origin: str) -> Bound:
    return Bound(ACTIONS[name]({}), origin)


KEEP_UNLISTED = default("keep", "unlisted_tags: keep")
REMOVE_UNLISTED = default("remove", "unlisted_tags: remove")
REMOVE_UNKNOWN = default("remove", "public tag not in the data dictionary (fail closed)")
REMOVE_GROUP_LENGTH = default("remove", "group length (recomputed on write)")
REMOVE_PRIVATE = default("remove", "private_tags: remove")
KEEP_PRIVATE = default("keep", "private_tags: keep")
REMOVE_ILLEGAL_PRIVATE = default("remove", "private element without a creator")
SAFE_PRIVATE = {
    "k": default("keep", "private_tags: safe (TCIA knowledge base: keep)"),
    "k-text": default("clean", "private_tags: safe (TCIA knowledge base: keep; text cleaned)"),
    "h": default("remap_uid", "private_tags: safe (TCIA knowledge base: UID)"),
    "o": default("shift_date", "private_tags: safe (TCIA knowledge base: date)"),
}
REMOVE_NOT_SAFE = default("remove", "private_tags: safe (not known safe)")
IN_REPLACED = {
    vr: default("replace", "inside a replaced sequence")
    for vr in ("PN", "LO", "SH", "ST", "LT", "UT", "UC", "UR", "AE", "DA", "DT", "TM")
}
IN_CLEANED = {
    vr: default("clean", "inside a cleaned sequence")
    for vr in ("PN", "LO", "SH", "ST", "LT", "UT", "UC", "UR", "AE", "DA", "DT")
}
PRIVATE_TEXT = frozenset({"LO", "SH", "ST", "LT", "UT", "UC", "PN"})
# A code triplet is vocabulary, not an identifier: kept inside replaced or cleaned sequences
CODE_VOCABULARY = frozenset(
    {
        0x00080100,  # CodeValue
        0x00080102,  # CodingSchemeDesignator
        0x00080103,  # CodingSchemeVersion
        0x00080105,  # MappingResource
        0x00080106,  # ContextGroupVersion
        0x0008010B,  # ContextGroupExtensionFlag
        0x0008010F,  # ContextIdentifier
        0x00080117,  # ContextUID
        0x00080119,  # LongCodeValue
        0x00080120,  # URNCodeValue
        0x00080122,  # MappingResourceName
    }
)
CODE_MEANING = 0x00080104
KEEP_VOCABULARY = default("keep", "code triplet inside a replaced or cleaned sequence (vocabulary)")
# its CodeMeaning is cleaned only when the scheme is private ("99..." or local "L"): see apply
CLEAN_PRIVATE_MEANING = default("clean", "code meaning inside a replaced or cleaned sequence (private schemes cleaned)")
