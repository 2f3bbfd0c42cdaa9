"""The layering contract (pyproject's [tool.importlinter]) holds, and catches a reversed import."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")
MAX_LINES = 420  # "no module over ~400 lines"


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT), "--config", str(tree / "pyproject.toml"), "--no-cache"],
        cwd=tree,
        env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )


def test_the_contracts_hold_and_a_reversed_import_breaks_them(tmp_path: Path) -> None:
    assert _lint(ROOT).returncode == 0
    copy = tmp_path / "tree"
    shutil.copytree(ROOT / "anonymizer", copy / "anonymizer", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    with (copy / "anonymizer" / "engine" / "plan.py").open("a") as fh:
        fh.write("\nfrom anonymizer.pipeline import job  # noqa: E402  (reversed on purpose)\n")
    broken = _lint(copy)
    assert broken.returncode != 0 and "anonymizer.engine.plan -> anonymizer.pipeline.job" in broken.stdout


def test_no_module_is_over_about_400_lines() -> None:
    sizes = {p: len(p.read_text().splitlines()) for p in (ROOT / "anonymizer").rglob("*.py")}
    assert {str(p.relative_to(ROOT)): n for p, n in sizes.items() if n > MAX_LINES} == {}


def test_the_command_line_starts_without_the_gateway_and_loads_it_when_asked() -> None:
    """``run`` does not pay for pynetdicom and an HTTP client; ``serve`` and ``--help`` find them."""
    code = (
        "import sys; from anonymizer.cli import main; "
        "print('pynetdicom' in sys.modules, 'anonymizer.cli.gateway' in sys.modules); "
        "main.get_command(None, 'serve'); print('anonymizer.cli.gateway' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False", "True"]


def test_only_the_dicom_package_reads_and_writes_bytes_with_pydicom_internals() -> None:
    """pydicom's reader, writer and byte buffers are used in ``anonymizer/dicom`` only."""
    internals = {"pydicom.filereader", "pydicom.filewriter", "pydicom.filebase"}
    package = Path(__file__).resolve().parent.parent / "anonymizer"
    offenders = []
    for path in package.rglob("*.py"):
        if path.parent.name == "dicom":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            names += [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            offenders += [f"{path.relative_to(package)}: {n}" for n in names if n in internals]
    assert offenders == []
