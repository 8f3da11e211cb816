"""
Detection and deblending metrics for instance masks (pure NumPy).

The metrics follow the COCO instance-segmentation protocol: masks are
matched greedily by descending score, each true source is matched at
most once, and the average precision (AP) is the mean, over the IoU
thresholds 0.50:0.05:0.95, of the 101-point interpolated precision
envelope.  On top of that come the numbers astronomers ask of a
deblender: the recovery of close pairs of sources as a function of
their separation in units of the PSF FWHM, and the error of the
deblended fluxes.

A dataset is evaluated image by image with `EvaluationAccumulator`,
which keeps only a few numbers per source and per detection, never the
masks; `evaluate_instances` is the one-call version for a single image.
"""

import numpy as np

__all__ = ['COCO_IOU_THRESHOLDS', 'COCO_RECALL_THRESHOLDS',
           'DEFAULT_SEPARATION_BINS', 'EvaluationAccumulator',
           'average_precision', 'close_pairs', 'detection_match_radius',
           'evaluate_instances', 'ignored_detections', 'mask_iou',
           'match_detections', 'match_instances']

#: IoU thresholds of the COCO AP: 0.50, 0.55, ..., 0.95.
COCO_IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)

#: Recall values at which COCO samples the precision envelope: 0, 0.01,
#: ..., 1 (101 points).
COCO_RECALL_THRESHOLDS = np.linspace(0.0, 1.0, 101)

#: Default bin edges of pair separation, in units of the PSF FWHM.
DEFAULT_SEPARATION_BINS = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0)

#: A true source is *blended* when its nearest true neighbour is closer
#: than this many PSF FWHM.
BLENDED_SEPARATION = 3.0

#: A detection counts in ``precision_separated`` when its true source has
#: no true neighbour closer than this many PSF FWHM.
SEPARATED = 2.0


def _validate_masks(masks, name, shape=None):
    masks = np.asarray(masks)
    if masks.ndim != 3:
        msg = (f'{name} must be a 3D array of shape (n, ny, nx); got '
               f'{masks.ndim} dimension(s)')
        raise ValueError(msg)
    if masks.dtype != bool:
        msg = f'{name} must be a boolean array; got dtype {masks.dtype}'
        raise TypeError(msg)
    if shape is not None and masks.shape[1:] != tuple(shape):
        msg = (f'{name} have image shape {masks.shape[1:]} but '
               f'{tuple(shape)} was expected')
        raise ValueError(msg)
    return masks


def _validate_vector(values, name, length, dtype=float):
    values = np.asarray(values, dtype=dtype)
    if values.ndim == 0:
        values = np.full(length, values)
    if values.shape != (length,):
        msg = f'{name} must have shape ({length},); got {values.shape}'
        raise ValueError(msg)
    return values


def _validate_bins(bins):
    bins = np.asarray(bins, dtype=float)
    if (bins.ndim != 1 or bins.size < 2 or not np.all(np.isfinite(bins))
            or np.any(np.diff(bins) <= 0) or bins[0] < 0):
        msg = ('separation_bins must be at least two finite, non-negative, '
               f'strictly increasing bin edges; got {bins.tolist()}')
        raise ValueError(msg)
    return bins


def _validate_thresholds(thresholds):
    thresholds = np.atleast_1d(np.asarray(thresholds, dtype=float))
    if (thresholds.ndim != 1 or np.any(thresholds <= 0)
            or np.any(thresholds > 1)):
        msg = ('iou_thresholds must be a 1D sequence of values in (0, 1]; '
               f'got {thresholds.tolist()}')
        raise ValueError(msg)
    return thresholds


def mask_iou(pred_masks, true_masks):
    """
    Compute the intersection over union of two sets of instance masks.

    Parameters
    ----------
    pred_masks : `~numpy.ndarray` of bool
        The predicted masks, of shape ``(n, ny, nx)``.
    true_masks : `~numpy.ndarray` of bool
        The true masks, of shape ``(m, ny, nx)``.

    Returns
    -------
    iou : `~numpy.ndarray`
        The IoU matrix, of shape ``(n, m)``.  A pair of empty masks has an
        IoU of zero.

    Raises
    ------
    ValueError, TypeError
        If the masks are not boolean 3D arrays of the same image shape.

    Examples
    --------
    >>> import numpy as np
    >>> from galseg.evaluation.metrics import mask_iou
    >>> truth = np.zeros((1, 4, 4), dtype=bool)
    >>> truth[0, :2] = True
    >>> pred = np.zeros((1, 4, 4), dtype=bool)
    >>> pred[0, :3] = True
    >>> mask_iou(pred, truth)
    array([[0.66666667]])
    """
    pred_masks = _validate_masks(pred_masks, 'pred_masks')
    true_masks = _validate_masks(true_masks, 'true_masks',
                                 shape=pred_masks.shape[1:])
    n, m = len(pred_masks), len(true_masks)
    if n == 0 or m == 0:
        return np.zeros((n, m))
    # Intersections of all pairs as one matrix product of the flattened
    # masks; float32 counts are exact up to 2**24 pixels.
    n_pixels = pred_masks[0].size
    dtype = np.float32 if n_pixels < 2**24 else np.float64
    pred = pred_masks.reshape(n, -1).astype(dtype)
    true = true_masks.reshape(m, -1).astype(dtype)
    intersection = (pred @ true.T).astype(np.float64)
    union = (pred_masks.reshape(n, -1).sum(axis=1)[:, None]
             + true_masks.reshape(m, -1).sum(axis=1)[None, :]
             - intersection)
    iou = np.zeros((n, m))
    np.divide(intersection, union, out=iou, where=union > 0)
    return iou


