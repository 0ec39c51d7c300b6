"""An ORU over MLLP, confirmed in the console: the notice and then the code reach the MLLP
peer (the EHR's interface engine), both addressed to the patient, the code as shown."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx

from prostop_hl7v2_mllp.plugin import plugin as mllp_plugin
from prostop_hl7v2_mllp.server import MLLPService
from prostop_hl7v2_mllp.settings import load_mllp_settings
from prostop_hl7v2_mllp.writeback import control_id_for, notice_control_id
from prostop_plugin.app import Prostop
from prostop_plugin.console import ConsoleService
from prostop_plugin.hl7.mllp import encode_frame
from prostop_plugin.models import IssuanceState
from prostop_plugin.simulator import RunningSimulator
from tests.adapters.hl7v2_mllp.conftest import mllp_section
from tests.adapters.hl7v2_mllp.helpers import RawConnection, corpus_bytes, fake_ehr
from tests.console.conftest import RunningConsole, console_settings, csrf_of, free_port, log_in


def test_an_oru_confirmed_in_the_console_reaches_the_mllp_peer(
    tmp_path: Path, simulator: RunningSimulator
) -> None:
    with fake_ehr() as peer:
        settings = console_settings(tmp_path, simulator, free_port())
        settings = settings.model_copy(update={"adapter": {"hl7v2_mllp": mllp_section(
            peer=peer.address)}})
        runtime = Prostop.open(settings, plugins=[mllp_plugin])
        listener = MLLPService(runtime, load_mllp_settings(runtime.settings))
        service = ConsoleService(runtime)
        try:
            listener.start()
            service.start()
            console = RunningConsole(runtime, service, simulator, tmp_path)
            sender = RawConnection(listener.port)
            sender.send(encode_frame(corpus_bytes()))
            assert sender.read_ack().code in ("AA", "CA")
            sender.close()
            [waiting] = runtime.engine.pending()
            notice = peer.received[0].decode("utf-8")
            link = f"{console.url}/demandes/{waiting.issuance_id}"
            assert notice_control_id(waiting.issuance_id) in notice and link in notice
            with httpx.Client(follow_redirects=False, timeout=10.0) as client:
                log_in(client, console, next_path=f"/demandes/{waiting.issuance_id}")
                page = client.get(link)
                client.post(f"{link}/decision", data={
                    "csrf": csrf_of(page), "action": "approve", "qr_unavailable": "1"})
                deadline = time.monotonic() + 20
                while runtime.ledger.get(waiting.issuance_id).state \
                        != IssuanceState.WRITTEN_BACK:
                    assert time.monotonic() < deadline
                    time.sleep(0.05)
                shown = re.search(r'data-code="([A-Z0-9]{6})"', client.get(link).text)
            assert shown is not None
            [code_message] = [m.decode("utf-8") for m in peer.received
                              if control_id_for(waiting.issuance_id).encode() in m]
            assert shown.group(1) in code_message
        finally:
            service.stop()
            listener.stop()
            runtime.close()
