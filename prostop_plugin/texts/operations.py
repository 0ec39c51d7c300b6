"""What the practice's staff and its IT admin read about the service: the backlog replay's
progress and summary, the statistics. French first, English on request; same keys in both."""

from __future__ import annotations

from prostop_plugin.models import Locale

__all__ = ["OPERATIONS", "duration_text", "operations_text"]

OPERATIONS: dict[Locale, dict[str, str]] = {
    "fr": {
        # backlog replay (prostop submit)
        "replay.progress": "Lecture des fichiers",
        "replay.line": "{done}/{total} fichiers lus ({percent} %), {rate} fichiers/s",
        "replay.title": "Reprise de l'historique",
        "replay.col.what": "",
        "replay.col.count": "Nombre",
        "replay.found": "Fichiers trouvés",
        "replay.too_old": "Antérieurs à la date demandée (non lus)",
        "replay.resumed": "Déjà lus avant l'interruption (non relus)",
        "replay.read": "Fichiers lus",
        "replay.not_relevant": "Sans rapport avec la COVID-19 (rien d'enregistré)",
        "replay.unreadable": "Illisibles (non enregistrés, voir ci-dessous)",
        "replay.events_stored": "Résultats COVID-19 enregistrés",
        "replay.events_known": "Résultats déjà enregistrés auparavant",
        "replay.waiting": "Demandes en attente de confirmation",
        "replay.not_eligible": "Non éligibles",
        "replay.other_states": "Autres demandes (code déjà remis, refusée…)",
        "replay.unreadable_title": "Fichiers illisibles et pourquoi :",
        "replay.interrupted": "Interrompu. Relancez la même commande pour reprendre : les "
        "fichiers déjà lus ne seront pas relus.",
        "replay.pending_hint": "Les demandes en attente se confirment dans la console ou avec "
        "« prostop pending list ».",
        # statistics
        "stats.period.week": "Semaine du",
        "stats.period.day": "Jour",
        "stats.offered": "Proposés",
        "stats.confirmed": "Confirmés",
        "stats.declined": "Non remis",
        "stats.not_eligible": "Non éligibles",
        "stats.issued": "Codes obtenus",
        "stats.validity_passed": "Validité dépassée",
        "stats.failed": "Échecs",
        "stats.median": "Délai médian résultat → code",
        "stats.total": "Total",
        "stats.none": "Aucune activité enregistrée sur la période.",
        "stats.title": "Statistiques StopCovid du cabinet",
        "stats.lead": "Nombre de demandes par résultat et par {period}. Uniquement des "
        "comptages : aucune donnée de patient.",
        "stats.by.week": "semaine",
        "stats.by.day": "jour",
        "stats.chart": "Graphique : demandes par {period}",
        "stats.table": "Tableau : demandes par {period} (mêmes données que le graphique)",
        "stats.notes": "« Validité dépassée » : la validité du code est passée ; le module ne "
        "peut pas savoir si le patient l'a saisi dans l'application. « Échecs » : demande de "
        "code ou enregistrement au dossier en échec, même réussi ensuite. Délai médian : de "
        "l'arrivée du résultat au code.",
        "stats.since": "Depuis le",
        "stats.show": "Afficher",
        "stats.grouping": "Par",
        "stats.download": "Télécharger (CSV)",
        "minutes": "{value} min",
    },
    "en": {
        "replay.progress": "Reading files",
        "replay.line": "{done}/{total} files read ({percent} %), {rate} files/s",
        "replay.title": "Backlog replay",
        "replay.col.what": "",
        "replay.col.count": "Count",
        "replay.found": "Files found",
        "replay.too_old": "Older than the date asked (not read)",
        "replay.resumed": "Read before the interruption (not read again)",
        "replay.read": "Files read",
        "replay.not_relevant": "Not about COVID-19 (nothing stored)",
        "replay.unreadable": "Unreadable (not stored, see below)",
        "replay.events_stored": "COVID-19 results stored",
        "replay.events_known": "Results stored before",
        "replay.waiting": "Requests waiting for confirmation",
        "replay.not_eligible": "Not eligible",
        "replay.other_states": "Other requests (code already given, declined…)",
        "replay.unreadable_title": "Unreadable files and why:",
        "replay.interrupted": "Interrupted. Run the same command again to resume: the files "
        "already read will not be read again.",
        "replay.pending_hint": "Confirm the waiting requests in the console or with 'prostop "
        "pending list'.",
        "stats.period.week": "Week of",
        "stats.period.day": "Day",
        "stats.offered": "Offered",
        "stats.confirmed": "Confirmed",
        "stats.declined": "Declined",
        "stats.not_eligible": "Not eligible",
        "stats.issued": "Codes issued",
        "stats.validity_passed": "Validity passed",
        "stats.failed": "Failed",
        "stats.median": "Median time result → code",
        "stats.total": "Total",
        "stats.none": "No activity recorded in this period.",
        "stats.title": "The practice's StopCovid statistics",
        "stats.lead": "Requests per outcome and {period}. Counts only: no patient data.",
        "stats.by.week": "week",
        "stats.by.day": "day",
        "stats.chart": "Chart: requests per {period}",
        "stats.table": "Table: requests per {period} (the chart's data)",
        "stats.notes": "'Validity passed': the code's validity is over; the plugin cannot "
        "know whether the patient entered it in the app. 'Failed': the code request or the "
        "write-back into the record failed, even if a retry succeeded. Median time: from the "
        "result's arrival to the code.",
        "stats.since": "Since",
        "stats.show": "Show",
        "stats.grouping": "By",
        "stats.download": "Download (CSV)",
        "minutes": "{value} min",
    },
}


def operations_text(key: str, locale: Locale, **values: object) -> str:
    return OPERATIONS[locale][key].format(**values)


def duration_text(seconds: float | None, locale: Locale) -> str:
    """A delay as people say it: ``< 1 min``, ``12 min``, ``2 h 05``, ``3 j 4 h`` (``3 d 4 h``);
    ``–`` when there is none."""
    if seconds is None:
        return "–"
    minutes = int(seconds // 60)
    if minutes < 1:
        return "< 1 min"
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes:02d}"
    days, hours = divmod(hours, 24)
    return f"{days} {'j' if locale == 'fr' else 'd'} {hours} h"
