"""prostop-mssante: the MSSanté channel for prostop-plugin (IHE XDM + CDA R2 over IMAPS/SMTPS).

Modules: :mod:`.settings` (``[adapter.mssante]``), :mod:`.archive` (hostile-input zip reading),
:mod:`.metadata` (XDS ``METADATA.XML``), :mod:`.xdm` (the ``IHE_XDM.ZIP`` package),
:mod:`.intake` (one message → events), :mod:`.mailbox` (IMAP), :mod:`.service` (the polling
loop), :mod:`.writeback` (the message to the physician), :mod:`.texts`, :mod:`.plugin` (hooks).
"""

__version__ = "0.1.0"
