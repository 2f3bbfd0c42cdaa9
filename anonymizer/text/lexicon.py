"""The word lists of the free-text PHI detector, read from installed packages (nothing downloaded).

* first names: ``gender_guesser``'s ``nam_dict.txt`` (about 48,000 names of European and
  other countries) and the 1990 US Census first names of the ``names`` package;
* surnames: the 60,000 most frequent 1990 US Census surnames (``names``);
* words that are too common to be a surname: :mod:`wordfreq`'s 'small' lists for en, de,
  fr, es, it and nl (read straight from its data files with msgpack);
* clinical vocabulary: pydicom's data dictionary keywords and the lower-case words of its
  SR concept code meanings (SNOMED CT, DCM, RadLex, LOINC ...), plus :mod:`.vocabulary`;
* street types: the USPS list shipped with ``pyap`` plus :mod:`.vocabulary`'s.

:func:`lexicon` builds a :class:`Lexicon` once per process (about 0.4 s, 45 MiB); it is
immutable and holds no value of any input.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import hashlib
import importlib.util
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata, resources
from pathlib import Path
from typing import Any

import msgpack

from anonymizer.text import patterns, vocabulary
from anonymizer.text.patterns import WORD_RE
from anonymizer.text.vocabulary import CLINICAL_WORDS, IMAGING, PARTICLES, STOP, STREET_AFTER, alternation, fold
from anonymizer.version import __version__


@dataclass(frozen=True)
class Lexicon:
    """Immutable word sets (folded lower case) the detector's rules consult."""

    first: frozenset[str]
    census_first: frozenset[str]
    last: frozenset[str]
    imaging: frozenset[str]
    radiology: frozenset[str]  # imaging words, DICOM keyword words, clinical words in six languages
    clinical: frozenset[str]  # radiology plus the words of SR code meanings
    common: frozenset[str]  # frequent words of six languages (zipf >= 3.5)
    stop_names: frozenset[str]  # function words that are also first names (Per, An, Don)
    imaging_surnames: frozenset[str]  # imaging words that are also frequent surnames (Dixon, Fisher)
    street_types: str  # a regular-expression alternation


SOURCES = ("gender-guesser", "names", "wordfreq", "pydicom", "pyap")
"""The distributions the lexicon is read from: their versions key the cached copy."""


@lru_cache(maxsize=1)
def lexicon() -> Lexicon:
    """The lexicon (built on first use, then shared by every detector of the process).

    A built lexicon is kept as JSON in the user's cache folder (``$ANONYMIZER_CACHE``, else
    ``$XDG_CACHE_HOME/anonymizer`` or ``~/.cache/anonymizer``), named by a digest of this
    package's version and sources and of the versions of :data:`SOURCES`; a process reads it
    in about a tenth of the build's time. A missing, unreadable or damaged copy is rebuilt;
    a folder that cannot be written is only not used. It holds word lists, never input.
    """
    path = _cache_file()
    if path is not None:
        try:
            return _from_json(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError, KeyError):
            pass
    built = _build()
    if path is not None:
        fields = {k: v if isinstance(v, str) else sorted(v) for k, v in dataclasses.asdict(built).items()}
        with contextlib.suppress(OSError):
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            temporary = path.with_name(f".{path.name}.{os.getpid()}")
            temporary.write_text(json.dumps(fields), encoding="utf-8")
            os.replace(temporary, path)
    return built


def _from_json(fields: dict[str, Any]) -> Lexicon:
    """A lexicon from its cached JSON form (ValueError when it is not one)."""
    if set(fields) != {f.name for f in dataclasses.fields(Lexicon)} or not isinstance(fields["street_types"], str):
        raise ValueError("not a cached lexicon")
    sets = {k: frozenset(v) for k, v in fields.items() if k != "street_types"}
    if not all(isinstance(w, str) for words in sets.values() for w in words):
        raise ValueError("not a cached lexicon")
    return Lexicon(street_types=fields["street_types"], **sets)


def _cache_file() -> Path | None:
    """Where the built lexicon is kept (None when no home or cache folder is known)."""
    folder = os.environ.get("ANONYMIZER_CACHE") or (
        os.path.join(os.environ["XDG_CACHE_HOME"], "anonymizer") if os.environ.get("XDG_CACHE_HOME") else ""
    )
    if not folder:
        home = os.path.expanduser("~")
        if home == "~":
            return None
        folder = os.path.join(home, ".cache", "anonymizer")
    digest = hashlib.sha256(__version__.encode())
    for module in (__file__, vocabulary.__file__, patterns.__file__):
        digest.update(Path(module).read_bytes())
    for name in SOURCES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            digest.update(f"{name}={metadata.version(name)}".encode())
    return Path(folder) / f"lexicon-{digest.hexdigest()[:16]}.json"


