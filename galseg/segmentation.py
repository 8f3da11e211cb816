"""
From the network's detections to what users get: one galaxy, one source.

The network proposes instance masks that may overlap, repeat a source
or cover only a piece of one.  `~galseg.MaskRCNNDeblender` turns them
into its outputs in four steps, each a function of this module:

1. `suppress_merged` drops every detection whose instance mask spans
   two or more sources found separately (a mask over a pair), and
   `suppress_contained` every detection whose instance mask lies
   mostly inside the instance masks of more confident detections: a
   galaxy (or a piece of one, or a pair already found as two) found
   again.
2. `segment_labels` gives each pixel to the source of highest mask
   probability there and makes every segment one connected region
   (8-connected, as in `~photutils.segmentation.detect_sources`) of at
   least ``n_pixels`` pixels.  Islands of a source and segments that
   are too small go to the source that surrounds them (the one sharing
   most of their border) or to the background; a source left without
   pixels is dropped.  A source whose segment is not significant (the
   signal-to-noise ratio of its flux, `segment_snr`, with the noise
   scaled by `correlated_noise_factor` where the pixels' noise is
   correlated, below the deblender's ``min_snr``) is dropped too and
   the segments are drawn again without it: a detection of noise, or
   one that the network's masks gave a patch of empty sky.
   The segments of sources brighter than the network is shown
   (`galseg.tiling.MAX_TILE_SNR`) are grown over the rest of their
   footprint in the data (`grow_bright_segments`).
3. `flux_shares` splits the data between the sources, in proportion
   to the product of each source's mask probability (in its instance
   mask grown by a few pixels) and a smooth model of its brightness
   (an elliptical Gaussian with the moments and flux of its segment).
   The shares of every unmasked pixel add up to one, so flux is
   conserved: each source's deblended image is the data times its
   share.
4. `kron_fluxes` measures the total flux of each source on its
   deblended image, in the source's Kron aperture (photutils'
   `~photutils.segmentation.SourceCatalog.kron_aperture`).
"""

import numpy as np
from scipy import ndimage

__all__ = ['suppress_merged', 'suppress_nested', 'suppress_contained',
           'segment_labels', 'grow_bright_segments', 'segment_snr',
           'correlated_noise_factor', 'flux_shares', 'kron_fluxes']

#: 8-connectivity, as photutils' default.
_CONNECTIVITY = np.ones((3, 3), dtype=bool)

#: Weight of a grown mask's pixels where the mask probability is lower.
_WING_WEIGHT = 1e-3


def _region(det):
    y0, x0, y1, x1 = det.bbox
    return slice(y0, y1), slice(x0, x1)


#: A part of a merged mask lies at least this fraction inside it, is at
#: most `_MAX_PART_AREA` of its area, and overlaps the other parts by
#: less than `_MAX_PART_OVERLAP` of the smaller one; the parts cover at
#: least `_MIN_MERGE_COVER` of the merged mask.
_MIN_PART_INSIDE = 0.5
_MAX_PART_AREA = 0.8
_MAX_PART_OVERLAP = 0.5
_MIN_MERGE_COVER = 0.7


def _crop(values, bbox, box):
    """
    ``values`` given in ``bbox``, in ``box``: zero where ``bbox`` does
    not reach (boxes are ``(iymin, ixmin, iymax, ixmax)``).
    """
    y0, x0, y1, x1 = box
    out = np.zeros((y1 - y0, x1 - x0), dtype=values.dtype)
    vy0, vx0, vy1, vx1 = bbox
    cy0, cx0 = max(y0, vy0), max(x0, vx0)
    cy1, cx1 = min(y1, vy1), min(x1, vx1)
    if cy0 < cy1 and cx0 < cx1:
        out[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0] = values[
            cy0 - vy0:cy1 - vy0, cx0 - vx0:cx1 - vx0]
    return out


def _intersecting(boxes, box):
    """Which ``(iymin, ixmin, iymax, ixmax)`` boxes intersect ``box``."""
    y0, x0, y1, x1 = box
    return np.flatnonzero((boxes[:, 0] < y1) & (boxes[:, 2] > y0)
                          & (boxes[:, 1] < x1) & (boxes[:, 3] > x0))


