"""relcycle: how a supplier wins, keeps and loses its business clients.

The public API is re-exported here; the work lives in the submodules
(:mod:`relcycle.model`, :mod:`relcycle.history`, :mod:`relcycle.machine`, ...).
``import relcycle`` needs only ``attrs`` and ``python-dateutil`` and loads only
the core (records, histories, state machines, errors); the models, readers and
the report load on first use of one of their names, and optional features
import their extras when they are used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import (
    BudgetError,
    ConflictError,
    CurrencyMismatchError,
    DefinitionError,
    DuplicateIdError,
    IllegalTransitionError,
    InputError,
    OutputError,
    Problem,
    RecordTypeError,
    RelcycleError,
    StoreError,
    UnknownClientError,
    UsageError,
    ValidationError,
)
from .evidence import (
    Evidence,
)
from .history import (
    ClientHistory,
    Portfolio,
    build_portfolio,
)
from .machine import (
    Decision,
    Emitter,
    Machine,
    MachineRun,
    MachineState,
    Occurrence,
    Step,
    Timer,
    Trajectory,
    TransitionTable,
    Trigger,
)
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

if TYPE_CHECKING:
    from .accounts import (
        Manager,
        compare_plans,
        contact_value,
        guide_plan,
        relay_plan,
    )
    from .funnel import (
        FunnelPlan,
        FunnelPolicy,
        FunnelStage,
        Quota,
        assess_funnel,
        funnel_plan_vs_actual,
        funnel_summary,
    )
    from .io import (
        LoadResult,
        ParseOptions,
        load_arrow,
        load_history,
        load_records,
        write_history,
    )
    from .ladder import (
        Competency,
        LadderAssessment,
        LadderEvent,
        LadderPolicy,
        NextStep,
        Rung,
    )
    from .lifecycle import (
        LifecycleAssessment,
        LifecycleEvent,
        LifecyclePolicy,
        LossAnalysis,
        Stage,
        loss_analysis,
    )
    from .migration import (
        MigrationMatrix,
        migration_matrix,
    )
    from .policy import (
        load_policies,
        policies_to_toml,
    )
    from .report import (
        Cell,
        ClientReport,
        Column,
        Report,
        ReportPolicies,
        build_report,
    )
    from .segmentation import (
        DEFAULT_PLAYBOOK,
        Action,
        CostRates,
        MotivationSegment,
        Playbook,
        Regularity,
        RiskFlag,
        ValueClass,
        abc_classes,
        assess_regularity,
        assess_risks,
        classify_motivation,
        cost_to_serve,
        key_person_whatif,
        rfm_figures,
        rfm_scores,
        top_share,
    )
    from .simulate import simulate_portfolio
    from .store import ingest

#: Public names loaded on first use: name -> submodule.
_LAZY: dict[str, str] = {
    "Action": "segmentation",
    "Cell": "report",
    "ClientReport": "report",
    "Column": "report",
    "FunnelPlan": "funnel",
    "FunnelPolicy": "funnel",
    "FunnelStage": "funnel",
    "Quota": "funnel",
    "assess_funnel": "funnel",
    "funnel_plan_vs_actual": "funnel",
    "funnel_summary": "funnel",
    "Competency": "ladder",
    "CostRates": "segmentation",
    "DEFAULT_PLAYBOOK": "segmentation",
    "LadderAssessment": "ladder",
    "LadderEvent": "ladder",
    "LadderPolicy": "ladder",
    "LifecycleAssessment": "lifecycle",
    "LifecycleEvent": "lifecycle",
    "LifecyclePolicy": "lifecycle",
    "LoadResult": "io",
    "LossAnalysis": "lifecycle",
    "Manager": "accounts",
    "MigrationMatrix": "migration",
    "MotivationSegment": "segmentation",
    "NextStep": "ladder",
    "ParseOptions": "io",
    "Playbook": "segmentation",
    "Regularity": "segmentation",
    "Report": "report",
    "ReportPolicies": "report",
    "RiskFlag": "segmentation",
    "Rung": "ladder",
    "Stage": "lifecycle",
    "ValueClass": "segmentation",
    "abc_classes": "segmentation",
    "assess_regularity": "segmentation",
    "assess_risks": "segmentation",
    "build_report": "report",
    "classify_motivation": "segmentation",
    "compare_plans": "accounts",
    "contact_value": "accounts",
    "cost_to_serve": "segmentation",
    "guide_plan": "accounts",
    "key_person_whatif": "segmentation",
    "load_arrow": "io",
    "load_history": "io",
    "load_records": "io",
    "load_policies": "policy",
    "loss_analysis": "lifecycle",
    "migration_matrix": "migration",
    "policies_to_toml": "policy",
    "relay_plan": "accounts",
    "rfm_figures": "segmentation",
    "rfm_scores": "segmentation",
    "simulate_portfolio": "simulate",
    "ingest": "store",
    "top_share": "segmentation",
    "write_history": "io",
}


def __getattr__(name: str) -> Any:
    """Load a lazily exported name (PEP 562) and cache it in the module."""
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            value: Any = version("relcycle")
        except PackageNotFoundError:  # pragma: no cover - running from a source tree
            value = "0+unknown"
    elif name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    else:
        raise AttributeError(f"module 'relcycle' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__version__: str
__all__ = [
    "DEFAULT_PLAYBOOK",
    "Action",
    "BudgetError",
    "Cell",
    "Channel",
    "Client",
    "ClientHistory",
    "ClientKind",
    "ClientReport",
    "Column",
    "Competency",
    "Complaint",
    "ComplaintCategory",
    "ComplaintStatus",
    "ConflictError",
    "ContactPerson",
    "CostRates",
    "CurrencyMismatchError",
    "Decision",
    "DefinitionError",
    "Direction",
    "DuplicateIdError",
    "Emitter",
    "Escalation",
    "Evidence",
    "FrozenMap",
    "FunnelPlan",
    "FunnelPolicy",
    "FunnelStage",
    "IllegalTransitionError",
    "InputError",
    "Interaction",
    "LadderAssessment",
    "LadderEvent",
    "LadderPolicy",
    "LifecycleAssessment",
    "LifecycleEvent",
    "LifecyclePolicy",
    "LoadResult",
    "LossAnalysis",
    "LossReason",
    "Machine",
    "MachineRun",
    "MachineState",
    "Manager",
    "MigrationMatrix",
    "Money",
    "MotivationSegment",
    "NextStep",
    "Occurrence",
    "Order",
    "OrderStatus",
    "OutputError",
    "ParseOptions",
    "Playbook",
    "Portfolio",
    "Problem",
    "Purpose",
    "Quota",
    "RecordTypeError",
    "Regularity",
    "RelcycleError",
    "Report",
    "ReportPolicies",
    "RiskFlag",
    "Rung",
    "Severity",
    "Stage",
    "Step",
    "StoreError",
    "Timer",
    "Trajectory",
    "TransitionTable",
    "Trigger",
    "UnknownClientError",
    "UsageError",
    "ValidationError",
    "ValueClass",
    "__version__",
    "abc_classes",
    "assess_funnel",
    "assess_regularity",
    "assess_risks",
    "build_portfolio",
    "build_report",
    "classify_motivation",
    "compare_plans",
    "contact_value",
    "cost_to_serve",
    "funnel_plan_vs_actual",
    "funnel_summary",
    "guide_plan",
    "ingest",
    "key_person_whatif",
    "load_arrow",
    "load_history",
    "load_policies",
    "load_records",
    "loss_analysis",
    "migration_matrix",
    "policies_to_toml",
    "record_sort_key",
    "relay_plan",
    "rfm_figures",
    "rfm_scores",
    "simulate_portfolio",
    "top_share",
    "write_history",
]
