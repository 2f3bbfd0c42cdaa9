"""Each action on single elements."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom.dataelem import DataElement

from anonymizer.errors import ActionError
from anonymizer.keys.secret import Secret
from anonymizer.profile.actions import ACTIONS, Edit, FileContext, resolve_combined
from anonymizer.text.cleaner import PLACEHOLDER, TextCleaner
from anonymizer.text.identifiers import strings as identifier_strings


def ctx(secret: Secret, identifiers: tuple[str, ...] = ()) -> FileContext:
    return FileContext(secret, "SNTPATIENT", -400, lambda: TextCleaner(identifiers))


def apply(name: str, vr: str, raw: object, secret: Secret, keyword_tag: int = 0x00100020, **params: object) -> Edit:
    action = ACTIONS[name](params)
    return action(DataElement(keyword_tag, vr, raw), ctx(secret))


def test_registry_holds_every_documented_action() -> None:
    assert set(ACTIONS) == {
        "keep",
        "remove",
        "empty",
        "replace",
        "remap_uid",
        "hash",
        "pseudonymize",
        "shift_date",
        "generalize",
        "clean",
        "lookup",
        "conform",
    }
    for action in ACTIONS.values():
        assert action.__doc__ and "``{" in action.__doc__  # a YAML example
        doc = " ".join(action.__doc__.split())
        assert "PS3.15" in doc and "VR" in doc and "eterministic" in doc and "reversible" in doc.lower(), action.name


def test_replace_gives_vr_valid_dummies(secret: Secret) -> None:
    assert apply("replace", "PN", "A^B", secret).value == "ANONYMOUS^"
    assert apply("replace", "DA", "20200101", secret).value == "19000101"
    assert apply("replace", "US", 5, secret).value == 0
    assert apply("replace", "LO", "x", secret, value="FIXED").value == "FIXED"
    uid = apply("replace", "UI", "1.2.3", secret, keyword_tag=0x0020000D).value
    assert uid == secret.uid("1.2.3")


def test_remap_uid_is_keyed_valid_and_recorded(secret: Secret) -> None:
    c = ctx(secret)
    edit = ACTIONS["remap_uid"]({})(DataElement(0x0020000D, "UI", ["1.2.3", "1.2.4"]), c)
    assert edit.value == [secret.uid("1.2.3"), secret.uid("1.2.4")]
    assert all(len(u) <= 64 and u.startswith("2.25.") for u in edit.value)
    assert c.records == [("UID", secret.uid("1.2.3"), "1.2.3"), ("UID", secret.uid("1.2.4"), "1.2.4")]
    assert Secret(bytes(32)).uid("1.2.3") != secret.uid("1.2.3")


def test_pseudonymize_format_namespace_source_and_vr_limits(secret: Secret) -> None:
    c = ctx(secret)
    edit = ACTIONS["pseudonymize"]({"format": "SUBJ-{token:8}"})(DataElement(0x00100020, "LO", "P1"), c)
    assert edit.value == "SUBJ-" + secret.token("PatientID", "P1", 16)[:8]
    assert c.records == [("PatientID", edit.value, "P1")]
    same = ACTIONS["pseudonymize"]({"format": "SUBJ-{token:8}", "source": "PatientID"})
    name = same(DataElement(0x00100010, "PN", "Doe^John"), ctx(secret))
    assert name.value == "SUBJ-" + secret.token("PatientID", "SNTPATIENT", 16)[:8] + "^"  # a family name
    too_long = ACTIONS["pseudonymize"]({"format": "A-LONG-PREFIX-{token}"})
    with pytest.raises(ActionError, match="longer than VR allows"):
        too_long(DataElement(0x00080050, "SH", "ACC1"), ctx(secret))


def test_hash_fits_the_vr_and_is_irreversible(secret: Secret) -> None:
    c = ctx(secret)
    edit = ACTIONS["hash"]({})(DataElement(0x00081010, "SH", "STATION-7"), c)
    assert len(edit.value) == 16 and edit.value != "STATION-7" and c.records == []
    with pytest.raises(ActionError):
        ACTIONS["hash"]({})(DataElement(0x00281050, "DS", "40"), c)


def test_shift_date_keeps_intervals_time_and_zone(secret: Secret) -> None:
    assert apply("shift_date", "DA", "20200301", secret).value == "20190126"
    assert apply("shift_date", "DT", "20200301123000.5+0100", secret).value == "20190126123000.5+0100"
    assert apply("shift_date", "DA", "20200301-20200310", secret).value == "20190126-20190204"
    assert apply("shift_date", "TM", "123000", secret).op == "keep"
    assert apply("shift_date", "DA", "2020", secret).value is None  # unparseable -> empty
    assert apply("shift_date", "DA", ["20200301", "20200302"], secret).value == ["20190126", "20190127"]


@pytest.mark.parametrize(
    ("value", "band", "expected"),
    [
        ("045Y", 1, "045Y"),
        ("089Y", 1, "089Y"),
        ("090Y", 1, "090Y"),
        ("104Y", 1, "090Y"),
        ("047Y", 5, "045Y"),
        ("006M", 1, "006M"),
        ("006M", 5, "000Y"),
        ("bad", 1, ""),
    ],
)
def test_generalize_ages(secret: Secret, value: str, band: int, expected: str | None) -> None:
    assert apply("generalize", "AS", value, secret, band=band).value == expected


def test_generalize_dates(secret: Secret) -> None:
    assert apply("generalize", "DA", "19750315", secret).value == "19750101"
    assert apply("generalize", "DA", "19750315", secret, to="month").value == "19750301"
    assert apply("generalize", "DT", "19750315101010", secret).value == "19750101"


def test_clean_replaces_identifiers_in_any_order_and_case_and_patterns() -> None:
    ids = [
        *identifier_strings("PatientName", "PN", "Doe^John"),
        *identifier_strings("PatientID", "LO", "MRN12345"),
        *identifier_strings("PatientBirthDate", "DA", "19750315"),
    ]
    cleaner = TextCleaner(ids)
    text = "john DOE (MRN12345) born 15.03.1975 / March 15, 1975; tel +1 555-123-4567; doe@x.org. CT chest."
    cleaned = cleaner.clean(text)
    for word in ("john", "DOE", "MRN12345", "1975", "555", "doe@x.org"):
        assert word not in cleaned
    assert cleaned.endswith("CT chest.")
    assert cleaned.count(PLACEHOLDER) >= 6
    assert TextCleaner([]).clean("T1 axial 3mm") == "T1 axial 3mm"
    assert "Johnson" in TextCleaner(["John"]).clean("Johnson")  # whole tokens only


def test_clean_dispatches_by_vr(secret: Secret) -> None:
    assert apply("clean", "PN", "A^B", secret).value is None
    assert apply("clean", "OB", b"\x01\x02", secret).op == "delete"
    assert apply("clean", "DS", "1.5", secret).op == "keep"
    assert len(apply("clean", "AE", "SCANNER1", secret).value) == 16


def test_lookup_with_fallbacks(tmp_path: Path, secret: Secret) -> None:
    (tmp_path / "ids.csv").write_text("original,pseudonym\nP1,TRIAL-001\n")
    c = ctx(secret)
    hit = ACTIONS["lookup"]({"file": "ids.csv"}, tmp_path)(DataElement(0x00100020, "LO", "P1"), c)
    assert hit.value == "TRIAL-001" and c.records == [("PatientID", "TRIAL-001", "P1")]
    with pytest.raises(ActionError, match="not in the lookup table") as err:
        ACTIONS["lookup"]({"file": "ids.csv"}, tmp_path)(DataElement(0x00100020, "LO", "SNTP2"), c)
    assert "SNTP2" not in str(err.value)
    fallback = ACTIONS["lookup"]({"file": "ids.csv", "on_missing": "remove"}, tmp_path)
    assert fallback(DataElement(0x00100020, "LO", "P2"), c).op == "delete"


@pytest.mark.parametrize(
    ("code", "attr_type", "expected"),
    [
        ("Z/D", 1, "replace"),
        ("Z/D", 2, "empty"),
        ("Z/D", 3, "empty"),
        ("Z/D", None, "empty"),
        ("X/Z", 1, "empty"),
        ("X/Z", 2, "empty"),
        ("X/Z", 3, "remove"),
        ("X/D", 2, "replace"),
        ("X/D", 3, "remove"),
        ("X/Z/D", 1, "replace"),
        ("X/Z/D", 2, "empty"),
        ("X/Z/D", None, "remove"),
        ("X/Z/U*", 1, "remap_uid"),
        ("X/Z/U*", 2, "remap_uid"),  # a required reference stays consistent
        ("X/Z/U*", 3, "remove"),
    ],
)
def test_combined_codes_resolve_by_type(code: str, attr_type: int | None, expected: str) -> None:
    assert resolve_combined(code, attr_type) == expected


def test_cleaner_phrases_overlaps_and_unicode() -> None:
    cleaner = TextCleaner(["St. Mary Hospital", "Mary", "O'Brien", "Jean-Luc", "Ünal"])
    assert cleaner.clean("Seen at st. mary hospital by Dr O'BRIEN") == "Seen at *** by Dr ***"
    assert cleaner.clean("jean-luc and ÜNAL and Maryland") == "*** and *** and Maryland"
    assert cleaner.clean("Mary-Anne") == "***-Anne"
    assert TextCleaner(["İstanbul Clinic"]).clean("x İstanbul Clinic y") == "x *** y"
