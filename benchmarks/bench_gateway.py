"""Throughput and memory of the gateway end to end: a C-STORE SCU -> ``anonymizer serve`` -> Orthanc.

    python benchmarks/bench_gateway.py [--files 2000] [--per-study 20] [--growth 500 8000]

For ``--files`` small files (CT_small.dcm, about 40 KB, ``--per-study`` instances per
patient and study; preamble zeroed, as DICOM networking delivers them):

- ``run --workers 1``: ``anonymizer run`` over the files, a fresh process, timed from outside;
- ``gateway``: a real Orthanc destination (Debian's, ``TCP_NODELAY=1``) and ``anonymizer
  serve`` (its own process, ``--forward dicom://``, ``--settle 2``); this process is the
  PACS: the package's C-STORE SCU sends every file on one association. Timed from the
  first C-STORE until Orthanc holds every instance (``/statistics``), so receiving,
  spooling (fsync per instance), settling, de-identifying and delivering all count.

Printed: instances/s of each, the ratio gateway / run (target >= 0.7), the time the SCU
took to send (receive side alone), and the peak RSS (VmHWM) of the serve process and of
its largest child (the receiving and delivering processes). With
``--growth`` the gateway alone runs at each size, to show whether its memory stays flat.
Nothing is asserted: the machine is shared; figures move from run to run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from anonymizer.gateway.destination import DimseDestination  # noqa: E402
from anonymizer.gateway.dimse import DimseSender  # noqa: E402
from anonymizer.keys.secret import generate_key_file  # noqa: E402
from anonymizer.testing import write_flat_corpus  # noqa: E402
from tests.orthanc import Modality, Orthanc  # noqa: E402

GATEWAY_AET = "DEIDGW"


def corpus(folder: Path, count: int, per_study: int) -> list[Path]:
    """``count`` small CT files with their preamble zeroed (what a receiver gets)."""
    files = write_flat_corpus(folder, count, per_patient=per_study)
    for path in files:
        data = path.read_bytes()
        path.write_bytes(b"\0" * 128 + data[128:])
    return sorted(files)


def time_run(files: Path, work: Path, key: Path) -> float:
    """Seconds ``anonymizer run --workers 1`` takes over ``files`` (a fresh process)."""
    command = [sys.executable, "-m", "anonymizer", "run", files, work / "run-out", "--key-file", key]
    command += [
        "--workers",
        "1",
        "--vault",
        work / "run-vault.db",
        "--state",
        work / "run-state",
        "--log-format",
        "json",
    ]
    began = time.perf_counter()
    subprocess.run(list(map(str, command)), check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - began


def peak_rss_mib(pid: int) -> float:
    """VmHWM of a live process, MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def children(pid: int) -> list[int]:
    """The live child processes of ``pid`` (serve's receiver and deliverers)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def time_gateway(files: list[Path], work: Path, key: Path, settle: float = 2.0) -> dict[str, float]:
    """Seconds from the first C-STORE until Orthanc holds every instance, and the serve process's peak RSS."""
    dest = Orthanc(work / "orthanc", aet="RESEARCH", modalities=[Modality("gw", GATEWAY_AET, 1)])
    dest.environment = {"TCP_NODELAY": "1"}
    dest.start()
    command = [sys.executable, "-m", "anonymizer", "serve", "--listen", f"{GATEWAY_AET}@127.0.0.1:0"]
    command += ["--out", work / "gw-out", "--key-file", key, "--vault", work / "gw-vault.db", "--state", work / "gw"]
    command += [
        "--settle",
        str(settle),
        "--forward",
        f"dicom://RESEARCH@127.0.0.1:{dest.dicom_port}",
        "--log-format",
        "json",
    ]
    serve = subprocess.Popen(list(map(str, command)), stdout=subprocess.PIPE, text=True)
    try:
        assert serve.stdout is not None
        port = next(json.loads(line)["port"] for line in serve.stdout if '"listening"' in line)
        threading.Thread(target=lambda: [None for _ in serve.stdout or []], daemon=True).start()  # drain events
        sender = DimseSender(DimseDestination(GATEWAY_AET, "127.0.0.1", port), calling_aet="PACS")
        began = time.perf_counter()
        sent = sender.send(files)
        sending = time.perf_counter() - began
        assert all(o.ok for o in sent), "the gateway refused instances"
        while dest.rest("GET", "/statistics").json()["CountInstances"] < len(files):
            if serve.poll() is not None:
                raise RuntimeError("serve exited")
            time.sleep(0.05)
        total = time.perf_counter() - began
        rss = peak_rss_mib(serve.pid)
        child_rss = max(peak_rss_mib(child) for child in children(serve.pid))
    finally:
        serve.terminate()
        serve.wait(120)
        dest.stop()
    return {"seconds": total, "send_seconds": sending, "peak_rss_mib": rss, "child_rss_mib": child_rss}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--per-study", type=int, default=20)
    parser.add_argument("--growth", type=int, nargs="*", default=[], help="also run the gateway alone at these sizes")
    parser.add_argument("--skip-ratio", action="store_true", help="only the --growth runs")
    parser.add_argument(
        "--settle",
        type=float,
        default=2.0,
        help="serve's --settle; a large value leaves every study to the release at the end (receive alone first)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-gateway-") as tmp:
        root = Path(tmp)
        key = root / "bench.key"
        generate_key_file(key)
        if not args.skip_ratio:
            files = corpus(root / "in", args.files, args.per_study)
            run_seconds = time_run(root / "in", root / "ratio", key)
            gateway = time_gateway(files, root / "ratio", key, args.settle)
            run_rate, gw_rate = args.files / run_seconds, args.files / gateway["seconds"]
            print(f"{args.files} files, {args.per_study} per study")
            print(f"  run --workers 1: {run_rate:7.1f} instances/s ({run_seconds:.1f} s)")
            print(
                f"  gateway SCU -> serve -> Orthanc: {gw_rate:7.1f} instances/s ({gateway['seconds']:.1f} s; "
                f"the SCU sent all in {gateway['send_seconds']:.1f} s = {args.files / gateway['send_seconds']:.1f}/s); "
                f"peak RSS {gateway['peak_rss_mib']:.1f} MiB (largest child {gateway['child_rss_mib']:.1f} MiB)"
            )
            print(f"  ratio gateway / run: {gw_rate / run_rate:.2f} (target >= 0.7)")
        for size in args.growth:
            files = corpus(root / f"in-{size}", size, args.per_study)
            result = time_gateway(files, root / f"growth-{size}", key, args.settle)
            print(
                f"growth {size:6d} instances: {size / result['seconds']:7.1f} instances/s, "
                f"peak RSS {result['peak_rss_mib']:.1f} MiB (largest child {result['child_rss_mib']:.1f} MiB)"
            )


if __name__ == "__main__":
    main()
