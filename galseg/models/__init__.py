"""
Models shipped with galseg.

``default/`` holds the bundled default model (config, weights and model
card), loaded by ``MaskRCNNDeblender()``; ``recipe/`` holds the
simulation and training configurations that produced it.
"""

from pathlib import Path

__all__ = ['DEFAULT_MODEL_DIR', 'RECIPE_DIR']

#: where the bundled default model lives
DEFAULT_MODEL_DIR = Path(__file__).parent / 'default'

#: the configuration files that made the default model
RECIPE_DIR = Path(__file__).parent / 'recipe'
