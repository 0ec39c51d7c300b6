"""Where a stored message's CPU goes, stage by stage, against python-hl7's parse + ACK and the
floor (one SQLite commit per message): CPU time, not wall time, so a busy machine blurs it less.

``python -m bench.cpu [--messages 2000] [--connections 4] [--instructions]``

- **stages, one thread** (``time.thread_time``, system time included): python-hl7's
  ``hl7.parse`` + ``create_ack``; the floor's work (one SQLite WAL ``synchronous=FULL`` commit
  of the message's bytes, a minimal ACK); ours: *read* (decode, parse, map, is it about
  COVID-19), *store* (the event stored and evaluated, its issuance written, both transitions
  audited and signed; one commit per message, group commit off), *ACK* (built once stored).
- **the whole server** (the benchmark's MLLP server with ``--connections`` connections and the
  client in the same process, as ``python -m bench mllp`` runs it; group commit on): the
  process's CPU per message, and each thread's (from Linux's ``/proc``), i.e. what the threads
  and their hand-offs add to the stages.
- ``--instructions``: the stages counted in instructions by valgrind's callgrind (a run of 200
  messages subtracted from one of 1,200, so start-up cancels out), stable from run to run where
  times are not. Needs ``valgrind``; takes a few minutes.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import hl7

from bench.bench_hl7 import FALLBACK_ORU, ORU_FILE
from bench.bench_mllp import Client, FloorServer, LoopThread, Messages, our_server
from prostop_hl7v2_mllp.inbound import Delivery, InboundHandler
from prostop_hl7v2_mllp.plugin import plugin as mllp_plugin
from prostop_hl7v2_mllp.settings import load_mllp_settings
from prostop_plugin.app import Prostop
from prostop_plugin.config import Settings


def frames(count: int) -> list[bytes]:
    messages = Messages(ORU_FILE.read_bytes() if ORU_FILE.exists() else FALLBACK_ORU)
    return [messages.next() for _ in range(count)]


class Stages:
    """Each stage of one message, on this thread."""

    def __init__(self, handler: InboundHandler, floor: FloorServer) -> None:
        self.handler = handler
        self.floor_db = floor.db

    @staticmethod
    def python_hl7(frame: bytes) -> bytes:
        return str(hl7.parse(frame.decode()).create_ack()).encode()

    def floor(self, frame: bytes) -> bytes:
        control_id = frame.split(b"\r", 1)[0].split(b"|")[9]
        self.floor_db.execute("BEGIN IMMEDIATE")
        self.floor_db.execute("INSERT INTO messages (control_id, body) VALUES (?, ?)",
                              (control_id.decode("latin-1"), frame))
        self.floor_db.execute("COMMIT")
        return b"MSH|^~\\&|FLOOR||||||ACK|A" + control_id + b"|P|2.5\rMSA|AA|" + control_id

    def read(self, frame: bytes) -> Delivery:
        prepared = self.handler.prepare(frame)
        assert isinstance(prepared, Delivery), prepared
        return prepared

    def store(self, delivery: Delivery) -> Delivery:
        self.handler.deliver(delivery)
        return delivery

    def ack(self, delivery: Delivery) -> bytes | None:
        return self.handler.after_delivery(delivery, None)


#: what --instructions counts, each on one new message
SCENARIOS: dict[str, Callable[[Stages, bytes], object]] = {
    "python-hl7": lambda s, f: s.python_hl7(f),
    "floor": lambda s, f: s.floor(f),
    "read": lambda s, f: s.read(f),
    "read+ack": lambda s, f: s.ack(s.read(f)),
    "read+store+ack": lambda s, f: s.ack(s.store(s.read(f))),
}


@contextmanager
def stages() -> Iterator[Stages]:
    root = Path(tempfile.mkdtemp(prefix="bench-cpu-"))
    floor = FloorServer(root / "floor.sqlite3")
    settings = Settings(data_dir=root / "var", as_of=date(2020, 11, 20),
                        adapter={"hl7v2_mllp": {"listen": "127.0.0.1:0", "workers": 1}})
    try:
        with Prostop.open(settings, plugins=[mllp_plugin]) as runtime:
            runtime.engine.committer.close()  # one commit per message, in this thread
            yield Stages(InboundHandler(runtime, load_mllp_settings(runtime.settings)), floor)
    finally:
        floor.db.close()
        shutil.rmtree(root, ignore_errors=True)


def stage_times(count: int) -> dict[str, float]:
    """Thread CPU µs per message of each stage."""
    clock = time.thread_time
    spent = dict.fromkeys(("python-hl7", "floor", "read", "store", "ack"), 0.0)
    with stages() as run:
        batch = frames(count + 100)
        for frame in batch[:100]:  # warm-up
            SCENARIOS["read+store+ack"](run, frame)
        for frame in batch[100:]:
            start = clock()
            run.python_hl7(frame)
            floor_start = clock()
            run.floor(frame)
            read_start = clock()
            delivery = run.read(frame)
            store_start = clock()
            run.store(delivery)
            ack_start = clock()
            run.ack(delivery)
            end = clock()
            for name, spent_now in (("python-hl7", floor_start - start),
                                    ("floor", read_start - floor_start),
                                    ("read", store_start - read_start),
                                    ("store", ack_start - store_start), ("ack", end - ack_start)):
                spent[name] += spent_now
    return {name: value / count * 1e6 for name, value in spent.items()}


def _thread_cpu() -> dict[str, float]:
    """CPU seconds of each thread of this process by name (Linux), threads of one name summed."""
    ticks = os.sysconf("SC_CLK_TCK")
    names = {thread.native_id: thread.name for thread in threading.enumerate()}
    found: dict[str, float] = {}
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        name = re.sub(r"-\d+$", "-*", names.get(int(task.name), "other"))
        found[name] = found.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / ticks
    return found


def server_times(connections: int, batches: int) -> tuple[float, float, dict[str, float]]:
    """Our whole MLLP server with its client: (msg/s, process CPU µs per message, per thread)."""
    root = Path(tempfile.mkdtemp(prefix="bench-cpu-server-"))
    loop = LoopThread("bench-client")
    try:
        with our_server(root, connections) as (_, service):
            template = ORU_FILE.read_bytes() if ORU_FILE.exists() else FALLBACK_ORU
            client = Client(loop, service.port, Messages(template), connections)
            for _ in range(3):
                client.batch()
            before, threads_before = os.times(), _thread_cpu()
            start = time.perf_counter()
            for _ in range(batches):
                client.batch()
            wall = time.perf_counter() - start
            after, threads_after = os.times(), _thread_cpu()
            client.close()
        count = batches * client.count
        cpu = (after.user + after.system - before.user - before.system) / count * 1e6
        per_thread = {name: (threads_after[name] - threads_before.get(name, 0.0)) / count * 1e6
                      for name in threads_after}
        return count / wall, cpu, per_thread
    finally:
        loop.close()
        shutil.rmtree(root, ignore_errors=True)


def instructions(scenario: str, small: int = 200, large: int = 1200) -> float:
    """Instructions per message of a scenario: callgrind's total for ``large`` messages less
    that for ``small`` (start-up, imports and key generation cancel out)."""
    totals = []
    for count in (small, large):
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        done = subprocess.run(
            ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable,
             "-m", "bench.cpu", "--child", scenario, "--messages", str(count)],
            env=env, capture_output=True, text=True, check=True,
        )
        totals.append(int(re.findall(r"Collected : (\d+)", done.stderr)[-1]))
    return (totals[1] - totals[0]) / (large - small)


def _child(scenario: str, count: int) -> None:
    work = SCENARIOS[scenario]
    with stages() as run:
        for frame in frames(count):
            work(run, frame)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cpu", description=__doc__)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--instructions", action="store_true")
    parser.add_argument("--child", choices=sorted(SCENARIOS), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child, args.messages)
        return 0
    times = stage_times(args.messages)
    ours = times["read"] + times["store"] + times["ack"]
    print(f"CPU per message, one thread ({args.messages} messages), µs:")
    for name, value in times.items():
        print(f"  {name:<11} {value:8.0f}")
    print(f"  {'ours':<11} {ours:8.0f}  ({ours / times['python-hl7']:.2f}× python-hl7's, "
          f"{ours / times['floor']:.1f}× the floor's)")
    rate, cpu, per_thread = server_times(args.connections, max(1, args.messages // 40))
    print(f"\nthe whole server, {args.connections} connections, client in the process: "
          f"{rate:.0f} msg/s, {cpu:.0f} µs CPU per message; by thread:")
    for name, value in sorted(per_thread.items(), key=lambda item: -item[1]):
        print(f"  {name:<28} {value:8.0f}")
    if args.instructions:
        if shutil.which("valgrind") is None:
            print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
            return 1
        counts = {name: instructions(name) for name in SCENARIOS}
        print("\ninstructions per message (callgrind), thousands:")
        for name, label in (("python-hl7", "python-hl7"), ("floor", "floor"),
                            ("read", "read"), ("read+ack", "ack (after read)"),
                            ("read+store+ack", "store (after read, before ack)")):
            value = counts[name]
            if name == "read+ack":
                value -= counts["read"]
            elif name == "read+store+ack":
                value -= counts["read+ack"]
            print(f"  {label:<32} {value / 1000:8.0f}")
        print(f"  {'ours (read + store + ack)':<32} {counts['read+store+ack'] / 1000:8.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
