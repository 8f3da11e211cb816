"""
Evaluate deblenders on simulated scenes with known truth.

`evaluate` runs each method (galseg, photutils, SEP, or any callable
that returns instance masks) on the same scenes, scores it with
`~galseg.evaluation.metrics.EvaluationAccumulator` against the true source
footprints, and returns one table with one row per method.
"""

import itertools
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import ndimage

from ..utils import atomic_output, check_writable
from ..validation import check_int
from .baselines import Prediction
from .metrics import (COCO_IOU_THRESHOLDS, DEFAULT_SEPARATION_BINS,
                      EvaluationAccumulator, _validate_bins,
                      detection_match_radius, ignored_detections,
                      match_detections)

__all__ = ['EvaluationResult', 'default_methods', 'evaluate',
           'galseg_predictor', 'match_catalog', 'photutils_predictor',
           'scene_truth', 'sep_predictor', 'write_evaluation']

#: Names of the PNG files that `evaluate` writes in ``plots_dir``.
SEPARATION_PLOT = 'separation.png'
GALLERY_PLOT = 'gallery.png'


@dataclass
class EvaluationResult:
    """
    The result of `evaluate`.

    Attributes
    ----------
    table : `~astropy.table.Table`
        One row per method; see `evaluate` for the columns.
    separation_bins : `~numpy.ndarray`
        The separation bin edges, in units of the PSF FWHM.
    summaries : dict
        The full `~galseg.evaluation.metrics.EvaluationAccumulator.summary`
        of each method, by method name.
    examples : list of dict
        The gallery scenes: ``image``, ``truth`` (true masks),
        ``predictions`` (masks by method name) and ``index`` (position
        of the scene in the dataset).
    """

    table: object
    separation_bins: np.ndarray
    summaries: dict
    examples: list = field(default_factory=list)

    @property
    def methods(self):
        """The method names, in the order of the table rows."""
        return list(self.summaries)

    @property
    def pair_recovery(self):
        """Pair recovery per separation bin, by method name."""
        return {name: s['pair_recovery'] for name, s in
                self.summaries.items()}

    @property
    def ap_vs_separation(self):
        """AP per separation bin, by method name."""
        return {name: s['ap_vs_separation'] for name, s in
                self.summaries.items()}

    def write(self, path, overwrite=False):
        """Write the table; see `write_evaluation`."""
        write_evaluation(self, path, overwrite=overwrite)


def _as_array(column):
    # Plain float array of a table column (Quantity or masked or not).
    values = getattr(column, 'value', column)
    return np.ma.filled(np.ma.asarray(values, dtype=float), np.nan)


def _catalog_fluxes(catalog):
    names = catalog.colnames
    if 'flux' in names:
        return _as_array(catalog['flux'])
    band_columns = [name for name in names if name.startswith('flux_')]
    if band_columns:
        return np.stack([_as_array(catalog[name]) for name in band_columns],
                        axis=1)
    return None


def scene_truth(scene):
    """
    Extract what the evaluation needs from a simulated scene.

    Parameters
    ----------
    scene : `galseg.simulate.Scene` or similar
        Any object with ``image``, ``footprints``, ``psf_fwhm`` and
        ``catalog`` (columns ``x``, ``y``, ``has_footprint`` and, for
        the flux error, ``flux`` or ``flux_<band>`` columns).

    Returns
    -------
    truth : dict
        ``masks`` (bool, ``(m, ny, nx)``), ``positions`` (``(m, 2)`` as
        ``(x, y)``), ``fluxes`` (``(m, n_bands)`` or ``(m,)`` or
        `None`), ``psf_fwhm`` (the mean over bands, pixels) and
        ``half_light_radii`` (pixels, NaN where unknown; `None` without
        a ``half_light_radius`` column in arcsec and the scene's
        ``pixel_scale``), for the ``m`` sources that have a footprint;
        ``ignored_positions`` and ``ignored_half_light_radii``, the same
        for the real sources too faint to have one, which the
        detection-level scores neither count nor hold against a method
        that finds them (see `~galseg.evaluation.EvaluationAccumulator`).

    Raises
    ------
    ValueError
        If the footprints and the catalog do not agree.
    """
    footprints = np.asarray(scene.footprints, dtype=bool)
    catalog = scene.catalog
    if len(catalog) != len(footprints):
        msg = (f'the scene catalog has {len(catalog)} rows but there are '
               f'{len(footprints)} footprints')
        raise ValueError(msg)
    if 'has_footprint' in catalog.colnames:
        keep = np.asarray(catalog['has_footprint'], dtype=bool)
    else:
        keep = footprints.reshape(len(footprints), -1).any(axis=1)
    positions = np.column_stack([_as_array(catalog['x']),
                                 _as_array(catalog['y'])])
    fluxes = _catalog_fluxes(catalog)
    return {
        'masks': footprints[keep],
        'positions': positions[keep].reshape(-1, 2),
        'fluxes': None if fluxes is None else fluxes[keep],
        'psf_fwhm': float(np.mean(scene.psf_fwhm)),
        'half_light_radii': _half_light_radii(scene, keep),
        'ignored_positions': positions[~keep].reshape(-1, 2),
        'ignored_half_light_radii': _half_light_radii(scene, ~keep),
    }