def suppress_merged(detections, mask_threshold):
    """
    Drop detections whose mask spans sources found separately.

    A detection is a merge of others, and is dropped whatever its score,
    when at least two detections lie mostly (half or more) inside its
    instance mask, are each at most 0.8 of its area, are distinct (each
    overlaps the others by less than half of the smaller one) and
    together cover at least 0.7 of it.  Small pieces, such as the
    bright knots of a galaxy, cover too little of it to count.

    Parameters
    ----------
    detections : list of `~galseg.tiling.Detection`
        Sorted by decreasing score.
    mask_threshold : float
        Mask probability that defines an instance mask.

    Returns
    -------
    kept : list of `~galseg.tiling.Detection`
        In the order of ``detections``.

    Examples
    --------
    >>> import numpy as np
    >>> from galseg.segmentation import suppress_merged
    >>> from galseg.tiling import Detection
    >>> def box(y0, x0, y1, x1, score):
    ...     return Detection(box=np.array([y0, x0, y1, x1]), score=score,
    ...                      class_id=1,
    ...                      mask=np.ones((y1 - y0, x1 - x0), np.float32),
    ...                      bbox=(y0, x0, y1, x1))
    >>> pair = box(0, 0, 10, 20, 0.9)
    >>> left, right = box(0, 0, 10, 9, 0.8), box(0, 11, 10, 20, 0.7)
    >>> [det.score for det in suppress_merged([pair, left, right], 0.5)]
    [0.8, 0.7]
    """
    masks = [_Mask(det, mask_threshold) for det in detections]
    if len(masks) < 3:
        return list(detections)
    bboxes = np.array([det.bbox for det in detections])
    areas = np.array([mask.area for mask in masks])
    kept = []
    for index, merged in enumerate(masks):
        near = _intersecting(bboxes, merged.bbox)
        near = near[areas[near] <= _MAX_PART_AREA * merged.area]
        parts = []
        for other in near:
            part = _crop(masks[other].inside, masks[other].bbox,
                         merged.bbox)
            if (np.count_nonzero(part & merged.inside)
                    < _MIN_PART_INSIDE * areas[other]):
                continue
            if all(np.count_nonzero(part & chosen) < _MAX_PART_OVERLAP
                   * min(areas[other], np.count_nonzero(chosen))
                   for chosen in parts):
                parts.append(part)
        if len(parts) >= 2:
            cover = np.logical_or.reduce(parts) & merged.inside
            if np.count_nonzero(cover) >= _MIN_MERGE_COVER * merged.area:
                continue
        kept.append(detections[index])
    return kept


class _Mask:
    """A detection's thresholded instance mask in its bounding box."""

    def __init__(self, det, mask_threshold):
        self.bbox = det.bbox
        self.inside = det.mask >= mask_threshold
        self.area = np.count_nonzero(self.inside)


def suppress_contained(detections, shape, mask_threshold, max_overlap,
                       core_probability=0.0):
    """
    Drop detections that lie mostly inside more confident ones.

    Going down the list, a detection is dropped when at least
    ``max_overlap`` of its instance mask (the pixels whose mask
    probability reaches ``mask_threshold``) is already covered by the
    instance masks of the detections kept before it, and its centre
    (the mask-probability-weighted centroid of its instance mask) lies
    where one of those masks has a probability of at least
    ``core_probability``.  This removes what mask non-maximum
    suppression (by intersection over union) lets through: a fragment
    inside a galaxy, a second, differently shaped mask of the same
    galaxy, and a mask spanning two galaxies already found separately.
    A faint neighbour under the wing of a bright galaxy is covered by
    the bright galaxy's mask as well, but its centre lies where that
    mask is uncertain: a ``core_probability`` above 0 keeps it, while a
    piece of a galaxy, centred where the galaxy's mask is confident, is
    still dropped.

    Parameters
    ----------
    detections : list of `~galseg.tiling.Detection`
        Sorted by decreasing score.
    shape : tuple of int
        ``(ny, nx)`` of the image.
    mask_threshold : float
        Mask probability that defines an instance mask.
    max_overlap : float
        The covered fraction, in (0, 1], from which a detection is
        dropped; 1 drops only detections entirely covered.
    core_probability : float, optional
        The mask probability, in [0, 1], of a more confident detection
        at the centre of a covered detection from which the covered
        one is dropped; 0 (the default) drops every covered detection,
        wherever its centre.

    Returns
    -------
    kept : list of `~galseg.tiling.Detection`
        In the order of ``detections``.

    Examples
    --------
    >>> import numpy as np
    >>> from galseg.segmentation import suppress_contained
    >>> from galseg.tiling import Detection
    >>> def square(y0, x0, size, score, probability=1.0):
    ...     return Detection(box=np.array([y0, x0, y0 + size, x0 + size]),
    ...                      score=score, class_id=1,
    ...                      mask=np.full((size, size), probability,
    ...                                   np.float32),
    ...                      bbox=(y0, x0, y0 + size, x0 + size))
    >>> galaxy, piece, neighbour = (square(0, 0, 10, 0.9),
    ...                             square(2, 2, 4, 0.8),
    ...                             square(5, 8, 6, 0.7))
    >>> kept = suppress_contained([galaxy, piece, neighbour], (16, 16),
    ...                           mask_threshold=0.5, max_overlap=0.5)
    >>> [det.score for det in kept]
    [0.9, 0.7]

    A galaxy whose mask is uncertain (probability 0.6) where a fainter
    source is centred keeps that source when ``core_probability`` is
    above 0.6:

    >>> wide = square(0, 0, 10, 0.9, probability=0.6)
    >>> [det.score for det in suppress_contained(
    ...     [wide, piece], (16, 16), 0.5, 0.5, core_probability=0.8)]
    [0.9, 0.8]
    """
    covered = np.zeros(shape, dtype=bool)
    kept_probability = np.zeros(shape, dtype=np.float32)
    kept = []
    for det in detections:
        region = _region(det)
        inside = det.mask >= mask_threshold
        area = np.count_nonzero(inside)
        if area == 0:
            continue
        if (np.count_nonzero(covered[region] & inside) >= max_overlap * area
                and kept_probability[_centre(det, inside)]
                >= core_probability):
            continue
        covered[region] |= inside
        np.maximum(kept_probability[region],
                   np.where(inside, det.mask, 0.0),
                   out=kept_probability[region])
        kept.append(det)
    return kept