def match_instances(iou, scores, iou_threshold=0.5):
    """
    Match predictions to true sources greedily by descending score.

    This is the COCO matching: the predictions are taken in order of
    decreasing score (ties keep their input order) and each takes the
    still unmatched true source with which it has the largest IoU, if
    that IoU is at least ``iou_threshold``.  Each true source and each
    prediction is matched at most once, so a prediction that covers two
    true sources matches only one of them, and a duplicate prediction of
    an already matched source is a false positive.

    Parameters
    ----------
    iou : `~numpy.ndarray`
        The IoU matrix of shape ``(n_pred, n_true)``, e.g., from
        `mask_iou`.
    scores : `~numpy.ndarray`
        The prediction scores, of shape ``(n_pred,)``.
    iou_threshold : float, optional
        The minimum IoU of a match.

    Returns
    -------
    pred_to_true : `~numpy.ndarray` of int
        For each prediction, the index of its true source or -1.
    true_to_pred : `~numpy.ndarray` of int
        For each true source, the index of its prediction or -1.

    Raises
    ------
    ValueError
        If the shapes do not agree.

    Examples
    --------
    >>> import numpy as np
    >>> from galseg.evaluation.metrics import match_instances
    >>> iou = np.array([[0.8, 0.3], [0.9, 0.1]])
    >>> match_instances(iou, scores=[0.5, 0.9])
    (array([-1,  0]), array([ 1, -1]))
    """
    iou = np.asarray(iou, dtype=float)
    if iou.ndim != 2:
        msg = f'iou must be a 2D array; got {iou.ndim} dimension(s)'
        raise ValueError(msg)
    n_pred, n_true = iou.shape
    scores = _validate_vector(scores, 'scores', n_pred)
    pred_to_true = np.full(n_pred, -1)
    true_to_pred = np.full(n_true, -1)
    if n_pred == 0 or n_true == 0:
        return pred_to_true, true_to_pred
    available = np.ones(n_true, dtype=bool)
    for i in np.argsort(-scores, kind='stable'):
        candidates = np.where(available & (iou[i] >= iou_threshold),
                              iou[i], -1.0)
        j = int(np.argmax(candidates))
        if candidates[j] < 0:
            continue
        pred_to_true[i] = j
        true_to_pred[j] = i
        available[j] = False
    return pred_to_true, true_to_pred


def average_precision(scores, is_true_positive, n_true):
    """
    Compute the COCO 101-point interpolated average precision.

    The detections of all images are ranked by decreasing score (ties
    keep their input order); the precision is made monotonically
    decreasing (its upper envelope) and sampled at the recall values 0,
    0.01, ..., 1; recall values never reached contribute zero.

    Parameters
    ----------
    scores : `~numpy.ndarray`
        The scores of all detections, of shape ``(n,)``.
    is_true_positive : `~numpy.ndarray` of bool
        Whether each detection is matched to a true source.
    n_true : int
        The number of true sources, matched or not.

    Returns
    -------
    ap : float
        The average precision, NaN if ``n_true`` is zero.

    Raises
    ------
    ValueError
        If the shapes do not agree or ``n_true`` is smaller than the
        number of true positives.

    Examples
    --------
    >>> from galseg.evaluation.metrics import average_precision
    >>> average_precision([0.9, 0.8], [True, False], n_true=1)
    1.0
    >>> average_precision([0.9, 0.8], [False, True], n_true=1)
    0.5
    """
    scores = np.asarray(scores, dtype=float).ravel()
    is_tp = _validate_vector(is_true_positive, 'is_true_positive',
                             len(scores), dtype=bool)
    n_tp = int(is_tp.sum())
    if n_true < n_tp:
        msg = (f'n_true ({n_true}) is smaller than the number of true '
               f'positives ({n_tp})')
        raise ValueError(msg)
    if n_true == 0:
        return np.nan
    if len(scores) == 0:
        return 0.0
    order = np.argsort(-scores, kind='mergesort')
    tp = np.cumsum(is_tp[order])
    fp = np.cumsum(~is_tp[order])
    recall = tp / n_true
    precision = tp / (tp + fp)
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    index = np.searchsorted(recall, COCO_RECALL_THRESHOLDS, side='left')
    sampled = np.zeros(len(COCO_RECALL_THRESHOLDS))
    reached = index < len(envelope)
    sampled[reached] = envelope[index[reached]]
    return float(sampled.mean())


