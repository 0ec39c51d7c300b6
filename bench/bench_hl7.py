"""HL7 v2 parsing against python-hl7 and hl7apy, side by side on the same bytes.

Each contender parses the corpus's positive ORU^R01 and reads the same fields: MSH-10, PID-3.1,
PID-5.1, PID-5.2, OBR-7, and OBX-3.1, OBX-5.1, OBX-11 of every OBX. Ours and python-hl7 get
the bytes (python-hl7 told the encoding, ours reading MSH-18 itself); hl7apy only takes text,
so its callable decodes first (about a microsecond of its tens of milliseconds). hl7apy parses
with ``find_groups=False``, its fastest mode for flat field access.

A second case reads every leaf of every field: lazy parsing has nothing left to skip there, so
it shows the floor of the advantage. A third scales the ORU to 60 OBX.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hl7
from hl7apy.parser import parse_message

from bench.harness import Harness
from prostop_plugin.hl7.er7 import parse

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
if not CORPUS.is_dir():  # a bare clone: the snapshot the tests keep identical to it
    CORPUS = Path(__file__).resolve().parents[1] / "tests" / "shared_corpus"
ORU_FILE = CORPUS / "oru_rtpcr_positive.hl7"
FALLBACK_ORU = (
    b"MSH|^~\\&|SIL-BIO|LABO-GARONNE|LGC|CABINET-DURAND|20201119101500||ORU^R01^ORU_R01|"
    b"LG20201119-0001|P|2.5|||AL|NE|FRA|UNICODE UTF-8\r"
    b"PID|||280013306312376^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.10&ISO^INS~DOS-4411^^^"
    b"CABINET-DURAND^PI||DUPONT^CAMILLE^^^^^L||19800115|F\r"
    b"OBR|1|CMD-88121|LAB-7710021|94531-1^SARS-CoV-2 RNA panel^LN|||20201118093000\r"
    b"OBX|1|CWE|94500-6^SARS-CoV-2 RNA^LN||10828004^positif^SCT|||A|||F|||20201119100500\r"
    b"OBX|2|NM|94745-7^SARS-CoV-2 Ct^LN||24.1|{Ct}|||||F|||20201119100500\r"
)


def _oru() -> bytes:
    return ORU_FILE.read_bytes() if ORU_FILE.exists() else FALLBACK_ORU


def ours_fields(data: bytes) -> list[str]:
    m = parse(data)
    values = [m["MSH-10"], m["PID-3.1"], m["PID-5.1"], m["PID-5.2"], m["OBR-7"]]
    for obx in m.segments("OBX"):
        values += [obx["3.1"], obx["5.1"], obx[11]]
    return values


def python_hl7_fields(data: bytes) -> list[str]:
    m = hl7.parse(data, encoding="utf-8")
    values = [m.extract_field("MSH", 1, 10), m.extract_field("PID", 1, 3, 1, 1),
              m.extract_field("PID", 1, 5, 1, 1), m.extract_field("PID", 1, 5, 1, 2),
              m.extract_field("OBR", 1, 7)]
    for obx in m.segments("OBX"):
        values += [obx.extract_field(1, 3, 1, 1), obx.extract_field(1, 5, 1, 1),
                   obx.extract_field(1, 11)]
    return [str(v) for v in values]


def hl7apy_fields(data: bytes) -> list[str]:
    m: Any = parse_message(data.decode("utf-8"), find_groups=False)
    values = [m.msh.msh_10.value, m.pid.pid_3.pid_3_1.value, m.pid.pid_5.pid_5_1.value,
              m.pid.pid_5.pid_5_2.value, m.obr.obr_7.value]
    for obx in m.obx:
        values += [obx.obx_3.obx_3_1.value, obx.obx_5.obx_5_1.value, obx.obx_11.value]
    return [str(v) for v in values]


def ours_every_leaf(data: bytes) -> int:
    count = 0
    for seg in parse(data):
        for number in range(1, len(seg) + 1):
            for rep in seg.tree(number):
                count += sum(len(comp) for comp in rep)
    return count


def _leaves(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    else:
        for child in node:
            yield from _leaves(child)


def python_hl7_every_leaf(data: bytes) -> int:
    m = hl7.parse(data, encoding="utf-8")
    count = 0
    for seg in m:
        for field in seg[1:]:
            for leaf in _leaves(field):
                m.unescape(leaf)
                count += 1
    return count


def _large_oru(data: bytes, results: int) -> bytes:
    """The same message with ``results`` OBX, copies of its own renumbered."""
    segments = [s for s in data.replace(b"\n", b"\r").split(b"\r") if s]
    head = [s for s in segments if not s.startswith((b"OBX", b"NTE"))]
    obx = [s.split(b"|") for s in segments if s.startswith(b"OBX")]
    body = []
    for number in range(1, results + 1):
        fields = list(obx[number % len(obx)])
        fields[1] = str(number).encode()
        body.append(b"|".join(fields))
    return b"\r".join(head + body) + b"\r"


def run(harness: Harness) -> None:
    data = _oru()
    expected = ours_fields(data)
    # Fairness check: every contender reads the same values.
    assert python_hl7_fields(data) == expected, python_hl7_fields(data)
    assert hl7apy_fields(data) == expected, hl7apy_fields(data)
    harness.compare(
        "hl7v2 parse ORU^R01 + 11 fields", lambda: ours_fields(data),
        lambda: python_hl7_fields(data), peer_name="python-hl7 hl7.parse", target_ratio=10,
        iterations=2000,
    )
    harness.compare(
        "hl7v2 parse ORU^R01 + 11 fields", lambda: ours_fields(data),
        lambda: hl7apy_fields(data), peer_name="hl7apy parse_message", target_ratio=100,
        iterations=100, warmup=5,
    )
    harness.compare(
        "hl7v2 parse ORU^R01 + every leaf", lambda: ours_every_leaf(data),
        lambda: python_hl7_every_leaf(data), peer_name="python-hl7 hl7.parse",
        iterations=1000, note="no laziness left to exploit: the floor of the advantage",
    )
    large = _large_oru(data, 60)
    assert len(ours_fields(large)) == 5 + 3 * 60
    assert python_hl7_fields(large) == ours_fields(large)
    harness.compare(
        "hl7v2 parse ORU^R01 (60 OBX) + 185 fields", lambda: ours_fields(large),
        lambda: python_hl7_fields(large), peer_name="python-hl7 hl7.parse", target_ratio=10,
        iterations=300,
    )
