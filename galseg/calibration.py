"""
Calibrated detection scores and a model's score threshold, both chosen on
validation data.

A network's detection scores are confidences, not probabilities: among
detections scored 0.8, far more or far fewer than 80% may be real
sources.  `calibrate` runs a model on simulated validation scenes
(seeds never used in training, and never the test sets), calls a
detection true when its centroid lies within one PSF FWHM (or the
source's half-light radius, if larger) of a true source not matched
yet (`galseg.evaluation.match_catalog`, the detection-level matching
of the benchmarks; a detection of a real source too faint to have a
footprint is neither true nor false, as there), and

* fits a `ScoreCalibration`: the isotonic (monotone) regression of
  "is true" on the score, so that a calibrated score is the fraction of
  true detections among those given it;
* chooses the score threshold, on calibrated scores, the least
  segment signal-to-noise ratio of a source (the deblender's
  ``min_snr``), the covered fraction from which a detection inside
  more confident ones is dropped (the deblender's
  ``contained_fraction``) and the mask probability at its centre from
  which it is (the deblender's ``core_probability``), running the
  whole deblender (suppression and segmentation included) at every
  candidate setting: among the
  settings whose detection-level precision reaches ``min_precision``,
  the most conservative one (fewest detections) whose F1 is within one
  standard error of the best F1 (the one-standard-error rule of model
  selection: F1 differences smaller than their noise do not decide,
  purity does).  Given validation scenes of isolated galaxies with real
  structure (knots, irregular shapes), only settings that split at most
  ``max_split_rate`` of them (3% by default) take part: for a
  deblender, one galaxy cut in two is a worse error than a faint
  neighbour missed, and a detection-level precision over all sources
  barely sees it.

`write_calibration` stores the calibration and the chosen settings as
``calibration.json`` in the model directory, and
`~galseg.MaskRCNNDeblender` applies them: the catalog's ``score`` is the
calibrated score, and the default ``score_threshold``, ``min_snr``,
``contained_fraction`` and ``core_probability`` are the chosen ones.
``galseg calibrate`` does all of this from the command line.
"""

import contextlib
import copy
import itertools
import datetime
import hashlib
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .utils import atomic_output, check_writable
from .validation import check_fraction, check_number

__all__ = ['ScoreCalibration', 'ModelCalibration', 'StoredCalibration',
           'reliability_table', 'detection_outcomes', 'threshold_table',
           'split_rate', 'calibrate', 'write_calibration', 'read_calibration',
           'CALIBRATION_FILE', 'MAX_SPLIT_RATE', 'CORE_PROBABILITIES']

#: the file of a model directory that holds its calibration
CALIBRATION_FILE = 'calibration.json'

#: score bins of the reliability table
RELIABILITY_BINS = (0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)

#: candidate score thresholds (calibrated scores)
THRESHOLDS = tuple(np.round(np.arange(0.3, 0.96, 0.05), 2).tolist())

#: candidate least segment signal-to-noise ratios (``min_snr``)
MIN_SNRS = (0.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0)

#: candidate covered fractions of ``suppress_contained``
#: (``contained_fraction``)
CONTAINED_FRACTIONS = (0.6, 0.8, 0.95)

#: candidate mask probabilities at a covered detection's centre from which
#: ``suppress_contained`` drops it (``core_probability``; 0 drops every
#: covered detection)
CORE_PROBABILITIES = (0.0, 0.7, 0.9)

#: the settings a calibration chooses: the columns of `threshold_table`
#: that name them, and the deblender's attributes they set
SETTINGS = {'threshold': 'score_threshold', 'min_snr': 'min_snr',
            'contained_fraction': 'contained_fraction',
            'core_probability': 'core_probability'}

#: the largest fraction of isolated galaxies a chosen setting may split by
#: default: the over-count galseg holds itself to (3%)
MAX_SPLIT_RATE = 0.03

#: bootstrap resamples of the scenes for the standard error of F1, and
#: their seed
F1_BOOTSTRAP = 200
F1_BOOTSTRAP_SEED = 0


def _as_float_vector(values, name):
    try:
        values = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        msg = f'{name} must be numeric'
        raise TypeError(msg) from None
    if values.ndim != 1:
        msg = f'{name} must be one-dimensional, got shape {values.shape}'
        raise ValueError(msg)
    if not np.isfinite(values).all():
        msg = f'{name} must be finite'
        raise ValueError(msg)
    return values


