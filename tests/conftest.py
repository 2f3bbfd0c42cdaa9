"""Shared fixtures: keys, a synthetic multi-patient sample, a CLI runner."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from anonymizer.cli import main
from anonymizer.keys.secret import Secret, generate_key_file
from anonymizer.testing import Sample, write_sample


@pytest.fixture(autouse=True)
def _in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test runs in its own folder with its own data home, so default vaults and states land there."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data-home"))


@pytest.fixture
def secret() -> Secret:
    return Secret(bytes(range(32)))


def make_key(folder: Path, name: str = "project.key") -> Path:
    path = folder / name
    generate_key_file(path)
    return path


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    return make_key(tmp_path)


@pytest.fixture(scope="session")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Sample:
    """3 patients x 12 templates (every transfer syntax, RT, SR) x 2 instances."""
    return write_sample(tmp_path_factory.mktemp("sample") / "in")


def cli(*args: str | os.PathLike[str]) -> Result:
    """Invoke the real CLI in-process; stdout and stderr kept apart."""
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def output_files(folder: Path) -> list[Path]:
    """Every file in OUT but the manifest (temporaries included, so tests see leftovers)."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name != "anonymizer-manifest.json")