def _centre(det, inside):
    """The image pixel of a detection's mask-probability-weighted
    centroid, over its instance mask ``inside``."""
    weight = np.where(inside, det.mask, 0.0)
    y, x = ndimage.center_of_mass(weight)
    return (det.bbox[0] + int(round(y)), det.bbox[1] + int(round(x)))


#: A core lies at least this fraction inside the whole galaxy's mask, is
#: at most `_MAX_CORE_AREA` of its area, and its centre is within
#: `_MAX_CORE_OFFSET` of the galaxy's radius from the galaxy's centre.
_MIN_CORE_INSIDE = 0.9
_MAX_CORE_AREA = 0.5
_MAX_CORE_OFFSET = 0.25


def suppress_nested(detections, mask_threshold):
    """
    Merge a galaxy's core, found beside the whole galaxy, into it.

    The network may find a bulge-dominated galaxy twice: its bright core
    and the whole galaxy, whose mask may leave the core out (a ring).
    Kept both, the segmentation would cut the galaxy into a core and a
    ring around it.  A detection is such a core when another
    detection's instance mask, with its holes filled, holds at least 0.9
    of the core's, is at least twice as large, and has its centre within
    a quarter of its radius (``sqrt(area / pi)``) of the core's centre:
    the two are concentric.  The core is dropped, its mask probabilities
    are merged into the whole galaxy's (the larger of the two in each
    pixel) and the galaxy keeps the higher of the two scores.  A small
    galaxy seen off the centre of a large one is not concentric and
    stays.

    Parameters
    ----------
    detections : list of `~galseg.tiling.Detection`
        Sorted by decreasing score.
    mask_threshold : float
        Mask probability that defines an instance mask.

    Returns
    -------
    kept : list of `~galseg.tiling.Detection`
        Sorted by decreasing score.
    """
    masks = [_MaskInImage(det, mask_threshold) for det in detections]
    merged = {}  # whole -> cores
    dropped = set()
    for core_index, core in enumerate(masks):
        if core.area == 0:
            continue
        for whole_index, whole in enumerate(masks):
            if (whole_index == core_index or whole_index in dropped
                    or whole.filled_area < core.area / _MAX_CORE_AREA):
                continue
            offset = np.hypot(*(core.centre - whole.centre))
            if (offset <= _MAX_CORE_OFFSET * np.sqrt(whole.filled_area
                                                     / np.pi)
                    and core.inside(whole) >= _MIN_CORE_INSIDE * core.area):
                dropped.add(core_index)
                merged.setdefault(whole_index, []).append(core_index)
                break
    kept = []
    for index, det in enumerate(detections):
        if index in dropped:
            continue
        cores = merged.get(index, [])
        if cores:
            det = _with_cores(det, [detections[core] for core in cores])
        kept.append(det)
    return sorted(kept, key=lambda det: -det.score)


def _with_cores(whole, cores):
    """``whole`` with the cores' mask probabilities and best score."""
    import dataclasses

    y0 = min([whole.bbox[0]] + [core.bbox[0] for core in cores])
    x0 = min([whole.bbox[1]] + [core.bbox[1] for core in cores])
    y1 = max([whole.bbox[2]] + [core.bbox[2] for core in cores])
    x1 = max([whole.bbox[3]] + [core.bbox[3] for core in cores])
    box = (y0, x0, y1, x1)
    mask = _crop(whole.mask, whole.bbox, box)
    for core in cores:
        mask = np.maximum(mask, _crop(core.mask, core.bbox, box))
    score = max([whole.score] + [core.score for core in cores])
    return dataclasses.replace(whole, mask=mask, bbox=box, score=score)


class _MaskInImage:
    """A detection's instance mask (and with its holes filled): area,
    centre and box."""

    def __init__(self, det, mask_threshold):
        self.mask = det.mask >= mask_threshold
        self.filled = ndimage.binary_fill_holes(self.mask)
        self.bbox = det.bbox
        self.area = int(np.count_nonzero(self.mask))
        self.filled_area = int(np.count_nonzero(self.filled))
        if self.area:
            rows, cols = np.nonzero(self.filled)
            self.centre = np.array([rows.mean() + det.bbox[0],
                                    cols.mean() + det.bbox[1]])

    def inside(self, other):
        """Pixels of this mask inside ``other``'s filled mask."""
        box = (min(self.bbox[0], other.bbox[0]),
               min(self.bbox[1], other.bbox[1]),
               max(self.bbox[2], other.bbox[2]),
               max(self.bbox[3], other.bbox[3]))
        return int(np.count_nonzero(_crop(self.mask, self.bbox, box)
                                    & _crop(other.filled, other.bbox, box)))


def _most_probable(detections, bad, mask_threshold):
    """Label image: each pixel to the detection most probable there."""
    winner = np.zeros(bad.shape, dtype=np.int32)
    best = np.zeros(bad.shape, dtype=np.float32)
    for index, det in enumerate(detections):
        region = _region(det)
        inside = (det.mask >= mask_threshold) & ~bad[region]
        prob = np.where(inside, det.mask, 0.0)
        wins = prob > best[region]
        winner[region][wins] = index + 1
        best[region][wins] = prob[wins]
    return winner


