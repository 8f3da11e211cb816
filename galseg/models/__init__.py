"""
Models shipped with galseg, and loading of any model by name or path.

``default/`` holds the bundled default model (config, weights and model
card), loaded by ``MaskRCNNDeblender()``; ``recipe/`` holds the
simulation and training configurations that produced it.  `load` takes
a model the way keras-hub's ``from_preset`` does: by the name of a
bundled preset or by the path of a saved model.
"""

import os
from pathlib import Path

__all__ = ['DEFAULT_MODEL_DIR', 'RECIPE_DIR', 'PRESETS', 'load',
           'model_directory']

#: where the bundled default model lives
DEFAULT_MODEL_DIR = Path(__file__).parent / 'default'

#: the configuration files that made the default model
RECIPE_DIR = Path(__file__).parent / 'recipe'

#: bundled models by name
PRESETS = {'default': DEFAULT_MODEL_DIR}

# the file that marks a model directory (see galseg.engine.io)
_CONFIG_FILE = 'config.json'


def model_directory(preset):
    """
    The directory of a saved model named by ``preset``.

    Parameters
    ----------
    preset : str or `~pathlib.Path`
        The name of a bundled model (a key of `PRESETS`, e.g.
        ``'default'``), the path of a model directory (``config.json``
        and ``model.weights.h5``), or the path of a training-run
        directory that holds one as ``model/``.

    Returns
    -------
    path : `~pathlib.Path`
        The model directory.

    Raises
    ------
    TypeError
        If ``preset`` is neither a string nor a path.
    FileNotFoundError
        If no model is found there.
    """
    if not isinstance(preset, (str, os.PathLike)):
        msg = ("model must be 'default', the path of a model or "
               f'training-run directory, or a MaskRCNN, got '
               f'{type(preset).__name__}')
        raise TypeError(msg)
    if isinstance(preset, str) and preset in PRESETS:
        path = PRESETS[preset]
        if not (path / _CONFIG_FILE).is_file():
            msg = (f'no {preset} model is installed (expected one in '
                   f'{path}); pass model= the path of a model directory '
                   'or of a training run')
            raise FileNotFoundError(msg)
        return path
    path = Path(preset)
    if not path.is_dir():
        msg = f'model directory {path} does not exist'
        raise FileNotFoundError(msg)
    if (path / _CONFIG_FILE).is_file():
        return path
    if (path / 'model' / _CONFIG_FILE).is_file():
        return path / 'model'
    msg = (f'{path} is neither a model directory ({_CONFIG_FILE} and '
           'weights) nor a training-run directory containing model/')
    raise FileNotFoundError(msg)


def load(preset='default'):
    """
    Load a trained model by preset name or path.

    Parameters
    ----------
    preset : str or `~pathlib.Path`, optional
        See `model_directory`: ``'default'`` (the bundled model), a
        model directory or a training-run directory.

    Returns
    -------
    model : `~galseg.engine.MaskRCNN`
        The model with its weights.

    Examples
    --------
    >>> from galseg.models import load
    >>> model = load('default')  # doctest: +SKIP
    >>> model.config.n_classes  # doctest: +SKIP
    2
    """
    from ..engine import load_model

    return load_model(model_directory(preset))
