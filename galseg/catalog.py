"""
From detections to what users get: the segmentation image, the catalog
and the deblended images of `~galseg.DeblendResult`.

The detections (from any model, already merged across tiles and
suppressed) become a `~photutils.segmentation.SegmentationImage` (see
`galseg.segmentation`), each source is measured by photutils'
`~photutils.segmentation.SourceCatalog` on the background-subtracted
data, and the data are split between the sources (per-pixel shares
summing to one) to give each source's deblended image and total flux.
"""

import numpy as np

from .result import DeblendResult
from .segmentation import (_region, correlated_noise_factor, flux_shares,
                           grow_bright_segments, kron_fluxes, segment_labels,
                           segment_snr)
from .star_galaxy import (MIN_SPREAD_SNR, SPREAD_THRESHOLD, classify_spread,
                          spread_models)
from .tiling import MAX_TILE_SNR

__all__ = ['build_result', 'empty_catalog', 'CLASS_NAMES', 'FLAGS']

#: catalog ``classification`` of each class id of the model
CLASS_NAMES = {1: 'galaxy', 2: 'star'}

#: bits of the catalog's ``flags`` column: ``blended`` (the source has
#: neighbours in its parent), ``edge`` (its segment touches the image
#: edge), ``tile_seam`` (its segment crosses a seam between tiles, where
#: detections of two tiles were merged), ``masked`` (masked or
#: non-finite pixels touch its segment), ``flux_unreliable`` (no Kron
#: aperture could be made, so ``deblended_flux`` is the sum of its
#: deblended image, or that flux is not positive and finite).
FLAGS = {'blended': 1, 'edge': 2, 'tile_seam': 4, 'masked': 8,
         'flux_unreliable': 16}