def _scores_and_outcomes(scores, is_true):
    scores = _as_float_vector(scores, 'scores')
    is_true = np.asarray(is_true)
    if is_true.shape != scores.shape:
        msg = (f'is_true must have the shape of scores {scores.shape}, got '
               f'{is_true.shape}')
        raise ValueError(msg)
    if is_true.dtype != bool:
        if not np.isin(is_true, (0, 1)).all():
            msg = 'is_true must hold booleans (or 0 and 1)'
            raise ValueError(msg)
        is_true = is_true.astype(bool)
    if np.any((scores < 0) | (scores > 1)):
        msg = 'scores must lie in [0, 1]'
        raise ValueError(msg)
    return scores, is_true


@dataclass(frozen=True)
class ScoreCalibration:
    """
    A monotone map from a network's scores to calibrated scores.

    Calling it interpolates linearly between the knots
    ``(raw, calibrated)``; scores outside the knots take the value of the
    nearest end.  Make one with `fit`.

    Parameters
    ----------
    raw : tuple of float
        Strictly increasing scores in [0, 1].
    calibrated : tuple of float
        Non-decreasing calibrated scores in [0, 1], one per knot.

    Examples
    --------
    >>> from galseg.calibration import ScoreCalibration
    >>> calibration = ScoreCalibration(raw=(0.0, 0.9, 1.0),
    ...                                calibrated=(0.0, 0.5, 0.9))
    >>> calibration([0.45, 0.95]).round(3).tolist()
    [0.25, 0.7]
    """

    raw: tuple
    calibrated: tuple

    def __post_init__(self):
        raw = _as_float_vector(self.raw, 'raw')
        calibrated = _as_float_vector(self.calibrated, 'calibrated')
        if len(raw) < 2 or len(raw) != len(calibrated):
            msg = ('raw and calibrated must have the same length, at least '
                   f'2, got {len(raw)} and {len(calibrated)}')
            raise ValueError(msg)
        if np.any(np.diff(raw) <= 0):
            msg = 'raw must be strictly increasing'
            raise ValueError(msg)
        if np.any(np.diff(calibrated) < 0):
            msg = 'calibrated must be non-decreasing'
            raise ValueError(msg)
        for name, values in (('raw', raw), ('calibrated', calibrated)):
            if values[0] < 0 or values[-1] > 1:
                msg = f'{name} must lie in [0, 1]'
                raise ValueError(msg)
        object.__setattr__(self, 'raw', tuple(raw.tolist()))
        object.__setattr__(self, 'calibrated', tuple(calibrated.tolist()))

    def __call__(self, scores):
        """The calibrated scores of ``scores`` (an array of their shape)."""
        scores = np.asarray(scores, dtype=float)
        return np.interp(scores, self.raw, self.calibrated)

    @classmethod
    def fit(cls, scores, is_true):
        """
        Fit the calibration to detections known to be true or false.

        The isotonic regression of ``is_true`` on ``scores``
        (`scipy.optimize.isotonic_regression`) pools detections into
        blocks of increasing fraction true; the knots are the blocks'
        mean scores and fractions, with ``(0, 0)`` added below them, so
        that the map is strictly increasing between knots and keeps the
        order of all but equal scores.

        Parameters
        ----------
        scores : array_like
            Scores in [0, 1].
        is_true : array_like of bool
            Whether each detection is a true source.

        Returns
        -------
        calibration : `ScoreCalibration`

        Raises
        ------
        ValueError
            If there are no detections, or the inputs are not scores and
            booleans of one length.
        """
        from scipy.optimize import isotonic_regression

        scores, is_true = _scores_and_outcomes(scores, is_true)
        if len(scores) == 0:
            msg = 'cannot fit a calibration without detections'
            raise ValueError(msg)
        # equal scores are one point, weighted by their number
        unique, inverse, counts = np.unique(scores, return_inverse=True,
                                            return_counts=True)
        fraction = np.bincount(inverse, weights=is_true) / counts
        fit = isotonic_regression(fraction, weights=counts)
        starts = fit.blocks[:-1]
        raw = np.add.reduceat(unique * counts, starts) / np.add.reduceat(
            counts, starts)
        calibrated = fit.x[starts]
        if raw[0] > 0:
            raw, calibrated = np.r_[0.0, raw], np.r_[0.0, calibrated]
        if len(raw) == 1:  # one block at a score of 0
            raw, calibrated = np.r_[raw, 1.0], np.r_[calibrated, calibrated]
        return cls(raw=tuple(raw), calibrated=tuple(np.clip(calibrated, 0, 1)))

    def raw_threshold(self, threshold):
        """
        The lowest network score whose calibrated score reaches
        ``threshold``.

        Network scores below it calibrate to less than ``threshold``, so
        a network asked only for detections above it (see
        `~galseg.engine.MaskRCNN.detect`) loses none that reach
        ``threshold`` once calibrated.

        Parameters
        ----------
        threshold : float
            A calibrated score in [0, 1].

        Returns
        -------
        raw : float
            The network score, in [0, 1]; 1 when no score reaches
            ``threshold``.

        Examples
        --------
        >>> from galseg.calibration import ScoreCalibration
        >>> calibration = ScoreCalibration(raw=(0.0, 0.9, 1.0),
        ...                                calibrated=(0.0, 0.5, 0.9))
        >>> round(calibration.raw_threshold(0.7), 3)
        0.95
        """
        threshold = check_fraction('threshold', threshold)
        raw = np.asarray(self.raw)
        calibrated = np.asarray(self.calibrated)
        if threshold <= calibrated[0]:
            return 0.0
        if threshold > calibrated[-1]:
            return 1.0
        upper = int(np.argmax(calibrated >= threshold))
        lower = upper - 1
        step = ((threshold - calibrated[lower])
                / (calibrated[upper] - calibrated[lower]))
        return float(raw[lower] + step * (raw[upper] - raw[lower]))

    def to_dict(self):
        """The calibration as a JSON-ready dict."""
        return {'raw': list(self.raw), 'calibrated': list(self.calibrated)}

    @classmethod
    def from_dict(cls, values):
        """The calibration of `to_dict`."""
        if not isinstance(values, dict) or set(values) != {'raw',
                                                           'calibrated'}:
            msg = ("a score calibration must be a dict with keys 'raw' and "
                   f"'calibrated', got {values!r}")
            raise ValueError(msg)
        return cls(raw=tuple(values['raw']),
                   calibrated=tuple(values['calibrated']))


