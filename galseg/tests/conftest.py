"""Shared fixtures: a tiny Mask R-CNN trained once per test session."""

import numpy as np
import pytest

from .blobs import make_blob_batch

#: a model small enough to train in about half a minute on 2 CPU cores
TINY_CONFIG = dict(image_size=64, backbone_width=16, fpn_width=32,
                   box_head_width=64, mask_head_width=32,
                   pre_nms_proposals_train=300, post_nms_proposals_train=64,
                   rois_per_image=32, pre_nms_proposals_test=200,
                   post_nms_proposals_test=50, max_instances=4)


@pytest.fixture(scope='session')
def tiny_training():
    """
    A tiny model trained on 48 scenes of one to three overlapping blobs.

    Returns a dict with the ``model``, the Keras ``history`` and the
    training ``data``.
    """
    import keras
    import tensorflow as tf

    from galseg.engine import MaskRCNN, MaskRCNNConfig

    # the same tiny model in every session, whatever the thread timing
    tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(0)
    data = make_blob_batch(48, seed=1, n_blobs=(1, 3))
    model = MaskRCNN(MaskRCNNConfig(**TINY_CONFIG))
    model.compile(optimizer=keras.optimizers.Adam(2e-3, clipnorm=5.0))
    history = model.fit(data, batch_size=8, epochs=25, verbose=0,
                        shuffle=True)
    return {'model': model, 'history': history.history, 'data': data}


@pytest.fixture(scope='session')
def tiny_model_dir(tiny_training, tmp_path_factory):
    """The tiny trained model saved as a model directory."""
    from galseg.engine import save_model

    directory = tmp_path_factory.mktemp('models') / 'tiny'
    save_model(tiny_training['model'], directory,
               model_card={'description': 'test model trained on blobs'})
    return directory


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture(scope='session')
def simulated_datasets(tmp_path_factory):
    """Small simulated training and validation sets (64 px, 1 band)."""
    from galseg.simulate import SimulationConfig, simulate_dataset

    config = SimulationConfig(stamp_size=64, n_sources=(1, 3),
                              half_light_radius=(0.2, 0.8), snr=(30, 300))
    root = tmp_path_factory.mktemp('simulated')
    train = simulate_dataset(config, 24, seed=11, out_dir=root / 'train',
                             shard_size=12)
    val = simulate_dataset(config, 8, seed=12, out_dir=root / 'val')
    return {'train': train.path, 'val': val.path}
