"""System calls of a real ``prostop serve`` per stored message, counted with ``strace -f -c``.

``python -m bench.syscalls [--messages 100] [--connections 4] [--source DIR]`` starts
``prostop serve`` (MLLP adapter, SQLite ledger) under strace twice: once receiving nothing
(start and stop alone) and once receiving ``--messages`` distinct positive ORU^R01 over
``--connections`` MLLP connections, each sent after the previous ACK. The difference is what
the messages cost. ``--source`` runs another checkout's ``prostop_plugin`` (e.g. a worktree of
an older commit) for a before/after comparison. Needs ``strace`` (apt-get install strace).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.bench_hl7 import FALLBACK_ORU, ORU_FILE
from bench.bench_mllp import Messages
from prostop_plugin.hl7.mllp import MLLPDecoder, encode_frame

REPO = Path(__file__).resolve().parents[1]
SHOWN = ("fsync", "fdatasync", "rename", "renameat", "openat", "pwrite64", "write", "flock",
         "fcntl")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def send_all(port: int, messages: Messages, count: int, connections: int) -> int:
    async def one(n: int) -> int:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        decoder, acked = MLLPDecoder(), 0
        for _ in range(n):
            writer.write(encode_frame(messages.next()))
            await writer.drain()
            frames: list[bytes] = []
            while not frames:
                data = await asyncio.wait_for(reader.read(65536), 30)
                if not data:
                    raise ConnectionError("the server closed the connection")
                frames = decoder.feed(data)
            acked += b"MSA|AA" in frames[-1] or b"MSA|CA" in frames[-1]
        writer.close()
        return acked

    shares = [count // connections + (i < count % connections) for i in range(connections)]
    return sum(await asyncio.gather(*(one(n) for n in shares if n)))


def counted(source: Path, count: int, connections: int) -> dict[str, int]:
    """strace's call counts for one run of ``prostop serve`` receiving ``count`` messages."""
    root = Path(tempfile.mkdtemp(prefix="prostop-strace-"))
    try:
        port = free_port()
        config = root / "prostop.toml"
        config.write_text('data_dir = "var"\nas_of = "2020-11-20"\nadapters = ["hl7v2_mllp"]\n'
                          f'[adapter.hl7v2_mllp]\nlisten = "127.0.0.1:{port}"\n')
        out = root / "strace.txt"
        env = {k: v for k, v in os.environ.items() if not k.startswith("PROSTOP_")}
        env["PYTHONPATH"] = str(source)
        proc = subprocess.Popen(
            ["strace", "-f", "-c", "-o", str(out), sys.executable, "-m", "prostop_plugin.cli",
             "--config", str(config), "serve", "--tick", "600"],
            cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if "serving" in line:
                break
            if not line and proc.poll() is not None:
                raise RuntimeError("prostop serve did not start")
        template = ORU_FILE.read_bytes() if ORU_FILE.exists() else FALLBACK_ORU
        acked = asyncio.run(send_all(port, Messages(template), count, connections)) if count else 0
        if acked != count:
            raise RuntimeError(f"{acked} of {count} messages acknowledged")
        for child in children(proc.pid):  # the traced prostop, not strace itself
            os.kill(child, signal.SIGTERM)
        proc.communicate(timeout=60)
        return parse_summary(out.read_text())
    finally:
        shutil.rmtree(root, ignore_errors=True)


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def parse_summary(text: str) -> dict[str, int]:
    calls: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 5 and parts[-1].isidentifier() and parts[3].isdigit():
            calls[parts[-1]] = int(parts[3])
    return calls


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.syscalls", description=__doc__)
    parser.add_argument("--messages", type=int, default=100)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--source", type=Path, default=REPO)
    args = parser.parse_args(argv)
    if shutil.which("strace") is None:
        print("strace is not installed (apt-get install strace)", file=sys.stderr)
        return 1
    idle = counted(args.source, 0, args.connections)
    busy = counted(args.source, args.messages, args.connections)
    result = {name: busy.get(name, 0) - idle.get(name, 0) for name in SHOWN}
    print(json.dumps({"source": str(args.source), "messages": args.messages,
                      "connections": args.connections, "for_the_messages": result,
                      "per_message": {k: round(v / args.messages, 2) for k, v in result.items()},
                      "whole_run": {name: busy.get(name, 0) for name in SHOWN}}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