@dataclass(frozen=True)
class ModelCalibration:
    """
    What `calibrate` chose for a model on validation data.

    Attributes
    ----------
    score_calibration : `ScoreCalibration`
        The map from network scores to calibrated scores.
    score_threshold : float
        The calibrated score threshold of the chosen setting (score
        threshold, ``min_snr``, ``contained_fraction`` and
        ``core_probability``): among the
        settings whose detection-level precision reaches
        ``min_precision`` (and, with isolated galaxies, that split at
        most ``max_split_rate`` of them), the one with the fewest
        detections whose F1 is within one standard error (``f1_err``)
        of the best F1.  If no setting is precise enough, the most
        precise one; if the precise ones all split too many, the best
        F1 among those that split fewest.
    min_snr : float
        The least segment signal-to-noise ratio of that setting.
    contained_fraction : float
        The ``contained_fraction`` of that setting.
    min_precision : float
        The precision asked for.
    reliability_before, reliability_after : `~astropy.table.Table`
        Reliability tables (see `reliability_table`) of the raw and the
        calibrated scores, with the expected calibration error in their
        ``meta['ece']``.
    thresholds : `~astropy.table.Table`
        Detection-level precision, recall and F1 of the whole deblender
        at each candidate setting (see `threshold_table`).
    n_scenes : int
        The number of validation scenes.
    max_split_rate : float or `None`
        The largest fraction of the isolated galaxies that a setting may
        split (more sources than galaxies) to be chosen; `None` without
        isolated scenes.
    photutils_split_rate : float or `None`
        The fraction of the isolated galaxies split by photutils
        (`galseg.evaluation.photutils_predictor`), for comparison.
    n_isolated : int
        The number of scenes of isolated galaxies (0 without them).
    core_probability : float
        The ``core_probability`` of the chosen setting.
    """

    score_calibration: ScoreCalibration
    score_threshold: float
    min_snr: float
    contained_fraction: float
    min_precision: float
    reliability_before: object
    reliability_after: object
    thresholds: object
    n_scenes: int
    max_split_rate: object = None
    photutils_split_rate: object = None
    n_isolated: int = 0
    core_probability: float = 0.0

    @property
    def chosen(self):
        """The row of ``thresholds`` of the chosen setting."""
        table = self.thresholds
        match = np.ones(len(table), dtype=bool)
        for column, attribute in SETTINGS.items():
            match &= np.isclose(table[column], getattr(self, attribute))
        return table[match][0]

    @property
    def reaches_min_precision(self):
        """Whether the chosen setting reaches ``min_precision``."""
        return bool(self.chosen['precision'] >= self.min_precision)

    @property
    def within_max_split_rate(self):
        """Whether the chosen setting splits at most ``max_split_rate``
        of the isolated galaxies (`True` without them)."""
        if self.max_split_rate is None:
            return True
        return bool(self.chosen['split_rate'] <= self.max_split_rate)


