"""Every de-identified object stays a valid object of its IOD (dciodvfy), for both profiles.

Runs the real CLI over every public test file installed as a test dependency (pydicom's
own, ``pydicom-data``, pynetdicom's, ``deid-data``; none committed) and dciodvfy (Debian
dicom3tools) on each input and output (``tests/conformance_gate.py``). An output may not
have an error its input does not have; a warning its input does not have must be in
``conformance_allowed.json`` with its reason, and an entry that no longer occurs fails too
(the list only shrinks). The figures are printed for the CI log.
"""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from pathlib import Path

import pytest

from tests import conformance_gate as gate

ALLOWED = json.loads(Path(__file__).with_name("conformance_allowed.json").read_text())["warnings"]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def corpus() -> tuple[list[gate.Candidate], dict[str, gate.Check]]:
    if shutil.which("dciodvfy") is None:
        if os.environ.get("ANONYMIZER_REQUIRE_TOOLS"):
            pytest.fail("dciodvfy (Debian dicom3tools) is required here (ANONYMIZER_REQUIRE_TOOLS)")
        pytest.skip("dciodvfy (Debian dicom3tools) not installed")
    sources = gate.default_sources()
    assert set(sources) == {"pydicom", "pydicom-data", "pynetdicom", "deid-data"}  # the test dependencies
    candidates, _ = gate.collect(sources)
    return candidates, gate.check_inputs(candidates)


@pytest.mark.parametrize("profile", gate.PROFILES)
def test_no_output_has_an_error_its_input_does_not(
    profile: str,
    corpus: tuple[list[gate.Candidate], dict[str, gate.Check]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    candidates, checks = corpus
    result = gate.run_gate(profile, tmp_path, candidates, checks)
    lines: list[str] = []
    gate.report(result, lines)
    with capsys.disabled():  # the figures belong in the CI log
        print("\n" + "\n".join(line for line in lines if not line.startswith("   failed: pydicom/dicomdirtests")))
    assert not result.mapping_mismatches
    assert len(result.checked()) >= 165  # the corpus did not silently shrink
    assert result.introduced_errors() == []
    introduced = Counter(gate.message_class(m) for row in result.checked() for m in row.introduced_warnings)
    allowed = {cls for cls, entry in ALLOWED.items() if profile in entry["profiles"]}
    assert sorted(set(introduced) - allowed) == [], "new warnings: fix them, or allow them with a reason"
    assert sorted(allowed - set(introduced)) == [], "no longer introduced: remove from conformance_allowed.json"