def _half_light_radii(scene, keep):
    """The catalog's half-light radii (arcsec) in pixels, or `None`."""
    scale = getattr(scene, 'pixel_scale', None)
    if 'half_light_radius' not in scene.catalog.colnames or not scale:
        return None
    radii = _as_array(scene.catalog['half_light_radius']).astype(float)
    return radii[keep] / float(scale)


def match_catalog(catalog, scores, truth):
    """
    Match the sources of a galseg catalog to a scene's true sources.

    The detection-level matching of the benchmarks: going down the
    sources by score, each is matched to the nearest true source not
    matched yet whose `detection_match_radius` (one PSF FWHM, or its
    half-light radius where larger) reaches its centroid.

    Parameters
    ----------
    catalog : `~astropy.table.QTable`
        A catalog with ``x_centroid`` and ``y_centroid`` columns (e.g.
        `galseg.DeblendResult.catalog`).
    scores : `~numpy.ndarray`
        The score of each source, higher matched first.
    truth : dict
        The scene's truth, from `scene_truth`.

    Returns
    -------
    to_true : `~numpy.ndarray` of int
        The matched true source of each catalog row (an index into the
        truth), -1 if none, and -2 for a row matched, after the true
        sources, to a real source without a footprint (the truth's
        ``ignored_positions``, if any): neither true nor false (see
        `~galseg.evaluation.ignored_detections`).
    """
    positions = np.column_stack([_as_array(catalog['x_centroid']),
                                 _as_array(catalog['y_centroid'])])
    radius = detection_match_radius(truth['psf_fwhm'],
                                    truth['half_light_radii'])
    to_true, _ = match_detections(positions, scores, truth['positions'],
                                  radius)
    if truth.get('ignored_positions') is not None:
        ignored = ignored_detections(
            positions, scores, to_true, truth['ignored_positions'],
            detection_match_radius(truth['psf_fwhm'],
                                   truth.get('ignored_half_light_radii')))
        to_true[ignored] = -2
    return to_true


def photutils_predictor(**kwargs):
    """
    Make a predictor that runs `~galseg.evaluation.photutils_deblend`.

    Parameters
    ----------
    **kwargs
        Passed to `~galseg.evaluation.photutils_deblend`; the noise is the
        scene's ``noise_sigma`` and the kernel FWHM its ``psf_fwhm``.

    Returns
    -------
    predict : callable
        ``predict(scene) -> Prediction``.
    """
    from .baselines import photutils_deblend

    def predict(scene):
        return photutils_deblend(scene.image, scene.noise_sigma,
                                 psf_fwhm=scene.psf_fwhm, **kwargs)

    return predict


def sep_predictor(**kwargs):
    """
    Make a predictor that runs `~galseg.evaluation.sep_deblend`.

    Parameters
    ----------
    **kwargs
        Passed to `~galseg.evaluation.sep_deblend`; the noise is the scene's
        ``noise_sigma``.

    Returns
    -------
    predict : callable
        ``predict(scene) -> Prediction``.

    Raises
    ------
    ImportError
        If SEP is not installed.
    """
    from .baselines import sep_deblend

    try:
        import sep  # noqa: F401
    except ImportError:
        msg = ('the sep method needs the optional dependency sep; install '
               'it with "pip install sep"')
        raise ImportError(msg) from None

    def predict(scene):
        return sep_deblend(scene.image, scene.noise_sigma, **kwargs)

    return predict