def reliability_table(scores, is_true, bins=RELIABILITY_BINS):
    """
    Reliability table: per score bin, how many detections are true.

    Parameters
    ----------
    scores : array_like
        Scores in [0, 1].
    is_true : array_like of bool
        Whether each detection is a true source.
    bins : sequence of float, optional
        Increasing bin edges; the last bin includes its upper edge.

    Returns
    -------
    table : `~astropy.table.Table`
        Columns ``low``, ``high``, ``n``, ``mean_score``,
        ``fraction_true`` (NaN for empty bins); ``meta['ece']`` is the
        expected calibration error: the mean over detections in the bins
        of ``|fraction_true - mean_score|`` of their bin.

    Examples
    --------
    >>> from galseg.calibration import reliability_table
    >>> table = reliability_table([0.55, 0.65, 0.95, 0.99],
    ...                           [False, True, True, True],
    ...                           bins=(0.5, 0.9, 1.0))
    >>> table['n'].tolist(), round(table.meta['ece'], 3)
    ([2, 2], 0.065)
    """
    from astropy.table import Table

    scores, is_true = _scores_and_outcomes(scores, is_true)
    bins = _as_float_vector(bins, 'bins')
    if len(bins) < 2 or np.any(np.diff(bins) <= 0):
        msg = 'bins must be at least two increasing edges'
        raise ValueError(msg)
    rows, weighted_gap, n_binned = [], 0.0, 0
    for i, (low, high) in enumerate(zip(bins[:-1], bins[1:])):
        last = i == len(bins) - 2
        inside = (scores >= low) & ((scores <= high) if last
                                    else (scores < high))
        n = int(inside.sum())
        mean = scores[inside].mean() if n else np.nan
        fraction = is_true[inside].mean() if n else np.nan
        if n:
            weighted_gap += n * abs(fraction - mean)
            n_binned += n
        rows.append((low, high, n, mean, fraction))
    table = Table(rows=rows, names=('low', 'high', 'n', 'mean_score',
                                    'fraction_true'),
                  dtype=(float, float, int, float, float))
    table.meta['ece'] = (float(weighted_gap / n_binned) if n_binned
                         else float('nan'))
    return table


def _deblend_scene(deblender, scene):
    from photutils.utils import NoDetectionsWarning

    image = np.asarray(scene.image)
    noise = np.asarray(scene.noise_sigma, dtype=image.dtype)
    error = np.broadcast_to(noise.reshape(-1, 1, 1), image.shape).copy()
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', NoDetectionsWarning)
        # as the benchmarks run galseg: the scene's noise as error; the
        # simulated images have no background
        return deblender.deblend(image, error=error, background=0.0)


def detection_outcomes(deblender, scenes):
    """
    Run a deblender on simulated scenes and score each detection.

    A detection left unmatched that lies within the match radius of a
    real source without a footprint (too faint to be asked for, see
    `galseg.evaluation.ignored_detections`) is neither true nor false:
    it is left out, as the benchmarks score it.

    Parameters
    ----------
    deblender : `~galseg.MaskRCNNDeblender`
    scenes : iterable of `~galseg.simulate.Scene`
        Scenes with their truth (e.g. the items of
        `~galseg.simulate.read_dataset`).

    Returns
    -------
    scores : `~numpy.ndarray`
        The ``score`` of every source found (but those left out).
    is_true : `~numpy.ndarray` of bool
        Whether its centroid lies within one PSF FWHM, or the half-light
        radius if larger (`galseg.evaluation.detection_match_radius`), of
        a true source not matched yet (best scores first).
    n_true : int
        The number of true sources (with a footprint).
    """
    scores, is_true, per_scene = _outcomes(deblender, scenes)
    return scores, is_true, int(per_scene[:, 2].sum())


def _outcomes(deblender, scenes):
    """`detection_outcomes`, with per-scene counts.

    The counts are an ``(n_scenes, 3)`` array of detections, true
    detections and true sources.
    """
    from .evaluation import match_catalog, scene_truth

    scores, is_true, per_scene = [], [], []
    for scene in scenes:
        truth = scene_truth(scene)
        n_true = len(truth['positions'])
        result = _deblend_scene(deblender, scene)
        if result is None:
            per_scene.append((0, 0, n_true))
            continue
        # a detection of a real source without a footprint (-2) is
        # neither true nor false, as in the benchmarks
        # (galseg.evaluation.ignored_detections)
        to_true = match_catalog(result.catalog, result.scores, truth)
        scored = to_true != -2
        found = to_true[scored] >= 0
        scores.extend(np.asarray(result.scores, dtype=float)[scored]
                      .tolist())
        is_true.extend(found.tolist())
        per_scene.append((len(found), int(found.sum()), n_true))
    return (np.array(scores, dtype=float), np.array(is_true, dtype=bool),
            np.array(per_scene, dtype=int).reshape(-1, 3))


def _f1_error(per_scene, resamples):
    """Bootstrap standard error of F1 over scenes."""
    if len(per_scene) < 2:
        return np.nan
    n_detections, n_found, n_true = per_scene[resamples].sum(axis=1).T
    total = n_detections + n_true
    f1 = 2 * n_found[total > 0] / total[total > 0]
    return float(np.std(f1, ddof=1)) if len(f1) > 1 else np.nan


