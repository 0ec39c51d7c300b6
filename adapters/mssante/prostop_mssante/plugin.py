"""The plugin: what ``prostop`` loads for ``adapters = ["mssante"]`` (entry point group
``prostop``, name ``mssante``).

It provides the mailbox watcher (:func:`prostop_background_services`, run by ``prostop serve``)
and the write-back (:func:`prostop_write_back`) for records whose event came through it. It has
no confirmation UI: requests wait in the pending queue (``prostop pending``) unless another
adapter shows them.
"""

from __future__ import annotations

from prostop_mssante.service import MailboxService
from prostop_mssante.settings import ADAPTER_NAME, MssanteSettings, load_mssante_settings
from prostop_mssante.writeback import write_back
from prostop_plugin import AdapterInfo, AdapterPlugin

INFO = AdapterInfo(
    name=ADAPTER_NAME,
    title="Messagerie MSSanté (CDA R2 en IHE_XDM.ZIP)",
    description="Lit les comptes rendus de biologie CDA (CR-BIO) reçus dans une boîte aux lettres "
    "applicative MSSanté (IMAPS) et envoie la note du code au médecin qui l'a confirmé, par "
    "MSSanté, en CDA R2 dans une archive IHE_XDM.ZIP. Reads CR-BIO CDA reports from an MSSanté "
    "application mailbox and sends the code note back to the confirming physician by MSSanté.",
    has_confirmation_ui=False,
    formats=["cda"],
)


class MssantePlugin(AdapterPlugin[MssanteSettings]):
    """Holds the validated ``[adapter.mssante]`` section between hook calls."""

    def __init__(self) -> None:
        super().__init__(INFO, load_mssante_settings, label="MSSanté", service=MailboxService,
                         write_back=write_back)


#: the entry point's object (one per process; each runtime configures it at start)
plugin = MssantePlugin()