def _build() -> Lexicon:
    census_first = _census_names("dist.male.first") + _census_names("dist.female.first")
    census_last = _census_names("dist.all.last")
    imaging = frozenset(fold(w) for w in IMAGING)
    keywords, meanings = _dicom_vocabulary()
    radiology = frozenset(keywords | imaging | {fold(w) for w in CLINICAL_WORDS})
    clinical = frozenset(meanings | radiology)
    frequent = set(census_last[:3000]) | set(census_first)
    given = _gender_guesser_names() | set(census_first)
    first = given - STOP - PARTICLES - imaging
    # The most frequent 60,000 census surnames (the tail holds few real surnames that are
    # not also rare words); clinical words are left out unless they are among the 3,000
    # most frequent surnames (Brown, Long, White).
    last = frozenset(
        w for w in census_last[:60000] if w not in STOP and w not in imaging and (w not in clinical or w in frequent)
    )
    return Lexicon(
        first=frozenset(w for w in first if len(w) >= 2 and (w not in clinical or w in frequent)),
        census_first=frozenset(census_first),
        last=last,
        imaging=imaging,
        radiology=radiology,
        clinical=clinical,
        common=frozenset(_common_words(("en", "de", "fr", "es", "it", "nl"), 3.5)),
        stop_names=frozenset(w for w in given & STOP - PARTICLES if len(w) >= 2),
        imaging_surnames=frozenset(imaging.intersection(census_last[:60000])),
        street_types=_street_types(),
    )


def _gender_guesser_names() -> set[str]:
    """First names of ``gender_guesser``'s ``nam_dict.txt`` (folded)."""
    out: set[str] = set()
    path = resources.files("gender_guesser").joinpath("data/nam_dict.txt")
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line[:1] in "#=" or len(line) < 30:
                continue
            name = line[3:29].strip()
            for part in re.split(r"[+ -]", name):
                if len(part) >= 2:
                    out.add(fold(part))
    return out


def _census_names(filename: str) -> list[str]:
    """Names of one US Census 1990 list of the ``names`` package (folded, most frequent first)."""
    path = resources.files("names").joinpath(filename)
    with path.open(encoding="ascii") as handle:
        return [fold(line.split(None, 1)[0]) for line in handle if line.strip()]


def _dicom_vocabulary() -> tuple[set[str], set[str]]:
    """Words of the DICOM dictionary keywords and of pydicom's SR concept code meanings.

    From the code meanings (SNOMED CT, DCM, RadLex, LOINC, ...) only words written in
    lower case somewhere are taken: eponyms (``Lewis``, ``Wolff``) are always capitalised
    and are names first.
    """
    from pydicom._dicom_dict import DicomDictionary
    from pydicom.sr._concepts_dict import concepts

    keywords: set[str] = set()
    meanings: set[str] = set()
    camel = re.compile(r"[A-Z][a-z]+|[A-Z]+(?![a-z])")
    for entry in DicomDictionary.values():
        keywords.update(w.lower() for w in camel.findall(entry[4]))
    schemes: dict[str, dict[str, dict[str, tuple[str, Any]]]] = concepts  # type: ignore[assignment]
    for scheme in schemes.values():
        for codes in scheme.values():
            for meaning, _ in codes.values():
                meanings.update(w for w in WORD_RE.findall(meaning) if w.islower())
    return {fold(w) for w in keywords if len(w) >= 2}, {fold(w) for w in meanings if len(w) >= 2}


def _common_words(languages: Iterable[str], zipf: float) -> set[str]:
    """Words at least as frequent as ``zipf`` in any of ``languages`` (wordfreq 'small' lists).

    The lists are read straight from wordfreq's data files (its documented ``cB`` format:
    a header, then one list of words per centibel of frequency), which avoids importing
    wordfreq and its dependencies.

    Raises
    ------
    RuntimeError
        When a list is not in that format (a wordfreq release changed it).
    """

    out: set[str] = set()
    bins = round((9 - zipf) * 100) + 1
    for lang in languages:
        with gzip.open(_package_dir("wordfreq") / "data" / f"small_{lang}.msgpack.gz") as handle:
            data = msgpack.load(handle, raw=False)
        if not (isinstance(data[0], dict) and data[0].get("format") == "cB"):
            raise RuntimeError(f"wordfreq's {lang} list is not in the cB format this reader knows")
        for words in data[1 : 1 + bins]:
            out.update(words)
    return {fold(w) for w in out}


def _package_dir(name: str) -> Path:
    """The folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"package {name!r} is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def _street_types() -> str:
    """Street type alternation: the USPS list shipped with ``pyap`` plus European forms."""
    from pyap.source_US.data import street_type_list

    units = {
        "dr",
        "suite",
        "ste",
        "apt",
        "apartment",
        "unit",
        "floor",
        "fl",
        "room",
        "rm",
        "bldg",
        "building",
        "flat",
        "lot",
        "box",
        "views",
        "view",
    }
    extra = {w.lower() for w in street_type_list if len(w) >= 3 and w.isalpha()} - units
    return alternation(set(STREET_AFTER.split("|")) - units | extra)