def _orphans(labels, n_pixels):
    """Pixels of islands, and of segments smaller than ``n_pixels``."""
    orphan = np.zeros(labels.shape, dtype=bool)
    for label, found in enumerate(ndimage.find_objects(labels), start=1):
        if found is None:
            continue
        own = labels[found] == label
        parts, n_parts = ndimage.label(own, structure=_CONNECTIVITY)
        sizes = np.bincount(parts.ravel())[1:]
        main = int(np.argmax(sizes)) + 1
        if sizes[main - 1] < n_pixels:
            orphan[found] |= own
        elif n_parts > 1:
            orphan[found] |= own & (parts != main)
    return orphan


def _grown(found, shape):
    """A ``find_objects`` slice pair grown by one pixel, in the image."""
    return tuple(slice(max(s.start - 1, 0), min(s.stop + 1, n))
                 for s, n in zip(found, shape))


def segment_labels(detections, bad, mask_threshold, n_pixels):
    """
    Turn detections into a segmentation image of connected segments.

    Each unmasked pixel where some instance mask reaches
    ``mask_threshold`` goes to the detection of highest mask
    probability there (the earlier, more confident one on a tie).  Then
    every pixel of a segment that is not in the segment's largest
    8-connected part, and every segment whose largest part has fewer
    than ``n_pixels`` pixels, goes to the source sharing most of the
    border of that connected group of pixels, or to the background
    when no source borders it.  Detections left without pixels are
    dropped.

    Parameters
    ----------
    detections : list of `~galseg.tiling.Detection`
        Sorted by decreasing score.
    bad : `~numpy.ndarray` of bool
        ``(ny, nx)``: masked pixels, which get no label.
    mask_threshold : float
        Mask probability that defines an instance mask.
    n_pixels : int
        The minimum number of connected pixels of a segment.

    Returns
    -------
    labels : `~numpy.ndarray` of int
        ``(ny, nx)``: consecutive labels from 1 in the order of the
        kept detections, 0 for the background.
    keep : list of int
        The indices of the kept detections in ``detections``.

    Examples
    --------
    >>> import numpy as np
    >>> from galseg.segmentation import segment_labels
    >>> from galseg.tiling import Detection
    >>> mask = np.full((5, 5), 0.9, np.float32)
    >>> galaxy = Detection(box=np.array([0, 0, 5, 5]), score=0.9,
    ...                    class_id=1, mask=mask, bbox=(0, 0, 5, 5))
    >>> speck = Detection(box=np.array([2, 2, 3, 3]), score=0.8,
    ...                   class_id=1, mask=np.ones((1, 1), np.float32),
    ...                   bbox=(2, 2, 3, 3))
    >>> labels, keep = segment_labels([galaxy, speck],
    ...                               np.zeros((5, 5), bool), 0.5, 5)
    >>> keep, int(labels.max()), int((labels == 1).sum())
    ([0], 1, 25)
    """
    labels = _most_probable(detections, bad, mask_threshold)
    orphan = _orphans(labels, n_pixels)
    if orphan.any():
        labels[orphan] = 0
        groups, _ = ndimage.label(orphan, structure=_CONNECTIVITY)
        for index, found in enumerate(ndimage.find_objects(groups), 1):
            window = _grown(found, labels.shape)
            group = groups[window] == index
            border = ndimage.binary_dilation(group, _CONNECTIVITY) & ~group
            neighbours = labels[window][border]
            neighbours = neighbours[neighbours > 0]
            if neighbours.size:
                labels[window][group] = np.bincount(neighbours).argmax()
    present = np.zeros(len(detections) + 1, dtype=bool)
    present[np.unique(labels)] = True
    keep = np.flatnonzero(present[1:])
    new_label = np.zeros(len(detections) + 1, dtype=np.int32)
    new_label[keep + 1] = np.arange(1, len(keep) + 1)
    return new_label[labels], keep.tolist()


#: Footprint threshold of `grow_bright_segments`, in units of the
#: noise, as the simulator's true footprints (``footprint_threshold``).
GROWTH_THRESHOLD = 1.0

#: Sigma (pixels) of the Gaussian that smooths the data for the
#: footprint of `grow_bright_segments`.
_GROWTH_SMOOTHING = 1.0