def threshold_table(deblender, scenes, thresholds=THRESHOLDS,
                    min_snrs=None, contained_fractions=None,
                    core_probabilities=None):
    """
    Detection-level precision, recall and F1 of a deblender per threshold.

    The whole deblender runs at each score threshold, least segment
    signal-to-noise ratio, ``contained_fraction`` and
    ``core_probability`` (suppression and segmentation depend on which
    detections take part); the network runs once per image.

    Parameters
    ----------
    deblender : `~galseg.MaskRCNNDeblender`
        Its ``score_threshold``, ``min_snr``, ``contained_fraction`` and
        ``core_probability`` are replaced by each candidate setting in
        turn.
    scenes : sequence of `~galseg.simulate.Scene`
    thresholds : sequence of float, optional
        Score thresholds in [0, 1] (of the deblender's scores: calibrated
        ones when it has a calibration).
    min_snrs : sequence of float, optional
        Values of ``min_snr``, >= 0; by default the deblender's own.
    contained_fractions : sequence of float, optional
        Values of ``contained_fraction``, in (0, 1]; by default the
        deblender's own.
    core_probabilities : sequence of float, optional
        Values of ``core_probability``, in [0, 1]; by default the
        deblender's own.

    Returns
    -------
    table : `~astropy.table.Table`
        Columns ``threshold``, ``min_snr``, ``contained_fraction``,
        ``core_probability``, ``n_detections``, ``precision``,
        ``recall``, ``f1`` and ``f1_err`` (the standard error of F1 from
        `F1_BOOTSTRAP` resamples of the scenes, the same resamples for
        every row): a row per setting, by threshold, then ``min_snr``,
        then ``contained_fraction``, then ``core_probability``.
    """
    from astropy.table import Table

    scenes = list(scenes)
    thresholds = [check_fraction('threshold', value) for value in thresholds]
    min_snrs = ([deblender.min_snr] if min_snrs is None
                else [check_number('min_snr', value, minimum=0)
                      for value in min_snrs])
    fractions = ([deblender.contained_fraction] if contained_fractions is None
                 else [check_fraction('contained_fraction', value,
                                      low_open=True)
                       for value in contained_fractions])
    cores = ([deblender.core_probability] if core_probabilities is None
             else [check_fraction('core_probability', value)
                   for value in core_probabilities])
    cached = copy.copy(deblender)
    if not isinstance(deblender.model, _CachedNetwork):
        cached.model = _CachedNetwork(deblender.model)
    rng = np.random.default_rng(F1_BOOTSTRAP_SEED)
    resamples = rng.integers(0, len(scenes), (F1_BOOTSTRAP, len(scenes)))
    rows = []
    settings = list(itertools.product(thresholds, min_snrs, fractions,
                                      cores))
    with _each_warning_once():  # every setting runs the scenes again
        per_setting = [_outcomes(_with_setting(cached, setting), scenes)[2]
                       for setting in settings]
    for setting, per_scene in zip(settings, per_setting):
        n_detections, n_found, n_true = per_scene.sum(axis=0)
        precision = n_found / n_detections if n_detections else np.nan
        recall = n_found / n_true if n_true else np.nan
        f1 = (2 * n_found / (n_detections + n_true)
              if n_detections + n_true else np.nan)
        rows.append((*setting, n_detections, precision, recall, f1,
                     _f1_error(per_scene, resamples)))
    return Table(rows=rows, names=(*SETTINGS, 'n_detections', 'precision',
                                   'recall', 'f1', 'f1_err'),
                 dtype=(float,) * len(SETTINGS) + (int, float, float,
                                                   float, float))


@contextlib.contextmanager
def _each_warning_once():
    """Collect the warnings of a block and give each distinct one
    (message and category) once, at its end: a calibration runs the same
    scenes once per candidate setting."""
    with warnings.catch_warnings(record=True) as caught:
        yield
    seen = set()
    for warning in caught:
        key = (str(warning.message), warning.category)
        if key not in seen:
            seen.add(key)
            warnings.warn_explicit(warning.message, warning.category,
                                   warning.filename, warning.lineno)


class _CachedNetwork:
    """A model whose ``detect`` remembers its outputs per input batch."""

    def __init__(self, model):
        self._model = model
        self.config = model.config
        self._outputs = {}

    def detect(self, images, batch_size=8, score_threshold=None):
        # the detections above a threshold are the same whatever
        # threshold they were found with: one pass at the lowest serves
        # every higher one
        floor = self.config.detection_score_threshold
        threshold = (floor if score_threshold is None
                     else max(score_threshold, floor))
        images = np.ascontiguousarray(images)
        key = (images.shape, hashlib.sha1(images.tobytes()).hexdigest())
        if key not in self._outputs or self._outputs[key][0] > threshold:
            self._outputs[key] = (threshold, self._model.detect(
                images, batch_size=batch_size, score_threshold=threshold))
        found_with, outputs = self._outputs[key]
        if threshold == found_with:
            return outputs
        return [{name: values[output['scores'] > threshold]
                 for name, values in output.items()} for output in outputs]


