"""Where the tests' own data lives, whichever folder a test module sits in."""

from pathlib import Path

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
