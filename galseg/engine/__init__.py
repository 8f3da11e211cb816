"""
The Mask R-CNN engine: Keras 3 (TensorFlow backend) model, its parts,
targets, losses, and saving.
"""

from . import anchors as _anchors
from . import boxes as _boxes
from . import config as _config
from . import io as _io
from . import model as _model
from . import roi_align as _roi_align
from .anchors import *  # noqa: F401,F403
from .boxes import *  # noqa: F401,F403
from .config import *  # noqa: F401,F403
from .io import *  # noqa: F401,F403
from .model import *  # noqa: F401,F403
from .roi_align import *  # noqa: F401,F403

__all__ = (_anchors.__all__ + _boxes.__all__ + _config.__all__
           + _io.__all__ + _model.__all__ + _roi_align.__all__)
