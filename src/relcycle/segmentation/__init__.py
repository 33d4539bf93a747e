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
