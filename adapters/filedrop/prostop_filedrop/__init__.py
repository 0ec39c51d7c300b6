"""prostop-filedrop: a watched inbox of lab files (HPRIM, HL7 v2, CDA) for prostop-plugin.

Modules: :mod:`.settings` (``[adapter.filedrop]``), :mod:`.folders` (settle detection and the
atomic moves), :mod:`.intake` (reading one file, recording its events), :mod:`.service` (the
polling loop), :mod:`.writeback` (the import files in the outbox), :mod:`.plugin` (the hooks).
"""

__version__ = "0.1.0"
