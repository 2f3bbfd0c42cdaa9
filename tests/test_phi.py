"""Tests of the free-text PHI detector (anonymizer.text.phi)."""

from __future__ import annotations

import itertools
import json

import pytest

from anonymizer.text import phi


@pytest.fixture(scope="module")
def detector() -> phi.Detector:
    return phi.Detector()


def covered(detector: phi.Detector, text: str, part: str, known: tuple[tuple[str, str], ...] = ()) -> bool:
    """Whether every letter and digit of ``part`` (first occurrence) is inside a reported span."""
    start = text.index(part)
    spans = detector.find(text, known)
    return all(any(s.start <= i < s.end for s in spans) for i in range(start, start + len(part)) if text[i].isalnum())


# -- the examples of the issue ------------------------------------------------------------


def test_issue_sentence(detector: phi.Detector) -> None:
    text = "seen by Dr. House at St. Mary's Hospital on 2019-03-04, SSN 123-45-6789, Jane Doe"
    assert detector.clean(text, "by-class") == "seen by Dr. [NAME] at [INSTITUTION] on [DATE], SSN [ID], [NAME]"


@pytest.mark.parametrize(
    "text, part",
    [
        ("Tel 030 1234567", "030 1234567"),
        ("call 555-0187 for results", "555-0187"),
        ("+49 30 1234567", "+49 30 1234567"),
        ("phone (617) 555-0143", "(617) 555-0143"),
        ("UK office 020 7946 0958", "020 7946 0958"),
        ("Fax: +33 1 42 68 53 00", "+33 1 42 68 53 00"),
        ("Tel. 044 268 11 11", "044 268 11 11"),
    ],
)
def test_phones(detector: phi.Detector, text: str, part: str) -> None:
    assert covered(detector, text, part)
    assert any(s.cls == "phone" for s in detector.find(text))


@pytest.mark.parametrize(
    "text, part, cls",
    [
        ("mail jane.doe@example.com please", "jane.doe@example.com", "email"),
        ("viewer https://pacs.example.org/study?id=1", "https://pacs.example.org/study?id=1", "url"),
        ("see www.klinikum-beispiel.de", "www.klinikum-beispiel.de", "url"),
        ("lives at 123 Main Street, Springfield, IL 62704", "123 Main Street", "address"),
        ("Hauptstraße 12, 10115 Berlin", "Hauptstraße 12", "address"),
        ("Hauptstraße 12, 10115 Berlin", "10115", "postcode"),
        ("12 rue de la Paix, 75002 Paris", "12 rue de la Paix", "address"),
        ("Via Roma 10, 00184 Roma", "Via Roma 10", "address"),
        ("Kerkstraat 12, 1017 GC Amsterdam", "1017 GC", "postcode"),
        ("London SW1A 2AA", "SW1A 2AA", "postcode"),
        ("MRN: 00451234", "00451234", "id"),
        ("Acc# A1234567", "A1234567", "id"),
        ("accession CT19-004521", "CT19-004521", "id"),
        ("a 93-year-old woman", "93-year-old", "age"),
        ("Alter: 95 Jahre", "95", "age"),
        ("PatientAge 094Y", "094Y", "age"),
        ("transferred from Klinikum Großhadern", "Klinikum Großhadern", "institution"),
        ("images from Hôpital Necker", "Hôpital Necker", "institution"),
        ("Universitätsspital Zürich", "Universitätsspital Zürich", "institution"),
    ],
)
def test_classes(detector: phi.Detector, text: str, part: str, cls: str) -> None:
    assert covered(detector, text, part)
    start = text.index(part)
    assert any(s.cls == cls and s.start <= start < s.end for s in detector.find(text))


@pytest.mark.parametrize(
    "text, part, cls",
    [
        ("lives at 468 Carl Sound, Perth", "468 Carl Sound", "address"),  # AS 4590 types after a name word
        ("home: 25/866 Jared Steps", "25/866 Jared Steps", "address"),
        ("domicilié Flat 2, Emily Flat - MRT", "Flat 2, Emily Flat", "address"),
        ("Ref: Unit 68 532 Garcia Cul-de-sac", "532 Garcia Cul-de-sac", "address"),
        ("Canale Santorio, 32, 28024 Ponte D'Arli", "Ponte D'Arli", "address"),
        ("Willypad 33, 5090 l'Escaillère", "5090 l'Escaillère", "address"),
        ("Suterstrasse 3, 6743 Biel/Bienne", "Biel/Bienne", "address"),
        ("aus Las Palmas Children's Hospital", "Las Palmas Children's Hospital", "institution"),
        ("images from Centre Hospitalier de Wijk bij Duurstede", "Wijk bij Duurstede", "institution"),
    ],
)
def test_places(detector: phi.Detector, text: str, part: str, cls: str) -> None:
    assert covered(detector, text, part)
    start = text.index(part)
    assert any(s.cls == cls and s.start < start + len(part) and start < s.end for s in detector.find(text))