def match_detections(positions, scores, true_positions, max_distance):
    """
    Match detections to true sources by position, whatever their masks.

    Going down the detections by decreasing score, each is matched to
    the nearest true source not matched yet among those within their
    ``max_distance``.  Unlike `match_instances`, this does not depend
    on the shapes of the masks: a faint galaxy found on top of a bright
    one is matched even when its share of a segmentation image cannot
    reach an IoU of 0.5 with its footprint.

    Parameters
    ----------
    positions : `~numpy.ndarray`
        ``(n, 2)`` positions of the detections (e.g. centroids).
    scores : `~numpy.ndarray`
        ``(n,)`` confidences; higher is matched first.
    true_positions : `~numpy.ndarray`
        ``(m, 2)`` positions of the true sources, in the same order of
        axes.
    max_distance : float or `~numpy.ndarray`
        The largest distance of a match, e.g. one PSF FWHM, or one per
        true source, of shape ``(m,)`` (see `detection_match_radius`).

    Returns
    -------
    pred_to_true : `~numpy.ndarray` of int
        ``(n,)``: the matched true source of each detection, -1 if none.
    true_to_pred : `~numpy.ndarray` of int
        ``(m,)``: the matched detection of each true source, -1 if none.

    Examples
    --------
    >>> from galseg.evaluation.metrics import match_detections
    >>> match_detections([[0, 0], [0.5, 0], [10, 0]], [0.9, 0.8, 0.7],
    ...                  [[0.2, 0], [9, 0]], max_distance=2)
    (array([ 0, -1,  1]), array([0, 2]))
    """
    from scipy.spatial.distance import cdist

    positions = np.asarray(positions, dtype=float).reshape(-1, 2)
    true_positions = np.asarray(true_positions, dtype=float).reshape(-1, 2)
    scores = np.asarray(scores, dtype=float).reshape(-1)
    if scores.shape != (len(positions),):
        msg = (f'scores must have shape ({len(positions)},), one per '
               f'detection; got {scores.shape}')
        raise ValueError(msg)
    max_distance = np.asarray(max_distance, dtype=float)
    if max_distance.ndim > 0 and max_distance.shape != (len(true_positions),):
        msg = (f'max_distance must be a number or have shape '
               f'({len(true_positions)},); got {max_distance.shape}')
        raise ValueError(msg)
    max_distance = np.broadcast_to(max_distance, (len(true_positions),))
    pred_to_true = np.full(len(positions), -1)
    true_to_pred = np.full(len(true_positions), -1)
    if len(positions) == 0 or len(true_positions) == 0:
        return pred_to_true, true_to_pred
    distance = cdist(positions, true_positions)
    distance[~np.isfinite(distance) | (distance > max_distance)] = np.inf
    for index in np.argsort(-scores, kind='stable'):
        candidates = np.where(true_to_pred < 0, distance[index], np.inf)
        nearest = int(np.argmin(candidates))
        if np.isfinite(candidates[nearest]):
            pred_to_true[index] = nearest
            true_to_pred[nearest] = index
    return pred_to_true, true_to_pred


def ignored_detections(positions, scores, pred_to_true, ignored_positions,
                       max_distance):
    """
    Which unmatched detections are detections of ignored sources.

    The detections that `match_detections` left unmatched are matched
    the same way to the positions of real sources that the truth does
    not score (sources too faint to have a footprint): such a detection
    is neither true nor false, as COCO scores its crowd regions.

    Parameters
    ----------
    positions, scores : `~numpy.ndarray`
        The detections, as for `match_detections`.
    pred_to_true : `~numpy.ndarray` of int
        Their matches to the true sources, from `match_detections`.
    ignored_positions : `~numpy.ndarray` or `None`
        ``(k, 2)`` positions of the ignored sources.
    max_distance : float or `~numpy.ndarray`
        The largest distance of a match, one value or one per ignored
        source (see `detection_match_radius`).

    Returns
    -------
    ignored : `~numpy.ndarray` of bool
        ``(n,)``: whether each detection is one of an ignored source.
    """
    pred_to_true = np.asarray(pred_to_true).reshape(-1)
    ignored = np.zeros(len(pred_to_true), dtype=bool)
    left = np.flatnonzero(pred_to_true < 0)
    if ignored_positions is None or len(left) == 0:
        return ignored
    positions = np.asarray(positions, dtype=float).reshape(-1, 2)
    scores = np.asarray(scores, dtype=float).reshape(-1)
    to_ignored, _ = match_detections(positions[left], scores[left],
                                     ignored_positions, max_distance)
    ignored[left[to_ignored >= 0]] = True
    return ignored


def detection_match_radius(psf_fwhm, half_light_radii=None):
    """
    How far from a true source a detection may lie and still be it.

    One PSF FWHM, or the source's half-light radius where that is
    larger: the centroid of a resolved galaxy's segment (an irregular
    galaxy, an offset bulge, a share cut by a neighbour) can lie more
    than a small PSF's FWHM from the galaxy's centre.  (Of the
    space-like galaxies of the sky-like validation scenes, 10% have the
    centroid of their own light in their footprint more than one PSF
    FWHM from their centre; none more than this radius.)

    Parameters
    ----------
    psf_fwhm : float
        The PSF FWHM in pixels.
    half_light_radii : `~numpy.ndarray`, optional
        The half-light radius of each true source in pixels (NaN where
        unknown, 0 for stars).

    Returns
    -------
    radius : float or `~numpy.ndarray`
        ``psf_fwhm`` without ``half_light_radii``, else one radius per
        source.

    Examples
    --------
    >>> from galseg.evaluation.metrics import detection_match_radius
    >>> detection_match_radius(2.0, [0.0, 1.5, 6.0, float('nan')])
    array([2., 2., 6., 2.])
    """
    psf_fwhm = float(psf_fwhm)
    if not psf_fwhm > 0:
        msg = f'psf_fwhm must be positive; got {psf_fwhm}'
        raise ValueError(msg)
    if half_light_radii is None:
        return psf_fwhm
    radii = np.asarray(half_light_radii, dtype=float).reshape(-1)
    return np.fmax(psf_fwhm, np.where(radii > 0, radii, np.nan))


def close_pairs(positions, max_separation):
    """
    Find the unordered pairs of sources closer than a given separation.

    Parameters
    ----------
    positions : `~numpy.ndarray`
        The source positions, of shape ``(m, 2)`` (any consistent
        order of axes, e.g., ``(x, y)``).
    max_separation : float
        Pairs with a separation strictly smaller than this are returned
        (same units as ``positions``).

    Returns
    -------
    first, second : `~numpy.ndarray` of int
        The indices of the two members of each pair (``first <
        second``).
    separation : `~numpy.ndarray`
        The separation of each pair.

    Examples
    --------
    >>> from galseg.evaluation.metrics import close_pairs
    >>> close_pairs([[0, 0], [3, 4], [30, 0]], max_separation=10)
    (array([0]), array([1]), array([5.]))
    """
    positions = np.asarray(positions, dtype=float).reshape(-1, 2)
    first, second = np.triu_indices(len(positions), k=1)
    separation = np.hypot(*(positions[first] - positions[second]).T)
    close = separation < max_separation
    return first[close], second[close], separation[close]


