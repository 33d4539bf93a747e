"""The client-base stages of seed 004: new, regular, partner (and lost, none).

The text on departing managers describes how a supplier's client base develops:
clients who have bought, then the "regular" clients "whose orders are
predictable", then the "partner / golden client" who invests in developing the
business together and recommends the supplier. The relationship ladder already
holds those steps as rungs (``buyer``, ``customer``, ``advocate`` and above), and
its customer rung reads the report's rule of regular buying. So the client-base
stage is not a second set of rules: it is read from the ladder's rung and the
regularity verdict, first match wins:

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

from typing import Final

import attrs

from relcycle._decimal import in_own_context
from relcycle._vocab import Vocab
from relcycle.evidence import Evidence
from relcycle.ladder import LadderAssessment, Rung
from relcycle.segmentation.regularity import Regularity, RegularityAssessment

__all__ = ["STAGE_OF_RUNG", "ClientStage", "ClientStageAssessment", "client_stage"]


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
    rung = ladder.rung
    if not ladder.active:
        lead = f"left the client base as a {rung.value}: "
        return ClientStageAssessment(ClientStage.lost, _because(lead, ladder.evidence))
    by_rung = STAGE_OF_RUNG.get(rung)
    if by_rung is ClientStage.partner or by_rung is ClientStage.regular:
        return ClientStageAssessment(by_rung, _because(f"{rung.value}: ", ladder.evidence))
    if regularity.regularity is Regularity.regular:
        return ClientStageAssessment(
            ClientStage.regular, _because("buys regularly: ", regularity.evidence)
        )
    if by_rung is ClientStage.new:
        return ClientStageAssessment(by_rung, _because("buyer: ", ladder.evidence))
    if regularity.regularity is not Regularity.none:
        lead = "has bought once: " if regularity.regularity is Regularity.one_off else ""
        return ClientStageAssessment(ClientStage.new, _because(lead, regularity.evidence))
    # the regularity's own words: "no sale" (in its window, if it has one)
    return ClientStageAssessment(ClientStage.none, regularity.evidence)


def _because(lead: str, evidence: Evidence) -> Evidence:
    return Evidence(lead + evidence.reason, evidence.record_ids)
