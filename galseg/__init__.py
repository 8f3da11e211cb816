"""
galseg: deblending overlapping galaxies with Mask R-CNN.

The main entry point is `MaskRCNNDeblender`, a photutils-like finder
that returns a `~photutils.segmentation.SegmentationImage` and a source
catalog.  The subpackages hold the neural network (`galseg.engine`), the
GalSim blend simulator (`galseg.simulate`), the training tools
(`galseg.train`) and the evaluation against photutils and SEP
(`galseg.evaluation`).
"""

try:
    from ._version import version as __version__
except ImportError:  # running from a source tree that was never built
    from importlib.metadata import PackageNotFoundError, version

    try:
        __version__ = version('galseg')
    except PackageNotFoundError:
        __version__ = '0.0.dev0'

from .exceptions import *  # noqa: F401,F403
from .normalization import *  # noqa: F401,F403

__all__ = ['__version__', 'MaskRCNNDeblender', 'DeblendResult']
__all__ += exceptions.__all__  # noqa: F405
__all__ += normalization.__all__  # noqa: F405


def __getattr__(name):
    # The deblender imports TensorFlow; keep ``import galseg`` light and
    # load it only when it is asked for.
    if name in ('MaskRCNNDeblender', 'DeblendResult'):
        from . import deblender

        return getattr(deblender, name)
    msg = f'module {__name__!r} has no attribute {name!r}'
    raise AttributeError(msg)
