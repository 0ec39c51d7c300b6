"""``python -m prostop_plugin.cli``: the ``prostop`` command."""

from prostop_plugin.cli import main

raise SystemExit(main())