def _choose(table, min_precision, max_split_rate=None):
    """
    The setting (a value per column of `SETTINGS`) of the most
    conservative one within one standard error of the best F1 among
    those reaching the precision and, with a ``max_split_rate``,
    splitting no more of the isolated galaxies (``split_rate``) than
    that.
    """
    precision = np.nan_to_num(np.asarray(table['precision']), nan=-1.0)
    f1 = np.nan_to_num(np.asarray(table['f1']), nan=-1.0)
    ok = precision >= min_precision
    if max_split_rate is not None and ok.any():
        split = np.nan_to_num(np.asarray(table['split_rate'], dtype=float),
                              nan=np.inf)
        if not (ok & (split <= max_split_rate)).any():
            # none is whole enough: the best F1 of those splitting fewest
            fewest = np.flatnonzero(ok & (split == split[ok].min()))
            return _setting(table, fewest[np.argmax(f1[fewest])])
        ok &= split <= max_split_rate
    if ok.any():
        best = np.flatnonzero(ok)[np.argmax(f1[ok])]
        tolerance = np.nan_to_num(float(table['f1_err'][best]), nan=0.0)
        near = np.flatnonzero(ok & (f1 >= f1[best] - tolerance))
        # fewest detections, then the best F1
        n_detections = np.asarray(table['n_detections'])[near]
        order = np.lexsort((-f1[near], n_detections))
        best = near[order[0]]
    else:
        best = int(np.argmax(precision))
    return _setting(table, best)


def _setting(table, index):
    """The setting of row ``index`` of a `threshold_table`."""
    return tuple(float(table[column][index]) for column in SETTINGS)


def split_rate(deblender, scenes):
    """
    The fraction of scenes in which a deblender finds more sources than
    there are.

    On scenes of one isolated galaxy each, the fraction of galaxies it
    splits (the over-count of `galseg.evaluation.evaluate`).

    Parameters
    ----------
    deblender : `~galseg.MaskRCNNDeblender`
    scenes : sequence of `~galseg.simulate.Scene`

    Returns
    -------
    rate : float
        NaN without scenes.
    """
    from .evaluation import scene_truth

    split = []
    for scene in scenes:
        result = _deblend_scene(deblender, scene)
        n_found = 0 if result is None else len(result.scores)
        split.append(n_found > len(scene_truth(scene)['positions']))
    return float(np.mean(split)) if split else float('nan')


def _photutils_split_rate(scenes):
    """`split_rate` of photutils, as the benchmarks run it."""
    from .evaluation import photutils_predictor, scene_truth

    predict = photutils_predictor()
    split = [len(predict(scene).masks) > len(scene_truth(scene)['positions'])
             for scene in scenes]
    return float(np.mean(split)) if split else float('nan')


def _split_rates(deblender, isolated, table, min_precision):
    """`split_rate` on the isolated scenes of every setting of a
    `threshold_table` that reaches the precision (NaN for the others)."""
    rates = np.full(len(table), np.nan)
    for index, row in enumerate(table):
        if not row['precision'] >= min_precision:
            continue
        rates[index] = split_rate(
            _with_setting(deblender, _setting(table, index)), isolated)
    return rates


def _with_setting(deblender, setting):
    """A copy of a deblender with another candidate setting (a value per
    column of `SETTINGS`)."""
    run = copy.copy(deblender)
    for attribute, value in zip(SETTINGS.values(), setting):
        setattr(run, attribute, value)
    return run


