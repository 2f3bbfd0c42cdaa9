"""The operator's contract: exit codes, signals, pure JSON logs, the review queue, checks at load time.

One test per numbered item of the operator issue, through the command line.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file

import anonymizer
from anonymizer.errors import REASONS
from anonymizer.testing import write_flat_corpus
from tests.conftest import cli
from tests.integrity import process, tree

ROOT = Path(__file__).resolve().parents[1]


def _corpus(folder: Path, count: int = 8, bad: bool = True) -> Path:
    write_flat_corpus(folder, count, per_patient=4)
    if bad:
        (folder / "zz-truncated.dcm").write_bytes(Path(get_testdata_file("CT_small.dcm")).read_bytes()[:-500])
    return folder


def _json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines()]


# 1 exit codes say whether OUT is complete --------------------------------------------------


def test_1_earlier_failures_keep_the_exit_code_at_1(tmp_path: Path, key_file: Path) -> None:
    in_dir = _corpus(tmp_path / "in")
    args = ("run", in_dir, tmp_path / "out", "--key-file", key_file, "--workers", "1")
    assert cli(*args).exit_code == 1
    again = cli(*args, "--log-format", "text")
    assert again.exit_code == 1 and "1 files failed in earlier runs; --retry-failed" in again.stderr
    (in_dir / "zz-truncated.dcm").unlink()
    assert cli(*args).exit_code == 0  # the failed input is gone: OUT is complete


# 2 signals -----------------------------------------------------------------------------------


def _children(pid: int) -> set[int]:
    """The processes whose parent is ``pid`` (read from /proc)."""
    found = set()
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(stat_file.parent.name))
    return found


def _gone(pids: set[int], within: float = 20.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not any(Path(f"/proc/{p}").exists() for p in pids):
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129), (signal.SIGINT, 130)])
def test_2_a_signal_stops_commits_and_the_same_command_resumes(
    tmp_path: Path, key_file: Path, sig: int, code: int
) -> None:
    write_flat_corpus(tmp_path / "in", 600)
    args = [sys.executable, "-m", "anonymizer", "run", tmp_path / "in", tmp_path / "out", "--key-file", key_file]
    args += ["--workers", "2", "--batch-size", "32", "--log-format", "text"]
    proc = subprocess.Popen(list(map(str, args)), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list((tmp_path / "out").rglob("*.dcm"))) < 100:
        time.sleep(0.02)
    workers = _children(proc.pid)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == code, stderr
    assert "interrupted" in stderr and "run the same command to resume" in stderr and "Traceback" not in stderr
    assert not list((tmp_path / "out").rglob("*.part"))
    assert _gone(workers)
    resumed = subprocess.run(list(map(str, args)), capture_output=True, text=True)
    assert resumed.returncode == 0 and "done-before" in resumed.stderr
    assert process("run", tmp_path / "in", tmp_path / "clean", "--key-file", key_file).returncode == 0
    assert tree(tmp_path / "out") == tree(tmp_path / "clean")


def test_2_workers_die_with_a_killed_coordinator(tmp_path: Path, key_file: Path) -> None:
    write_flat_corpus(tmp_path / "in", 600)
    args = [sys.executable, "-m", "anonymizer", "run", tmp_path / "in", tmp_path / "out", "--key-file", key_file]
    proc = subprocess.Popen([*map(str, args), "--workers", "2"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list((tmp_path / "out").rglob("*.dcm"))) < 50:
        time.sleep(0.02)
    workers = _children(proc.pid)
    assert workers
    proc.kill()
    proc.wait()
    assert _gone(workers)


def test_2_the_systemd_unit_accepts_what_a_stop_means() -> None:
    unit = (ROOT / "examples" / "systemd" / "anonymizer-nightly.service").read_text()
    status = next(line for line in unit.splitlines() if line.startswith("SuccessExitStatus="))
    assert "143" in status.split("=", 1)[1].split()


# 3 every exit code documented ----------------------------------------------------------------


def test_3_every_exit_code_is_documented() -> None:
    """Every exit code a command can end with has a row in the README's table and a mention in --help."""
    from anonymizer.cli import EXIT_CODES, EXIT_OK, EXIT_SIGNAL

    codes = {EXIT_OK, *EXIT_CODES.values(), *EXIT_SIGNAL.values()}
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("Exit codes (every command") :].split("\n\n", 2)[1]
    rows = {int(n) for line in table.splitlines()[2:] for n in re.findall(r"\d+", line.split("|")[1])}
    assert rows == codes
    helped = " ".join((cli("--help").stdout + cli("run", "--help").stdout).split())
    mentioned = {int(n) for n in re.findall(r"(?<!\w)(\d+)(?=[ /,])", helped[helped.index("Exit codes") :])}
    assert codes <= mentioned, sorted(codes - mentioned)


