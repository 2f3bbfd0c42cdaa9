"""The recall benchmarks on a reduced size: their targets are asserted (recall and precision, never timings)."""

from __future__ import annotations

from benchmarks import text_recall, verify_recall


def test_text_recall_meets_its_targets_on_the_ci_size() -> None:
    result = text_recall.measure(300, 7)
    assert all(result.recall[c] >= text_recall.RECALL_TARGET for c in result.recall), result.recall
    assert result.kept >= text_recall.KEPT_TARGET and result.precision >= 0.98
    assert result.met


def test_verify_finds_planted_identifiers_and_nothing_in_clean_output() -> None:
    result = verify_recall.measure(patients=1, trials=70, seed=7)
    assert result.clean_findings == 0
    assert result.recall >= verify_recall.TARGET == 0.995, result.lines
    assert all(result.trials[w] > 0 for w in verify_recall.WAYS), result.lines
    assert result.met