def grow_bright_segments(labels, data, variance, bad, min_peak_snr,
                         threshold=GROWTH_THRESHOLD):
    """
    Grow the segments of very bright sources over their footprint.

    The deblender shows the network tiles brought down to a peak
    signal-to-noise ratio of `galseg.tiling.MAX_TILE_SNR`, so the
    network's masks of brighter sources stop where their light sinks
    into the added noise, far inside their footprint in the data.  The
    footprint here is the 8-connected region where the data, summed over
    the bands and smoothed by a Gaussian of 1 pixel, exceed
    ``threshold`` times the noise of the summed data (the simulator's
    rule for the true footprints, with ``footprint_threshold`` 1).  In
    each such region that holds a pixel of signal-to-noise ratio above
    ``min_peak_snr`` and a segment, the pixels no segment has go to the
    segments by watershed on the smoothed data
    (`skimage.segmentation.watershed`): each to the segment that the
    brightest path from it reaches.  Other segments and regions are
    left as they are.

    Parameters
    ----------
    labels : `~numpy.ndarray` of int
        ``(ny, nx)`` segmentation image.
    data : `~numpy.ndarray`
        ``(n_bands, ny, nx)`` background-subtracted data.
    variance : `~numpy.ndarray`
        The variance of ``data``, broadcastable to it.
    bad : `~numpy.ndarray` of bool
        ``(ny, nx)`` masked pixels, which get no label.
    min_peak_snr : float
        The least peak signal-to-noise ratio of a grown region.
    threshold : float, optional
        The footprint threshold in units of the noise.

    Returns
    -------
    labels : `~numpy.ndarray` of int
        The grown segmentation image (``labels`` itself when nothing
        grows).

    Examples
    --------
    >>> import numpy as np
    >>> from galseg.segmentation import grow_bright_segments
    >>> yy, xx = np.mgrid[:40, :40]
    >>> star = 1e5 * np.exp(-((xx - 20) ** 2 + (yy - 20) ** 2) / 18.0)
    >>> labels = np.zeros((40, 40), int)
    >>> labels[17:24, 17:24] = 1
    >>> grown = grow_bright_segments(labels, star[None], 1.0,
    ...                              np.zeros((40, 40), bool), 1000.0)
    >>> int((labels == 1).sum()), int((grown == 1).sum()) > 49
    (49, True)
    """
    from skimage.segmentation import watershed

    data = np.asarray(data, dtype=float)
    noise = np.sqrt(np.broadcast_to(variance, data.shape).sum(axis=0))
    usable = ~bad & np.isfinite(noise) & (noise > 0)
    total = data.sum(axis=0)
    usable &= np.isfinite(total)
    total = np.where(usable, total, 0.0)
    snr = np.zeros(total.shape)
    np.divide(total, noise, out=snr, where=usable)
    if not (snr > min_peak_snr).any():
        return labels
    smooth = ndimage.gaussian_filter(total, _GROWTH_SMOOTHING)
    footprint = usable & (smooth > threshold * np.where(usable, noise, 0.0))
    regions, _ = ndimage.label(footprint | (labels > 0),
                               structure=_CONNECTIVITY)
    bright = np.unique(regions[(snr > min_peak_snr) & (labels > 0)])
    bright = bright[bright > 0]
    if bright.size == 0:
        return labels
    grow = np.isin(regions, bright)
    grown = watershed(-smooth, markers=np.where(grow, labels, 0),
                      mask=grow, connectivity=2)
    return np.where(grow, grown, labels).astype(labels.dtype)


def segment_snr(labels, data, variance):
    """
    The signal-to-noise ratio of the flux of each segment.

    A segment's flux is the sum of the background-subtracted data over
    its pixels and all bands (the band-summed detection image of
    `~galseg.MaskRCNNDeblender`), and its noise the square root of the
    summed variance of those pixels: a segment of pure white noise has
    a ratio of order one, of either sign.  The pixels are taken as
    independent, so in correlated noise (resampled coadds) the ratio of
    pure noise is larger; `~galseg.MaskRCNNDeblender` divides it by the
    square root of `correlated_noise_factor`.

    Parameters
    ----------
    labels : `~numpy.ndarray` of int
        ``(ny, nx)`` segmentation image with consecutive labels from 1.
    data : `~numpy.ndarray`
        ``(n_bands, ny, nx)`` background-subtracted data.
    variance : `~numpy.ndarray` or float
        The variance of each pixel of ``data``, broadcastable to it.

    Returns
    -------
    snr : `~numpy.ndarray`
        ``(labels.max(),)``: the ratio of segment ``i + 1``; NaN where
        the variance of the segment is zero.

    Raises
    ------
    ValueError
        If ``data`` is not 3-D, ``labels`` not of its image shape, or
        ``variance`` does not broadcast to ``data``.

    Examples
    --------
    >>> import numpy as np
    >>> from galseg.segmentation import segment_snr
    >>> labels = np.array([[1, 1, 0, 2]])
    >>> data = np.array([[[3.0, 5.0, 9.0, 0.0]]])
    >>> segment_snr(labels, data, 4.0)
    array([2.82842712, 0.        ])
    """
    data, labels, variance = _image_inputs(data, 'labels', labels, variance)
    index = np.arange(1, int(labels.max(initial=0)) + 1)
    flux = ndimage.sum_labels(data.sum(axis=0), labels, index)
    noise_variance = ndimage.sum_labels(variance.sum(axis=0), labels, index)
    with np.errstate(invalid='ignore', divide='ignore'):
        snr = np.where(noise_variance > 0,
                       flux / np.sqrt(noise_variance), np.nan)
    return np.asarray(snr, dtype=float)


def _image_inputs(data, name, image, variance):
    """``data`` (3-D, float), ``image`` (of its image shape) and
    ``variance`` (broadcast to ``data``), checked."""
    data = np.asarray(data, dtype=float)
    image = np.asarray(image)
    if data.ndim != 3:
        msg = f'data must be 3-D (n_bands, ny, nx), got shape {data.shape}'
        raise ValueError(msg)
    if image.shape != data.shape[1:]:
        msg = (f'{name} must have the image shape of data {data.shape[1:]}, '
               f'got {image.shape}')
        raise ValueError(msg)
    try:
        variance = np.broadcast_to(np.asarray(variance, dtype=float),
                                   data.shape)
    except ValueError:
        msg = (f'variance of shape {np.shape(variance)} does not broadcast '
               f'to data of shape {data.shape}')
        raise ValueError(msg) from None
    return data, image, variance