# 4 logs a machine can read --------------------------------------------------------------------


@pytest.mark.parametrize("where", [("--workers", "1"), ("--workers", "2"), ("--dask", "local:2")])
def test_4_json_mode_writes_only_json_lines(tmp_path: Path, key_file: Path, where: tuple[str, str]) -> None:
    in_dir = _corpus(tmp_path / "in")
    ds = pydicom.dcmread(next(p for p in in_dir.iterdir() if p.suffix != ".dcm"))
    ds.SpecificCharacterSet = "ISO_IR 999"  # pydicom warns about it, quoting it
    ds.save_as(in_dir / "odd-charset.dcm")
    (in_dir / "notes.txt").write_text("not DICOM")
    done = process("run", in_dir, tmp_path / "out", "--key-file", key_file, "--log-format", "json", *where)
    assert done.returncode == 1
    lines = _json_lines(done.stdout) + _json_lines(done.stderr)  # every line parses
    assert lines and all(isinstance(line, dict) for line in lines)
    assert any(e.get("status") == "failed" for e in lines), done.stderr
    usage = process("run", in_dir, "--log-format", "json")  # click's own usage error
    assert usage.returncode == 2 and all(_json_lines(usage.stderr))


# 5 text mode: once, unwrapped -------------------------------------------------------------


def test_5_a_failure_is_printed_once_and_not_wrapped(tmp_path: Path, key_file: Path) -> None:
    in_dir = _corpus(tmp_path / "in", 4)
    profile = tmp_path / "p.yaml"  # a rule whose result does not fit: a long, detailed failure line
    profile.write_text(
        "name: p\nextends: research\nrules:\n"
        '  - {tag: StationName, action: pseudonymize, with: {format: "STATION-LONG-{token:10}"}}\n'
    )
    done = process(
        "run", in_dir, tmp_path / "out", "--key-file", key_file, "--profile", profile, "--log-format", "text"
    )
    lines = [line for line in done.stderr.splitlines() if line.startswith("file #")]
    assert len(lines) == 5  # four action failures and the truncated file, each once
    detailed = [line for line in lines if "result longer than VR allows" in line]
    assert len(detailed) == 4 and all(len(line) > 80 and line.endswith("> 16))") for line in detailed)


# 6 reasons name the cause ---------------------------------------------------------------------


def test_6_reasons_name_the_cause_and_are_listed_in_the_readme(tmp_path: Path, key_file: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    assert all(f"`{reason}`" in readme for reason in REASONS)
    raw = Path(get_testdata_file("rtplan.dcm")).read_bytes()  # undefined-length sequences
    end = raw.rfind(b"\xfe\xff\xdd\xe0\x00\x00\x00\x00")
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "unterminated.dcm").write_bytes(raw[:end])
    done = process("run", tmp_path / "in", tmp_path / "out", "--key-file", key_file, "--log-format", "json")
    assert json.loads(done.stdout.splitlines()[-1])["failed"] in ({"truncated": 1}, {"malformed": 1})


# 7 a review queue --------------------------------------------------------------------------


