"""Segmentation and client value: which clients a supplier has and what to do with each.

The work lives in the submodules; the public names are re-exported here.
"""

from __future__ import annotations

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

__all__ = [
    "DEFAULT_RFM_SEGMENTS",
    "OTHERS",
    "R_VIGNETTE_RFM_SEGMENTS",
    "RFMFigures",
    "RFMScore",
    "RFMSegmentRule",
    "rfm_figures",
    "rfm_figures_by_client",
    "rfm_scores",
]