def calibrate(model, scenes, min_precision=0.95, thresholds=THRESHOLDS,
              min_snrs=MIN_SNRS, contained_fractions=CONTAINED_FRACTIONS,
              core_probabilities=CORE_PROBABILITIES, isolated=None,
              max_split_rate=None, **deblender_kwargs):
    """
    Calibrate a model's scores and choose its threshold on validation
    scenes.

    Parameters
    ----------
    model : str, `~pathlib.Path` or `~galseg.engine.MaskRCNN`
        The model, as `~galseg.MaskRCNNDeblender` takes it.  Any
        calibration it already has is not used: the fit starts from the
        network's own scores.
    scenes : sequence of `~galseg.simulate.Scene`
        Validation scenes, never used in training nor for testing.
    min_precision : float, optional
        The detection-level precision, in (0, 1], the threshold must
        reach.
    thresholds : sequence of float, optional
        Candidate thresholds of calibrated scores, in [0, 1].
    min_snrs : sequence of float, optional
        Candidate least segment signal-to-noise ratios (the deblender's
        ``min_snr``), >= 0.
    contained_fractions : sequence of float, optional
        Candidate values of the deblender's ``contained_fraction``, in
        (0, 1].
    core_probabilities : sequence of float, optional
        Candidate values of the deblender's ``core_probability``, in
        [0, 1].
    isolated : sequence of `~galseg.simulate.Scene`, optional
        Validation scenes of one isolated galaxy each, with real
        structure (e.g. from ``galseg/models/recipe/
        isolated_simulation.json``): the settings that reach the
        precision are run on them too, and only those splitting at most
        ``max_split_rate`` of the galaxies may be chosen.
    max_split_rate : float, optional
        The largest fraction, in [0, 1], of the isolated galaxies a
        setting may split; `MAX_SPLIT_RATE` (3%) by default.  Only with
        ``isolated``.  The fraction photutils splits
        (`galseg.evaluation.photutils_predictor` on the same scenes) is
        measured too, for comparison: on galaxies with resolved knots it
        is often far higher.
    **deblender_kwargs
        Other settings of the deblender (not ``score_threshold``,
        ``min_snr``, ``contained_fraction`` nor ``core_probability``).

    Returns
    -------
    calibration : `ModelCalibration`

    Raises
    ------
    ValueError
        If there are no scenes, the model finds nothing in them,
        ``isolated`` is empty, ``max_split_rate`` is given without it,
        or ``min_precision``, a threshold, a ``min_snr``, a
        ``contained_fraction``, a ``core_probability`` or
        ``max_split_rate`` is outside its range.
    """
    from .deblender import MaskRCNNDeblender

    min_precision = check_fraction('min_precision', min_precision,
                                   low_open=True)
    thresholds = sorted({check_fraction('threshold', t) for t in thresholds})
    min_snrs = sorted({check_number('min_snr', value, minimum=0)
                       for value in min_snrs})
    fractions = sorted({check_fraction('contained_fraction', value,
                                       low_open=True)
                        for value in contained_fractions})
    cores = sorted({check_fraction('core_probability', value)
                    for value in core_probabilities})
    if not thresholds or not min_snrs or not fractions or not cores:
        msg = ('thresholds, min_snrs, contained_fractions and '
               'core_probabilities must hold at least one value each')
        raise ValueError(msg)
    for name, candidates in (('score_threshold', 'thresholds'),
                             ('min_snr', 'min_snrs'),
                             ('contained_fraction', 'contained_fractions'),
                             ('core_probability', 'core_probabilities')):
        if name in deblender_kwargs:
            msg = (f'{name} is what calibrate chooses; give candidate '
                   f'{candidates} instead')
            raise TypeError(msg)
    scenes = list(scenes)
    if not scenes:
        msg = 'calibrate needs at least one validation scene'
        raise ValueError(msg)
    if isolated is not None:
        isolated = list(isolated)
        if not isolated:
            msg = 'isolated must hold at least one scene when given'
            raise ValueError(msg)
    if max_split_rate is not None:
        if isolated is None:
            msg = 'max_split_rate needs isolated scenes to measure splits on'
            raise ValueError(msg)
        max_split_rate = check_fraction('max_split_rate', max_split_rate)

    deblender = MaskRCNNDeblender(model, score_threshold=min(thresholds),
                                  min_snr=0.0,
                                  contained_fraction=max(fractions),
                                  core_probability=max(cores),
                                  **deblender_kwargs)
    deblender.score_calibration = None  # fit on the network's own scores
    deblender.model = _CachedNetwork(deblender.model)
    # below the lowest candidate, and every source however faint: the fit
    # must see the scores around the thresholds
    low = copy.copy(deblender)
    low.score_threshold = min(thresholds) / 2
    with _each_warning_once():  # the scenes run once per setting
        scores, is_true, _ = detection_outcomes(low, scenes)
        if len(scores) == 0:
            msg = 'the model finds no source in the validation scenes'
            raise ValueError(msg)
        score_calibration = ScoreCalibration.fit(scores, is_true)

        deblender.score_calibration = score_calibration
        table = threshold_table(deblender, scenes, thresholds, min_snrs,
                                fractions, cores)
        photutils_rate = None
        if isolated is not None:
            table['split_rate'] = _split_rates(deblender, isolated, table,
                                               min_precision)
            photutils_rate = _photutils_split_rate(isolated)
            if max_split_rate is None:
                max_split_rate = MAX_SPLIT_RATE
    calibrated = score_calibration(scores)
    score_threshold, min_snr, fraction, core = _choose(table, min_precision,
                                                       max_split_rate)
    return ModelCalibration(
        score_calibration=score_calibration,
        score_threshold=score_threshold, min_snr=min_snr,
        contained_fraction=fraction,
        min_precision=min_precision,
        reliability_before=reliability_table(scores, is_true),
        reliability_after=reliability_table(calibrated, is_true),
        thresholds=table, n_scenes=len(scenes),
        max_split_rate=max_split_rate, photutils_split_rate=photutils_rate,
        n_isolated=0 if isolated is None else len(isolated),
        core_probability=core)