def test_7_failures_quarantine_and_vault_audit(tmp_path: Path, key_file: Path) -> None:
    in_dir = _corpus(tmp_path / "in")
    review = tmp_path / "review"
    done = cli("run", in_dir, tmp_path / "out", "--key-file", key_file, "--quarantine", review, "--workers", "1")
    assert done.exit_code == 1 and str(in_dir) not in done.output
    listed = cli("failures", tmp_path / "out", "--json")
    rows = _json_lines(listed.stdout)
    assert listed.exit_code == 0 and len(rows) == 1
    assert rows[0]["reason"] == "truncated" and rows[0]["input"].endswith("zz-truncated.dcm")
    assert rows[0]["ordinal"] == 9 and rows[0]["attempts"] == 1
    assert stat.S_IMODE(review.stat().st_mode) == 0o700
    sidecars = list(review.glob("*.json"))
    assert len(sidecars) == 1 and json.loads(sidecars[0].read_text())["reason"] == "truncated"
    assert sidecars[0].with_suffix(".dcm").read_bytes() == (in_dir / "zz-truncated.dcm").read_bytes()
    (in_dir / "zz-truncated.dcm").write_bytes(Path(get_testdata_file("CT_small.dcm")).read_bytes())
    again = cli("run", in_dir, tmp_path / "out", "--key-file", key_file, "--quarantine", review, "--workers", "1")
    assert again.exit_code == 0 and not list(review.iterdir())  # fixed: out of the queue
    assert cli("vault", "export", "--out", tmp_path / "x.csv", "--key-file", key_file).exit_code == 0
    audit = cli("vault", "audit", "--key-file", key_file, "--json")
    assert audit.exit_code == 0 and [r["command"] for r in _json_lines(audit.stdout)] == ["export patient-ids"]
    assert "SNT" not in audit.stdout


def test_7_a_quarantine_inside_in_or_out_is_refused_before_any_file(tmp_path: Path, key_file: Path) -> None:
    in_dir = _corpus(tmp_path / "in")
    for inside in (in_dir / "q", tmp_path / "out" / "q"):
        refused = process("run", in_dir, tmp_path / "out", "--key-file", key_file, "--quarantine", inside)
        assert refused.returncode == 2 and "quarantine" in refused.stderr, refused.stderr
        assert not inside.exists() and not list((tmp_path / "out").rglob("*.dcm"))


# 8 caught at check time --------------------------------------------------------------------


def test_8_profile_check_reports_every_problem_with_line_and_hint(tmp_path: Path) -> None:
    profile = tmp_path / "p.yaml"
    profile.write_text(
        "name: p\nextends: basic\nrules:\n"
        "  - {tag: StudyDate, action: hash}\n"
        "  - {tag: Rows, action: pseudonymize}\n"
        "  - {tag: PatientNme, action: remove}\n"
        "  - {tag: PatientSex, action: keeep}\n"
        "output:\n  layout: '{StudyDat}/{SOPInstanceUID}.dcm'\n"
        "optons: []\n"
    )
    checked = cli("profile", "check", profile)
    assert checked.exit_code == 2
    for line, words in ((4, "VR DA"), (5, "VR US"), (6, "'PatientName'"), (7, "'keep'"), (9, "'StudyDate'")):
        assert f"p.yaml:{line}:" in checked.stderr and words in checked.stderr, (line, words)
    assert "p.yaml:10:" in checked.stderr and "'options'" in checked.stderr


# 9 the coupling of PatientName to PatientID ------------------------------------------------


def test_9_patient_name_follows_an_overridden_patient_id(tmp_path: Path, key_file: Path) -> None:
    profile = tmp_path / "p.yaml"
    profile.write_text(
        "name: p\nextends: research\nrules:\n"
        '  - {tag: PatientID, action: pseudonymize, with: {format: "STUDY42-{token:6}"}}\n'
    )
    in_dir = _corpus(tmp_path / "in", 4, bad=False)
    assert cli("run", in_dir, tmp_path / "out", "--key-file", key_file, "--profile", profile).exit_code == 0
    for path in (tmp_path / "out").rglob("*.dcm"):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        assert str(ds.PatientID).startswith("STUDY42-") and str(ds.PatientName).rstrip("^") == ds.PatientID
    explained = cli("profile", "explain", profile).stdout
    assert "follows PatientID's rule at" in explained


