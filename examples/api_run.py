"""The nightly run from Python, with the same guarantees as `anonymizer run`.

    python examples/api_run.py IN OUT --key-file project.key --vault /srv/deid/vault.db

The key and the vault stay with the data controller; OUT is what recipients get. Only
the public API (anonymizer.__all__) is used.
"""

import argparse
import logging

from anonymizer import Job, RunOptions, load_key_file


def main() -> int:
    parser = argparse.ArgumentParser(description="De-identify IN into OUT with the research profile.")
    for name in ("in_dir", "out_dir", "--key-file", "--vault"):
        parser.add_argument(name)
    args = parser.parse_args()
    logging.getLogger("pydicom").disabled = True  # pydicom's log lines quote values
    key, options = load_key_file(args.key_file), RunOptions(workers=2)
    with Job(args.in_dir, args.out_dir, "research", key, vault=args.vault, options=options) as job:
        result = job.run()
    print(f"done {result.summary.done}, skipped {dict(result.summary.skipped)}, failed {dict(result.summary.failed)}")
    return result.exit_code


if __name__ == "__main__":  # worker processes import this file again
    raise SystemExit(main())
