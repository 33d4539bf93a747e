"""Segmentation and client value: which clients a supplier has and what to do with each.

Pure functions of a client history (or a portfolio) and an explicit ``as_of``;
every verdict carries its :class:`~relcycle.evidence.Evidence`. The work lives in
the submodules; their public names are re-exported here:

* :mod:`relcycle.segmentation.motivation`: motivation segments (seed 003) and their policy;
* :mod:`relcycle.segmentation.playbook`: actions per segment, lifecycle stage and risk, as data;
* :mod:`relcycle.segmentation.value`: Pareto/ABC classes and the top-20% share;
* :mod:`relcycle.segmentation.rfm`: lifetimes' RFM figures, RFM scores and segments;
* :mod:`relcycle.segmentation.regularity`: regular, irregular, one-off buyers; overdue orders;
* :mod:`relcycle.segmentation.cost`: cost-to-serve and profit;
* :mod:`relcycle.segmentation.risks`: risk flags and the key-person what-if;
* :mod:`relcycle.segmentation.service`: service statistics (claims, wishes, requests, feedback);
* :mod:`relcycle.segmentation.plan`: planned versus actual sales.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .cost import (
        CostRates,
        CostToServe,
        cost_to_serve,
    )
    from .motivation import (
        AttributeRule,
        MotivationAssessment,
        MotivationPolicy,
        MotivationSegment,
        MotivationSignals,
        classify_motivation,
    )
    from .plan import (
        PlanRow,
        PlanVsActual,
        plan_vs_actual,
    )
    from .playbook import (
        DEFAULT_PLAYBOOK,
        STAGES,
        Action,
        Playbook,
        PriorityPolicy,
        Urgency,
    )
    from .regularity import (
        Regularity,
        RegularityAssessment,
        RegularityPolicy,
        assess_regularity,
    )
    from .rfm import (
        DEFAULT_RFM_SEGMENTS,
        OTHERS,
        R_VIGNETTE_RFM_SEGMENTS,
        RFMFigures,
        RFMScore,
        RFMSegmentRule,
        rfm_figures,
        rfm_figures_by_client,
        rfm_scores,
    )
    from .risks import (
        STAGE_RISKS,
        ClientAtRisk,
        KeyPersonWhatIf,
        Risk,
        RiskFlag,
        RiskPolicy,
        assess_risks,
        key_person_whatif,
    )
    from .service import (
        ClientServiceStats,
        DurationStats,
        ServiceStats,
        client_service,
        service_stats,
    )
    from .value import (
        ValueBasis,
        ValueClass,
        abc_classes,
        client_values,
        top_share,
        value_classes,
    )

# The names are loaded on first use (PEP 562), not when the package is imported:
# the lifecycle reads the regularity rule (relcycle.segmentation.regularity) and
# the risk flags read the lifecycle, so importing the lifecycle must not import
# every submodule of this package on the way.
_LAZY: dict[str, str] = {
    "Action": "playbook",
    "AttributeRule": "motivation",
    "ClientAtRisk": "risks",
    "ClientServiceStats": "service",
    "CostRates": "cost",
    "CostToServe": "cost",
    "DEFAULT_PLAYBOOK": "playbook",
    "DEFAULT_RFM_SEGMENTS": "rfm",
    "DurationStats": "service",
    "KeyPersonWhatIf": "risks",
    "MotivationAssessment": "motivation",
    "MotivationPolicy": "motivation",
    "MotivationSegment": "motivation",
    "MotivationSignals": "motivation",
    "OTHERS": "rfm",
    "PlanRow": "plan",
    "PlanVsActual": "plan",
    "Playbook": "playbook",
    "PriorityPolicy": "playbook",
    "RFMFigures": "rfm",
    "RFMScore": "rfm",
    "RFMSegmentRule": "rfm",
    "R_VIGNETTE_RFM_SEGMENTS": "rfm",
    "Regularity": "regularity",
    "RegularityAssessment": "regularity",
    "RegularityPolicy": "regularity",
    "Risk": "risks",
    "RiskFlag": "risks",
    "RiskPolicy": "risks",
    "STAGES": "playbook",
    "STAGE_RISKS": "risks",
    "ServiceStats": "service",
    "Urgency": "playbook",
    "ValueBasis": "value",
    "ValueClass": "value",
    "abc_classes": "value",
    "assess_regularity": "regularity",
    "assess_risks": "risks",
    "classify_motivation": "motivation",
    "client_service": "service",
    "client_values": "value",
    "cost_to_serve": "cost",
    "key_person_whatif": "risks",
    "plan_vs_actual": "plan",
    "rfm_figures": "rfm",
    "rfm_figures_by_client": "rfm",
    "rfm_scores": "rfm",
    "service_stats": "service",
    "top_share": "value",
    "value_classes": "value",
}


def __getattr__(name: str) -> Any:
    """Load a re-exported name from its submodule (PEP 562) and cache it here."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


__all__ = [
    "DEFAULT_PLAYBOOK",
    "DEFAULT_RFM_SEGMENTS",
    "OTHERS",
    "R_VIGNETTE_RFM_SEGMENTS",
    "STAGES",
    "STAGE_RISKS",
    "Action",
    "AttributeRule",
    "ClientAtRisk",
    "ClientServiceStats",
    "CostRates",
    "CostToServe",
    "DurationStats",
    "KeyPersonWhatIf",
    "MotivationAssessment",
    "MotivationPolicy",
    "MotivationSegment",
    "MotivationSignals",
    "PlanRow",
    "PlanVsActual",
    "Playbook",
    "PriorityPolicy",
    "RFMFigures",
    "RFMScore",
    "RFMSegmentRule",
    "Regularity",
    "RegularityAssessment",
    "RegularityPolicy",
    "Risk",
    "RiskFlag",
    "RiskPolicy",
    "ServiceStats",
    "Urgency",
    "ValueBasis",
    "ValueClass",
    "abc_classes",
    "assess_regularity",
    "assess_risks",
    "classify_motivation",
    "client_service",
    "client_values",
    "cost_to_serve",
    "key_person_whatif",
    "plan_vs_actual",
    "rfm_figures",
    "rfm_figures_by_client",
    "rfm_scores",
    "service_stats",
    "top_share",
    "value_classes",
]
