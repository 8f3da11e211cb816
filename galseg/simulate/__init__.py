"""
Simulated blends with truth, for training and testing deblenders.

`simulate_scene` draws one scene of overlapping galaxies (and stars)
with GalSim; `simulate_dataset` writes many of them to sharded HDF5
files, in parallel with Dask; `read_dataset` reads them back as NumPy
arrays.  Surveys (`get_survey`) give pixel scales, PSFs and noise, and
`add_noise` is the noise model of the simulator and of training.
"""

from .config import *  # noqa: F401,F403
from .dataset import *  # noqa: F401,F403
from .noise import *  # noqa: F401,F403
from .scene import *  # noqa: F401,F403
from .surveys import *  # noqa: F401,F403

from . import config, dataset, noise, scene, surveys

__all__ = []
__all__ += config.__all__
__all__ += dataset.__all__
__all__ += noise.__all__
__all__ += scene.__all__
__all__ += surveys.__all__
