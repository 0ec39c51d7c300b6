"""The EHR's own records: patients, consultations, their summaries and the record notes.

This is the host's database, not the plugin's ledger: what ``prostop_write_back`` writes here
is what a physician sees in the patient's record, the code in clear included (the ledger keeps
it encrypted). One SQLite file (or ``:memory:``), shared by the web threads behind one lock.
"""

from __future__ import annotations

import sqlite3
import threading
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from prostop_plugin import PatientRef

SCHEMA = """
CREATE TABLE IF NOT EXISTS patients (
    id TEXT PRIMARY KEY, family_name TEXT NOT NULL, given_name TEXT NOT NULL,
    birth_date TEXT NOT NULL, sex TEXT NOT NULL, ins TEXT
);
CREATE TABLE IF NOT EXISTS consultations (
    id INTEGER PRIMARY KEY AUTOINCREMENT, patient_id TEXT NOT NULL REFERENCES patients(id),
    practitioner_id TEXT, day TEXT NOT NULL, started_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS summary_lines (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    consultation_id INTEGER NOT NULL REFERENCES consultations(id),
    issuance_id TEXT UNIQUE, text TEXT NOT NULL, written_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS record_notes (
    issuance_id TEXT PRIMARY KEY, patient_id TEXT NOT NULL REFERENCES patients(id),
    text TEXT NOT NULL, written_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS issuance_links (
    issuance_id TEXT PRIMARY KEY, patient_id TEXT NOT NULL,
    consultation_id INTEGER REFERENCES consultations(id)
);
"""


@dataclass(frozen=True)
class Patient:
    id: str
    family_name: str
    given_name: str
    birth_date: date
    sex: str
    ins: str | None

    @property
    def display_name(self) -> str:
        return f"{self.family_name} {self.given_name}"

    def ref(self) -> PatientRef:
        """The patient as the plugin sees it (never sent to the code service)."""
        return PatientRef(
            host_patient_id=self.id, ins=self.ins, family_name=self.family_name,
            given_name=self.given_name, birth_date=self.birth_date,
            sex="F" if self.sex == "F" else "M" if self.sex == "M" else "U",
        )


@dataclass(frozen=True)
class Consultation:
    id: int
    patient_id: str
    practitioner_id: str | None
    day: date


@dataclass(frozen=True)
class Note:
    issuance_id: str | None
    text: str
    written_at: datetime


#: fictional patients; the first two are the ones the shared corpus files name
DEMO_PATIENTS = (
    Patient("DOS-4411", "DUPONT", "Camille", date(1980, 1, 15), "F", "280013306312376"),
    Patient("DOS-5120", "MARTIN", "Luc", date(1967, 3, 2), "M", "167032432204539"),
    Patient("DOS-6230", "LEFÈVRE", "Hélène", date(1992, 6, 30), "F", "292067511234540"),
    Patient("DOS-7345", "N'GUYEN", "Zoé", date(2001, 9, 13), "F", "201091305504286"),
    Patient("DOS-8090", "ÉMERY", "François-Xavier", date(1955, 12, 3), "M", "155123306300197"),
    Patient("DOS-9012", "ROUSSEAU", "Jeanne", date(1985, 4, 21), "F", "285046912345672"),
)


