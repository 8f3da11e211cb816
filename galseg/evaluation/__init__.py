"""
Evaluation of deblenders on scenes with known truth.

`evaluate` scores galseg next to photutils and SEP (used as their users
use them) on simulated scenes; `galseg.evaluation.metrics` holds the
metrics (mask AP, detection-level precision and recall, over- and
under-counts, pair recovery, flux errors), `galseg.evaluation.baselines`
the photutils and SEP baselines, `comparison_tables` the printed
comparison and `galseg.evaluation.plots` its figures.  The demo, the
documentation and the benchmarks share this one code path.
"""

from . import baselines as _baselines
from . import comparison as _comparison
from . import evaluate as _evaluate
from . import metrics as _metrics
from . import plots as _plots
from .baselines import *  # noqa: F401,F403
from .comparison import *  # noqa: F401,F403
from .evaluate import *  # noqa: F401,F403
from .metrics import *  # noqa: F401,F403
from .plots import *  # noqa: F401,F403

__all__ = (_baselines.__all__ + _comparison.__all__ + _evaluate.__all__
           + _metrics.__all__ + _plots.__all__)