# 10 labels, verdicts, the whole dataset in the report --------------------------------------


def test_10_dry_run_label_verify_verdict_and_whole_dataset_report(tmp_path: Path, key_file: Path) -> None:
    in_dir = _corpus(tmp_path / "in", 8, bad=False)
    out = tmp_path / "out"
    dry = cli("run", in_dir, out, "--key-file", key_file, "--dry-run", "--log-format", "text")
    assert "DRY RUN" in dry.stderr
    half = sorted(in_dir.iterdir())[4:]
    for path in half:
        path.rename(tmp_path / path.name)
    assert cli("run", in_dir, out, "--key-file", key_file).exit_code == 0
    for path in half:
        (tmp_path / path.name).rename(in_dir / path.name)
    resumed = cli("run", in_dir, out, "--key-file", key_file, "--verify", "--log-format", "text")
    assert resumed.exit_code == 0 and "verify: clean" in resumed.stderr
    report = json.loads(cli("report", out, "--format", "json").stdout)
    removed = next(a["elements"] for a in report["actions"] if a["action"] == "remove")
    assert removed == 2 * json.loads((out / "anonymizer-manifest.json").read_text())["run"]["actions"]["remove"]
    assert report["pixels"]["burned_in"] == "ocr"  # research runs the redaction loop
    assert any(r["selector"] == "PatientID" for r in report["custom_rules"])
    html = cli("report", out).stdout
    assert "Rules beyond the PS3.15 tables" in html and "Policy ocr: " in html


# 11 help texts ------------------------------------------------------------------------------


def test_11_help_texts_and_export_refusing_to_overwrite(tmp_path: Path, key_file: Path) -> None:
    for command in (("verify",), ("report",), ("vault", "export"), ("vault", "reveal")):
        helped = cli(*command, "--help").stdout
        assert "\\b" not in helped and "``" not in helped, command
    assert "PatientID" in cli("vault", "reveal", "--help").stdout and "UID" in cli("vault", "reveal", "--help").stdout
    in_dir = _corpus(tmp_path / "in", 4, bad=False)
    assert cli("run", in_dir, tmp_path / "out", "--key-file", key_file).exit_code == 0
    (tmp_path / "x.csv").write_text("keep me")
    refused = cli("vault", "export", "--out", tmp_path / "x.csv", "--key-file", key_file)
    assert refused.exit_code == 2 and (tmp_path / "x.csv").read_text() == "keep me"
    assert cli("vault", "export", "--out", tmp_path / "x.csv", "--key-file", key_file, "--force").exit_code == 0


def test_11b_outputs_follow_the_umask_and_secrets_stay_private(tmp_path: Path, key_file: Path) -> None:
    in_dir = _corpus(tmp_path / "in", 4, bad=False)
    code = "import os, sys; os.umask(0o022); from anonymizer.cli import main; sys.argv[0] = 'anonymizer'; main()"
    args = ["run", in_dir, tmp_path / "out", "--key-file", key_file, "--vault", tmp_path / "v" / "vault.db"]
    assert subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True).returncode == 0
    for path in (tmp_path / "out").rglob("*"):
        assert stat.S_IMODE(path.stat().st_mode) == (0o644 if path.is_file() else 0o755), path
    assert stat.S_IMODE((tmp_path / "v" / "vault.db").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "v").stat().st_mode) == 0o700
    for path in (tmp_path / "v" / "runs").rglob("*"):
        assert stat.S_IMODE(path.stat().st_mode) in (0o600, 0o700), path


# 12a the hierarchy under every profile -----------------------------------------------------