def galseg_predictor(deblender, background=0.0, masks='segments'):
    """
    Make a predictor that runs a galseg deblender.

    Parameters
    ----------
    deblender : `~galseg.MaskRCNNDeblender`, str or path-like
        The deblender, or a model name or directory to build one from.
        Its ``deblend(image, error=..., background=...)`` is called
        with the scene's noise as the error.
    background : float or `None`, optional
        The background passed to the deblender.  Simulated scenes are
        sky-subtracted, so the known value 0 is given by default, as the
        baselines assume; `None` lets the deblender estimate it.
    masks : {'segments', 'instances'}, optional
        Which masks are scored: the segments of the segmentation image,
        what users get (the default), or the instance masks, which may
        overlap.

    Returns
    -------
    predict : callable
        ``predict(scene) -> Prediction`` with the masks, the scores,
        ``deblended_flux`` as the total flux, the sums of the data in
        the segments and the catalog centroids; no detection (a `None`
        result) gives zero sources, without a warning.
    """
    if masks not in ('segments', 'instances'):
        msg = f"masks must be 'segments' or 'instances'; got {masks!r}"
        raise ValueError(msg)
    if isinstance(deblender, (str, os.PathLike)):
        from ..deblender import MaskRCNNDeblender

        deblender = MaskRCNNDeblender(model=deblender)
    if not callable(getattr(deblender, 'deblend', None)):
        msg = ('deblender must have a deblend(image, error=..., '
               'background=...) method, '
               f'e.g. a MaskRCNNDeblender; got {type(deblender).__name__}')
        raise TypeError(msg)

    def predict(scene):
        from photutils.utils import NoDetectionsWarning

        image = np.asarray(scene.image)
        noise = np.asarray(scene.noise_sigma, dtype=image.dtype)
        error = np.broadcast_to(noise.reshape(-1, 1, 1), image.shape).copy()
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', NoDetectionsWarning)
            result = deblender.deblend(image, error=error,
                                       background=background)
        if result is None or len(result.scores) == 0:
            none = np.zeros((0, len(image)))
            return Prediction(np.zeros((0, *image.shape[-2:]), dtype=bool),
                              np.zeros(0), none, none, np.zeros((0, 2)))
        if masks == 'segments':
            labels = result.segmentation_image.data
            found = labels[np.newaxis] == result.labels[:, None, None]
        else:
            found = np.asarray(result.instance_masks(), dtype=bool)
        segment_fluxes = np.stack(
            [ndimage.sum_labels(band, labels=result.segmentation_image.data,
                                index=result.labels) for band in image],
            axis=1)
        catalog = result.catalog
        positions = np.column_stack([_as_array(catalog['x_centroid']),
                                     _as_array(catalog['y_centroid'])])
        return Prediction(found, np.asarray(result.scores, dtype=float),
                          _as_array(catalog['deblended_flux']),
                          segment_fluxes, positions)

    return predict


def default_methods(deblender=None, instance_masks=False):
    """
    Return the standard methods of a comparison.

    Parameters
    ----------
    deblender : `~galseg.MaskRCNNDeblender`, str or path-like, optional
        The galseg deblender (or model) to include as ``'galseg'``,
        scored on its segmentation image.
    instance_masks : bool, optional
        Also score the deblender's instance masks, as
        ``'galseg (instance masks)'``.

    Returns
    -------
    methods : dict
        ``'galseg'`` (if a deblender is given), ``'photutils'`` and
        ``'sep'`` (if SEP is installed), mapped to their predictors.
    """
    methods = {}
    if deblender is not None:
        if isinstance(deblender, (str, os.PathLike)):
            from ..deblender import MaskRCNNDeblender

            deblender = MaskRCNNDeblender(model=deblender)
        methods['galseg'] = galseg_predictor(deblender)
    methods['photutils'] = photutils_predictor()
    try:
        methods['sep'] = sep_predictor()
    except ImportError:
        pass
    if deblender is not None and instance_masks:
        methods['galseg (instance masks)'] = galseg_predictor(
            deblender, masks='instances')
    return methods


