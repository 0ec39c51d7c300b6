"""Tests of the file-drop adapter (adapters/filedrop)."""
