"""``python -m relcycle``: the same as the ``relcycle`` command."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
