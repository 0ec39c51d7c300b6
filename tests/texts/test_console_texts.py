"""The console's catalog: the same keys and placeholders in French and English."""

from __future__ import annotations

import string

from prostop_plugin.texts.console import CONSOLE, console_text


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_french_and_english_have_the_same_keys_and_placeholders() -> None:
    assert CONSOLE["fr"].keys() == CONSOLE["en"].keys()
    for key, french in CONSOLE["fr"].items():
        assert placeholders(french) == placeholders(CONSOLE["en"][key]), key


def test_french_first_with_its_accents() -> None:
    assert console_text("fr", "login.psc") == "Se connecter avec Pro Santé Connect"
    assert console_text("fr", "code.valid_until", until="19/11/2020 à 15h32") \
        == "Valable jusqu'au 19/11/2020 à 15h32"
