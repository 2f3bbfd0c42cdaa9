"""Profile loading: validation with file:line, composition, precedence."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from anonymizer import standard
from anonymizer.engine.apply import deidentify
from anonymizer.engine.plan import Plan
from anonymizer.errors import ProfileError
from anonymizer.profile.loader import builtin_names, load_profile
from anonymizer.profile.selector import SelectorError, parse_tag_selector, parse_vr_selector
from tests.factory import dataset


def write(tmp_path: Path, text: str, name: str = "p.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("name: x\nfoo: 1\n", 2, "unknown key 'foo'"),
        ("name: x\nrules:\n  - {tag: PatientName, action: zap}\n", 3, "unknown action 'zap'"),
        ("name: x\nrules:\n  - {tag: NoSuchKeyword, action: keep}\n", 3, "unknown keyword"),
        ("name: x\nrules:\n  - {tag: PatientName, action: keep, colour: red}\n", 3, "unknown key 'colour'"),
        ("name: x\nrules:\n  - {tag: PatientName, vr: PN, action: keep}\n", 3, "exactly one of"),
        ("name: x\nrules:\n  - {vr: QQ, action: keep}\n", 3, "unknown VR"),
        ("name: x\nrules:\n  - {tag: PatientName, action: hash, with: {length: 99}}\n", 3, "length"),
        ("name: x\nrules:\n  - {tag: PatientID, action: pseudonymize, with: {format: ID}}\n", 3, "{token"),
        ("name: x\nrules:\n  - {tag: PatientID, action: remove, with: {x: 1}}\n", 3, "unknown parameter"),
        ("name: x\nprivate_tags: maybe\n", 2, "private_tags must be one of"),
        ("name: x\noptions: [retain-everything]\n", 2, "unknown option"),
        ("name: x\ndates: {shift_days: [5, 1]}\n", 2, "low <= high"),
        ("name: x\nrules: {tag: PatientID}\n", 2, "must be a list"),
        ("name: x\nname: y\n", 2, "duplicate key"),
        ("rules: []\n", 1, "needs a 'name'"),
        (
            "name: x\nrules:\n  - {tag: PatientID, action: lookup, with: {file: none.csv}}\n",
            3,
            "cannot be read",
        ),
        ("name: x\nrules: [\n", 3, "invalid YAML"),
    ],
)
def test_errors_name_file_line_and_key(tmp_path: Path, text: str, line: int, words: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ProfileError) as err:
        load_profile(path)
    assert str(err.value).startswith(f"{path}:{line}: "), str(err.value)
    assert words in str(err.value)


def test_extends_cycle_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, "name: a\nextends: ./b.yaml\n", "a.yaml")
    write(tmp_path, "name: b\nextends: ./a.yaml\n", "b.yaml")
    with pytest.raises(ProfileError, match="cycle"):
        load_profile(str(tmp_path / "a.yaml"))


def test_builtins_load_and_compose() -> None:
    assert builtin_names() == ["basic", "research"]
    basic = load_profile("basic")
    assert basic.options == () and basic.private_tags == "remove"
    assert len(basic.rules) == 620 + len(standard.supplement())  # every row and mask of E.1-1, and the supplement
    research = load_profile("research", ("retain-uids",))
    assert research.options[-1] == "retain-uids"
    assert research.private_tags == "safe"
    assert set(research.options) >= {"clean-descriptors", "retain-safe-private"}


def test_every_option_has_a_file_and_a_cid_7050_code() -> None:
    for option in standard.OPTIONS:
        profile = load_profile("basic", (option,))
        assert profile.options == (option,)
        assert standard.CID_7050[option][0].startswith("1131")


def test_precedence_most_specific_then_later(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "name: x\nextends: basic\nrules:\n"
        "  - {vr: PN, action: keep}\n"  # less specific than basic's PatientName rule
        "  - {tag: PatientID, action: hash}\n"
        "  - {tag: PatientID, action: remove}\n"  # same selector, later wins
        "  - {tag: '(0010,xxxx)', action: keep}\n"  # mask loses to exact tags
        "  - {tag: OtherPatientIDsSequence/PatientID, action: keep}\n",
    )
    plan = Plan(load_profile(path))
    name = plan.resolve(0x00100010, "PN", (), "", None, None)
    assert name.name == "empty" and "E.1-1" in name.origin
    assert plan.resolve(0x00100020, "LO", (), "", None, None).name == "remove"
    assert plan.resolve(0x00100020, "LO", (0x00101002,), "", None, None).name == "keep"
    assert plan.resolve(0x00101234, "LO", (), "", None, None).name == "keep"  # mask
    assert plan.resolve(0x00081234, "PN", (), "", None, None).name == "keep"  # VR rule
    assert plan.resolve(0x00100010, "PN", (), "", None, None).origin == name.origin


def test_selectors() -> None:
    assert parse_tag_selector("PatientName").tag == 0x00100010
    assert parse_tag_selector("(0010,0010)").tag == 0x00100010
    mask = parse_tag_selector("(60xx,3000)")
    assert mask.matches_mask(0x60023000) and not mask.matches_mask(0x60023001)
    private = parse_tag_selector("(0009,xx10)@GEMS_IDEN_01 ")
    assert private.private == (0x0009, "gems_iden_01", 0x10)
    path = parse_tag_selector("RequestAttributesSequence/AccessionNumber")
    assert path.path == (0x00400275,) and path.tag == 0x00080050
    assert parse_tag_selector("private").all_private
    assert parse_vr_selector("pn").vr == "PN"
    for bad in ("(0008,xx10)@X", "Nope", "A//B"):
        with pytest.raises(SelectorError):
            parse_tag_selector(bad)


def test_path_scoped_private_and_mask_selectors_apply_only_under_their_path(tmp_path: Path, secret) -> None:
    """`Seq/private: keep` keeps private elements inside Seq only (it kept every private element)."""
    path = write(
        tmp_path,
        "name: x\nextends: basic\nrules:\n"
        "  - {tag: AnatomicRegionSequence/private, action: keep}\n"
        "  - {tag: 'AnatomicRegionSequence/(0009,xx01)@ACME', action: keep}\n"
        "  - {tag: 'AnatomicRegionSequence/(0071,xxxx)', action: keep}\n",
    )
    plan = Plan(load_profile(path))
    inside, outside = (0x00082218,), ()
    for tag, creator in ((0x00091001, "acme"), (0x00111001, "other")):
        assert plan.resolve(tag, "LO", inside, "", creator, None).name == "keep"
        assert plan.resolve(tag, "LO", outside, "", creator, None).name == "remove"
    assert plan.resolve(0x00710010, "LO", inside, "", None, None).name == "keep"
    assert plan.resolve(0x00710010, "LO", outside, "", None, None).name == "remove"
    ds = dataset(AnatomicRegionSequence=Sequence([Dataset()]))
    for where in (ds, ds.AnatomicRegionSequence[0]):
        where.private_block(0x0009, "ACME", create=True).add_new(0x01, "LO", "SNTPRIVATE")
    deidentify(ds, plan, secret)
    assert ds.AnatomicRegionSequence[0][0x00091001].value == "SNTPRIVATE"
    assert 0x00091001 not in ds


def test_relative_extends_resolve_against_the_profile_folder(tmp_path: Path, monkeypatch) -> None:
    folder = tmp_path / "profiles"
    folder.mkdir()
    (folder / "base.yaml").write_text("name: base\nextends: basic\nrules:\n  - {tag: PatientSex, action: keep}\n")
    for form in ("base.yaml", "./base.yaml"):
        (folder / "child.yaml").write_text(f"name: child\nextends: {form}\n")
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir(exist_ok=True)
        monkeypatch.chdir(elsewhere)
        (elsewhere / "base.yaml").write_text("name: decoy\nextends: basic\n")  # a file of that name here too
        plan = Plan(load_profile(folder / "child.yaml"))
        assert plan.resolve(0x00100040, "CS", (), "", None, None).name == "keep", form
