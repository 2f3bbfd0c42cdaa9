"""Value representations: every VR set and maximum length the package uses, in one place.

Built from ``pydicom.valuerep`` wherever pydicom has the fact; the few facts it does not
carry come from PS3.5 Table 6.2-1 and say so.
"""

from __future__ import annotations

from collections.abc import Iterable
from types import MappingProxyType

from pydicom import valuerep


def _names(vrs: Iterable[valuerep.VR]) -> frozenset[str]:
    return frozenset(str(vr) for vr in vrs if vr not in valuerep.AMBIGUOUS_VR)


ALL = _names(valuerep.STANDARD_VR)
STRING = _names(valuerep.STR_VR)  # AE AS CS DA DS DT IS LO LT PN SH ST TM UC UI UR UT
BINARY = _names(valuerep.BYTES_VR)  # OB OD OF OL OV OW UN
NUMBER = _names(valuerep.INT_VR) | _names(valuerep.FLOAT_VR)  # AT DS FD FL IS SL SS SV UL US UV
CHARSET = _names(valuerep.CUSTOMIZABLE_CHARSET_VR)  # LO LT PN SH ST UC UT: Specific Character Set applies
ASCII = _names(valuerep.DEFAULT_CHARSET_VR) - NUMBER  # AE AS CS DA DT TM UI UR: always the default repertoire
LONG_LENGTH = _names(valuerep.EXPLICIT_VR_LENGTH_32)  # explicit VR headers with a 4-byte length
UNDEFINED = 0xFFFFFFFF  # the length of a sequence, item or encapsulated value closed by a delimiter
DATE = frozenset({"DA", "DT"})
TEMPORAL = DATE | {"TM"}
TEXT = STRING - NUMBER - TEMPORAL - {"AS", "UI"}  # AE CS LO LT PN SH ST UC UR UT: names, codes, free text
FREE_TEXT = frozenset({"LO", "ST", "LT", "UT", "UC"})  # SH holds codes and short labels
# A backslash is part of the value, not a delimiter: pydicom's ALLOW_BACKSLASH, plus UR,
# which PS3.5 defines with VM 1 and pydicom's converter never splits.
SINGLE_VALUED = (_names(valuerep.ALLOW_BACKSLASH) & STRING) | {"UR"}

# Maximum value length in characters (bytes for the default repertoire): pydicom's
# MAX_VALUE_LEN, plus AS, DA, DT, TM and PN (per component group) from PS3.5 Table 6.2-1.
MAX_LENGTH = MappingProxyType({**valuerep.MAX_VALUE_LEN, "AS": 4, "DA": 8, "DT": 26, "TM": 14, "PN": 64})


def max_length(vr: str) -> int | None:
    """The longest value ``vr`` allows, or None when the VR has no practical limit."""
    return MAX_LENGTH.get(vr)
