"""prostop-demo-ehr: the reference host EHR for prostop-plugin (FastAPI + Jinja2, loopback only).

The integration a vendor copies lives in :mod:`prostop_demo_ehr.plugin` (the hooks) and
:mod:`prostop_demo_ehr.recording` (what the EHR sends to the core); the rest is the EHR itself.
"""

__version__ = "0.1.0"
