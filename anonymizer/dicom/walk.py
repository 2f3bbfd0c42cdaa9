"""Traversal of a dataset without decoding it: one level (:func:`entries`) or every depth (:func:`deep`).

Both the engine's walker and the verifier go through here, so they see the same
elements with the same VRs and the same private creators. Nothing is decoded except
what has to be: implicit-VR and UN elements take their VR from the data dictionary, and
only a private or undefined-length UN element is converted (it may hold a sequence).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator

from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.filereader import read_sequence
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag

from anonymizer.dicom import vr as vrs
from anonymizer.dicom.tags import block, dictionary_vr, format_tag, is_creator

Element = RawDataElement | DataElement
Entry = tuple[BaseTag, int, Element, str, str | None]  # key, tag, element, VR, private creator
Where = tuple[tuple[int, int], ...]  # (sequence tag, item index) from the top


def element_vr(ds: Dataset, tag: int, raw: Element) -> str:
    """An element's VR without decoding its value (implicit VR and UN: the dictionaries)."""
    vr = raw.VR
    if vr is None or vr == "UN":
        known = dictionary_vr(tag)
        if known is not None:
            return known
        if raw.VR is None or (isinstance(raw, RawDataElement) and raw.length == vrs.UNDEFINED):
            return str(ds[tag].VR)  # converts (private or undefined-length UN): may be SQ
        return "UN"
    return str(vr)


def creator_name(ds: Dataset, key: BaseTag, elem: Element) -> str:
    """A private creator's name, lower case; read from the raw bytes when plain ASCII."""
    value = elem.value
    raw_lo = type(elem) is RawDataElement and elem.VR in ("LO", None)
    if raw_lo and isinstance(value, bytes) and value.isascii() and b"\\" not in value:
        return value.decode("ascii").rstrip("\x00 ").strip().lower()  # as pydicom decodes LO
    value = ds[key].value
    return str(value).strip().lower() if value else ""


def creators(ds: Dataset) -> dict[int, tuple[BaseTag, str]]:
    """Private creators of one level: block (see :func:`~anonymizer.dicom.tags.block`) -> (key, name)."""
    found = {}
    for key, elem in ds._dict.items():
        if key >> 16 & 1 and is_creator(int(key)):
            found[block(int(key))] = (key, creator_name(ds, key, elem))
    return found


def entries(ds: Dataset, on_creator: Callable[[BaseTag, str], None] | None = None) -> list[Entry]:
    """Every element of one level but the private creators, in the dataset's order.

    Yields ``(key, tag, element, VR, creator)``: ``key`` is the dataset's own key (looking
    an element up by an int key makes pydicom compare tags in Python), ``element`` is
    raw when it was never decoded, ``creator`` the lower-case name of the private block's
    creator (None for public elements and for private elements without a creator).
    ``on_creator(key, name)`` is told of each private creator met.

    One pass: a file's creators come before their blocks; a block met before its creator
    (a dataset built out of order) makes the level's creators be read first.
    """
    names: dict[int, str] = {}
    complete = False  # every creator of the level is in names
    found: list[Entry] = []  # a list, not a generator: the walk is on every file's hot path
    append = found.append
    for key, elem in list(ds._dict.items()):
        tag = int(key)
        if tag >> 16 & 1:
            element = tag & 0xFFFF
            if 0x10 <= element <= 0xFF:
                name = creator_name(ds, key, elem)
                names[(tag >> 16) << 8 | element] = name  # block(tag), inline: the hot path
                if on_creator is not None:
                    on_creator(key, name)
                continue
            here = (tag >> 16) << 8 | element >> 8
            creator = names.get(here)
            if creator is None and not complete:  # out of order, or no creator at all
                names, complete = {b: name for b, (_, name) in creators(ds).items()}, True
                creator = names.get(here)
        else:
            creator = None
        vr = elem.VR
        if vr is None or vr == "UN":
            vr = element_vr(ds, tag, elem)
        append((key, tag, elem, vr, creator))
    return found


def deep(ds: Dataset, where: Where = ()) -> Iterator[tuple[Where, Dataset, Entry]]:
    """Every element at every depth (sequences yielded, then their items' elements)."""
    for entry in entries(ds):
        yield where, ds, entry
        if entry[3] == "SQ":
            for index, item in enumerate(items(ds, entry[0])):
                yield from deep(item, (*where, (entry[1], index)))


def items(ds: Dataset, key: int) -> Sequence:
    """The items of the sequence at ``key``, converted in place as ``ds[key]`` converts them.

    An explicit-VR sequence still raw is parsed with pydicom's own sequence reader and put
    in place directly: ``ds[key]`` costs three times the parse in hooks and bookkeeping
    (the private creator's name on the element, which nothing here reads). Each item still
    gets the pixel representation pydicom gives it. Anything else goes through ``ds[key]``.
    """
    raw = ds._dict.get(key)  # type: ignore[call-overload]
    if type(raw) is not RawDataElement or raw.VR != "SQ" or raw.value is None or raw.is_implicit_VR:
        converted: Sequence = ds[key].value
        return converted
    charset = ds.original_character_set or ds._character_set
    value = raw.value
    sequence = read_sequence(
        io.BytesIO(value),
        False,
        raw.is_little_endian,
        len(value),
        [charset] if isinstance(charset, str) else charset,
        raw.value_tell,
    )
    elem = DataElement(raw.tag, "SQ", sequence, raw.value_tell, raw.length == vrs.UNDEFINED, already_converted=True)
    ds._dict[raw.tag] = elem
    ds._set_pixel_representation(elem)
    return sequence


def path_text(where: Where, tag: int) -> str:
    """A tag path as findings and plans print it: ``(0040,0275)[0]/(0008,0050)``."""
    return "".join(f"{format_tag(t)}[{i}]/" for t, i in where) + format_tag(tag)
