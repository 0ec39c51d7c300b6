"""HPRIM and CDA readers against the bare parse of the same bytes (issue 5's 3× target).

* HPRIM: :func:`read_hprim` (decode, split into reports, transcribe, build the models) against
  plain line splitting of the same bytes (decode + splitlines + split('|')).
* CDA: :func:`read_cda` (size and DOCTYPE checks, hardened parse, transcription, models)
  against a bare ``etree.fromstring`` with the same parser options.

Target: the reader stays within 3× of the bare parse (ratio ≥ 1/3). Cases: the corpus files as
they are, and larger realistic files (a lab's batch of reports; a CR-BIO with a narrative table,
40 results and the PDF rendering embedded, as French labs send them).
"""

from __future__ import annotations

import base64
import random
from functools import partial
from pathlib import Path

from lxml import etree  # type: ignore[import-untyped,unused-ignore]

from bench.harness import Harness
from prostop_plugin.hl7.cda import read_cda
from prostop_plugin.hprim import read_hprim

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
if not CORPUS.is_dir():  # a bare clone: the snapshot the tests keep identical to it
    CORPUS = Path(__file__).resolve().parents[1] / "tests" / "shared_corpus"
TARGET = 1 / 3


def _bare_parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
        huge_tree=False, remove_comments=True, remove_pis=True, collect_ids=False,
    )


def _split_lines(data: bytes) -> list[list[str]]:
    return [line.split("|") for line in data.decode("latin-1").splitlines()]


def hprim_batch(report: bytes, count: int) -> bytes:
    """``count`` reports one after another, as a lab's daily batch file holds them."""
    reports = [report.replace(b"LG-7710040", f"LG-{7710040 + i}".encode()).replace(
        b"****FINFICHIER****\r\n", b"") for i in range(count)]
    return b"".join(reports) + b"****FINFICHIER****\r\n"


def large_crbio(document: bytes, results: int, pdf_bytes: int) -> bytes:
    """The corpus CR-BIO with ``results`` observations, a narrative table and a PDF rendering."""
    text = document.decode("utf-8")
    start = text.index("<entry>")
    entry = text[start:text.index("</entry>") + len("</entry>")]
    rows = "".join(f"<tr><td>Analyse {i}</td><td>{i}.5 g/L</td><td>1-5</td></tr>"
                   for i in range(results))
    entries = "".join(
        entry.replace('code="94309-2"', f'code="{10000 + i}-{i % 10}"')
        for i in range(results)
    )
    pdf = base64.b64encode(random.Random(5).randbytes(pdf_bytes)).decode("ascii")
    media = (f'<entry><observationMedia classCode="OBS" moodCode="EVN"><value '
             f'mediaType="application/pdf" representation="B64">{pdf}</value>'
             "</observationMedia></entry>")
    body = f"<text><table><tbody>{rows}</tbody></table></text>{entries}{media}"
    return (text[:text.index("<text>")] + body + text[text.index("</entry>") + 8:]).encode()


def run(harness: Harness) -> None:
    hprim = (CORPUS / "hprim_rtpcr_positif.hpr").read_bytes()
    cda = (CORPUS / "cda_crbio_positive.xml").read_bytes()
    parser = _bare_parser()
    batch = hprim_batch(hprim, 50)
    big = large_crbio(cda, 40, 150_000)
    cases = [
        ("files: HPRIM médecin corpus (2 RES)", hprim, "hprim"),
        ("files: HPRIM batch, 50 reports", batch, "hprim"),
        ("files: CDA CR-BIO corpus (1 result)", cda, "cda"),
        (f"files: CDA CR-BIO 40 results + PDF ({len(big) // 1024} KiB)", big, "cda"),
    ]
    for case, data, kind in cases:
        if kind == "hprim":
            harness.compare(
                case, partial(read_hprim, data, "bench.hpr", "bench"), partial(_split_lines, data),
                peer_name="decode+splitlines+split('|')", target_ratio=TARGET,
                iterations=400 if len(data) > 10_000 else 2000,
                note="the peer validates nothing and builds no model",
            )
        else:
            harness.compare(
                case, partial(read_cda, data, "bench.xml", "bench"),
                partial(etree.fromstring, data, parser=parser),
                peer_name="lxml fromstring (same parser options)", target_ratio=TARGET,
                iterations=400 if len(data) > 10_000 else 2000,
            )