def test_an_institution_ends_with_its_sentence(detector: phi.Detector) -> None:
    text = "transferred from Krankenhaus van 't Erve. Unauffällige Darstellung"
    assert covered(detector, text, "Krankenhaus van 't Erve")
    assert detector.clean(text).endswith(". Unauffällige Darstellung")


@pytest.mark.parametrize(
    "text",
    [
        "2019-03-04",
        "04.03.2019",
        "4.3.2019",
        "03/04/2019",
        "3/4/19",
        "20190304",
        "4 March 2019",
        "March 4, 2019",
        "04-MAR-2019",
        "Mar 4 2019",
        "4. März 2019",
        "4 mars 2019",
        "lundi 4 mars 2019",
        "4 de marzo de 2019",
        "4 marzo 2019",
        "4 maart 2019",
        "maandag 4 maart 2019",
        "March 2019",
    ],
)
def test_date_renderings(detector: phi.Detector, text: str) -> None:
    value = f"exam {text} done"
    assert covered(detector, value, text)


@pytest.mark.parametrize(
    "text, part",
    [
        ("seen by Dr. House", "House"),
        ("Doe, Jane", "Doe, Jane"),
        ("SMITH, JOHN", "SMITH, JOHN"),
        ("DOE^JANE", "DOE^JANE"),
        ("Müller^Hans^^Dr.", "Müller^Hans"),
        ("called Jane Doe", "Jane Doe"),
        ("J. Smith reviewed", "J. Smith"),
        ("Prof. Dr. med. Hans Müller", "Hans Müller"),
        ("signed by Maria Rossi", "Maria Rossi"),
        ("Patient Kowalski, 93-year-old", "Kowalski"),
        ("wife Maria called", "Maria"),
        ("CT CHEST - JOHN SMITH", "JOHN SMITH"),
        ("Mme Lefèvre", "Lefèvre"),
        ("Frau Dr. van der Berg", "van der Berg"),
        ("figlia Magnus", "Magnus"),  # one word after a relative, though also a word
        ("Signed: Klaus-D. Tintzmann, MD", "Klaus-D. Tintzmann"),
        ("Pt per H.-Dieter Bolnbach; LWS", "H.-Dieter Bolnbach"),
        ("Prior exam Dr Per Sköld.", "Per Sköld"),
        ("discussed with An Jacobs", "An Jacobs"),
        ("Discussed with Dhr. Dixon.", "Dixon"),
        ("called Gary Dixon, Gadovist", "Gary Dixon"),
        ("Prior exam BRANDT, HJALTE. Contrast", "BRANDT, HJALTE"),
        ("Zuweiser: Lundin, Per", "Lundin, Per"),
        ("Oliwier F. Janczura Mediastinum", "Oliwier F. Janczura"),
        ("Bemerkung: Petersen^Per^E", "Petersen^Per"),
        ("physician: Salvi Mercati. No effusion", "Salvi Mercati"),
    ],
)
def test_names(detector: phi.Detector, text: str, part: str) -> None:
    assert covered(detector, text, part)


# -- header-known identifiers -------------------------------------------------------------


def test_known_name_parts_any_order_and_case(detector: phi.Detector) -> None:
    known = (("DOE^JANE^Q", "name"),)
    for text in ("pt jane doe", "DOE JANE", "Jane Q. Doe", "doe, jane", "J. Doe", "report for JANE"):
        spans = detector.find(text, known)
        assert spans, text
        for word in ("jane", "doe"):
            i = text.lower().find(word)
            if i >= 0:
                assert any(s.start <= i < s.end for s in spans), text


def test_known_name_folded_and_umlaut(detector: phi.Detector) -> None:
    known = (("Müller^Jürgen", "name"),)
    assert covered(detector, "Befund an MUELLER", "MUELLER", known)
    assert covered(detector, "Befund an Muller J.", "Muller J", known)
    assert detector.clean("kontrolle juergen", known=known) == "kontrolle ***"


def test_known_name_is_whole_token(detector: phi.Detector) -> None:
    known = (("Ann^Lee", "name"),)
    assert detector.clean("annual planning", known=known) == "annual planning"


def test_known_id_odd_forms(detector: phi.Detector) -> None:
    known = (("12345678", "id"), ("AB-99/17", "id"))
    for text, part in (
        ("ID 12-345-678", "12-345-678"),
        ("PID12345678", "12345678"),
        ("case ab9917 closed", "ab9917"),
        ("ref 12 345 678", "12 345 678"),
    ):
        assert covered(detector, text, part, known), text


def test_known_date_renderings(detector: phi.Detector) -> None:
    known = (("20190304", "date"),)
    renderings = phi.date_renderings("20190304")
    assert len(renderings) >= 15
    only_known = phi.Detector(classes=())  # generic date patterns off: the known date alone must be found
    for r in renderings:
        text = f"see exam {r} ok"
        assert covered(only_known, text, r, known), r