def _validate_methods(methods):
    if not hasattr(methods, 'items') or len(methods) == 0:
        msg = ('methods must be a non-empty mapping of method names to '
               'predictor callables')
        raise TypeError(msg)
    for name, predict in methods.items():
        if not isinstance(name, str) or not name:
            msg = f'method names must be non-empty strings; got {name!r}'
            raise TypeError(msg)
        if not callable(predict):
            msg = f'the predictor of method {name!r} is not callable'
            raise TypeError(msg)
    return dict(methods)


def _validate_max_scenes(max_scenes):
    if max_scenes is None:
        return None
    return check_int('max_scenes', max_scenes, minimum=1)


def _unpack_prediction(name, prediction):
    if isinstance(prediction, Prediction):
        return prediction
    if not isinstance(prediction, tuple) or len(prediction) not in (2, 3):
        msg = (f'the predictor of method {name!r} must return a '
               'Prediction, (masks, scores, fluxes) or (masks, scores)')
        raise TypeError(msg)
    return Prediction(*prediction)


def _bin_labels(bins):
    return [f'{lo:g}-{hi:g}' for lo, hi in zip(bins[:-1], bins[1:])]


def _make_table(summaries, times, bins):
    from astropy import units as u
    from astropy.table import Table

    names = list(summaries)
    rows = [summaries[name] for name in names]
    table = Table()
    table['method'] = names
    descriptions = {
        'AP': 'mask AP averaged over IoU 0.50:0.05:0.95 (COCO)',
        'AP50': 'mask AP at IoU 0.5',
        'AP75': 'mask AP at IoU 0.75',
        'precision': 'precision at IoU 0.5, all predictions',
        'precision_separated': 'precision at IoU 0.5 of the detections '
                               'of true sources without a true neighbour '
                               'closer than 2 PSF FWHM',
        'recall': 'recall at IoU 0.5, all predictions',
        'F1': 'F1 score at IoU 0.5',
        'median_flux_error': 'median |measured - true| / true of matched '
                             'sources',
        'blend_recovery': 'fraction of close pairs with both sources '
                          'matched at IoU 0.5',
        'det_precision': 'fraction of detections within one PSF FWHM (or '
                         'the half-light radius, if larger) of a '
                         'true source not matched yet (detections of '
                         'real sources without a footprint left out)',
        'det_recall': 'fraction of true sources matched by position',
        'over_count': 'fraction of images with more detections (less '
                      'those of sources without a footprint) than true '
                      'sources',
        'under_count': 'fraction of images with fewer detections than '
                       'true sources',
        'fragments': 'fraction of detections unmatched by position and '
                     'mostly inside the true footprints',
        'spurious': 'fraction of detections unmatched by position and '
                    'mostly outside the true footprints',
        'total_flux_error': 'median |flux - true| / true of the '
                            "method's total flux, sources matched by "
                            'position',
        'total_flux_error_blended': 'the same, for sources with a true '
                                    'neighbour closer than 3 PSF FWHM',
        'segment_flux_error': 'median relative error of the sum of the '
                              'data in the segment',
        'segment_flux_error_blended': 'the same, for sources with a true '
                                      'neighbour closer than 3 PSF FWHM',
    }
    for key, description in descriptions.items():
        table[key] = [row[key] for row in rows]
        table[key].description = description
    for b, label in enumerate(_bin_labels(bins)):
        name = f'recovery_{label}'
        table[name] = [row['pair_recovery'][b] for row in rows]
        table[name].description = (f'pair recovery at separations {label} '
                                   'PSF FWHM')
    for b, label in enumerate(_bin_labels(bins)):
        name = f'det_recovery_{label}'
        table[name] = [row['det_pair_recovery'][b] for row in rows]
        table[name].description = (f'pair recovery at separations {label} '
                                   'PSF FWHM, matches by position')
    for b, label in enumerate(_bin_labels(bins)):
        name = f'AP_{label}'
        table[name] = [row['ap_vs_separation'][b] for row in rows]
        table[name].description = (f'AP of sources whose nearest neighbour '
                                   f'is at {label} PSF FWHM')
    for key in ('n_images', 'n_true', 'n_pred'):
        table[key] = [row[key] for row in rows]
    table['n_true'].description = 'number of true sources'
    table['n_pred'].description = 'number of predictions'
    n_images = np.array([row['n_images'] for row in rows])
    per_image = np.divide([times[name] for name in names], n_images,
                          out=np.full(len(names), np.nan),
                          where=n_images > 0)
    table['time_per_image'] = per_image * u.s
    table['time_per_image'].description = 'mean run time per image'
    for key in table.colnames[1:]:
        if table[key].dtype.kind == 'f':
            table[key].format = '.4g'
    first = rows[0] if rows else {}
    table.meta['separation_bins'] = [float(b) for b in bins]
    table.meta['separation_unit'] = 'PSF FWHM'
    table.meta['iou_thresholds'] = [round(float(t), 2) for t in
                                    COCO_IOU_THRESHOLDS]
    table.meta['n_pairs_per_bin'] = [int(n) for n in
                                     first.get('n_pairs', [])]
    table.meta['n_true_per_bin'] = [int(n) for n in
                                    first.get('n_true_per_bin', [])]
    table.meta['pair_definition'] = (
        'each unordered pair of true sources closer than the last bin '
        'edge; recovered if both are matched at IoU >= 0.5')
    return table


