"""The client-base stages of seed 004: new, regular, partner (and lost, none).

The text on departing managers describes how a supplier's client base develops:
clients who have bought, then the "regular" clients "whose orders are
predictable", then the "partner / golden client" who invests in developing the
business together and recommends the supplier. The relationship ladder already
holds those steps as rungs (``buyer``, ``customer``, ``advocate`` and above), and
its customer rung reads the report's rule of regular buying. So the client-base
stage is not a second set of rules: it is read from the ladder's rung and the
regularity verdict, first match wins (declared once as a decision list,
:func:`client_stage_decision`):

- ``lost``: the ladder says the client left its active rungs (the lifecycle is
  ``lost``);
- ``partner``: the rung is ``advocate`` or ``expert``;
- ``regular``: the rung is ``customer``, or the client buys ``regular`` by the
  regularity rule (a regular buyer the lifecycle made an adversary still orders
  predictably);
- ``new``: the rung is ``buyer``, or the client has a sale (``one_off`` or
  ``irregular``) but stands on a lower rung;
- ``none``: no sale, not in the client base yet (regularity ``none``).

The evidence is that of the verdict the stage was read from: the ladder's (its
rung and the records that put it there) or the regularity's (the sales counted).
"""

from __future__ import annotations

import functools
from typing import Final

import attrs

from relcycle._decimal import in_own_context
from relcycle._vocab import Vocab
from relcycle.decisions import Case, DecisionList, bool_input, lookup, text, text_input
from relcycle.evidence import Evidence
from relcycle.ladder import LadderAssessment, Rung
from relcycle.segmentation.regularity import RegularityAssessment

__all__ = [
    "STAGE_OF_RUNG",
    "ClientStage",
    "ClientStageAssessment",
    "client_stage",
    "client_stage_decision",
]


class ClientStage(Vocab):
    """A client's stage in the client base (seed 004), earliest first; ``lost`` last."""

    none = "none"
    new = "new"
    regular = "regular"
    partner = "partner"
    lost = "lost"


#: The stage each rung of the ladder stands for (the rungs below ``buyer`` stand
#: for none: the stage then comes from the client's sales).
STAGE_OF_RUNG: Final = {
    Rung.buyer: ClientStage.new,
    Rung.customer: ClientStage.regular,
    Rung.advocate: ClientStage.partner,
    Rung.expert: ClientStage.partner,
}


@attrs.frozen
class ClientStageAssessment:
    """A client's client-base stage and why.

    Attributes:
        stage: The stage.
        evidence: The verdict it was read from, with its record ids.
    """

    stage: ClientStage
    evidence: Evidence


@in_own_context
def client_stage(
    *, ladder: LadderAssessment, regularity: RegularityAssessment
) -> ClientStageAssessment:
    """The client-base stage, read from the ladder and the regularity verdict.

    Args:
        ladder: The client's ladder assessment (:func:`relcycle.ladder.assess`).
        regularity: Its regularity assessment at the same moment
            (:func:`relcycle.segmentation.assess_regularity`).

    Returns:
        The stage with the evidence of the verdict it was read from (see the module).
    """
    stage, why, source = client_stage_decision().function(
        ladder.active,
        ladder.rung.value,
        ladder.evidence.reason,
        regularity.regularity.value,
        regularity.evidence.reason,
    )
    ids = (ladder if source == "ladder" else regularity).evidence.record_ids
    return ClientStageAssessment(_STAGES[stage], Evidence(why, ids))


_STAGES = {s.value: s for s in ClientStage}


@functools.cache
def client_stage_decision() -> DecisionList:
    """The client-base stage's rules (the module docs), declared once
    (:mod:`relcycle.decisions`).

    Inputs: ``active`` (the ladder's), ``rung`` (its value), ``rung_evidence``
    (the ladder's sentence), ``regularity`` (the verdict's value) and
    ``regularity_evidence`` (its sentence). Outputs: ``stage`` (the value),
    ``evidence`` (the sentence) and ``source`` (``ladder`` or ``regularity``:
    whose record ids the evidence cites).
    """
    active = bool_input("active")
    rung = text_input("rung")
    rung_why = text_input("rung_evidence")
    regularity = text_input("regularity")
    regularity_why = text_input("regularity_evidence")
    by_rung = lookup(rung, {r.value: s.value for r, s in STAGE_OF_RUNG.items()})
    ladder = "ladder"
    sales = "regularity"
    return DecisionList.define(
        "client_stage",
        inputs=(active, rung, rung_why, regularity, regularity_why),
        outputs={"stage": "text", "evidence": "text", "source": "text"},
        cases=[
            Case(
                ~active,
                stage="lost",
                evidence=text("left the client base as a ", rung, ": ", rung_why),
                source=ladder,
            ),
            Case(
                (by_rung == "partner") | (by_rung == "regular"),
                stage=by_rung,
                evidence=text(rung, ": ", rung_why),
                source=ladder,
            ),
            Case(
                regularity == "regular",
                stage="regular",
                evidence=text("buys regularly: ", regularity_why),
                source=sales,
            ),
            Case(
                by_rung == "new",
                stage="new",
                evidence=text("buyer: ", rung_why),
                source=ladder,
            ),
            Case(
                regularity == "one_off",
                stage="new",
                evidence=text("has bought once: ", regularity_why),
                source=sales,
            ),
            Case(regularity != "none", stage="new", evidence=regularity_why, source=sales),
            # the regularity's own words: "no sale" (in its window, if it has one)
            Case(None, stage="none", evidence=regularity_why, source=sales),
        ],
    )