def _mask_centroids(masks):
    # (x, y) centroid of each mask; NaN for an empty mask.
    ny, nx = masks.shape[1:]
    area = masks.sum(axis=(1, 2)).astype(float)
    with np.errstate(invalid='ignore', divide='ignore'):
        x = masks.sum(axis=1) @ np.arange(nx) / area
        y = masks.sum(axis=2) @ np.arange(ny) / area
    return np.stack([x, y], axis=-1)


def _relative_errors(pred_fluxes, true_fluxes):
    # |measured - true| / |true|, per band where both sides have bands,
    # on the total over bands where either side is one value per source.
    pred = np.asarray(pred_fluxes, dtype=float)
    true = np.asarray(true_fluxes, dtype=float)
    if pred.ndim == 2 and true.ndim == 2 and pred.shape[1] != true.shape[1]:
        msg = (f'the predicted fluxes have {pred.shape[1]} bands but the '
               f'true fluxes have {true.shape[1]}')
        raise ValueError(msg)
    if pred.ndim != true.ndim:
        pred = pred.sum(axis=1) if pred.ndim == 2 else pred
        true = true.sum(axis=1) if true.ndim == 2 else true
    pred, true = pred.ravel(), true.ravel()
    good = np.isfinite(pred) & np.isfinite(true) & (true != 0)
    return np.abs(pred[good] - true[good]) / np.abs(true[good])


def _validate_positions(positions, masks, name):
    # (x, y) positions of the masks' sources; their centroids if None.
    if positions is None:
        return _mask_centroids(masks)
    positions = np.asarray(positions, dtype=float)
    if positions.shape != (len(masks), 2):
        msg = (f'{name} must have shape ({len(masks)}, 2); got '
               f'{positions.shape}')
        raise ValueError(msg)
    return positions


def _validate_ignored(positions, half_light_radii):
    """The ``ignored_positions`` and ``ignored_half_light_radii`` of
    `EvaluationAccumulator.add`, validated."""
    if positions is None:
        if half_light_radii is not None:
            msg = 'ignored_half_light_radii needs ignored_positions'
            raise ValueError(msg)
        return None, None
    positions = np.asarray(positions, dtype=float)
    if positions.size == 0:
        positions = positions.reshape(0, 2)
    if positions.ndim != 2 or positions.shape[1] != 2:
        msg = (f'ignored_positions must have shape (k, 2); got '
               f'{positions.shape}')
        raise ValueError(msg)
    if half_light_radii is not None:
        half_light_radii = _validate_radii(
            half_light_radii, 'ignored_half_light_radii', len(positions))
    return positions, half_light_radii


def _validate_radii(radii, name, n):
    # one non-negative half-light radius per source
    radii = _validate_vector(radii, name, n)
    if np.any(radii < 0):
        msg = f'{name} must not be negative'
        raise ValueError(msg)
    return radii


def _validate_fluxes(fluxes, name, n):
    fluxes = np.asarray(fluxes, dtype=float)
    if fluxes.ndim not in (1, 2) or len(fluxes) != n:
        msg = (f'{name} must have shape ({n},) or ({n}, n_bands); got '
               f'{fluxes.shape}')
        raise ValueError(msg)
    return fluxes


