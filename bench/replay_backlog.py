"""The backlog replay on a generated practice backlog: ``python -m bench.replay_backlog``.

Generates ``--files`` HL7 result files (per ten: one positive SARS-CoV-2 RT-PCR, one negative,
eight other tests; one in a hundred damaged) in a temporary folder, then runs the real command
``prostop submit FOLDER --json`` three times against a fresh installation:

1. the whole replay, interrupted by SIGINT (Ctrl-C) about half-way;
2. the same command again, which resumes (the files read before are skipped by the marker);
3. the same command once more after completion (every file read again, every event already in
   the ledger).

Prints files/s for each (wall time of the process, start-up included). Not a ratio against a
peer (there is none for this): the numbers go in the report, not into a test.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.fixtures.backlog import write_backlog


def submit(folder: Path, env: dict[str, str], *, interrupt_after: int | None = None,
           marker_dir: Path | None = None) -> tuple[float, dict[str, object], int]:
    args = [sys.executable, "-m", "prostop_plugin.cli", "submit", str(folder), "--json"]
    started = time.perf_counter()
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    if interrupt_after is not None and marker_dir is not None:
        deadline = time.monotonic() + 600
        while proc.poll() is None and time.monotonic() < deadline:
            lines = sum(len(p.read_text().splitlines()) for p in marker_dir.glob("*.jsonl")) \
                if marker_dir.is_dir() else 0
            if lines >= interrupt_after:
                proc.send_signal(signal.SIGINT)
                break
            time.sleep(0.05)
    out, err = proc.communicate(timeout=1800)
    elapsed = time.perf_counter() - started
    if not out.strip():
        raise SystemExit(f"prostop submit printed nothing (exit {proc.returncode}): {err}")
    return elapsed, json.loads(out), proc.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.replay_backlog", description=__doc__)
    parser.add_argument("--files", type=int, default=10_000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="prostop-backlog-") as scratch:
        root = Path(scratch)
        started = time.perf_counter()
        backlog = write_backlog(root / "labo", args.files, spacing=60.0)
        print(f"generated {backlog.files} files in {time.perf_counter() - started:.1f} s "
              f"({backlog.positive} positive, {backlog.negative} negative, "
              f"{backlog.irrelevant} other tests, {backlog.unreadable} damaged)")
        (root / "prostop.toml").write_text('data_dir = "var"\n')
        env = {k: v for k, v in os.environ.items() if not k.startswith("PROSTOP_")}
        env["PROSTOP_CONFIG"] = str(root / "prostop.toml")
        half = args.files // 2
        runs = [
            ("interrupted half-way (Ctrl-C)", {"interrupt_after": half,
                                               "marker_dir": root / "var" / "replay"}),
            ("resumed", {}),
            ("read again after completion", {}),
        ]
        for name, options in runs:
            elapsed, summary, code = submit(backlog.root, env, **options)  # type: ignore[arg-type]
            handled = int(str(summary["read"]))
            skipped = int(str(summary["resumed"]))
            print(f"{name:30} exit {code:3}  {elapsed:6.1f} s  files {handled:6} (read "
                  f"{handled - skipped}, skipped {skipped})  stored {summary['events_stored']}"
                  f"  known {summary['events_known']}  {handled / elapsed:7.0f} files/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