def build_result(detections, image, background, mask_threshold,
                 flux_dilation, n_pixels, seams=(), noise=None,
                 min_snr=0.0, spread_threshold=SPREAD_THRESHOLD,
                 max_tile_snr=MAX_TILE_SNR):
    """
    Segment, measure and deblend the sources and collect the result.

    Parameters
    ----------
    detections : list of `~galseg.tiling.Detection`
        The detections, suppressed and in order of decreasing score.
    image : `types.SimpleNamespace`
        The input, as `galseg.inputs.unpack_input` returns it.
    background : float or `~numpy.ndarray`
        The background, broadcastable to ``image.data``, subtracted
        before any flux is measured.
    mask_threshold, flux_dilation, n_pixels
        As `~galseg.MaskRCNNDeblender` takes them.
    seams : sequence of (str, float), optional
        The tile seams: ``('x', position)`` for a seam along a column
        edge at that x (pixel-edge coordinates), ``('y', position)`` for
        one along a row edge; a source whose segment crosses one is
        flagged (`FLAGS`).
    noise : float or `~numpy.ndarray`, optional
        The 1-sigma noise of the data, broadcastable to ``image.data``,
        used where ``image.error`` is `None` for the catalog's
        ``segment_snr`` (NaN without either).
    min_snr : float, optional
        Sources whose ``segment_snr`` is below this are dropped and the
        segments drawn again without them, until every source reaches
        it (see `~galseg.segmentation.segment_snr`); 0 keeps every
        source, and so does the lack of both ``image.error`` and
        ``noise``.
    spread_threshold : float, optional
        With ``image.psf`` (as `~galseg.star_galaxy.validate_psf`
        returns it), the catalog gets ``spread_model`` and
        ``spread_model_err`` and sources are stars or galaxies by
        `~galseg.star_galaxy.classify_spread` with this threshold.
    max_tile_snr : float or `None`, optional
        The deepest tile the network was shown (as
        `~galseg.MaskRCNNDeblender` takes it): segments of sources
        brighter than this are grown over their footprint
        (`~galseg.segmentation.grow_bright_segments`); `None` grows
        none.

    Returns
    -------
    result : `~galseg.DeblendResult` or `None`
        `None` when no detection keeps a segment of at least
        ``n_pixels`` pixels and a ``segment_snr`` of at least
        ``min_snr``.
    """
    from astropy import units as u
    from photutils.segmentation import SegmentationImage

    bad = image.bad.any(axis=0)
    subtracted = image.data - background
    variance = _variance(image, noise)
    detections, labels, snr = _significant(
        detections, bad, mask_threshold, n_pixels, subtracted, variance,
        min_snr, max_tile_snr)
    if not detections:
        return None

    parent, n_children = _parents(detections, bad.shape, mask_threshold)
    segm = SegmentationImage(labels)
    source_catalog = _source_catalog(segm, subtracted, bad, image)
    apertures = source_catalog.kron_aperture
    if source_catalog.isscalar:
        apertures = [apertures]
    profiles = [np.asarray(getattr(value, 'value', value), dtype=float)
                for value in (source_catalog.centroid,
                              source_catalog.covariance,
                              source_catalog.segment_flux)]
    shares = flux_shares(detections, labels, bad, mask_threshold,
                         flux_dilation, profiles)
    deblended_images, deblended_flux, deblended_bboxes, flux_errors = \
        kron_fluxes(apertures, shares, subtracted, labels, image.error)

    catalog = _catalog_table(source_catalog, image)
    _add_column(catalog, 'score', [det.score for det in detections],
                'detection confidence: the probability of being a source')
    class_id = np.array([det.class_id for det in detections], dtype=int)
    class_score = np.array([det.class_score for det in detections],
                           dtype=float)
    spread = None
    if getattr(image, 'psf', None) is not None:
        spread = _spread_columns(catalog, subtracted, variance, labels,
                                 image.psf)
        class_id, class_score = _psf_classes(class_id, class_score, spread,
                                             snr, spread_threshold)
    _add_column(catalog, 'classification',
                np.array([CLASS_NAMES.get(value, f'class {value}')
                          for value in class_id], dtype=str),
                "'galaxy' or 'star'" + (
                    '' if spread is None else
                    ': by spread_model where measured and segment_snr >= '
                    f'{MIN_SPREAD_SNR:g}, else by the network'))
    _add_column(catalog, 'class_score', class_score,
                'probability of the classification, given that it is a '
                'source')
    if spread is not None:
        _add_column(catalog, 'spread_model', spread[0],
                    'SExtractor SPREAD_MODEL with the given PSF: about 0 for '
                    'a point source, positive for a resolved one (see '
                    'galseg.star_galaxy)')
        _add_column(catalog, 'spread_model_err', spread[1],
                    'error of spread_model, from the data errors (NaN '
                    'without errors or a noise estimate)')
    _add_column(catalog, 'segment_snr', snr,
                'signal-to-noise ratio of segment_flux: the flux of the '
                'segment over its noise (from the errors, or the estimated '
                'background noise without them, scaled for correlated '
                'noise as measured on the sky)')
    _add_column(catalog, 'deblended_flux', _per_band(deblended_flux),
                'total flux: the Kron flux of the deblended image (the data '
                "times the source's share of each pixel)", image.unit)
    if flux_errors is not None:
        _add_column(catalog, 'deblended_flux_err', _per_band(flux_errors),
                    'error of deblended_flux, from the data errors times '
                    "the source's share of each pixel", image.unit)
    _add_column(catalog, 'parent', parent,
                'label of the parent: the connected group of sources whose '
                'masks overlap or touch (see '
                'DeblendResult.parent_segmentation_image)')
    _add_column(catalog, 'n_children', n_children,
                'number of sources in the parent (1: an isolated source)')
    _add_column(catalog, 'nn_dist', _nearest_neighbour_distances(catalog),
                'distance to the centroid of the nearest other source '
                '(NaN for a single source)', u.pix)
    flags = _flags(catalog, labels, bad, apertures, seams, deblended_flux)
    _add_column(catalog, 'flags', flags,
                'bitmask: 1 blended, 2 touches the image edge, 4 crosses a '
                'tile seam, 8 next to masked pixels, 16 deblended flux '
                'unreliable (see galseg.catalog.FLAGS)')

    detection_image = np.where(bad, np.nan, subtracted.sum(axis=0))
    return DeblendResult(
        segmentation_image=segm, catalog=catalog,
        scores=np.array([det.score for det in detections], dtype=np.float32),
        classes=class_id.astype(np.int32),
        boxes=np.array([det.box for det in detections], dtype=np.float32),
        bboxes=[_bounding_box(det.bbox) for det in detections],
        mask_cutouts=[det.mask for det in detections],
        deblended_images=deblended_images,
        deblended_bboxes=[_bounding_box(bbox) for bbox in deblended_bboxes],
        mask_threshold=mask_threshold,
        detection_image=detection_image.astype(np.float32),
        unit=image.unit, wcs=image.wcs)


