"""relcycle: how a supplier wins, keeps and loses its business clients.

The public API is re-exported here; the work lives in the submodules
(:mod:`relcycle.model`, :mod:`relcycle.history`, :mod:`relcycle.machine`, ...).
``import relcycle`` needs only ``attrs`` and ``python-dateutil``; optional
features import their extras when they are used.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from .errors import (
    ConflictError,
    CurrencyMismatchError,
    DefinitionError,
    DuplicateIdError,
    IllegalTransitionError,
    InputError,
    Problem,
    RecordTypeError,
    RelcycleError,
    UnknownClientError,
    UsageError,
    ValidationError,
)
from .evidence import Evidence
from .history import ClientHistory, Portfolio, build_portfolio
from .machine import Step, Trajectory, TransitionTable
from .model import (
    Channel,
    Client,
    ClientKind,
    Complaint,
    ComplaintCategory,
    ComplaintStatus,
    ContactPerson,
    Direction,
    Escalation,
    FrozenMap,
    Interaction,
    LossReason,
    Money,
    Order,
    OrderStatus,
    Purpose,
    Severity,
    record_sort_key,
)

try:
    __version__ = version("relcycle")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

__all__ = [
    "Channel",
    "Client",
    "ClientHistory",
    "ClientKind",
    "Complaint",
    "ComplaintCategory",
    "ComplaintStatus",
    "ConflictError",
    "ContactPerson",
    "CurrencyMismatchError",
    "DefinitionError",
    "Direction",
    "DuplicateIdError",
    "Escalation",
    "Evidence",
    "FrozenMap",
    "IllegalTransitionError",
    "InputError",
    "Interaction",
    "LossReason",
    "Money",
    "Order",
    "OrderStatus",
    "Portfolio",
    "Problem",
    "Purpose",
    "RecordTypeError",
    "RelcycleError",
    "Severity",
    "Step",
    "Trajectory",
    "TransitionTable",
    "UnknownClientError",
    "UsageError",
    "ValidationError",
    "__version__",
    "build_portfolio",
    "record_sort_key",
]
