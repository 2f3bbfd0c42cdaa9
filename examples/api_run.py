"""The nightly run from Python, with the same guarantees as `anonymizer run`.

    python examples/api_run.py IN OUT --key-file project.key

The key and the vault (.anonymizer/vault.db) stay with the data controller; OUT is what
recipients get. Only the public API (anonymizer.__all__) is used.
"""

import argparse
import logging

from anonymizer import Job, RunOptions, load_key_file


def main() -> int:
    parser = argparse.ArgumentParser(description="De-identify IN into OUT with the research profile.")
    parser.add_argument("in_dir")
    parser.add_argument("out_dir")
    parser.add_argument("--key-file", required=True)
    args = parser.parse_args()
    logging.getLogger("pydicom").disabled = True  # pydicom's log lines quote values
    with Job(args.in_dir, args.out_dir, "research", load_key_file(args.key_file), options=RunOptions(workers=2)) as job:
        result = job.run()
    print(f"done {result.summary.done}, skipped {dict(result.summary.skipped)}, failed {dict(result.summary.failed)}")
    return result.exit_code


if __name__ == "__main__":  # worker processes import this file again
    raise SystemExit(main())