#: the fewest boxes from which `correlated_noise_factor` is measured
_MIN_NOISE_BOXES = 100


def correlated_noise_factor(data, variance, sky, box_size=5):
    """
    How much more the noise of a sum of pixels varies than their
    variances add up to: 1 for independent pixels.

    Resampled and coadded images have correlated noise: the variance of
    a segment's flux is then larger than the sum of its pixels'
    variances, and `segment_snr` overestimates the significance of
    faint sources, and of patches of noise most of all.  The factor is
    measured on the sky as one would with apertures placed on it: the
    band-summed data in units of their noise, summed over boxes of
    ``box_size`` x ``box_size`` pixels that lie wholly on the sky (their
    corners half a box apart), have a variance (robust: the squared
    `~astropy.stats.mad_std`, so that faint wings and sources left in
    the sky count little) that is ``box_size**2`` times the factor.  It
    grows with the box up to the correlation length of the noise:
    measure it on boxes of the size of the segments whose noise it
    scales.

    Parameters
    ----------
    data : `~numpy.ndarray`
        ``(n_bands, ny, nx)`` background-subtracted data.
    variance : `~numpy.ndarray` or float
        The variance of each pixel of ``data``, broadcastable to it.
    sky : `~numpy.ndarray` of bool
        ``(ny, nx)``: the pixels free of sources (and not masked).
    box_size : int or sequence of int, optional
        The side of the boxes, in pixels, or several sides.

    Returns
    -------
    factor : float or `~numpy.ndarray`
        At least 1; NaN when fewer than 100 of these boxes lie wholly
        on the sky.  An array, one factor per side, when ``box_size`` is
        a sequence.

    Raises
    ------
    ValueError
        If ``data`` is not 3-D, ``sky`` not of its image shape,
        ``variance`` does not broadcast to ``data`` or a ``box_size`` is
        below 1.

    Examples
    --------
    White noise smoothed by a Gaussian kernel of sigma 1 pixel and
    scaled back to unit variance, as in a resampled coadd: a sum over
    many pixels varies about 4 pi sigma^2 times more than the pixels'
    variances add up to (less over small boxes).

    >>> import numpy as np
    >>> from scipy import ndimage
    >>> from galseg.segmentation import correlated_noise_factor
    >>> rng = np.random.default_rng(0)
    >>> white = rng.normal(size=(1, 200, 200))
    >>> sky = np.ones((200, 200), dtype=bool)
    >>> round(correlated_noise_factor(white, 1.0, sky), 1)
    1.0
    >>> smooth = ndimage.gaussian_filter(white, (0, 1, 1))
    >>> smooth /= smooth.std()
    >>> correlated_noise_factor(smooth, 1.0, sky, (3, 9)).round()
    array([ 5., 11.])
    """
    from astropy.stats import mad_std

    from .validation import check_int

    sizes = [check_int('box_size', size, minimum=1)
             for size in np.atleast_1d(box_size).tolist()]
    data, sky, variance = _image_inputs(data, 'sky', sky, variance)
    sky = sky.astype(bool)
    summed = variance.sum(axis=0)
    usable = sky & (summed > 0)
    with np.errstate(invalid='ignore', divide='ignore'):
        normalized = np.where(usable, data.sum(axis=0) / np.sqrt(summed), 0.0)
    data_table, sky_table = _summed_area(normalized), _summed_area(usable)
    factors = []
    for size in sizes:
        # boxes on a grid of half the box size (enough to measure, fast
        # on large images), kept where they lie wholly on the sky
        step = (size + 1) // 2
        whole = _box_sums(sky_table, size, step) > size ** 2 - 0.5
        if np.count_nonzero(whole) < _MIN_NOISE_BOXES:
            factors.append(np.nan)
            continue
        sums = _box_sums(data_table, size, step)[whole]
        factor = mad_std(sums) ** 2 / size ** 2
        factors.append(max(factor, 1.0) if np.isfinite(factor) else np.nan)
    factors = np.array(factors, dtype=float)
    return factors if np.ndim(box_size) else float(factors[0])


def _summed_area(image):
    """The summed-area table of an image, with a leading row and column
    of zeros."""
    table = np.zeros((image.shape[0] + 1, image.shape[1] + 1))
    table[1:, 1:] = np.asarray(image, dtype=float).cumsum(axis=0).cumsum(
        axis=1)
    return table


def _box_sums(table, size, step):
    """Sums over ``size`` x ``size`` boxes whose corners lie ``step``
    pixels apart, from a summed-area table."""
    y = np.arange(0, table.shape[0] - size, step)
    x = np.arange(0, table.shape[1] - size, step)
    return (table[np.ix_(y + size, x + size)] - table[np.ix_(y, x + size)]
            - table[np.ix_(y + size, x)] + table[np.ix_(y, x)])


