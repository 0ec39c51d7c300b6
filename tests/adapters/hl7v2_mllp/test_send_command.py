"""``prostop hl7 send FILE --to HOST:PORT``: one line per ACK, exit codes, no traceback."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from prostop_hl7v2_mllp.server import MLLPService
from prostop_hl7v2_mllp.settings import load_mllp_settings
from prostop_plugin.app import Prostop
from prostop_plugin.cli.hl7 import register, run
from prostop_plugin.simulator.pki import make_pki
from tests.adapters.hl7v2_mllp.conftest import mllp_section
from tests.adapters.hl7v2_mllp.helpers import (
    CORPUS,
    GLUCOSE_ORU,
    corpus_bytes,
    fake_ehr,
    free_port,
)


def parse_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="prostop")
    register(parser.add_subparsers(dest="command"))
    return parser.parse_args(list(argv))


def send(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    args = parse_args("hl7", "send", *argv)
    assert args.func is run
    code = args.func(args)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not laid out")
def test_sends_each_message_of_a_file_and_prints_each_ack(
    tmp_path: Path, listener: MLLPService, runtime: Prostop, capsys: pytest.CaptureFixture[str]
) -> None:
    batch = tmp_path / "two.hl7"
    batch.write_bytes(corpus_bytes() + GLUCOSE_ORU.replace(b"\r", b"\r\n"))
    code, out, err = send(capsys, str(batch), "--to", f"127.0.0.1:{listener.port}")
    assert code == 0, err
    assert out.splitlines() == [
        "1/2 LG20201119-0001 → CA (MSA-2 LG20201119-0001)",
        "2/2 GLU-0001 → AA (MSA-2 GLU-0001)",
    ]
    assert runtime.ledger.event_count() == 1


def test_a_refused_message_prints_the_error_and_exits_1(
    tmp_path: Path, listener: MLLPService, capsys: pytest.CaptureFixture[str]
) -> None:
    messages = tmp_path / "refused.hl7"
    messages.write_bytes(b"MSH|^~\\&|AGENDA|CAB|||20201119||SIU^S12|S-1|P|2.5\rSCH|1\r"
                         b"MSH|^~\\&|LAB|LABO|||20201119||ORU^R01|BAD-1|P|2.5\rOB!|1\r")
    code, out, err = send(capsys, str(messages), "--to", f"127.0.0.1:{listener.port}")
    assert code == 1
    first, second = out.splitlines()
    assert first.startswith("1/2 S-1 → AR (MSA-2 S-1): MSH-9: message type SIU^S12 is not")
    # MSH-10 read from the MSH line although the message does not parse
    assert second.startswith("2/2 BAD-1 → AE (MSA-2 BAD-1): byte 50: segment 2 has no valid")
    assert "2 of 2 messages not accepted" in err


def test_no_ack_in_time_and_nobody_listening_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    message = tmp_path / "glucose.hl7"
    message.write_bytes(GLUCOSE_ORU)
    with fake_ehr(silent=True) as ehr:
        code, out, _ = send(capsys, str(message), "--to", ehr.address, "--timeout", "0.3")
    assert code == 1 and "no ACK within 0.3 s for MSH-10 GLU-0001" in out
    code, out, _ = send(capsys, str(message), "--to", f"127.0.0.1:{free_port()}",
                        "--timeout", "1")
    assert code == 1 and "cannot connect" in out


def test_unusable_input_is_one_line_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    not_hl7 = tmp_path / "notes.txt"
    not_hl7.write_text("Dear colleague,\n")
    cases = [
        ((str(tmp_path / "missing.hl7"), "--to", "127.0.0.1:2575"), "cannot read"),
        ((str(not_hl7), "--to", "127.0.0.1:2575"), "no MSH segment found"),
        ((str(not_hl7), "--to", "localhost"), "is not HOST:PORT"),
        ((str(not_hl7), "--to", "127.0.0.1:2575", "--timeout", "0"), "positive"),
    ]
    for argv, expected in cases:
        code, out, err = send(capsys, *argv)
        assert code == 2, argv
        assert out == "" and expected in err and len(err.strip().splitlines()) == 1
        assert "Traceback" not in err


def test_tls_with_the_peer_ca(
    tmp_path: Path, runtime: Prostop, capsys: pytest.CaptureFixture[str]
) -> None:
    pki = make_pki(tmp_path / "pki")
    runtime.settings.adapter["hl7v2_mllp"] = mllp_section(
        tls_cert_file=str(pki.server_cert), tls_key_file=str(pki.server_key))
    service = MLLPService(runtime, load_mllp_settings(runtime.settings))
    service.start()
    message = tmp_path / "glucose.hl7"
    message.write_bytes(GLUCOSE_ORU)
    try:
        code, out, err = send(capsys, str(message), "--to", f"127.0.0.1:{service.port}",
                              "--tls", "--ca-file", str(pki.ca))
        assert code == 0, out + err
        assert out.startswith("1/1 GLU-0001 → AA")
        code, out, _ = send(capsys, str(message), "--to", f"127.0.0.1:{service.port}",
                            "--tls", "--timeout", "2")
        assert code == 1 and "CERTIFICATE_VERIFY_FAILED" in out
    finally:
        service.stop()
