"""
The training input pipeline: simulated scenes to batches for the model.

Each scene is cropped to the model's input size and normalised with
`galseg.tiling.normalized_tile`, the very function the deblender
applies to every tile at inference (a scene smaller than the input is
padded as an image smaller than a tile is), and augmented with one of the 8 flips and
rotations of the square.  Example ``j`` of a training stream depends
only on ``(seed, j)``, so a resumed run sees exactly the examples an
uninterrupted run would have.
"""

import numpy as np

from ..simulate.noise import add_noise
from ..simulate.scene import detection_band_index as _detection_bands
from ..simulate.scene import make_footprints
from ..normalization import estimate_background_noise
from ..tiling import Tile, normalized_tile
from ..validation import check_number

__all__ = ['scene_to_example', 'training_dataset', 'validation_dataset',
           'example_signature', 'MIN_INSTANCE_PIXELS']

#: instances with fewer visible pixels after cropping are dropped
MIN_INSTANCE_PIXELS = 4


def _dihedral(array, k, axes):
    """Apply transform ``k`` (0-7) of the square's symmetry group."""
    array = np.rot90(array, k % 4, axes=axes)
    if k >= 4:
        array = np.flip(array, axis=axes[1])
    return array


def _crop_or_pad(array, size, offset, axes):
    """Cut ``array`` to ``size`` along ``axes`` from ``offset``, padding
    with zeros where it is smaller."""
    index = [slice(None)] * array.ndim
    pad = [(0, 0)] * array.ndim
    for axis, start in zip(axes, offset):
        length = array.shape[axis]
        if length >= size:
            index[axis] = slice(start, start + size)
        else:
            pad[axis] = (0, size - length)
    return np.pad(array[tuple(index)], pad)


