"""IOD conformance gate: does de-identification keep every object a valid object of its IOD?

For each profile this harness

1. collects every candidate file of the public test-data packages installed in the venv
   (pydicom's bundled test files, ``pydicom-data``, pynetdicom's test files, ``deid-data``):
   a DICOM Part 10 file (``DICM`` at byte 128) or a dataset without preamble/meta that
   pydicom reads with a SOP Class and SOP Instance UID;
2. copies them into IN folders and runs the real CLI on each
   (``anonymizer run IN OUT --profile P --key-file K --burned-in keep --workers 2
   --log-format json``). Inputs that share a SOP Instance UID (pydicom ships one image in
   many encodings) go to different rounds: the runner gives one instance one output path;
3. maps each output back to its input by its SOP Instance UID (``Secret.uid`` of the
   original); the JSON log's ``output`` is a cross-check;
4. runs ``dciodvfy`` (Debian dicom3tools) on every input and output, normalises its
   messages (values, item indexes, UIDs, quoted text and numbers stripped, continuation
   lines joined) and compares them as multisets: introduced = in the output and not in
   the input, removed = the reverse; errors and warnings apart. An output dciodvfy cannot
   check while it could check the input, and a changed IOD, count as introduced errors.

``tests/test_conformance.py`` runs it for both built-in profiles. To print the whole
table and every file's outcome::

    python -m tests.conformance_gate [--profile basic] [--work DIR] [--json FILE]
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pydicom

DCIODVFY = shutil.which("dciodvfy") or "/usr/bin/dciodvfy"
PROFILES = ("basic", "research")


# --- sources and candidates -------------------------------------------------------------


def _package_dir(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def default_sources() -> dict[str, Path]:
    """Test-data folders of the installed packages (no network: folders are listed, not fetched)."""
    found: dict[str, Path] = {}
    for name, module, sub in (
        ("pydicom", "pydicom", "data/test_files"),
        ("pydicom-data", "data_store", "data"),  # the PyPI package pydicom-data installs data_store
        ("pynetdicom", "pynetdicom", "tests/dicom_files"),
        ("deid-data", "deid_data", "data"),
    ):
        base = _package_dir(module)
        if base is not None and (base / sub).is_dir():
            found[name] = base / sub
    return found


@dataclasses.dataclass
class Candidate:
    source: str
    rel: str  # path inside the source folder
    path: Path
    kind: str  # part10 | raw (no preamble / no file meta)
    sop_class: str = ""
    sop_uid: str = ""

    @property
    def name(self) -> str:
        return f"{self.source}/{self.rel}"


def _sop_uids(path: Path, force: bool = False) -> tuple[str, str]:
    """(SOP Class UID, SOP Instance UID) as text; pydicom's warnings (they quote values) silenced.

    Values convert when first read, so they are read inside the silenced block too.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(path, force=force, stop_before_pixels=True)
        return str(ds.get("SOPClassUID", "") or ""), str(ds.get("SOPInstanceUID", "") or "")


def classify(source: str, root: Path, path: Path) -> tuple[Candidate | None, str]:
    """A candidate, or None and why not."""
    rel = str(path.relative_to(root))
    try:
        with path.open("rb") as fh:
            head = fh.read(132)
    except OSError as exc:
        return None, f"unreadable ({exc.strerror})"
    part10 = len(head) >= 132 and head[128:132] == b"DICM"
    try:
        sop_class, sop_uid = _sop_uids(path, force=True)
    except Exception as exc:  # a test file may be anything
        if part10:
            return Candidate(source, rel, path, "part10"), ""
        return None, f"not DICOM (pydicom: {type(exc).__name__})"
    if part10:
        return Candidate(source, rel, path, "part10", sop_class, sop_uid), ""
    if sop_class and sop_uid:
        return Candidate(source, rel, path, "raw", sop_class, sop_uid), ""
    return None, "no DICM magic and no dataset with SOP Class/Instance UID"