def _sort_key(name: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", name) if c.isalnum()).upper()


def _now() -> str:
    return datetime.now(UTC).isoformat()


class EhrStore:
    """The EHR database. Thread-safe; writes by issuance id are idempotent."""

    def __init__(self, path: str) -> None:
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        with self._lock:
            self._conn.executescript(SCHEMA)
            if self._conn.execute("SELECT COUNT(*) FROM patients").fetchone()[0] == 0:
                self._conn.executemany(
                    "INSERT INTO patients VALUES (?, ?, ?, ?, ?, ?)",
                    [(p.id, p.family_name, p.given_name, p.birth_date.isoformat(), p.sex, p.ins)
                     for p in DEMO_PATIENTS],
                )

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # -- patients ----------------------------------------------------------------------------

    @staticmethod
    def _patient(row: sqlite3.Row) -> Patient:
        return Patient(row["id"], row["family_name"], row["given_name"],
                       date.fromisoformat(row["birth_date"]), row["sex"], row["ins"])

    def patients(self) -> list[Patient]:
        """Alphabetical as a French reader expects: ÉMERY among the E, not after Z."""
        with self._lock:
            rows = self._conn.execute("SELECT * FROM patients").fetchall()
        return sorted((self._patient(r) for r in rows),
                      key=lambda p: (_sort_key(p.family_name), _sort_key(p.given_name)))

    def patient(self, patient_id: str) -> Patient | None:
        with self._lock:
            row = self._conn.execute("SELECT * FROM patients WHERE id = ?",
                                     (patient_id,)).fetchone()
        return self._patient(row) if row else None

    def add_patient(self, patient: Patient) -> None:
        """Register a patient (kept as it is when the id is known already)."""
        with self._lock:
            self._conn.execute(
                "INSERT OR IGNORE INTO patients VALUES (?, ?, ?, ?, ?, ?)",
                (patient.id, patient.family_name, patient.given_name,
                 patient.birth_date.isoformat(), patient.sex, patient.ins))

    # -- consultations -------------------------------------------------------------------------

    @staticmethod
    def _consultation(row: sqlite3.Row) -> Consultation:
        return Consultation(row["id"], row["patient_id"], row["practitioner_id"],
                            date.fromisoformat(row["day"]))

    def open_consultation(self, patient_id: str, practitioner_id: str | None,
                          day: date) -> Consultation:
        """Today's consultation of this patient, created on first use."""
        with self._lock:
            row = self._conn.execute(
                "SELECT * FROM consultations WHERE patient_id = ? AND day = ? "
                "ORDER BY id DESC LIMIT 1", (patient_id, day.isoformat())).fetchone()
            if row is None:
                cursor = self._conn.execute(
                    "INSERT INTO consultations (patient_id, practitioner_id, day, started_at) "
                    "VALUES (?, ?, ?, ?)", (patient_id, practitioner_id, day.isoformat(), _now()))
                row = self._conn.execute("SELECT * FROM consultations WHERE id = ?",
                                         (cursor.lastrowid,)).fetchone()
        return self._consultation(row)

    def consultations(self, patient_id: str) -> list[Consultation]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT * FROM consultations WHERE patient_id = ? ORDER BY id DESC",
                (patient_id,)).fetchall()
        return [self._consultation(r) for r in rows]

    def add_summary_line(self, consultation_id: int, text: str) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT INTO summary_lines (consultation_id, text, written_at) VALUES (?, ?, ?)",
                (consultation_id, text, _now()))

    def summary(self, consultation_id: int) -> list[Note]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT * FROM summary_lines WHERE consultation_id = ? ORDER BY id",
                (consultation_id,)).fetchall()
        return [Note(r["issuance_id"], r["text"], datetime.fromisoformat(r["written_at"]))
                for r in rows]

    # -- the plugin's write-back ---------------------------------------------------------------

    def link_issuance(self, issuance_id: str, patient_id: str,
                      consultation_id: int | None) -> None:
        """Remember which consultation an issuance came from (its write-back goes there)."""
        with self._lock:
            self._conn.execute(
                "INSERT INTO issuance_links VALUES (?, ?, ?) ON CONFLICT(issuance_id) DO NOTHING",
                (issuance_id, patient_id, consultation_id))

    def linked_issuances(self, patient_id: str) -> list[str]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT issuance_id FROM issuance_links WHERE patient_id = ? ORDER BY rowid DESC",
                (patient_id,)).fetchall()
        return [r["issuance_id"] for r in rows]

    def consultation_of(self, issuance_id: str, patient_id: str) -> int | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT consultation_id FROM issuance_links WHERE issuance_id = ?",
                (issuance_id,)).fetchone()
            if row is not None and row["consultation_id"] is not None:
                return int(row["consultation_id"])
            latest = self._conn.execute(
                "SELECT id FROM consultations WHERE patient_id = ? ORDER BY id DESC LIMIT 1",
                (patient_id,)).fetchone()
        return int(latest["id"]) if latest else None

    def write_back(self, issuance_id: str, patient_id: str, note: str,
                   summary_line: str) -> int | None:
        """Write (or rewrite, on a repeated call) the record note and the summary line.

        :returns: the consultation the line went into (``None``: the patient has none).
        """
        consultation_id = self.consultation_of(issuance_id, patient_id)
        now = _now()
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.execute(
                    "INSERT INTO record_notes VALUES (?, ?, ?, ?) ON CONFLICT(issuance_id) "
                    "DO UPDATE SET text = excluded.text, written_at = excluded.written_at",
                    (issuance_id, patient_id, note, now))
                if consultation_id is not None:
                    self._conn.execute(
                        "INSERT INTO summary_lines (consultation_id, issuance_id, text, "
                        "written_at) VALUES (?, ?, ?, ?) ON CONFLICT(issuance_id) "
                        "DO UPDATE SET text = excluded.text",
                        (consultation_id, issuance_id, summary_line, now))
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
        return consultation_id

    def record_notes(self, patient_id: str) -> list[Note]:
        with self._lock:
            rows = self._conn.execute(
                # newest first by creation: a rewritten note (retry, expiry) keeps its place
                "SELECT * FROM record_notes WHERE patient_id = ? ORDER BY rowid DESC",
                (patient_id,)).fetchall()
        return [Note(r["issuance_id"], r["text"], datetime.fromisoformat(r["written_at"]))
                for r in rows]