def scene_to_example(scene, model_config, rng=None, augment=False,
                     fresh_noise=False, source_noise=True, noise_scale=1.0,
                     footprint_threshold=1.0, detection_band_index=None,
                     exclusive=False, footprint_core=0.0):
    """
    Turn a simulated scene into one training example.

    Parameters
    ----------
    scene : `~galseg.simulate.Scene`
        The scene, with ``image``, ``noiseless``, ``noise_sigma`` and
        ``footprints``.
    model_config : `~galseg.engine.MaskRCNNConfig`
        Gives the input size and the largest number of instances.
    rng : `numpy.random.Generator`, optional
        Draws the crop position, the augmentation and the fresh noise;
        without it the crop is centred and nothing random happens.
    augment : bool, optional
        Apply a random one of the 8 flips and 90-degree rotations.
    fresh_noise : bool, optional
        Replace the noise by a new realisation of the simulator's noise
        model (`galseg.simulate.add_noise`): the sky's ``noise_sigma``
        plus, with ``source_noise``, the sources' Poisson noise, with the
        scene's ``noise_correlation``.
    source_noise : bool, optional
        Whether the fresh noise includes the sources' Poisson noise, as
        the simulation's ``source_noise`` setting says.
    noise_scale : float, optional
        In [0, 1]: show the scene as a deeper image would, with the
        fresh noise multiplied by ``noise_scale`` (the sky noise and the
        Poisson noise alike, as an exposure ``noise_scale ** -2`` times
        longer) and the truth footprints drawn again where each isolated
        source exceeds ``footprint_threshold`` times the scaled noise
        (`galseg.simulate.scene.make_footprints`), so they follow the same
        definition as at the simulated depth.  The faint population
        (``scene.faint``) is scaled by ``noise_scale`` too and stays
        below the detection limit, as it is not in the truth.  0 shows
        the noiseless image, its footprints drawn at the noise that
        `~galseg.normalization.estimate_background_noise` finds in the
        crop the network sees (the noise its input is in units of;
        noiseless images have no other).  Needs ``fresh_noise``.
    footprint_threshold : float, optional
        The simulation's ``footprint_threshold``, used with
        ``noise_scale`` < 1.
    detection_band_index : list of int, optional
        The simulation's detection bands (indices), used with
        ``noise_scale`` < 1; by default every band.
    exclusive : bool, optional
        Give each pixel of the footprints (the simulated ones, or those
        drawn again for ``noise_scale`` < 1) to one source only, the
        brightest there in the noiseless image of each source alone (in
        the detection bands): the footprints of overlapping sources are
        disjoint, as the segments of a deblended segmentation image are.
        Without it, the footprints of a close pair overlap, and at a low
        ``noise_scale`` they (and their boxes) are nearly the same.
    footprint_core : float, optional
        With ``exclusive``, each source keeps the pixels of its own
        footprint within this many PSF FWHM of its brightest pixel (the
        nearest source's, where such cores meet) before the rest goes
        to the source brightest there: the fainter member of a close
        pair, brightest nowhere near its centre, otherwise gets no
        footprint or one off its centre.  0 (the default) for none.

    Returns
    -------
    example : dict of `~numpy.ndarray`
        ``images`` (size, size, n_bands), ``gt_boxes``
        (max_instances, 4), ``gt_classes`` (max_instances,) and
        ``gt_masks`` (max_instances, size, size), zero-padded.  When a
        scene has more instances than ``max_instances``, the largest are
        kept.
    """
    from ..engine.boxes import masks_to_boxes

    if (augment or fresh_noise) and rng is None:
        msg = 'augment and fresh_noise need a random generator (rng)'
        raise ValueError(msg)
    if scene.image.shape[0] != model_config.n_bands:
        msg = (f'the scenes have {scene.image.shape[0]} bands but the '
               f'model takes {model_config.n_bands}')
        raise ValueError(msg)
    if not 0 <= noise_scale <= 1:
        msg = f'noise_scale must be in [0, 1], got {noise_scale}'
        raise ValueError(msg)
    footprint_core = check_number('footprint_core', footprint_core,
                                  minimum=0)
    if noise_scale < 1 and not fresh_noise:
        msg = 'noise_scale < 1 needs fresh_noise'
        raise ValueError(msg)
    image = scene.image
    footprints = scene.footprints
    if fresh_noise:
        signal = scene.noiseless
        if noise_scale < 1 and scene.faint is not None:
            signal = signal - (1 - noise_scale) * scene.faint
        image = add_noise(signal, scene.noise_sigma, rng, source_noise,
                          scene.noise_correlation)
        if noise_scale < 1:
            image = signal + noise_scale * (image - signal)
    size = model_config.image_size
    ny, nx = image.shape[1:]
    if rng is None:
        offset = (max(ny - size, 0) // 2, max(nx - size, 0) // 2)
    else:
        offset = (int(rng.integers(0, max(ny - size, 0) + 1)),
                  int(rng.integers(0, max(nx - size, 0) + 1)))
    crop = Tile(0, offset[0], offset[1], size,
                (offset[0], offset[1], offset[0] + size, offset[1] + size))
    if fresh_noise and noise_scale < 1:
        if detection_band_index is None:
            detection_band_index = list(range(scene.n_bands))
        noise = noise_scale * np.asarray(scene.noise_sigma)
        if noise_scale == 0:
            # the noise normalized_tile estimates in the crop
            noise = estimate_background_noise(
                image[(slice(None), *crop.slices)])[1].ravel()
        footprints = make_footprints(scene.isolated, noise,
                                     footprint_threshold,
                                     detection_band_index)
    if exclusive and len(footprints):
        footprints = _exclusive_footprints(scene, footprints,
                                           detection_band_index,
                                           footprint_core)
    normalized = normalized_tile(image, np.zeros(image.shape, dtype=bool),
                                 crop)
    masks = _crop_or_pad(np.asarray(footprints, bool), size, offset,
                         (1, 2))
    classes = np.asarray(scene.classes, np.int32)
    if augment:
        k = int(rng.integers(8))
        normalized = _dihedral(normalized, k, (0, 1))
        masks = _dihedral(masks, k, (1, 2))

    area = masks.sum(axis=(1, 2))
    keep = np.flatnonzero(area >= MIN_INSTANCE_PIXELS)
    keep = keep[np.argsort(-area[keep], kind='stable')]
    keep = np.sort(keep[:model_config.max_instances])
    n_max = model_config.max_instances
    example = {
        'images': np.ascontiguousarray(normalized, np.float32),
        'gt_boxes': np.zeros((n_max, 4), np.float32),
        'gt_classes': np.zeros(n_max, np.int32),
        'gt_masks': np.zeros((n_max, size, size), np.uint8),
    }
    example['gt_boxes'][:len(keep)] = masks_to_boxes(masks[keep])
    example['gt_classes'][:len(keep)] = classes[keep]
    example['gt_masks'][:len(keep)] = masks[keep]
    return example


def _exclusive_footprints(scene, footprints, detection_band_index=None,
                          core=0.0):
    """Each pixel of ``footprints`` to the source brightest there, but
    the ``core`` of each (see `scene_to_example`)."""
    if detection_band_index is None:
        detection_band_index = list(range(scene.n_bands))
    brightness = scene.isolated[:, detection_band_index].sum(1)
    index = np.arange(len(footprints))[:, None, None]
    exclusive = footprints & (index == np.argmax(brightness, axis=0))
    if core <= 0:
        return exclusive
    radius = core * float(np.mean(np.asarray(scene.psf_fwhm)
                                  [detection_band_index]))
    reach = int(np.ceil(radius))
    ny, nx = brightness.shape[1:]
    distance = np.full(footprints.shape, np.inf)
    for i, (footprint, image) in enumerate(zip(footprints, brightness)):
        # only the window around the brightest pixel: this runs for
        # every training example
        py, px = np.unravel_index(np.argmax(image), image.shape)
        window = (slice(max(py - reach, 0), min(py + reach + 1, ny)),
                  slice(max(px - reach, 0), min(px + reach + 1, nx)))
        yy, xx = np.mgrid[window]
        near = np.hypot(yy - py, xx - px)
        distance[i][window] = np.where(footprint[window] & (near <= radius),
                                       near, np.inf)
    in_core = np.isfinite(distance).any(axis=0)
    cores = in_core & (index == np.argmin(distance, axis=0))
    return np.where(in_core, cores, exclusive)


def example_signature(model_config):
    """The `tf.TensorSpec` of each field of an example."""
    import tensorflow as tf

    size, n_max = model_config.image_size, model_config.max_instances
    return {
        'images': tf.TensorSpec((size, size, model_config.n_bands),
                                tf.float32),
        'gt_boxes': tf.TensorSpec((n_max, 4), tf.float32),
        'gt_classes': tf.TensorSpec((n_max,), tf.int32),
        'gt_masks': tf.TensorSpec((n_max, size, size), tf.uint8),
    }


def _stream_index(seed, n_scenes, example):
    """Scene index of example ``example`` of a shuffled stream: each
    pass over the data is a fresh permutation."""
    epoch, position = divmod(example, n_scenes)
    return int(np.random.default_rng([seed, epoch]).permutation(n_scenes)
               [position])


def training_dataset(scenes, model_config, batch_size, seed=0, start_step=0,
                     augment=True, fresh_noise=False, source_noise=None,
                     deep_fraction=0.0, deep_noise_scale=(1e-4, 1.0),
                     deep_exclusive=False, exclusive_footprints=False,
                     footprint_core=0.0, noiseless_fraction=0.0):
    """
    An endless, shuffled, augmented stream of training batches.

    Batch ``k`` holds examples ``k * batch_size`` to
    ``(k + 1) * batch_size - 1`` of the stream; each pass over the
    scenes is a new permutation drawn from ``(seed, pass)``, and each
    example's crop, augmentation and noise from ``(seed, example)``.

    Parameters
    ----------
    scenes : `~galseg.simulate.SimulatedDataset` or sequence of Scene
        The training scenes, read as they are needed.
    model_config : `~galseg.engine.MaskRCNNConfig`
    batch_size : int
    seed : int, optional
    start_step : int, optional
        Index of the first batch (to resume a run).
    augment, fresh_noise : bool, optional
        See `scene_to_example`.
    source_noise : bool or `None`, optional
        Whether fresh noise includes the sources' Poisson noise; `None`
        takes the ``source_noise`` of the scenes' simulation
        configuration (``scenes.config``), else `True`.
    deep_fraction : float, optional
        The fraction of examples shown as in a deeper image (see
        ``noise_scale`` in `scene_to_example`); needs ``fresh_noise``.
    deep_noise_scale : (float, float), optional
        The range, in (0, 1], of their noise scale, drawn log-uniformly.
        The footprint threshold and detection bands come from the
        scenes' simulation configuration (``scenes.config``), else 1
        and every band.
    deep_exclusive : bool, optional
        Each pixel of a deep example's footprints to the brightest
        source there (``exclusive`` in `scene_to_example`).
    exclusive_footprints : bool, optional
        The same for every example.
    footprint_core : float, optional
        See `scene_to_example`.
    noiseless_fraction : float, optional
        The fraction of the deep examples shown noiseless (a noise scale
        of 0 instead of one drawn in ``deep_noise_scale``).

    Returns
    -------
    dataset : `tf.data.Dataset`
        Batches (dicts of tensors), prefetched.
    """
    import tensorflow as tf

    n_scenes = len(scenes)
    if n_scenes == 0:
        msg = 'the training data hold no scenes'
        raise ValueError(msg)
    if deep_fraction > 0 and not fresh_noise:
        msg = 'deep_fraction > 0 needs fresh_noise'
        raise ValueError(msg)
    sim_config = getattr(scenes, 'config', None)
    if source_noise is None:
        source_noise = getattr(sim_config, 'source_noise', True)
    footprint = {}
    if sim_config is not None:
        footprint = {'footprint_threshold': sim_config.footprint_threshold,
                     'detection_band_index': _detection_bands(sim_config)}
    log_scale = np.log(np.asarray(deep_noise_scale, dtype=float))

    def noise_scale(example):
        # its own generator, so that deep_fraction = 0 leaves the stream
        # of every other draw as it was
        rng = np.random.default_rng([seed, example, 2])
        if rng.random() >= deep_fraction:
            return 1.0
        scale = float(np.exp(rng.uniform(*log_scale)))
        # drawn after the scale, so that noiseless_fraction = 0 leaves
        # every deep example's scale as it was
        if noiseless_fraction > 0 and rng.random() < noiseless_fraction:
            return 0.0
        return scale

    def generate():
        example = start_step * batch_size
        while True:
            scene = scenes[_stream_index(seed, n_scenes, example)]
            rng = np.random.default_rng([seed, example, 1])
            scale = noise_scale(example)
            exclusive = exclusive_footprints or (deep_exclusive
                                                 and scale < 1)
            yield scene_to_example(scene, model_config, rng, augment,
                                   fresh_noise, source_noise, scale,
                                   **footprint, exclusive=exclusive,
                                   footprint_core=footprint_core)
            example += 1

    dataset = tf.data.Dataset.from_generator(
        generate, output_signature=example_signature(model_config))
    return dataset.batch(batch_size, drop_remainder=True).prefetch(
        tf.data.AUTOTUNE)


def validation_dataset(scenes, model_config, batch_size, max_scenes=None,
                       exclusive_footprints=False, footprint_core=0.0):
    """
    The validation scenes in order, centred and without augmentation.

    Parameters
    ----------
    scenes : `~galseg.simulate.SimulatedDataset` or sequence of Scene
    model_config : `~galseg.engine.MaskRCNNConfig`
    batch_size : int
    max_scenes : int, optional
        Use only the first ``max_scenes`` scenes.
    exclusive_footprints : bool, optional
        Disjoint truth footprints (``exclusive`` in `scene_to_example`),
        as the training examples have them.
    footprint_core : float, optional
        See `scene_to_example`.

    Returns
    -------
    dataset : `tf.data.Dataset`
    """
    import tensorflow as tf

    n_scenes = len(scenes) if max_scenes is None else min(len(scenes),
                                                          max_scenes)
    sim_config = getattr(scenes, 'config', None)
    bands = None if sim_config is None else _detection_bands(sim_config)

    def generate():
        for index in range(n_scenes):
            yield scene_to_example(scenes[index], model_config,
                                   detection_band_index=bands,
                                   exclusive=exclusive_footprints,
                                   footprint_core=footprint_core)

    dataset = tf.data.Dataset.from_generator(
        generate, output_signature=example_signature(model_config))
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)