def write_calibration(calibration, model_dir, overwrite=False,
                      provenance=None):
    """
    Store a calibration in a model directory (``calibration.json``).

    Parameters
    ----------
    calibration : `ModelCalibration`
    model_dir : str or `~pathlib.Path`
        The model directory (with ``config.json``).
    overwrite : bool, optional
        Replace an existing calibration.
    provenance : dict, optional
        How the calibration was made (command, data), stored with it.

    Returns
    -------
    path : `~pathlib.Path`

    Raises
    ------
    FileExistsError
        If the model has a calibration and ``overwrite`` is False.
    """
    from .models import model_directory

    if not isinstance(calibration, ModelCalibration):
        msg = ('calibration must be a ModelCalibration, got '
               f'{type(calibration).__name__}')
        raise TypeError(msg)
    path = model_directory(model_dir) / CALIBRATION_FILE
    check_writable(path, overwrite)
    chosen = calibration.chosen
    content = {
        'score_calibration': calibration.score_calibration.to_dict(),
        'score_threshold': calibration.score_threshold,
        'min_snr': calibration.min_snr,
        'contained_fraction': calibration.contained_fraction,
        'core_probability': calibration.core_probability,
        'min_precision': calibration.min_precision,
        'validation': {
            'n_scenes': calibration.n_scenes,
            'precision': float(chosen['precision']),
            'recall': float(chosen['recall']),
            'f1': float(chosen['f1']),
            'f1_err': float(chosen['f1_err']),
            'ece_before': float(calibration.reliability_before.meta['ece']),
            'ece_after': float(calibration.reliability_after.meta['ece']),
        },
        'isolated': None if calibration.max_split_rate is None else {
            'n_scenes': calibration.n_isolated,
            # not measured (NaN) when no setting reached the precision
            'split_rate': _finite_or_none(chosen['split_rate']),
            'max_split_rate': calibration.max_split_rate,
            'photutils_split_rate': calibration.photutils_split_rate,
        },
        'provenance': dict(provenance or {}),
        'created': datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec='seconds'),
    }
    with atomic_output(path, overwrite=overwrite) as temporary:
        temporary.write_text(json.dumps(content, indent=2) + '\n')
    return path


def _finite_or_none(value):
    """A float for JSON: `None` for NaN."""
    value = float(value)
    return value if np.isfinite(value) else None


class StoredCalibration(NamedTuple):
    """
    What a model directory's ``calibration.json`` holds.

    Attributes
    ----------
    score_calibration : `ScoreCalibration` or `None`
    score_threshold : float or `None`
    min_snr : float or `None`
    contained_fraction : float or `None`
    core_probability : float or `None`
        `None` for all five when the model has no calibration;
        ``min_snr``, ``contained_fraction`` and ``core_probability``
        are `None` too in a calibration made before galseg chose them
        (the deblender's defaults then apply).
    """

    score_calibration: object = None
    score_threshold: object = None
    min_snr: object = None
    contained_fraction: object = None
    core_probability: object = None


def read_calibration(model_dir):
    """
    The calibration stored in a model directory.

    Parameters
    ----------
    model_dir : str or `~pathlib.Path`
        A model directory.

    Returns
    -------
    stored : `StoredCalibration`
        The score calibration and the chosen settings; all `None` when
        the model has no calibration.

    Raises
    ------
    ValueError
        If ``calibration.json`` is not a valid calibration.
    """
    path = Path(model_dir) / CALIBRATION_FILE
    if not path.is_file():
        return StoredCalibration()
    try:
        content = json.loads(path.read_text())
        calibration = ScoreCalibration.from_dict(content['score_calibration'])
        threshold = check_fraction('score_threshold',
                                   content['score_threshold'])
        min_snr = content.get('min_snr')
        if min_snr is not None:
            min_snr = check_number('min_snr', min_snr, minimum=0)
        fraction = content.get('contained_fraction')
        if fraction is not None:
            fraction = check_fraction('contained_fraction', fraction,
                                      low_open=True)
        core = content.get('core_probability')
        if core is not None:
            core = check_fraction('core_probability', core)
    except (KeyError, TypeError, ValueError) as exc:
        msg = f'{path} is not a valid calibration: {exc}'
        raise ValueError(msg) from None
    return StoredCalibration(calibration, threshold, min_snr, fraction,
                             core)