class EvaluationAccumulator:
    """
    Accumulate detection and deblending metrics image by image.

    Call `add` once per image with the predicted and the true instance
    masks, then `summary` for the dataset-level numbers.  Only a few
    numbers per detection and per true source are kept, never the
    masks, so arbitrarily large datasets can be evaluated.

    Parameters
    ----------
    separation_bins : sequence of float, optional
        The bin edges of the separation between true sources, in units
        of the PSF FWHM, for the pair recovery and the AP as a function
        of separation.
    iou_thresholds : sequence of float, optional
        The IoU thresholds of the AP (COCO's 0.50:0.05:0.95 by default).
        They must include 0.5 and 0.75 for ``AP50`` and ``AP75`` to be
        reported (NaN otherwise).

    Notes
    -----
    * **Matching**: per image and per IoU threshold, with
      `match_instances`.  Images without predictions or without true
      sources count: their true sources are false negatives and their
      predictions false positives.
    * **AP, AP50, AP75**: the `average_precision` over all images at
      each IoU threshold; AP is the mean over the thresholds.  There is
      no cap on the number of detections per image (COCO keeps 100).
    * **precision, recall, F1**: at IoU 0.5 for the predictions as
      given, i.e., at the method's own operating point.  ``F1 = 2 TP /
      (n_pred + n_true)``, which is zero (not undefined) when there are
      no predictions.
    * **Pair recovery**: a *pair* is each unordered pair of true sources
      closer than the last bin edge (5 PSF FWHM by default); it is
      *recovered* when both members are matched at IoU >= 0.5.  Pairs
      are binned by their separation divided by the PSF FWHM;
      ``blend_recovery`` is the recovered fraction of all pairs.
    * **AP versus separation**: each true source is put in the bin of
      the distance to its nearest true neighbour (sources with no
      neighbour within the last edge are in no bin).  The AP of a bin
      uses the true sources of that bin; a matched detection belongs to
      the bin of its source, an unmatched one to the bin of the true
      source it overlaps most or, if it overlaps none, of the true
      source nearest to its centroid.
    * **Flux error**: the median over matched sources (IoU >= 0.5), and
      over bands when both fluxes have bands, of ``|measured - true| /
      |true|``.  If one side has a single flux per source, the other is
      summed over bands.
    * **Detection level** (needs ``psf_fwhm``): a detection is true when
      its position (``pred_positions``, else its mask centroid) lies
      within one PSF FWHM, or the half-light radius where that is larger
      (``true_half_light_radii``, `detection_match_radius`), of a true
      source not matched yet, going down
      the detections by score (`match_detections`), whatever the shape
      of its mask.  ``det_precision`` and ``det_recall`` count these
      matches; an unmatched detection is a *fragment* when at least
      half of its mask lies in the true footprints, else *spurious*
      (``fragments`` and ``spurious`` are fractions of all
      detections); ``det_pair_recovery`` is the pair recovery with
      these matches.  Real sources without a footprint (too faint to
      reach the footprint threshold anywhere: ``ignored_positions``)
      are scored as COCO scores its crowd regions: a detection left
      unmatched that lies within their match radius is neither true nor
      false, and is left out of ``det_precision``, ``fragments``,
      ``spurious`` and the counts (``n_ignored`` such detections).
    * **Counts**: ``over_count`` and ``under_count`` are the fractions
      of images with more, and with fewer, detections (less the
      ignored ones) than true sources.
    * **Total and segment flux errors** (detection-level matches): the
      median relative error of ``pred_fluxes`` (a method's own best
      total flux) and of ``pred_segment_fluxes`` (the sums of the data
      in the segments), over all found sources and over the
      *blended* ones, whose nearest true neighbour is closer than
      `BLENDED_SEPARATION` PSF FWHM.
    """

    def __init__(self, separation_bins=DEFAULT_SEPARATION_BINS,
                 iou_thresholds=COCO_IOU_THRESHOLDS):
        self.separation_bins = _validate_bins(separation_bins)
        self.iou_thresholds = _validate_thresholds(iou_thresholds)
        self._i50 = self._threshold_index(0.5)
        if self._i50 is None:
            msg = 'iou_thresholds must include 0.5'
            raise ValueError(msg)
        self.n_images = 0
        self.n_true = 0
        self._scores = []
        self._is_tp = []  # (n_pred, n_thresholds) per image
        self._bins = []  # (n_pred, n_thresholds) per image
        self._true_bins = []
        self._pair_bins = []
        self._pair_recovered = []
        self._flux_errors = []
        self._source_flux_errors = []
        self._count_difference = []
        self._n_det_true_positive = 0
        self._n_det_ignored = 0
        self._n_fragments = 0
        self._n_spurious = 0
        self._det_pair_recovered = []
        self._source_total_errors = []
        self._source_segment_errors = []
        self._source_separation = []
        self._pred_separation = []

    def __repr__(self):
        bins = self.separation_bins.tolist()
        return (f'<{self.__class__.__name__}(separation_bins={bins}, '
                f'n_thresholds={len(self.iou_thresholds)}, '
                f'n_images={self.n_images})>')

    def _threshold_index(self, value):
        index = np.flatnonzero(np.isclose(self.iou_thresholds, value))
        return int(index[0]) if index.size else None

    def _bin_index(self, separation_fwhm):
        # Bin index of each separation (in FWHM), -1 outside the bins.
        edges = self.separation_bins
        index = np.searchsorted(edges, separation_fwhm, side='right') - 1
        index[(index < 0) | (index >= len(edges) - 1)] = -1
        return index

    def add(self, pred_masks, pred_scores, true_masks, *, pred_fluxes=None,
            true_fluxes=None, true_positions=None, psf_fwhm=None,
            pred_positions=None, pred_segment_fluxes=None,
            true_half_light_radii=None, ignored_positions=None,
            ignored_half_light_radii=None):
        """
        Add the predictions and the truth of one image.

        Parameters
        ----------
        pred_masks : `~numpy.ndarray` of bool
            The predicted instance masks, of shape ``(n, ny, nx)``
            (``n`` may be zero).
        pred_scores : `~numpy.ndarray`
            The confidence of each prediction, of shape ``(n,)``; higher
            is more confident.
        true_masks : `~numpy.ndarray` of bool
            The true footprints, of shape ``(m, ny, nx)`` (``m`` may be
            zero).
        pred_fluxes, true_fluxes : `~numpy.ndarray`, optional
            The measured and the true fluxes, of shape ``(n,)`` or ``(n,
            n_bands)`` and ``(m,)`` or ``(m, n_bands)``; both are needed
            for the flux error.
        true_positions : `~numpy.ndarray`, optional
            The ``(x, y)`` positions of the true sources, of shape ``(m,
            2)``; the mask centroids if not given.
        psf_fwhm : float, optional
            The PSF FWHM in pixels; the separation and detection-level
            statistics of this image are not accumulated if it is not
            given.
        pred_positions : `~numpy.ndarray`, optional
            The ``(x, y)`` positions of the detections, of shape ``(n,
            2)``, for the detection-level matching; the mask centroids
            if not given.
        pred_segment_fluxes : `~numpy.ndarray`, optional
            The sums of the data in the predicted segments, shaped like
            ``pred_fluxes``.
        true_half_light_radii : `~numpy.ndarray`, optional
            The half-light radius of each true source in pixels, of
            shape ``(m,)`` (NaN where unknown): a detection-level match
            reaches this far where it is larger than the PSF FWHM.
        ignored_positions : `~numpy.ndarray`, optional
            The ``(x, y)`` positions of real sources that have no
            footprint, of shape ``(k, 2)``: detections of them (by
            position, as for the true sources, after those) count as
            neither true nor false at the detection level.  Used only
            with ``psf_fwhm``.
        ignored_half_light_radii : `~numpy.ndarray`, optional
            Their half-light radii in pixels, of shape ``(k,)``, as
            ``true_half_light_radii``.

        Raises
        ------
        ValueError, TypeError
            If the inputs have wrong shapes or types.
        """
        pred_masks = _validate_masks(pred_masks, 'pred_masks')
        true_masks = _validate_masks(true_masks, 'true_masks',
                                     shape=pred_masks.shape[1:])
        n_pred, n_true = len(pred_masks), len(true_masks)
        pred_scores = _validate_vector(pred_scores, 'pred_scores', n_pred)
        if pred_fluxes is not None:
            pred_fluxes = _validate_fluxes(pred_fluxes, 'pred_fluxes',
                                           n_pred)
        if pred_segment_fluxes is not None:
            pred_segment_fluxes = _validate_fluxes(
                pred_segment_fluxes, 'pred_segment_fluxes', n_pred)
        pred_positions = _validate_positions(pred_positions, pred_masks,
                                             'pred_positions')
        if true_fluxes is not None:
            true_fluxes = _validate_fluxes(true_fluxes, 'true_fluxes',
                                           n_true)
        true_positions = _validate_positions(true_positions, true_masks,
                                             'true_positions')
        if true_half_light_radii is not None:
            true_half_light_radii = _validate_radii(
                true_half_light_radii, 'true_half_light_radii', n_true)
        ignored_positions, ignored_half_light_radii = _validate_ignored(
            ignored_positions, ignored_half_light_radii)
        if psf_fwhm is not None:
            psf_fwhm = float(psf_fwhm)
            if not psf_fwhm > 0:
                msg = f'psf_fwhm must be positive; got {psf_fwhm}'
                raise ValueError(msg)

        iou = mask_iou(pred_masks, true_masks)
        n_thr = len(self.iou_thresholds)
        is_tp = np.zeros((n_pred, n_thr), dtype=bool)
        matched = np.full((n_pred, n_thr), -1)
        true_to_pred_50 = np.full(n_true, -1)
        for k, threshold in enumerate(self.iou_thresholds):
            pred_to_true, true_to_pred = match_instances(iou, pred_scores,
                                                         threshold)
            is_tp[:, k] = pred_to_true >= 0
            matched[:, k] = pred_to_true
            if k == self._i50:
                true_to_pred_50 = true_to_pred
                pred_to_true_50 = pred_to_true

        bins = np.full((n_pred, n_thr), -1)
        # nearest true neighbour (PSF FWHM) of each prediction's source
        pred_separation = np.full(n_pred, np.nan)
        if psf_fwhm is not None:
            true_bins = self._true_source_bins(true_positions, psf_fwhm)
            self._true_bins.append(true_bins)
            pred_separation[:] = np.inf
            if n_true > 0:
                home = self._home_sources(pred_masks, iou, true_positions)
                source = np.where(matched >= 0, matched, home[:, None])
                bins = true_bins[source]
                pred_separation = _nearest_neighbour_distance(
                    true_positions)[source[:, self._i50]] / psf_fwhm
            first, second, separation = close_pairs(
                true_positions, self.separation_bins[-1] * psf_fwhm)
            self._pair_bins.append(self._bin_index(separation / psf_fwhm))
            self._pair_recovered.append((true_to_pred_50[first] >= 0)
                                        & (true_to_pred_50[second] >= 0))

        source_errors = np.full(n_true, np.nan)
        if pred_fluxes is not None and true_fluxes is not None:
            hit = pred_to_true_50 >= 0
            self._flux_errors.append(_relative_errors(
                pred_fluxes[hit], true_fluxes[pred_to_true_50[hit]]))
            for index in np.flatnonzero(hit):
                errors = _relative_errors(
                    pred_fluxes[index:index + 1],
                    true_fluxes[pred_to_true_50[index]:
                                pred_to_true_50[index] + 1])
                if errors.size:
                    source_errors[pred_to_true_50[index]] = np.median(errors)
        self._source_flux_errors.append(source_errors)
        n_ignored = 0
        if psf_fwhm is not None:
            n_ignored = self._add_detection_level(
                pred_masks, pred_scores, pred_positions, true_masks,
                true_positions, psf_fwhm, pred_fluxes, pred_segment_fluxes,
                true_fluxes, true_half_light_radii, ignored_positions,
                ignored_half_light_radii)
        self._count_difference.append(n_pred - n_ignored - n_true)

        self._scores.append(pred_scores)
        self._is_tp.append(is_tp)
        self._bins.append(bins)
        self._pred_separation.append(pred_separation)
        self.n_true += n_true
        self.n_images += 1

    def _add_detection_level(self, pred_masks, pred_scores, pred_positions,
                             true_masks, true_positions, psf_fwhm,
                             pred_fluxes, pred_segment_fluxes, true_fluxes,
                             true_half_light_radii, ignored_positions,
                             ignored_half_light_radii):
        """Accumulate the detection-level statistics of one image;
        return the number of detections of ignored sources."""
        n_true = len(true_masks)
        pred_to_true, true_to_pred = match_detections(
            pred_positions, pred_scores, true_positions,
            detection_match_radius(psf_fwhm, true_half_light_radii))
        found = pred_to_true >= 0
        ignored = ignored_detections(
            pred_positions, pred_scores, pred_to_true, ignored_positions,
            detection_match_radius(psf_fwhm, ignored_half_light_radii))
        self._n_det_true_positive += int(found.sum())
        self._n_det_ignored += int(ignored.sum())
        footprints = true_masks.any(axis=0)
        area = pred_masks.sum(axis=(1, 2))
        inside = (pred_masks & footprints).sum(axis=(1, 2))
        unmatched = ~found & ~ignored
        fragment = unmatched & (2 * inside >= np.maximum(area, 1))
        self._n_fragments += int(fragment.sum())
        self._n_spurious += int((unmatched & ~fragment).sum())
        first, second, _ = close_pairs(true_positions,
                                       self.separation_bins[-1] * psf_fwhm)
        self._det_pair_recovered.append((true_to_pred[first] >= 0)
                                        & (true_to_pred[second] >= 0))
        for pred, errors in ((pred_fluxes, self._source_total_errors),
                             (pred_segment_fluxes,
                              self._source_segment_errors)):
            source_errors = np.full(n_true, np.nan)
            if pred is not None and true_fluxes is not None:
                for index in np.flatnonzero(true_to_pred >= 0):
                    error = _relative_errors(
                        pred[true_to_pred[index]][np.newaxis],
                        true_fluxes[index][np.newaxis])
                    if error.size:
                        source_errors[index] = np.median(error)
            errors.append(source_errors)
        self._source_separation.append(
            _nearest_neighbour_distance(true_positions) / psf_fwhm)
        return int(ignored.sum())

    def _true_source_bins(self, positions, psf_fwhm):
        if len(positions) < 2:
            return np.full(len(positions), -1)
        distance = np.hypot(*(positions[:, None, :]
                              - positions[None, :, :]).transpose(2, 0, 1))
        np.fill_diagonal(distance, np.inf)
        return self._bin_index(distance.min(axis=1) / psf_fwhm)

    @staticmethod
    def _home_sources(pred_masks, iou, true_positions):
        # The true source each prediction belongs to when unmatched: the
        # one it overlaps most, else the one nearest to its centroid.
        home = np.argmax(iou, axis=1)
        no_overlap = iou.max(axis=1) <= 0
        if no_overlap.any():
            centroids = _mask_centroids(pred_masks[no_overlap])
            distance = np.hypot(*(centroids[:, None, :]
                                  - true_positions[None, :, :])
                                .transpose(2, 0, 1))
            distance[np.isnan(distance)] = np.inf
            home[no_overlap] = np.argmin(distance, axis=1)
        return home

    def summary(self):
        """
        Return the dataset-level metrics.

        Returns
        -------
        summary : dict
            With keys ``AP``, ``AP50``, ``AP75`` and ``AP_per_threshold``
            (one value per IoU threshold); ``precision``, ``recall``,
            ``F1``, ``n_true``, ``n_pred``, ``n_true_positive`` (at IoU
            0.5); ``precision_separated`` (precision at IoU 0.5 of the
            detections whose true source, matched or overlapped most,
            has no true neighbour closer than `SEPARATED` PSF FWHM; with
            ``psf_fwhm``); ``median_flux_error``, ``n_flux`` and
            ``source_flux_errors`` (per true source in the order added,
            its relative flux error, the median over bands, NaN when it
            was not matched or has no flux: compare methods on the
            sources they all found);
            ``separation_bins`` (the edges), ``pair_recovery``,
            ``n_pairs``, ``n_pairs_recovered``, ``ap_vs_separation`` and
            ``n_true_per_bin`` (one value per bin), ``blend_recovery``
            (over all pairs) and ``n_images``; at the detection level
            (see the class notes; with ``psf_fwhm``), ``det_precision``,
            ``det_recall``, ``fragments``, ``spurious``, ``n_ignored``,
            ``det_pair_recovery`` (per bin), ``total_flux_error``,
            ``total_flux_error_blended``, ``segment_flux_error``,
            ``segment_flux_error_blended``, ``source_total_flux_errors``,
            ``source_segment_flux_errors`` and ``source_separation``
            (nearest true neighbour in PSF FWHM, per true source); and
            ``over_count`` and ``under_count``.  Undefined values (no
            true sources, no pairs in a bin, ...) are NaN.
        """
        n_thr = len(self.iou_thresholds)
        n_bins = len(self.separation_bins) - 1
        scores = np.concatenate(self._scores) if self._scores else np.zeros(0)
        is_tp = (np.concatenate(self._is_tp) if self._is_tp
                 else np.zeros((0, n_thr), bool))
        bins = (np.concatenate(self._bins) if self._bins
                else np.zeros((0, n_thr), int))
        ap = np.array([average_precision(scores, is_tp[:, k], self.n_true)
                       for k in range(n_thr)])
        i75 = self._threshold_index(0.75)

        n_pred = len(scores)
        n_tp = int(is_tp[:, self._i50].sum())
        precision = n_tp / n_pred if n_pred else np.nan
        pred_separation = (np.concatenate(self._pred_separation)
                           if self._pred_separation else np.zeros(0))
        separated = pred_separation >= SEPARATED
        precision_separated = (is_tp[separated, self._i50].mean()
                               if separated.any() else np.nan)
        recall = n_tp / self.n_true if self.n_true else np.nan
        total = n_pred + self.n_true
        f1 = 2 * n_tp / total if total else np.nan

        true_bins = (np.concatenate(self._true_bins) if self._true_bins
                     else np.zeros(0, int))
        n_true_per_bin = np.bincount(true_bins[true_bins >= 0],
                                     minlength=n_bins)
        ap_vs_separation = np.full(n_bins, np.nan)
        for b in range(n_bins):
            if n_true_per_bin[b] == 0:
                continue
            ap_vs_separation[b] = np.mean([
                average_precision(scores[bins[:, k] == b],
                                  is_tp[bins[:, k] == b, k],
                                  n_true_per_bin[b])
                for k in range(n_thr)])

        pair_bins = (np.concatenate(self._pair_bins) if self._pair_bins
                     else np.zeros(0, int))
        recovered = (np.concatenate(self._pair_recovered)
                     if self._pair_recovered else np.zeros(0, bool))
        inside = pair_bins >= 0
        n_pairs = np.bincount(pair_bins[inside], minlength=n_bins)
        n_recovered = np.bincount(pair_bins[inside],
                                  weights=recovered[inside],
                                  minlength=n_bins).astype(int)
        pair_recovery = np.full(n_bins, np.nan)
        np.divide(n_recovered, n_pairs, out=pair_recovery,
                  where=n_pairs > 0)
        n_all_pairs = int(inside.sum())
        blend_recovery = (recovered[inside].sum() / n_all_pairs
                          if n_all_pairs else np.nan)

        flux_errors = (np.concatenate(self._flux_errors)
                       if self._flux_errors else np.zeros(0))
        median_flux_error = (float(np.median(flux_errors))
                             if flux_errors.size else np.nan)
        source_flux_errors = (np.concatenate(self._source_flux_errors)
                              if self._source_flux_errors else np.zeros(0))
        detection_level = self._detection_level_summary(pair_bins, n_pairs)

        return {
            'AP': float(np.mean(ap)),
            'AP50': float(ap[self._i50]),
            'AP75': float(ap[i75]) if i75 is not None else np.nan,
            'AP_per_threshold': ap,
            'precision': float(precision),
            'precision_separated': float(precision_separated),
            'recall': float(recall),
            'F1': float(f1),
            'n_true': int(self.n_true),
            'n_pred': int(n_pred),
            'n_true_positive': n_tp,
            'median_flux_error': median_flux_error,
            'n_flux': int(flux_errors.size),
            'source_flux_errors': source_flux_errors,
            'separation_bins': self.separation_bins.copy(),
            'pair_recovery': pair_recovery,
            'n_pairs': n_pairs,
            'n_pairs_recovered': n_recovered,
            'blend_recovery': float(blend_recovery),
            'ap_vs_separation': ap_vs_separation,
            'n_true_per_bin': n_true_per_bin,
            'n_images': int(self.n_images),
            **detection_level,
        }

    def _detection_level_summary(self, pair_bins, n_pairs):
        n_pred = (sum(len(scores) for scores in self._scores)
                  - self._n_det_ignored)
        difference = np.array(self._count_difference)
        n_images = max(self.n_images, 1)
        summary = {
            'n_ignored': int(self._n_det_ignored),
            'det_precision': (self._n_det_true_positive / n_pred
                              if n_pred else np.nan),
            'det_recall': (self._n_det_true_positive / self.n_true
                           if self.n_true else np.nan),
            'fragments': self._n_fragments / n_pred if n_pred else np.nan,
            'spurious': self._n_spurious / n_pred if n_pred else np.nan,
            'over_count': float(np.sum(difference > 0) / n_images),
            'under_count': float(np.sum(difference < 0) / n_images),
        }
        recovered = (np.concatenate(self._det_pair_recovered)
                     if self._det_pair_recovered else np.zeros(0, bool))
        inside = pair_bins >= 0
        n_recovered = np.bincount(pair_bins[inside],
                                  weights=recovered[inside],
                                  minlength=len(n_pairs))
        det_pair_recovery = np.full(len(n_pairs), np.nan)
        np.divide(n_recovered, n_pairs, out=det_pair_recovery,
                  where=n_pairs > 0)
        summary['det_pair_recovery'] = det_pair_recovery
        separation = (np.concatenate(self._source_separation)
                      if self._source_separation else np.zeros(0))
        blended = separation < BLENDED_SEPARATION
        for kind, errors in (('total', self._source_total_errors),
                             ('segment', self._source_segment_errors)):
            errors = np.concatenate(errors) if errors else np.zeros(0)
            summary[f'source_{kind}_flux_errors'] = errors
            for suffix, chosen in (('', np.ones(len(errors), bool)),
                                   ('_blended', blended)):
                values = errors[chosen & np.isfinite(errors)]
                summary[f'{kind}_flux_error{suffix}'] = (
                    float(np.median(values)) if values.size else np.nan)
        summary['source_separation'] = separation
        return summary