def collect(sources: dict[str, Path]) -> tuple[list[Candidate], list[tuple[str, str]]]:
    cands, rejected = [], []
    for source, root in sources.items():
        for path in sorted(root.rglob("*")):
            if not path.is_file() or "__pycache__" in path.parts:
                continue
            cand, why = classify(source, root, path)
            if cand is None:
                rejected.append((f"{source}/{path.relative_to(root)}", why))
            else:
                cands.append(cand)
    return cands, rejected


def rounds(cands: list[Candidate]) -> list[list[Candidate]]:
    """Partition so that no round holds two inputs with one SOP Instance UID."""
    out: list[list[Candidate]] = []
    used: list[set[str]] = []
    for cand in cands:
        for i, uids in enumerate(used):
            if not cand.sop_uid or cand.sop_uid not in uids:
                out[i].append(cand)
                uids.add(cand.sop_uid)
                break
        else:
            out.append([cand])
            used.append({cand.sop_uid})
    return out


# --- dciodvfy and normalisation ---------------------------------------------------------

_SEVERITY = re.compile(r"(?:^|\s)(Error|Warning|Abort) - ")  # "(tag) VR Name [- ]Error - ..." too
_TAG = re.compile(r"\(0x[0-9a-fA-F]{4},0x[0-9a-fA-F]{4}\)")
_KEEP_ANGLE = ("attribute ", "Element=", "Module=", "Macro=", "Explicit ", "Dictionary ", "Sequence=")
_IOD_LINE = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")


def normalise(message: str) -> str:
    """A dciodvfy message without values, so that input and output messages compare.

    Strips ``= <value>``, ``<term>`` (except attribute, module and VR names), quoted text,
    item indexes ``[n]``, UIDs, character codes and free numbers (``Type 1``/``2C`` and tags
    are kept). UIDs and numbers share one placeholder: a reference ``0`` in an input is
    remapped to ``2.25.…`` in the output and must still compare equal.
    """
    s = " ".join(message.split())
    s = re.sub(r"= <.*?>(?= - |,| \(|$)", "= <>", s)  # values (may hold '<' themselves)
    s = re.sub(r"'[^']*'", "''", s)
    s = re.sub(r'"[^"]*"', '""', s)

    def angle(m: re.Match[str]) -> str:
        before = s[max(0, m.start() - 12) : m.start()]
        return m.group(0) if before.endswith(_KEEP_ANGLE) else "<>"

    s = re.sub(r"<[^<>]*>", angle, s)
    s = re.sub(r"\[\d+\]", "", s)
    s = re.sub(r"\b\d+(?:\.\d+)+\b", "#", s)  # UIDs and decimals: "0" and "2.25.123" alike
    s = re.sub(r"\bis \S+ instead\b", "is <> instead", s)
    s = re.sub(r"\(0x[0-9a-fA-F]{1,3}\)|\(0x[0-9a-fA-F]{5,}\)", "(#)", s)  # character codes
    tags = _TAG.findall(s)
    s = _TAG.sub("\x00", s)
    s = re.sub(r"\bType (\d)(C?)\b", lambda m: f"Type {m.group(1)}{m.group(2)}\x01", s)
    s = re.sub(r"(?<![\w\x01])0x[0-9a-fA-F]+\b|(?<![\w.\x01])\d+(?:\.\d+)?(?![\w\x01])", "#", s)
    s = s.replace("\x01", "")
    for tag in tags:
        s = s.replace("\x00", tag.lower(), 1)
    return " ".join(s.split())


def message_class(norm: str) -> str:
    """The message without the ``(tag) VR Name`` it names (``Value dubious ... Retired Person Name form``)."""
    s = re.sub(r"\(0x[0-9a-f]{4},0x[0-9a-f]{4}\)(?: (?:[A-Z]{2}|\?)\b)?.*?(?=\s+= <|\s-\s|$)", "<attr>", norm)
    return " ".join(s.split())


@dataclasses.dataclass
class Check:
    """One dciodvfy run: normalised messages, IOD, and whether it could check at all."""

    errors: list[str]
    warnings: list[str]
    iod: str
    status: str  # ok | unreadable | no-iod
    why: str = ""
    raw: str = ""


