"""Saving and loading models: a directory with the config and weights."""

import json
from pathlib import Path

from ..utils import atomic_output, check_writable

__all__ = ['save_model', 'load_model', 'file_sha256', 'PRECISIONS',
           'CONFIG_FILE', 'WEIGHTS_FILE', 'MODEL_CARD_FILE']

CONFIG_FILE = 'config.json'
WEIGHTS_FILE = 'model.weights.h5'
MODEL_CARD_FILE = 'model_card.json'


def save_model(model, directory, model_card=None, overwrite=False):
    """
    Save a model as a directory holding its config and weights.

    Parameters
    ----------
    model : `~galseg.engine.MaskRCNN`
    directory : str or `~pathlib.Path`
        Created if needed.
    model_card : dict, optional
        How the model was made; written as ``model_card.json``, with the
        name and SHA-256 checksum of the weights file added
        (``weights_file``, ``weights_sha256``).
    overwrite : bool, optional
        Whether existing files may be replaced.

    Raises
    ------
    FileExistsError
        If the model files exist and ``overwrite`` is `False`.
    """
    directory = Path(directory)
    files = [directory / CONFIG_FILE, directory / WEIGHTS_FILE]
    if model_card is not None:
        files.append(directory / MODEL_CARD_FILE)
    for path in files:
        check_writable(path, overwrite)
    directory.mkdir(parents=True, exist_ok=True)
    with atomic_output(directory / WEIGHTS_FILE, overwrite) as tmp:
        weights_tmp = tmp.with_name(tmp.name + '.weights.h5')
        _weights_only(model).save_weights(weights_tmp)
        weights_tmp.replace(tmp)
        weights_sha256 = file_sha256(tmp)
    with atomic_output(directory / CONFIG_FILE, overwrite) as tmp:
        tmp.write_text(model.config.to_json())
    if model_card is not None:
        model_card = {**model_card, 'weights_file': WEIGHTS_FILE,
                      'weights_sha256': weights_sha256}
        with atomic_output(directory / MODEL_CARD_FILE, overwrite) as tmp:
            tmp.write_text(json.dumps(model_card, indent=2, default=str))


def file_sha256(path):
    """The SHA-256 checksum of a file, as a hex string."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, 'rb') as stream:
        for block in iter(lambda: stream.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def _weights_only(model):
    """The model without optimizer state: a compiled model would save
    its optimizer's slots along with its weights."""
    if getattr(model, 'optimizer', None) is None:
        return model
    from .model import MaskRCNN

    bare = MaskRCNN(model.config)
    bare.set_weights(model.get_weights())
    return bare


#: the ``precision`` values of `load_model`: the Keras dtype policy of each
PRECISIONS = {'float32': 'float32', 'bfloat16': 'mixed_bfloat16'}


def load_model(directory, precision='float32'):
    """
    Load a model saved by `save_model`.

    Parameters
    ----------
    directory : str or `~pathlib.Path`
    precision : {'float32', 'bfloat16'}, optional
        The precision the layers compute in: ``'bfloat16'`` (Keras'
        ``mixed_bfloat16`` policy: float32 weights, bfloat16 products)
        is faster on CPUs with AVX512-BF16 or AMX and on GPUs, and
        slower where bfloat16 is emulated.  The box arithmetic, the
        suppression and the outputs stay float32.

    Returns
    -------
    model : `~galseg.engine.MaskRCNN`

    Raises
    ------
    FileNotFoundError
        If the directory lacks the config or weights file.
    ValueError
        If ``precision`` is not one of `PRECISIONS`.
    """
    import keras

    from ..validation import check_choice
    from .config import MaskRCNNConfig
    from .model import MaskRCNN

    check_choice('precision', precision, tuple(PRECISIONS))

    directory = Path(directory)
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        if not (directory / name).is_file():
            msg = f'{directory} is not a galseg model directory: no {name}'
            raise FileNotFoundError(msg)
    config = MaskRCNNConfig.from_dict(
        json.loads((directory / CONFIG_FILE).read_text()))
    # the layers take the policy in force when they are made
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(PRECISIONS[precision])
    try:
        model = MaskRCNN(config)
    finally:
        keras.config.set_dtype_policy(previous)
    model.load_weights(directory / WEIGHTS_FILE)
    return model