def _nearest_neighbour_distance(positions):
    """Distance from each position to its nearest other one (inf alone)."""
    from scipy.spatial import KDTree

    if len(positions) < 2:
        return np.full(len(positions), np.inf)
    distance, _ = KDTree(positions).query(positions, k=2)
    return distance[:, 1]


def evaluate_instances(pred_masks, pred_scores, true_masks, *,
                       pred_fluxes=None, true_fluxes=None,
                       true_positions=None, psf_fwhm=None,
                       pred_positions=None, pred_segment_fluxes=None,
                       true_half_light_radii=None, ignored_positions=None,
                       ignored_half_light_radii=None,
                       separation_bins=DEFAULT_SEPARATION_BINS,
                       iou_thresholds=COCO_IOU_THRESHOLDS):
    """
    Compute all the metrics of one image.

    This is `EvaluationAccumulator` with a single `~EvaluationAccumulator.
    add`; see there for the definitions and the parameters.

    Returns
    -------
    summary : dict
        See `EvaluationAccumulator.summary`.

    Examples
    --------
    >>> import numpy as np
    >>> from galseg.evaluation.metrics import evaluate_instances
    >>> truth = np.zeros((2, 8, 8), dtype=bool)
    >>> truth[0, :4, :4] = True
    >>> truth[1, 4:, 4:] = True
    >>> result = evaluate_instances(truth[:1], [1.0], truth)
    >>> result['precision'], result['recall'], result['AP50']
    (1.0, 0.5, 0.504950495049505)
    """
    accumulator = EvaluationAccumulator(separation_bins=separation_bins,
                                        iou_thresholds=iou_thresholds)
    accumulator.add(pred_masks, pred_scores, true_masks,
                    pred_fluxes=pred_fluxes, true_fluxes=true_fluxes,
                    true_positions=true_positions, psf_fwhm=psf_fwhm,
                    pred_positions=pred_positions,
                    pred_segment_fluxes=pred_segment_fluxes,
                    true_half_light_radii=true_half_light_radii,
                    ignored_positions=ignored_positions,
                    ignored_half_light_radii=ignored_half_light_radii)
    return accumulator.summary()