def _grown_weight(det, bad, mask_threshold, dilation):
    """
    A detection's unnormalised share of each pixel of its grown mask.

    The instance mask is grown by ``dilation`` pixels (Euclidean
    distance); there a pixel weighs its mask probability, at least
    `_WING_WEIGHT`.  Returns the ``(iymin, ixmin, iymax, ixmax)`` box
    of the grown mask, clipped to the image, and the weights there
    (zero at masked pixels).
    """
    ny, nx = bad.shape
    y0, x0, y1, x1 = det.bbox
    box = (max(y0 - dilation, 0), max(x0 - dilation, 0),
           min(y1 + dilation, ny), min(x1 + dilation, nx))
    prob = np.zeros((box[2] - box[0], box[3] - box[1]), dtype=np.float32)
    prob[y0 - box[0]:y1 - box[0], x0 - box[1]:x1 - box[1]] = det.mask
    inside = prob >= mask_threshold
    if dilation:
        inside = ndimage.distance_transform_edt(~inside) <= dilation
    inside &= ~bad[box[0]:box[2], box[1]:box[3]]
    return box, np.where(inside, np.maximum(prob, _WING_WEIGHT), 0.0)


#: A source's brightness model is cut at this many standard deviations.
_PROFILE_EXTENT = 5.0


class _Profiles:
    """
    Elliptical Gaussian brightness models of the sources
    (`~astropy.modeling.functional_models.Gaussian2D`).

    Each model has the centroid, the covariance (second moments) and
    the flux of a source's segment, and is zero beyond
    `_PROFILE_EXTENT` standard deviations (outside ``boxes``); a source
    without finite moments has no model (`None`).
    """

    def __init__(self, centroids, covariances, fluxes, shape):
        from astropy.modeling.models import Gaussian2D

        centroids = np.asarray(centroids, dtype=float).reshape(-1, 2)
        covariances = np.asarray(covariances, dtype=float).reshape(-1, 2, 2)
        fluxes = np.asarray(fluxes, dtype=float).reshape(-1)
        ny, nx = shape
        self.models = []
        self.boxes = np.zeros((len(centroids), 4), dtype=int)
        for index, ((x, y), cov, flux) in enumerate(zip(centroids,
                                                        covariances, fluxes)):
            if not (np.all(np.isfinite([x, y, *cov.ravel()]))
                    and np.linalg.det(cov) > 0):
                self.models.append(None)
                continue
            amplitude = max(np.nan_to_num(flux), 0.0) / (
                2 * np.pi * np.sqrt(np.linalg.det(cov)))
            self.models.append(Gaussian2D(amplitude, x, y, cov_matrix=cov))
            reach_x, reach_y = _PROFILE_EXTENT * np.sqrt(np.diag(cov))
            self.boxes[index] = np.clip(
                [np.floor(y - reach_y), np.floor(x - reach_x),
                 np.ceil(y + reach_y) + 1, np.ceil(x + reach_x) + 1],
                0, [ny, nx, ny, nx])

    def model(self, index, box):
        """Source ``index``'s model in ``(iymin, ixmin, iymax, ixmax)``."""
        y0, x0, y1, x1 = box
        out = np.zeros((y1 - y0, x1 - x0))
        by0, bx0, by1, bx1 = self.boxes[index]
        cy0, cx0 = max(y0, by0), max(x0, bx0)
        cy1, cx1 = min(y1, by1), min(x1, bx1)
        if self.models[index] is None or cy0 >= cy1 or cx0 >= cx1:
            return out
        yy, xx = np.mgrid[cy0:cy1, cx0:cx1]
        out[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0] = self.models[index](xx,
                                                                       yy)
        return out


class _Shares:
    """Each source's share of every pixel (see `flux_shares`)."""

    def __init__(self, weights, profiles, nearest, bad):
        self._weights = weights
        self._weight_boxes = np.array([box for box, _ in weights])
        self._profiles = profiles
        self._nearest = nearest
        self._bad = bad

    def __len__(self):
        return len(self._weights)

    def _weight(self, index, box):
        weight_box, weight = self._weights[index]
        return _crop(weight, weight_box, box)

    def cutout(self, index, box):
        """Source ``index``'s share in ``(iymin, ixmin, iymax, ixmax)``."""
        y0, x0, y1, x1 = box
        others = np.union1d(_intersecting(self._weight_boxes, box),
                            _intersecting(self._profiles.boxes, box))
        shape = (y1 - y0, x1 - x0)
        covered, joint, model = (np.zeros(shape) for _ in range(3))
        own_weight = own_joint = own_model = np.zeros(shape)
        for other in np.union1d(others, [index]):
            weight = self._weight(other, box)
            profile = self._profiles.model(other, box)
            covered += weight
            joint += weight * profile
            model += profile
            if other == index:
                own_weight = weight
                own_joint, own_model = weight * profile, profile
        with np.errstate(invalid='ignore', divide='ignore'):
            share = np.where(
                covered > 0,
                np.where(joint > 0, own_joint / joint, own_weight / covered),
                np.where(model > 0, own_model / model,
                         self._nearest[y0:y1, x0:x1] == index + 1))
        share[self._bad[y0:y1, x0:x1]] = 0.0
        return share

    def grown_box(self, index):
        """The box of source ``index``'s grown instance mask."""
        return tuple(self._weight_boxes[index])


