"""
Training of galseg deblenders.

`train` runs a training schedule on simulated data (checkpoints,
resume, TensorBoard logs, export with a model card); the input pipeline
(`training_dataset`) turns simulated scenes into training examples.
Evaluation lives in `galseg.evaluation`.
"""

from . import pipeline as _pipeline
from . import trainer as _trainer
from .pipeline import *  # noqa: F401,F403
from .trainer import *  # noqa: F401,F403

__all__ = _pipeline.__all__ + _trainer.__all__
