"""Where the shared corpus is.

CI lays ``shared/`` beside the clone, and the tests read ``../shared/corpus`` there. A bare clone
elsewhere (a temporary folder) has no ``shared/``: the tests then read the snapshot committed in
``tests/shared_corpus/``, and ``test_the_snapshot_is_the_shared_corpus`` fails the moment the
two differ wherever both exist, so the snapshot can never drift unnoticed.
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_CORPUS = REPO.parent / "shared" / "corpus"
SNAPSHOT = REPO / "tests" / "shared_corpus"
CORPUS = SHARED_CORPUS if SHARED_CORPUS.is_dir() else SNAPSHOT