def flux_shares(detections, labels, bad, mask_threshold, dilation,
                profiles):
    """
    Each source's share of every pixel, the shares of a pixel adding
    up to one.

    A source's share of a pixel is proportional to the product of two
    estimates of how much of its light falls there: the network's
    instance mask probability (in the instance mask grown by
    ``dilation`` pixels, at least `_WING_WEIGHT`, zero beyond) and an
    elliptical Gaussian model of its brightness with the centroid,
    second moments and flux of its segment (zero beyond 5 standard
    deviations).  In a pixel outside every grown mask the models alone
    decide, and a pixel outside every model belongs to the nearest
    segment.  Masked pixels belong to no source.

    Parameters
    ----------
    detections : list of `~galseg.tiling.Detection`
        The sources, label ``i + 1`` being ``detections[i]``.
    labels : `~numpy.ndarray` of int
        ``(ny, nx)`` segmentation image of these sources (see
        `segment_labels`), with at least one segment.
    bad : `~numpy.ndarray` of bool
        ``(ny, nx)`` masked pixels.
    mask_threshold : float
        Mask probability that defines an instance mask.
    dilation : int
        Pixels by which the instance masks are grown.
    profiles : tuple
        ``(centroids, covariances, fluxes)`` of the segments: ``(n, 2)``
        ``(x, y)`` centroids, ``(n, 2, 2)`` covariance matrices in
        pixels squared and ``(n,)`` fluxes, e.g. the ``centroid``,
        ``covariance`` and ``segment_flux`` of a
        `~photutils.segmentation.SourceCatalog`.  Sources with no finite
        values have no model.

    Returns
    -------
    shares
        An object whose ``cutout(index, box)`` gives source ``index``'s
        share in the ``(iymin, ixmin, iymax, ixmax)`` box and
        ``grown_box(index)`` the box of its grown mask.
    """
    weights = [_grown_weight(det, bad, mask_threshold, dilation)
               for det in detections]
    _, nearest_pixel = ndimage.distance_transform_edt(
        labels == 0, return_distances=True, return_indices=True)
    nearest = labels[tuple(nearest_pixel)]
    return _Shares(weights, _Profiles(*profiles, shape=labels.shape),
                   nearest, bad)


def _union_box(*boxes):
    return (min(b[0] for b in boxes), min(b[1] for b in boxes),
            max(b[2] for b in boxes), max(b[3] for b in boxes))


def kron_fluxes(apertures, shares, data, labels, error=None):
    """
    Deblended images and total fluxes, measured in Kron apertures.

    Source ``i``'s deblended image is the data times its share (see
    `flux_shares`) in the box that holds its segment, its grown
    instance mask and its Kron aperture; its total flux in each band is
    the sum of that image in the Kron aperture (exact pixel overlap).
    A source without a Kron aperture is measured as the sum of
    its deblended image.  With ``error``, the flux errors are those of
    the deblended image, whose pixel errors are the data's times the
    share (the shares and the aperture taken as exact).

    Parameters
    ----------
    apertures : list of `~photutils.aperture.Aperture` or `None`
        The Kron aperture of each source (`None` where it is undefined),
        e.g. ``SourceCatalog.kron_aperture`` of the band-summed data and
        ``labels``.
    shares
        The result of `flux_shares`.
    data : `~numpy.ndarray`
        ``(n_bands, ny, nx)`` background-subtracted data.
    labels : `~numpy.ndarray` of int
        ``(ny, nx)`` segmentation image.
    error : `~numpy.ndarray`, optional
        ``(n_bands, ny, nx)`` 1-sigma errors of ``data``.

    Returns
    -------
    images : list of `~numpy.ndarray`
        float32 ``(n_bands, height, width)`` deblended images.
    fluxes : `~numpy.ndarray`
        ``(n_sources, n_bands)`` total fluxes.
    boxes : list of tuple
        The ``(iymin, ixmin, iymax, ixmax)`` box of each image.
    flux_errors : `~numpy.ndarray` or `None`
        ``(n_sources, n_bands)`` errors of ``fluxes``; `None` without
        ``error``.
    """
    ny, nx = labels.shape
    segments = ndimage.find_objects(labels, max_label=len(shares))
    images, fluxes, errors, boxes = [], [], [], []
    for index, aperture in enumerate(apertures):
        found = segments[index]
        parts = [shares.grown_box(index),
                 (found[0].start, found[1].start, found[0].stop,
                  found[1].stop)]
        usable = aperture is not None
        if usable:
            bbox = aperture.bbox
            parts.append((bbox.iymin, bbox.ixmin, bbox.iymax, bbox.ixmax))
        y0, x0, y1, x1 = _union_box(*parts)
        box = (max(y0, 0), max(x0, 0), min(y1, ny), min(x1, nx))
        share = shares.cutout(index, box)
        with np.errstate(invalid='ignore'):
            image = np.where(share > 0,
                             data[:, box[0]:box[2], box[1]:box[3]] * share,
                             0.0)
        image_error = None
        if error is not None:
            image_error = np.where(
                share > 0, error[:, box[0]:box[2], box[1]:box[3]] * share, 0.0)
        if usable:
            local = aperture.copy()
            local.positions = local.positions - (box[1], box[0])
            measured = [local.do_photometry(
                band, error=None if image_error is None else image_error[i])
                for i, band in enumerate(image)]
            flux = [values[0][0] for values in measured]
            if image_error is not None:
                errors.append([values[1][0] for values in measured])
        else:
            flux = image.sum(axis=(1, 2))
            if image_error is not None:
                errors.append(np.sqrt((image_error ** 2).sum(axis=(1, 2))))
        images.append(image.astype(np.float32))
        fluxes.append(flux)
        boxes.append(box)
    flux_errors = None if error is None else np.array(errors, dtype=float)
    return images, np.array(fluxes, dtype=float), boxes, flux_errors