def _spread_columns(catalog, data, variance, labels, psf):
    """``spread_model`` and its error for every source of the catalog,
    at its centroid (see `~galseg.star_galaxy.spread_models`)."""
    centroids = np.column_stack([
        np.asarray(getattr(catalog[name], 'value', catalog[name]),
                   dtype=float) for name in ('x_centroid', 'y_centroid')])
    return spread_models(data, variance, labels, centroids, psf)


def _psf_classes(class_id, class_score, spread, snr, threshold):
    """The classes and their probabilities by ``spread_model`` where it
    was measured on a segment of signal-to-noise ratio ``snr`` of at
    least `~galseg.star_galaxy.MIN_SPREAD_SNR` (or unknown), the
    network's elsewhere."""
    is_star, probability = classify_spread(*spread, threshold=threshold)
    snr = np.asarray(snr, dtype=float)
    measured = np.isfinite(spread[0]) & ~(snr < MIN_SPREAD_SNR)
    ids = {name: key for key, name in CLASS_NAMES.items()}
    class_id = np.where(measured, np.where(is_star, ids['star'],
                                           ids['galaxy']), class_id)
    class_score = np.where(measured, probability, class_score)
    return class_id, class_score


def _significant(detections, bad, mask_threshold, n_pixels, data, variance,
                 min_snr, max_tile_snr):
    """
    The detections that keep a segment whose signal-to-noise ratio
    reaches ``min_snr``, their segmentation image and their ratios (NaN
    without a variance).

    The segments of sources brighter than the network is shown
    (``max_tile_snr``) are grown over their footprint
    (`~galseg.segmentation.grow_bright_segments`).  The weakest sources
    are dropped and the segments drawn again from all the other
    detections (their pixels may go to a detection they hid), until
    every segment reaches ``min_snr``: each round drops at least one
    detection.  The noise of each segment's flux is scaled for
    correlated noise (`_noise_factors`).
    """
    factors = None
    while True:
        labels, keep = segment_labels(detections, bad, mask_threshold,
                                      n_pixels)
        if variance is None:
            return ([detections[i] for i in keep], labels,
                    np.full(len(keep), np.nan))
        if max_tile_snr is not None:
            labels = grow_bright_segments(labels, data, variance, bad,
                                          max_tile_snr)
        if factors is None:
            factors = _noise_factors(data, variance, labels, bad)
        areas = np.bincount(labels.ravel(), minlength=len(keep) + 1)[1:]
        snr = segment_snr(labels, data, variance) / np.sqrt(factors(areas))
        weak = snr < min_snr
        if min_snr <= 0 or not weak.any():
            return [detections[i] for i in keep], labels, snr
        dropped = {keep[i] for i in np.flatnonzero(weak)}
        detections = [det for i, det in enumerate(detections)
                      if i not in dropped]


#: pixels between the segments and the sky of `correlated_noise_factor`,
#: and the sides of its boxes
_SKY_MARGIN = 3
_NOISE_BOX_SIZES = (3, 5, 7, 9, 11, 15, 21)


