"""The policy's code lists are read by content every time: a list replaced or changed in place
after a first reading is what the next reading uses (the sets built from them are cached by
content, never by the list's identity)."""

from __future__ import annotations

from prostop_plugin.eligibility import EligibilityPolicy
from prostop_plugin.eligibility.reading import LabCategory, category_of, upper_set


def test_a_list_changed_in_place_is_read_anew() -> None:
    policy = EligibilityPolicy()
    assert category_of("99999-9", policy) is LabCategory.OTHER
    policy.naat_loinc.append(" 99999-9 ")
    assert category_of("99999-9", policy) is LabCategory.NAAT
    policy.naat_loinc.remove(" 99999-9 ")
    assert category_of("99999-9", policy) is LabCategory.OTHER


def test_a_replaced_list_is_read_anew() -> None:
    policy = EligibilityPolicy()
    changed = policy.model_copy(update={"antigen_loinc": ["12345-6"]})
    assert category_of("12345-6", changed) is LabCategory.ANTIGEN
    assert category_of("12345-6", policy) is LabCategory.OTHER


def test_upper_set_is_upper_text() -> None:
    assert upper_set([" ab ", "Cd", "cd"]) == frozenset({"AB", "CD"})
    assert upper_set(()) == frozenset()
