"""HPRIM readers: "HPRIM médecin" text reports and HPRIM Santé 2.x messages (DOMAIN.md §6).

Readers transcribe; :mod:`prostop_plugin.eligibility` judges. Every result line becomes a
:class:`~prostop_plugin.models.LabResult` exactly as an HL7 OBX would, so a positive RT-PCR is
recognised the same way whatever the format.

**HPRIM médecin** (what GP software imports from labs): a report is 12 header lines (title or
the lab's patient code, family name, given name, address ×2, postcode + town, birth date
dd/mm/yyyy, NIR, lab file number, date, sender code + name, recipient code + name), free text,
then ``****LAB****`` … ``****FIN****`` holding ``RES|label|code|type|value|unit|low|high|flag|
status|…`` lines. One file may hold several reports (several patients) one after another;
``****FINFICHIER****`` closes a file inside a batch and is optional at the end.

**HPRIM Santé 2.x** (ASTM E1238): records ``H`` (delimiters, sender), ``P`` (patient), ``OBR``
(request, collection time, prescriber), ``OBX`` (result), ``C`` (comment), ``A`` (continuation
of the previous record, appended as is), ``L`` (end). The delimiters come from the H record:
``H|~^\\&|`` declares components ``~`` and repetitions ``^``, the reverse of HL7.

Decisions (documented for the admin and the physician):

* Encoding: a byte-order mark wins; valid UTF-8 containing non-ASCII is UTF-8; otherwise Latin-1,
  read as its Windows-1252 superset (what French Windows lab software writes: ``'`` as 0x92).
* NIR: its key is checked (97 − number mod 97, Corsica 2A→19, 2B→18). A NIR with a wrong or
  missing key is *not* used as the INS — matching then relies on name, birth date and file
  number — and a warning naming the file and line is logged. Sex is taken from a checked NIR.
* Patient id: the checked NIR; else (HPRIM Santé) the requester's own patient id, the lab's id;
  else the lab file number. A report with results but none of these is an :class:`InputError`.
* ``message_id`` is ``<lab file number>#<digest of this report>``: labs resend the same file
  number with partial then final results, and both must be read (only the resend of the very
  same report is a duplicate).
* Result status: F, C, P, D, X as written (U → F, W → D, N → X, as the HL7 reader reads them),
  blank → F; anything else → P and a warning: an unknown status never counts as final.
* Values as the HL7 reader fills them: numeric results keep their text too (``<0,5`` stays text
  only; nan/inf are not numbers); a coded value with a local code and an alternate code (e.g.
  SNOMED) is the alternate.
* A ``RES`` line with neither label nor code continues the previous result's text. ``TEX``,
  ``REC`` and unknown lines inside the LAB block are tolerated and skipped.
* Times without an offset are French local time (Europe/Paris).

Modules: :mod:`.reader` (file checks, format detection), :mod:`.medecin`, :mod:`.sante` (the two
families), :mod:`.report` (the transcribed report), :mod:`.mapping` (report → event). NIR and
value helpers are shared with the other readers (:mod:`prostop_plugin.identity`,
:mod:`prostop_plugin.values`) and re-exported here for existing imports.
"""

from __future__ import annotations

from prostop_plugin.hprim.mapping import report_to_event
from prostop_plugin.hprim.medecin import FILE_END, HEADER_LINES, LAB_END, LAB_START
from prostop_plugin.hprim.reader import MAX_HPRIM_BYTES, decode_text, parse_hprim, read_hprim
from prostop_plugin.hprim.report import HprimReport, result_status
from prostop_plugin.hprim.sante import SANTE_HEADER
from prostop_plugin.identity import Nir, parse_nir
from prostop_plugin.values import PARIS, lab_test_coding, parse_date, parse_number, parse_ts

__all__ = [
    "FILE_END",
    "HEADER_LINES",
    "LAB_END",
    "LAB_START",
    "MAX_HPRIM_BYTES",
    "PARIS",
    "SANTE_HEADER",
    "HprimReport",
    "Nir",
    "decode_text",
    "lab_test_coding",
    "parse_date",
    "parse_hprim",
    "parse_nir",
    "parse_number",
    "parse_ts",
    "read_hprim",
    "report_to_event",
    "result_status",
]
