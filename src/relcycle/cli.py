"""The ``relcycle`` command line (the imperative shell around the library).

Exit codes: 0 success, 1 bad input data (every problem is listed on stderr and no
output is written), 2 a usage error. No traceback reaches the user for bad data.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from . import __version__
from .errors import InputError, RelcycleError, UsageError

__all__ = ["build_parser", "main"]

#: The machines ``relcycle diagram`` can draw: name -> "module:attribute" of a TransitionTable.
DIAGRAMS: dict[str, str] = {
    "lifecycle": "relcycle.lifecycle:TABLE",
    "ladder": "relcycle.ladder:TABLE",
}


def _cmd_diagram(args: argparse.Namespace) -> int:
    module_name, attr = DIAGRAMS[args.machine].split(":")
    table = getattr(importlib.import_module(module_name), attr)
    text = table.to_mermaid() if args.format == "mermaid" else table.to_dot()
    sys.stdout.write(text)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser of the ``relcycle`` command."""
    parser = argparse.ArgumentParser(
        prog="relcycle",
        description="Model how a supplier wins, keeps and loses its business clients.",
    )
    parser.add_argument("--version", action="version", version=f"relcycle {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    diagram = sub.add_parser(
        "diagram",
        help="print a state machine as a Mermaid or Graphviz diagram",
        description="Print the lifecycle or the ladder as a diagram (text, no dependency).",
    )
    diagram.add_argument("machine", choices=sorted(DIAGRAMS))
    diagram.add_argument("--format", choices=("mermaid", "dot"), default="mermaid")
    diagram.set_defaults(func=_cmd_diagram)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        code: int = args.func(args)
    except UsageError as exc:
        print(f"relcycle: error: {exc}", file=sys.stderr)
        return 2
    except InputError as exc:
        print(f"relcycle: {exc}", file=sys.stderr)
        return 1
    except RelcycleError as exc:
        print(f"relcycle: error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # pragma: no cover - `relcycle ... | head`
        return 0
    return code