def dciodvfy(path: Path) -> Check:
    try:
        proc = subprocess.run([DCIODVFY, str(path)], capture_output=True, timeout=300)
    except subprocess.TimeoutExpired:
        return Check([], [], "", "unreadable", "dciodvfy timed out (300 s)")
    text = (proc.stdout + proc.stderr).decode("latin-1")
    messages: list[list[str]] = []  # [severity, text]
    iod = ""
    for line in text.splitlines():
        m = _SEVERITY.search(line)
        if m:
            prefix = line[: m.start()].strip()
            body = line[m.end() :]
            messages.append([m.group(1), f"{prefix} - {body}" if prefix else body])
        elif _IOD_LINE.match(line.strip()) and not iod:
            iod = line.strip()
        elif line.startswith("dciodvfy:") and proc.returncode < 0:
            messages.append(["Abort", line])
        elif messages:
            messages[-1][1] += "\n" + line  # a value that holds line breaks
    errors = [normalise(t) for sev, t in messages if sev == "Error"]
    warns = [normalise(t) for sev, t in messages if sev == "Warning"]
    aborts = [t for sev, t in messages if sev == "Abort"]
    status, why = "ok", ""
    if proc.returncode < 0 or aborts:
        status, why = "unreadable", (aborts[-1] if aborts else f"killed by signal {-proc.returncode}")
        why = re.sub(r"^dciodvfy: ", "", why).split("\n")[0][:200]
    elif any(e.startswith("Dicom dataset read failed") for e in errors):
        status = "unreadable"
        at = next(i for i, e in enumerate(errors) if e.startswith("Dicom dataset read failed"))
        why = "; ".join(errors[max(0, at - 2) : at + 1])  # what dciodvfy reported just before giving up
    elif any(e.startswith("Information Object Not found") for e in errors):
        status, why = "no-iod", "dciodvfy knows no IOD for this SOP Class"
    return Check(errors, warns, iod, status, why, text)


def diff(before: Iterable[str], after: Iterable[str]) -> tuple[list[str], list[str]]:
    a, b = collections.Counter(before), collections.Counter(after)
    return sorted((b - a).elements()), sorted((a - b).elements())


# --- running the CLI ------------------------------------------------------------------------


@dataclasses.dataclass
class FileRow:
    name: str
    source: str
    kind: str
    sop_class: str
    status: str = ""  # done | failed | skipped | lost
    reason: str = ""
    detail: str = ""
    output: str = ""
    check_in: Check | None = None
    check_out: Check | None = None
    introduced_errors: list[str] = dataclasses.field(default_factory=list)
    removed_errors: list[str] = dataclasses.field(default_factory=list)
    introduced_warnings: list[str] = dataclasses.field(default_factory=list)
    removed_warnings: list[str] = dataclasses.field(default_factory=list)
    regression: str = ""  # the input was checkable, its output is not

    @property
    def checked(self) -> bool:
        return (
            self.status == "done"
            and self.check_in is not None
            and self.check_out is not None
            and self.check_in.status == "ok"
            and self.check_out.status == "ok"
        )


@dataclasses.dataclass
class GateResult:
    profile: str
    rows: list[FileRow]
    seconds: dict[str, float]
    rounds: int
    mapping_mismatches: list[str]

    def checked(self) -> list[FileRow]:
        return [r for r in self.rows if r.checked]

    def introduced_errors(self) -> list[tuple[str, str]]:
        """Every introduced error, and every output dciodvfy cannot check whose input it could."""
        found = [(r.name, m) for r in self.checked() for m in r.introduced_errors]
        return found + [(r.name, r.regression) for r in self.rows if r.regression]

    def totals(self) -> dict[str, int]:
        rows = self.checked()
        t: dict[str, int] = {"files": len(self.rows), "checked": len(rows)}
        for kind in ("errors", "warnings"):
            t[f"{kind}_in"] = sum(len(getattr(r.check_in, kind)) for r in rows)
            t[f"{kind}_out"] = sum(len(getattr(r.check_out, kind)) for r in rows)
            t[f"{kind}_introduced"] = sum(len(getattr(r, f"introduced_{kind}")) for r in rows)
            t[f"{kind}_removed"] = sum(len(getattr(r, f"removed_{kind}")) for r in rows)
            t[f"files_with_introduced_{kind}"] = sum(bool(getattr(r, f"introduced_{kind}")) for r in rows)
        t["outputs_no_longer_checkable"] = sum(bool(r.regression) for r in self.rows)
        return t