def test_12a_basic_output_keeps_patient_study_series(tmp_path: Path, key_file: Path) -> None:
    in_dir = _corpus(tmp_path / "in", 8, bad=False)  # two patients, one study each
    no_id = pydicom.dcmread(sorted(in_dir.iterdir())[0])
    for n, name in enumerate(("SNTNOID^ONE", "SNTNOID^TWO")):
        no_id.PatientID, no_id.PatientName = "", name
        no_id.SOPInstanceUID = f"1.2.826.0.1.3680043.10.543.77.{n}"
        no_id.StudyInstanceUID = f"1.2.826.0.1.3680043.10.543.78.{n}"
        no_id.save_as(in_dir / f"no-id-{n}.dcm")
    out = tmp_path / "out"
    assert cli("run", in_dir, out, "--key-file", key_file, "--profile", "basic", "--burned-in", "keep").exit_code == 0
    patients = [p for p in out.iterdir() if p.is_dir()]
    assert len(patients) == 4 and all(len(list(p.iterdir())) == 1 for p in patients)
    research = tmp_path / "research"  # and the two patients without a PatientID get their own date offsets
    assert cli("run", in_dir, research, "--key-file", key_file).exit_code == 0
    singles = [p for p in research.iterdir() if p.is_dir() and len(list(p.rglob("*.dcm"))) == 1]
    dates = {str(pydicom.dcmread(next(p.rglob("*.dcm")), stop_before_pixels=True).StudyDate) for p in singles}
    assert len(singles) == 2 and len(dates) == 2


# 12 library users --------------------------------------------------------------------------


def test_12_public_functions_take_str_and_paths(tmp_path: Path, key_file: Path) -> None:
    assert anonymizer.load_key_file(str(key_file)).fingerprint == anonymizer.load_key_file(key_file).fingerprint
    profile = tmp_path / "p.yaml"
    profile.write_text("name: p\nextends: basic\n")
    assert anonymizer.load_profile(profile).name == anonymizer.load_profile(str(profile)).name == "p"


# 13 importable without fcntl ---------------------------------------------------------------


def test_13_the_package_imports_without_fcntl() -> None:
    code = "import sys; sys.modules['fcntl'] = None; import anonymizer, anonymizer.cli; print('ok')"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


# the examples run as they are written --------------------------------------------------------


def test_the_cron_line_and_the_systemd_unit_run_and_log_json(tmp_path: Path, key_file: Path) -> None:
    srv = tmp_path / "srv"
    (srv / "deid").mkdir(parents=True)
    _corpus(srv / "pacs-export", 4)
    (srv / "deid" / "project.key").write_bytes(key_file.read_bytes())
    os.chmod(srv / "deid" / "project.key", 0o600)
    venv = Path(sys.executable).parent.parent
    os.symlink(venv, srv / "deid" / ".venv")
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path / "home")}
    cron = next(
        line for line in (ROOT / "examples" / "nightly.cron").read_text().splitlines() if line and line[0].isdigit()
    )
    command = " ".join(cron.split()[5:]).replace("/srv/", f"{srv}/").replace("/var/log/", f"{tmp_path}/")
    subprocess.run(["bash", "-c", command], env=env, cwd=tmp_path, check=False)
    log = (tmp_path / "anonymizer.jsonl").read_text()
    assert _json_lines(log)[-1]["event"] == "run-finished"
    unit = (ROOT / "examples" / "systemd" / "anonymizer-nightly.service").read_text()
    fields = dict(line.split("=", 1) for line in unit.splitlines() if "=" in line and not line.startswith("#"))
    exec_start = fields["ExecStart"].replace("/srv/", f"{srv}/")
    environment = dict(e.split("=", 1) for e in shlex.split(fields["Environment"]))
    environment = {k: v.replace("/srv/", f"{srv}/") for k, v in environment.items()}
    cwd = fields["WorkingDirectory"].replace("/srv/", f"{srv}/")
    done = subprocess.run(shlex.split(exec_start), env={**env, **environment}, cwd=cwd, capture_output=True, text=True)
    codes = {int(c) for c in fields["SuccessExitStatus"].split()} | {0}
    assert done.returncode in codes, done.stderr
    assert all(_json_lines(done.stdout)) and all(_json_lines(done.stderr))