def evaluate(dataset, methods, plots_dir=None, max_scenes=None,
             progress=False, *, separation_bins=DEFAULT_SEPARATION_BINS,
             n_gallery=4, overwrite=False):
    """
    Evaluate deblending methods on simulated scenes with known truth.

    Every method runs on the same scenes; its instance masks are
    matched to the footprints of the true sources (those with
    ``has_footprint``) as described in
    `~galseg.evaluation.metrics.EvaluationAccumulator`.  Scenes where a
    method finds nothing count (all their sources are missed).

    Parameters
    ----------
    dataset : `~galseg.simulate.SimulatedDataset` or iterable
        The scenes; each needs ``image``, ``noise_sigma``,
        ``psf_fwhm``, ``footprints`` and ``catalog`` (see
        `scene_truth`).
    methods : dict
        Method names mapped to predictors, ``predict(scene) ->
        Prediction`` (see `Prediction`), or ``(masks, scores, fluxes)``
        with ``masks`` bool of shape ``(n, ny, nx)``, ``scores`` of
        shape ``(n,)`` (higher is more confident) and ``fluxes`` of
        shape ``(n, n_bands)`` or ``(n,)`` or `None`; see
        `galseg_predictor`, `photutils_predictor`, `sep_predictor` and
        `default_methods`.
    plots_dir : str or `~pathlib.Path`, optional
        If given, write ``separation.png`` (AP and pair recovery against
        separation, see `~galseg.evaluation.plot_separation_curves`) and
        ``gallery.png`` (see `~galseg.evaluation.plot_gallery`) there.
    max_scenes : int, optional
        Evaluate only the first ``max_scenes`` scenes.
    progress : bool, optional
        Show a progress bar (needs tqdm).
    separation_bins : sequence of float, optional
        The bin edges of the separations, in units of the PSF FWHM.
    n_gallery : int, optional
        The number of example scenes kept in the result (and drawn in
        ``gallery.png``): the first scenes with at least two true
        sources, then the first others.
    overwrite : bool, optional
        Whether existing plots may be replaced.

    Returns
    -------
    result : `EvaluationResult`
        Its ``table`` has one row per method with the columns
        ``method``, ``AP``, ``AP50``, ``AP75``, ``precision``,
        ``recall``, ``F1``, ``median_flux_error``, ``blend_recovery``,
        the detection-level ``det_precision``, ``det_recall``,
        ``over_count``, ``under_count``, ``fragments``, ``spurious``,
        ``total_flux_error``, ``total_flux_error_blended``,
        ``segment_flux_error`` and ``segment_flux_error_blended`` (see
        `~galseg.evaluation.metrics.EvaluationAccumulator`),
        ``recovery_<lo>-<hi>`` (pair recovery per separation bin, at
        IoU >= 0.5), ``det_recovery_<lo>-<hi>`` (the same, matched by
        position), ``AP_<lo>-<hi>`` (AP per bin of nearest-neighbour
        separation), ``n_images``, ``n_true``, ``n_pred`` and
        ``time_per_image`` (seconds); the bins and the number of pairs
        per bin are in its ``meta``.

    Raises
    ------
    TypeError, ValueError
        If the methods, the scenes or the predictions are invalid.
    FileExistsError
        If a plot exists and ``overwrite`` is `False` (checked before
        the evaluation starts).
    """
    methods = _validate_methods(methods)
    max_scenes = _validate_max_scenes(max_scenes)
    if (isinstance(n_gallery, bool)
            or not isinstance(n_gallery, (int, np.integer)) or n_gallery < 0):
        msg = f'n_gallery must be a non-negative integer; got {n_gallery!r}'
        raise ValueError(msg)
    bins = _validate_bins(separation_bins)
    if plots_dir is not None:
        plots_dir = Path(plots_dir)
        for name in (SEPARATION_PLOT, GALLERY_PLOT):
            check_writable(plots_dir / name, overwrite)

    accumulators = {name: EvaluationAccumulator(separation_bins=bins)
                    for name in methods}
    times = dict.fromkeys(methods, 0.0)
    scenes = itertools.islice(iter(dataset), max_scenes)
    if progress:
        from tqdm.auto import tqdm

        total = len(dataset) if hasattr(dataset, '__len__') else None
        if total is not None and max_scenes is not None:
            total = min(total, max_scenes)
        scenes = tqdm(scenes, total=total, desc='Evaluating', unit='scene')

    blended_examples, other_examples = [], []
    for index, scene in enumerate(scenes):
        truth = scene_truth(scene)
        gallery = (blended_examples if len(truth['masks']) >= 2
                   else other_examples)
        want_example = len(gallery) < n_gallery
        predicted = {}
        for name, predict in methods.items():
            start = time.perf_counter()
            prediction = predict(scene)
            times[name] += time.perf_counter() - start
            prediction = _unpack_prediction(name, prediction)
            masks = prediction.masks
            try:
                accumulators[name].add(
                    masks, prediction.scores, truth['masks'],
                    pred_fluxes=prediction.fluxes,
                    pred_segment_fluxes=prediction.segment_fluxes,
                    pred_positions=prediction.positions,
                    true_fluxes=truth['fluxes'],
                    true_positions=truth['positions'],
                    psf_fwhm=truth['psf_fwhm'],
                    true_half_light_radii=truth['half_light_radii'],
                    ignored_positions=truth.get('ignored_positions'),
                    ignored_half_light_radii=truth.get(
                        'ignored_half_light_radii'))
            except (TypeError, ValueError) as exc:
                msg = f'method {name!r}, scene {index}: {exc}'
                raise type(exc)(msg) from exc
            if want_example:
                predicted[name] = np.asarray(masks, dtype=bool)
        if want_example:
            example = {'index': index, 'image': np.asarray(scene.image),
                       'truth': truth['masks'], 'predictions': predicted}
            gallery.append(example)

    summaries = {name: acc.summary() for name, acc in accumulators.items()}
    examples = sorted((blended_examples + other_examples)[:n_gallery],
                      key=lambda example: example['index'])
    result = EvaluationResult(table=_make_table(summaries, times, bins),
                              separation_bins=bins, summaries=summaries,
                              examples=examples)
    if plots_dir is not None:
        from .plots import plot_gallery, plot_separation_curves

        plot_separation_curves(result, plots_dir / SEPARATION_PLOT,
                               overwrite=overwrite)
        if examples:
            plot_gallery(examples, plots_dir / GALLERY_PLOT,
                         overwrite=overwrite)
    return result


def write_evaluation(result, path, overwrite=False):
    """
    Write an evaluation table to a file.

    Parameters
    ----------
    result : `EvaluationResult` or `~astropy.table.Table`
        The evaluation (its ``table`` is written).
    path : str or `~pathlib.Path`
        The output file: ECSV (machine readable, with the bins and the
        column descriptions) if it ends with ``.ecsv``, otherwise an
        aligned plain-text table.
    overwrite : bool, optional
        Whether an existing file may be replaced.

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is `False`.
    """
    table = getattr(result, 'table', result)
    path = Path(path)
    with atomic_output(path, overwrite=overwrite) as tmp_path:
        if path.suffix.lower() == '.ecsv':
            table.write(tmp_path, format='ascii.ecsv', overwrite=True)
        else:
            table.write(tmp_path, format='ascii.fixed_width_two_line',
                        overwrite=True)
