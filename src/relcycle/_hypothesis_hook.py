"""The hypothesis entry point, kept free of any hypothesis import.

Importing hypothesis runs every ``hypothesis`` entry point. When a program
imports :mod:`relcycle.testing` first, that module imports hypothesis, which
then looks the hook up on the half-imported :mod:`relcycle.testing`: the hook
must already be there, so it lives here and is imported first.
"""

from __future__ import annotations

import sys

__all__: list[str] = []


def _hypothesis_setup_hook() -> None:
    """Register relcycle's strategies for :func:`hypothesis.strategies.from_type`.

    Returns:
        None.
    """
    module = sys.modules.get("relcycle.testing")
    if module is None:
        import relcycle.testing  # noqa: F401  # its import ends by registering

        return
    register = getattr(module, "_register", None)
    if register is not None:
        register()
    # Otherwise relcycle.testing is importing hypothesis right now; it registers
    # the strategies when its own import finishes.
