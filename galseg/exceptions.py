"""Warnings galseg gives."""

from astropy.utils.exceptions import AstropyUserWarning

__all__ = ['CrowdedTilesWarning']


class CrowdedTilesWarning(AstropyUserWarning):
    """
    Tiles looked more crowded than the model was trained for.

    The network answered such a tile with one detection spanning it
    instead of its sources; `~galseg.MaskRCNNDeblender` drops that
    detection, and sources there are likely missed.
    """