def test_known_institution_words(detector: phi.Detector) -> None:
    known = (("Sankt Gertrauden", "institution"),)
    assert covered(detector, "outside study Gertrauden", "Gertrauden", known)


# -- options ------------------------------------------------------------------------------


def test_allow_list(detector: phi.Detector) -> None:
    allowing = phi.Detector(allow=("Jane Doe", "re:PROTO-\\d{6}"))
    assert allowing.clean("protocol Jane Doe v2") == "protocol Jane Doe v2"
    assert allowing.clean("PROTO-123456 run") == "PROTO-123456 run"
    assert detector.clean("PROTO-123456 run") != "PROTO-123456 run"


def test_by_class_replacement(detector: phi.Detector) -> None:
    text = "Dr. House, Tel 030 1234567, jane@example.org, www.example.org, 2019-03-04, MRN 1234567, 95 yo"
    assert detector.clean(text, "by-class") == "Dr. [NAME], Tel [PHONE], [EMAIL], [URL], [DATE], MRN [ID], [AGE]"
    assert set(phi.LABELS) == set(phi.CLASSES)


def test_classes_subset() -> None:
    only_dates = phi.Detector(classes=("date",))
    assert only_dates.clean("Jane Doe 2019-03-04") == "Jane Doe ***"
    with pytest.raises(ValueError):
        phi.Detector(classes=("nonsense",))


def test_spans_are_sorted_and_disjoint(detector: phi.Detector) -> None:
    spans = detector.find("Jane Doe, Hauptstraße 12, 10115 Berlin, Tel +49 30 1234567, 2019-03-04")
    assert spans == sorted(spans, key=lambda s: s.start)
    assert all(a.end <= b.start for a, b in itertools.pairwise(spans))


# -- clinical text is kept ----------------------------------------------------------------

CLINICAL = [
    "CT CHEST W/O CONTRAST",
    "AX T2 FLAIR",
    "Thorax^1_HeadFirst",
    "ISOVUE-300",
    "t1_mprage_sag",
    "ep2d_diff",
    "FIESTA",
    "MR BRAIN W/WO CONTRAST",
    "CT HEAD ROUTINE",
    "Abdomen^Leber",
    "Kopf^Routine",
    "Siemens MAGNETOM Vida",
    "SIGNA Premier",
    "t2_tse_dark-fluid_tra",
    "ep2d_diff_tra_b0_1000",
    "T1W_3D_TFE",
    "COR STIR",
    "SAG CUBE T2",
    "Thorax 1.0 B70f",
    "CT Thorax/Abdomen mit KM portalvenös",
    "TDM thoracique sans injection",
    "IRM cérébrale avec injection",
    "RM rodilla derecha",
    "TC encefalo senza mdc",
    "MRI knie links",
    "Omnipaque 350",
    "Gadovist 1.0",
    "18F-FDG",
    "PTV_70",
    "Parotid_L",
    "SpinalCord",
    "CTDIvol 12.4 mGy, DLP 456 mGy*cm",
    "120 kVp, 250 mAs",
    "FOV 350 mm, matrix 512x512",
    "Philips Ingenia 3.0T",
    "GE Discovery MR750",
    "Canon Aquilion ONE",
    "Patient supine, head first",
    "Outside images for second opinion",
    "Creatinine 1.1 mg/dL, eGFR 65",
    "XR KNEE 3 VIEWS RIGHT",
    "PET/CT WHOLE BODY FDG",
    "US CAROTID DOPPLER BILATERAL",
]


@pytest.mark.parametrize("text", CLINICAL)
def test_clinical_untouched(detector: phi.Detector, text: str) -> None:
    assert detector.clean(text) == text


def test_build_time() -> None:
    import time

    t = time.perf_counter()
    phi.Detector()
    assert time.perf_counter() - t < 5  # ~0.5 s measured; generous for a loaded CI machine


# -- the lexicon's cached copy ------------------------------------------------------------


def test_the_cached_lexicon_is_the_built_one_and_a_damaged_copy_is_rebuilt(tmp_path, monkeypatch) -> None:
    from anonymizer.text import lexicon as module

    monkeypatch.setenv("ANONYMIZER_CACHE", str(tmp_path / "cache"))
    built = module._build()
    try:
        module.lexicon.cache_clear()
        assert module.lexicon() == built  # built, then written
        (copy,) = (tmp_path / "cache").glob("lexicon-*.json")
        module.lexicon.cache_clear()
        assert module.lexicon() == built  # read back
        copy.write_text('{"first": [1, 2]}')
        module.lexicon.cache_clear()
        assert module.lexicon() == built  # damaged: rebuilt and written again
        assert module._from_json(json.loads(copy.read_text())) == built
        monkeypatch.setenv("ANONYMIZER_CACHE", str(copy / "not-a-folder"))
        module.lexicon.cache_clear()
        assert module.lexicon() == built  # a folder that cannot be written: built, not kept
    finally:
        module.lexicon.cache_clear()