def _noise_factors(data, variance, labels, bad):
    """
    The correlated-noise factor of segments, by area.

    `~galseg.segmentation.correlated_noise_factor` is measured on the
    sky (the pixels at least `_SKY_MARGIN` pixels from every segment)
    over boxes of each side in `_NOISE_BOX_SIZES`; a segment takes the
    factor of the box of area nearest its own, or of the largest box
    measured where the sky is too small for larger ones (1 where none
    is).
    """
    from scipy import ndimage

    sky = ~ndimage.binary_dilation(labels > 0, iterations=_SKY_MARGIN) & ~bad
    sizes = np.array(_NOISE_BOX_SIZES)
    measured = correlated_noise_factor(data, variance, sky, sizes)

    def factors(areas):
        nearest = np.abs(np.sqrt(np.asarray(areas, float))[:, None]
                         - sizes[None, :]).argmin(axis=1)
        values = []
        for index in nearest:
            # the nearest box measured, else the largest smaller one
            finite = np.flatnonzero(np.isfinite(measured[:index + 1]))
            values.append(measured[finite[-1]] if finite.size else 1.0)
        return np.array(values, dtype=float)

    return factors


def _variance(image, noise):
    """The variance of each pixel: the errors', else the noise's."""
    if image.error is not None:
        return np.asarray(image.error, dtype=float) ** 2
    if noise is not None:
        return np.asarray(noise, dtype=float) ** 2
    return None


def _add_column(catalog, name, values, description, unit=None):
    values = np.asarray(values)
    catalog[name] = values if unit is None else values * unit
    catalog[name].info.description = description


def _per_band(values):
    """A 1-D column for one band, ``(n_sources, n_bands)`` otherwise."""
    return values if values.shape[1] > 1 else values[:, 0]


def _nearest_neighbour_distances(catalog):
    """Distance from each centroid to the nearest other one (NaN where
    there is none)."""
    from scipy.spatial import KDTree

    points = np.column_stack([
        np.asarray(getattr(catalog[name], 'value', catalog[name]),
                   dtype=float) for name in ('x_centroid', 'y_centroid')])
    distances = np.full(len(points), np.nan)
    good = np.all(np.isfinite(points), axis=1)
    if good.sum() >= 2:
        found, _ = KDTree(points[good]).query(points[good], k=2)
        distances[good] = found[:, 1]
    return distances


def _flags(catalog, labels, bad, apertures, seams, deblended_flux):
    """The ``flags`` bitmask of each source (see `FLAGS`)."""
    from scipy import ndimage

    n = len(catalog)
    flags = np.zeros(n, dtype=np.int32)
    flags[np.asarray(catalog['n_children']) > 1] |= FLAGS['blended']
    edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0],
                                     labels[:, -1]]))
    edge = edge[edge > 0]
    flags[edge - 1] |= FLAGS['edge']
    segments = ndimage.find_objects(labels, max_label=n)
    for index, found in enumerate(segments):
        if found is None:
            continue
        (y0, y1), (x0, x1) = ((found[0].start, found[0].stop),
                              (found[1].start, found[1].stop))
        for axis, position in seams:
            low, high = (x0, x1) if axis == 'x' else (y0, y1)
            if low < position < high:
                flags[index] |= FLAGS['tile_seam']
                break
    # masked pixels next to a segment (8-connected)
    near_bad = ndimage.binary_dilation(bad, structure=np.ones((3, 3)))
    touched = np.unique(labels[near_bad])
    touched = touched[touched > 0]
    flags[touched - 1] |= FLAGS['masked']
    unreliable = np.array([aperture is None for aperture in apertures])
    unreliable |= ~np.all(np.isfinite(deblended_flux), axis=1)
    unreliable |= np.any(deblended_flux <= 0, axis=1)
    flags[unreliable] |= FLAGS['flux_unreliable']
    return flags


