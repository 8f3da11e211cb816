"""
Training and evaluation of galseg deblenders.

`train` runs a training schedule on simulated data (checkpoints,
resume, TensorBoard logs, export with a model card); `evaluate` scores
galseg next to photutils and SEP on scenes with known truth, and
`comparison_tables` formats the comparison.
"""

from . import baselines as _baselines
from . import comparison as _comparison
from . import evaluate as _evaluate
from . import metrics as _metrics
from . import pipeline as _pipeline
from . import plots as _plots
from . import trainer as _trainer
from .baselines import *  # noqa: F401,F403
from .comparison import *  # noqa: F401,F403
from .evaluate import *  # noqa: F401,F403
from .metrics import *  # noqa: F401,F403
from .pipeline import *  # noqa: F401,F403
from .plots import *  # noqa: F401,F403
from .trainer import *  # noqa: F401,F403

__all__ = (_baselines.__all__ + _comparison.__all__ + _evaluate.__all__ + _metrics.__all__
           + _pipeline.__all__ + _plots.__all__ + _trainer.__all__)
