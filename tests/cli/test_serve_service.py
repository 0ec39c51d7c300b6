"""`prostop serve` as a service: JSON log lines naming the issuance (never the patient), the
[metrics] endpoint on its own port, scraped over HTTP while the file drop records a result."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.fixtures.builders import rtpcr_event


def wait_for(predicate: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def test_serve_logs_json_lines_and_serves_metrics(tmp_path: Path) -> None:
    inbox, outbox = tmp_path / "inbox", tmp_path / "outbox"
    inbox.mkdir()
    outbox.mkdir()
    (tmp_path / "prostop.toml").write_text(
        'data_dir = "var"\nlog_level = "info"\nlog_format = "json"\nadapters = ["filedrop"]\n'
        '[metrics]\nlisten = "127.0.0.1:0"\n'
        f'[adapter.filedrop]\ninbox = "{inbox}"\noutbox = "{outbox}"\n'
        "poll_interval = 0.1\nsettle_seconds = 0\n"
    )
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PROSTOP_")} | {"PROSTOP_CONFIG": str(tmp_path / "prostop.toml")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "prostop_plugin.cli", "serve", "--tick", "0.2"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    out: list[str] = []
    err: list[str] = []

    def pump(stream: object, into: list[str]) -> None:
        for line in stream:  # type: ignore[attr-defined]
            into.append(line)

    readers = [threading.Thread(target=pump, args=(proc.stdout, out), daemon=True),
               threading.Thread(target=pump, args=(proc.stderr, err), daemon=True)]
    for reader in readers:
        reader.start()
    try:
        assert wait_for(lambda: any("serving" in line for line in out), 60), out + err
        [port] = [int(m[1]) for line in out
                  if (m := re.search(r"started: metrics http://127\.0\.0\.1:(\d+)/metrics", line))]
        event = rtpcr_event(when=datetime.now(UTC) - timedelta(hours=3))
        (inbox / "resultat.json").write_text(event.model_dump_json())
        assert wait_for(lambda: any("awaiting_confirmation" in line for line in err), 30), err
        scraped = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5.0).text
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, "".join(err)
    finally:
        proc.kill()
    for reader in readers:
        reader.join(10)

    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(scraped) for s in family.samples}
    assert samples[("prostop_events_received_total",
                    (("adapter", "filedrop"), ("format", "none")))] == 1
    assert samples[("prostop_files_processed_total",
                    (("adapter", "filedrop"), ("outcome", "recorded")))] == 1
    assert samples[("prostop_issuance_transitions_total",
                    (("state", "awaiting_confirmation"),))] == 1

    lines = [json.loads(line) for line in err]  # every line is one JSON object
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    assert all(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", line["time"])
               for line in lines)
    moves = [line for line in lines if "-> awaiting_confirmation" in line["message"]]
    assert len(moves) == 1 and re.fullmatch(r"[0-9a-f]{12}", moves[0]["issuance_id"])
    assert moves[0]["level"] == "INFO" and moves[0]["logger"] == "prostop_plugin.issuance"
    assert next(line for line in lines if "resultat.json" in line["message"]).get(
        "issuance_id") is None  # a file's line concerns no one issuance
    everything = "".join(err) + scraped
    for private in ("DUPONT", "Camille", "DOS-0001", "1980-01-15"):
        assert private not in everything