def _bounding_box(bbox):
    from photutils.aperture import BoundingBox

    y0, x0, y1, x1 = bbox
    return BoundingBox(ixmin=x0, ixmax=x1, iymin=y0, iymax=y1)


def empty_catalog(image):
    """
    A catalog of no sources, with the columns of one that has sources.

    Catalogs of many images then stack, whether or not sources were
    found in each.

    Parameters
    ----------
    image : `types.SimpleNamespace`
        The input, as `galseg.inputs.unpack_input` returns it: the number
        of bands, the unit, and whether there are an error, a WCS and a
        PSF decide the columns.

    Returns
    -------
    catalog : `~astropy.table.QTable`
        No rows; the columns, units and descriptions of `build_result`'s
        catalog.
    """
    from types import SimpleNamespace

    from .tiling import Detection

    n_bands = image.data.shape[0]
    data = np.zeros((n_bands, 5, 5))
    data[:, 1:4, 1:4] = 1.0
    mask = np.zeros((5, 5), dtype=np.float32)
    mask[1:4, 1:4] = 1.0
    source = Detection(box=np.array([0.0, 0.0, 5.0, 5.0]), score=1.0,
                       class_id=1, mask=mask, bbox=(0, 0, 5, 5))
    stand_in = SimpleNamespace(
        data=data, bad=np.zeros(data.shape, dtype=bool),
        error=None if image.error is None else np.ones(data.shape),
        background=None, wcs=image.wcs, unit=image.unit,
        psf=getattr(image, 'psf', None))
    result = build_result([source], stand_in, 0.0, 0.5, 0, 1)
    return result.catalog[:0]


def _parents(detections, shape, mask_threshold):
    """
    Group sources whose thresholded masks overlap or touch.

    Returns ``parent`` (1, 2, ... in order of the sources' first
    label) and ``n_children`` (the number of sources of that parent) for
    each source.
    """
    from scipy import ndimage
    from scipy.sparse import coo_array
    from scipy.sparse.csgraph import connected_components

    union = np.zeros(shape, dtype=bool)
    for det in detections:
        union[_region(det)] |= det.mask >= mask_threshold
    components, n_components = ndimage.label(union, np.ones((3, 3)))
    # a graph of sources (nodes 0..n-1) and the regions of the union
    # (nodes n..): a source is joined to every region it touches
    n = len(detections)
    sources, regions = [], []
    for index, det in enumerate(detections):
        touched = np.unique(components[_region(det)][det.mask
                                                     >= mask_threshold])
        touched = touched[touched > 0]
        sources.extend([index] * len(touched))
        regions.extend(n + touched - 1)
    graph = coo_array((np.ones(len(sources)), (sources, regions)),
                      shape=(n + n_components,) * 2)
    _, group = connected_components(graph, directed=False)
    _, first, parent = np.unique(group[:n], return_index=True,
                                 return_inverse=True)
    # number the parents in order of their first source
    order = np.argsort(np.argsort(first))
    parent = order[parent] + 1
    counts = np.bincount(parent)
    return parent, counts[parent]


def _source_catalog(segm, subtracted, bad, image):
    """photutils SourceCatalog of the band-summed data."""
    from photutils.segmentation import SourceCatalog

    detection = subtracted.sum(axis=0)
    error = None
    if image.error is not None:
        error = np.sqrt(np.sum(image.error ** 2, axis=0))
    if image.unit is not None:
        detection = detection * image.unit
        if error is not None:
            error = error * image.unit
    return SourceCatalog(detection, segm, error=error, mask=bad,
                         wcs=image.wcs)


def _catalog_table(source_catalog, image):
    """The default columns of a SourceCatalog, as a QTable."""
    from astropy.table import QTable

    table = source_catalog.to_table()
    table = QTable(table, meta=table.meta)
    if image.wcs is None:
        table.remove_column('sky_centroid')
    if image.error is None:
        table.remove_columns([name for name in table.colnames
                              if name.endswith('_err')])
    return table