def anonymizer_cli() -> str:
    local = Path(sys.executable).with_name("anonymizer")
    return str(local) if local.exists() else (shutil.which("anonymizer") or "anonymizer")


def _failure_detail(path: Path, profile: str, key_file: Path) -> str:
    """The engine's detail for a failed file (the JSON log has the reason code only)."""
    try:
        from anonymizer.engine.plan import Plan
        from anonymizer.keys.secret import load_key_file
        from anonymizer.pipeline.worker import prepare, with_burned_in
        from anonymizer.profile.loader import load_profile

        plan = Plan(with_burned_in(load_profile(profile), "keep"))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result, _ = prepare(0, path, plan, load_key_file(key_file))
        return f"{result.reason}: {result.detail}" if result.detail else result.reason
    except Exception as exc:  # diagnostics only
        return f"(detail unavailable: {type(exc).__name__})"


def run_gate(
    profile: str,
    workdir: Path,
    cands: list[Candidate] | None = None,
    input_checks: dict[str, Check] | None = None,
    workers: int = 2,
) -> GateResult:
    """De-identify every candidate with the real CLI and compare dciodvfy on input and output."""
    from anonymizer.keys.secret import load_key_file

    seconds: dict[str, float] = collections.defaultdict(float)
    if cands is None:
        cands, _ = collect(default_sources())
    base = workdir / profile
    if base.exists():
        shutil.rmtree(base)
    base.mkdir(parents=True)
    key_file = workdir / "gate.key"
    if not key_file.exists():
        subprocess.run([anonymizer_cli(), "keygen", str(key_file)], check=True, capture_output=True)
    secret = load_key_file(key_file)

    t0 = time.monotonic()
    if input_checks is None:
        input_checks = check_inputs(cands)
    seconds["dciodvfy inputs"] += time.monotonic() - t0

    rows: dict[str, FileRow] = {c.name: FileRow(c.name, c.source, c.kind, c.sop_class) for c in cands}
    mismatches: list[str] = []
    parts = rounds(cands)
    outputs: list[tuple[FileRow, Path]] = []
    for number, part in enumerate(parts, start=1):
        in_dir, out_dir = base / f"in-{number:02d}", base / f"out-{number:02d}"
        in_dir.mkdir()
        by_file: dict[str, Candidate] = {}
        for i, cand in enumerate(part):
            flat = f"{i:04d}_" + re.sub(r"[^A-Za-z0-9._+-]", "_", cand.name)
            shutil.copyfile(cand.path, in_dir / flat)
            by_file[flat] = cand
        ordered = sorted(by_file)  # the runner's ordinals: sorted names in one folder
        t0 = time.monotonic()
        proc = subprocess.run(
            [
                anonymizer_cli(), "run", str(in_dir), str(out_dir), "--profile", profile,
                "--key-file", str(key_file), "--burned-in", "keep", "--workers", str(workers),
                "--log-format", "json", "--vault", str(base / "vault.db"),
                "--state", str(base / f"state-{number:02d}"),
            ],
            capture_output=True, text=True, env={**os.environ, "NO_COLOR": "1"},
        )  # fmt: skip
        seconds["anonymizer run"] += time.monotonic() - t0
        if proc.returncode not in (0, 1):
            raise RuntimeError(f"anonymizer run exited {proc.returncode}: {proc.stderr[-2000:]}")
        logged: dict[str, str] = {}
        for line in proc.stdout.splitlines():
            event = json.loads(line)
            if event.get("event") != "file":
                continue
            cand = by_file[ordered[event["ordinal"] - 1]]
            row = rows[cand.name]
            row.status, row.reason = event["status"], event.get("reason", "")
            if event.get("output"):
                logged[cand.name] = event["output"]
            if row.status == "failed":
                row.detail = _failure_detail(cand.path, profile, key_file)
        # map outputs back by remapped SOP Instance UID
        expected = {secret.uid(c.sop_uid): c for c in part if c.sop_uid}
        for out in sorted(out_dir.rglob("*.dcm")):
            try:
                new_uid = _sop_uids(out)[1]
            except Exception as exc:
                mismatches.append(f"{out.relative_to(out_dir)}: unreadable output ({type(exc).__name__})")
                continue
            source = expected.get(new_uid)
            rel = str(out.relative_to(out_dir))
            if source is None:
                mismatches.append(f"round {number} {rel}: SOP Instance UID maps to no input")
                continue
            row = rows[source.name]
            row.output = f"out-{number:02d}/{rel}"
            if logged.get(source.name) != rel:
                mismatches.append(f"{source.name}: JSON log says {logged.get(source.name)!r}, UID map says {rel!r}")
            outputs.append((row, out))
        for cand in part:
            row = rows[cand.name]
            if row.status == "done" and not row.output:
                row.status, row.reason = "lost", "done in the log but no output maps back to it"

    t0 = time.monotonic()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        checks = list(pool.map(lambda item: dciodvfy(item[1]), outputs))
    seconds["dciodvfy outputs"] += time.monotonic() - t0
    for (row, _), check in zip(outputs, checks, strict=True):
        row.check_out = check
    for row in rows.values():
        row.check_in = input_checks[row.name]
        if row.checked:
            assert row.check_in is not None and row.check_out is not None
            row.introduced_errors, row.removed_errors = diff(row.check_in.errors, row.check_out.errors)
            row.introduced_warnings, row.removed_warnings = diff(row.check_in.warnings, row.check_out.warnings)
            if row.check_in.iod != row.check_out.iod:
                row.introduced_errors.append(f"IOD changed: {row.check_in.iod} -> {row.check_out.iod}")
        elif row.check_out is not None and row.check_in.status == "ok":
            # the input could be checked and its output cannot: a regression of its own
            row.regression = f"output {row.check_out.status}: {row.check_out.why}"
    return GateResult(profile, list(rows.values()), dict(seconds), len(parts), mismatches)


def check_inputs(cands: list[Candidate], workers: int = 2) -> dict[str, Check]:
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return dict(zip((c.name for c in cands), pool.map(lambda c: dciodvfy(c.path), cands), strict=True))


# --- reporting --------------------------------------------------------------------------------


def report(result: GateResult, out: list[str]) -> None:
    t = result.totals()
    p = out.append
    p(f"== profile {result.profile}: {t['files']} candidate files in {result.rounds} rounds")
    p(f"   files checked (input and output both checkable): {t['checked']}")
    per_source = collections.Counter(r.source for r in result.checked())
    p("   checked per source: " + ", ".join(f"{k} {v}" for k, v in sorted(per_source.items())))
    for kind in ("errors", "warnings"):
        p(
            f"   {kind}: in inputs {t[f'{kind}_in']}, in outputs {t[f'{kind}_out']}, "
            f"introduced {t[f'{kind}_introduced']} (in {t[f'files_with_introduced_{kind}']} files), "
            f"removed {t[f'{kind}_removed']}"
        )
    p("   seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in result.seconds.items()))
    statuses = collections.Counter((r.status, r.reason) for r in result.rows)
    p("   run outcome: " + ", ".join(f"{s}{'/' + r if r else ''} {n}" for (s, r), n in sorted(statuses.items())))
    for r in result.rows:
        if r.status in ("failed", "skipped", "lost"):
            detail = f" ({r.detail})" if r.detail and r.detail != r.reason else ""
            p(f"   {r.status}: {r.name} [{r.kind}] {r.reason}{detail}")
    p(f"   outputs dciodvfy cannot check although their input it could: {t['outputs_no_longer_checkable']}")
    for r in result.rows:
        if r.check_out is not None and r.check_out.status != "ok":
            same = " (input not checkable either)" if r.check_in and r.check_in.status != "ok" else " (REGRESSION)"
            p(f"   output not checkable: {r.name}: {r.check_out.status}: {r.check_out.why[:90]}{same}")
    for m in result.mapping_mismatches:
        p(f"   mapping: {m}")
    for r in result.checked():
        for m in r.introduced_errors:
            p(f"   INTRODUCED ERROR {r.name}: {m}")
    by_class: dict[str, list[str]] = collections.defaultdict(list)
    for r in result.checked():
        for m in r.introduced_warnings:
            by_class[message_class(m)].append(r.name)
    for cls, names in sorted(by_class.items(), key=lambda kv: -len(kv[1])):
        files = sorted(set(names))
        p(f"   introduced warning x{len(names)} in {len(files)} files: {cls}")
        p(f"      files: {', '.join(files[:8])}{' ...' if len(files) > 8 else ''}")


def to_json(result: GateResult) -> dict[str, object]:
    def check(c: Check | None) -> object:
        return None if c is None else {k: v for k, v in dataclasses.asdict(c).items() if k != "raw"}

    return {
        "profile": result.profile,
        "totals": result.totals(),
        "seconds": result.seconds,
        "rounds": result.rounds,
        "mapping_mismatches": result.mapping_mismatches,
        "files": [
            {
                **{k: v for k, v in dataclasses.asdict(r).items() if k not in ("check_in", "check_out")},
                "checked": r.checked,
                "check_in": check(r.check_in),
                "check_out": check(r.check_out),
            }
            for r in result.rows
        ],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", action="append", choices=PROFILES, help="repeatable; default: both")
    ap.add_argument("--work", type=Path, help="work folder (default: a temporary folder, removed)")
    ap.add_argument("--json", type=Path, help="write every file's result here")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)
    profiles = args.profile or list(PROFILES)
    work = args.work or Path(tempfile.mkdtemp(prefix="conformance-"))
    work.mkdir(parents=True, exist_ok=True)
    lines: list[str] = []
    t0 = time.monotonic()
    sources = default_sources()
    cands, rejected = collect(sources)
    t_collect = time.monotonic() - t0
    t0 = time.monotonic()
    input_checks = check_inputs(cands, args.workers)
    t_inputs = time.monotonic() - t0
    lines.append(f"sources: {', '.join(f'{k}={v}' for k, v in sources.items())}")
    per_source = collections.Counter(c.source for c in cands)
    kinds = collections.Counter((c.source, c.kind) for c in cands)
    lines.append(
        "candidates per source: "
        + ", ".join(f"{s} {n} ({kinds[s, 'part10']} part10, {kinds[s, 'raw']} raw)" for s, n in per_source.items())
    )
    lines.append(f"not candidates: {len(rejected)}")
    for name, why in rejected:
        lines.append(f"   {name}: {why}")
    bad_inputs = [(c.name, input_checks[c.name]) for c in cands if input_checks[c.name].status != "ok"]
    lines.append(f"inputs dciodvfy cannot check: {len(bad_inputs)}")
    for name, chk in bad_inputs:
        lines.append(f"   {name}: {chk.status}: {chk.why}")
    lines.append(f"seconds: collect {t_collect:.1f}, dciodvfy on inputs {t_inputs:.1f}")
    results = []
    for profile in profiles:
        t0 = time.monotonic()
        result = run_gate(profile, work, cands, input_checks, args.workers)
        result.seconds["total (profile)"] = time.monotonic() - t0
        results.append(result)
        report(result, lines)
    print("\n".join(lines))
    if args.json:
        payload = {
            "sources": {k: str(v) for k, v in sources.items()},
            "candidates": [dataclasses.asdict(c) | {"path": str(c.path)} for c in cands],
            "rejected": rejected,
            "input_checks": {k: {**dataclasses.asdict(v), "raw": v.raw} for k, v in input_checks.items()},
            "seconds": {"collect": t_collect, "dciodvfy inputs": t_inputs},
            "profiles": [to_json(r) for r in results],
        }
        args.json.write_text(json.dumps(payload, indent=1, default=str))
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if any(r.introduced_errors() for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
