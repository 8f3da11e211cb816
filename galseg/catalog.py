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
from .segmentation import (_region, flux_shares, kron_fluxes,
                           segment_labels)

__all__ = ['build_result', 'empty_catalog', 'CLASS_NAMES']

#: catalog ``classification`` of each class id of the model
CLASS_NAMES = {1: 'galaxy', 2: 'star'}


def build_result(detections, image, background, mask_threshold,
                 flux_dilation, n_pixels):
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

    Returns
    -------
    result : `~galseg.DeblendResult` or `None`
        `None` when no detection keeps a segment of at least
        ``n_pixels`` pixels.
    """
    from photutils.segmentation import SegmentationImage

    bad = image.bad.any(axis=0)
    labels, keep = segment_labels(detections, bad, mask_threshold, n_pixels)
    if not keep:
        return None
    detections = [detections[i] for i in keep]

    subtracted = image.data - background
    blend_id, n_blend = _blends(detections, bad.shape, mask_threshold)
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
    deblended_images, deblended_flux, deblended_bboxes = kron_fluxes(
        apertures, shares, subtracted, labels)

    catalog = _catalog_table(source_catalog, image)
    catalog['score'] = np.array([det.score for det in detections])
    flux = deblended_flux if deblended_flux.shape[1] > 1 \
        else deblended_flux[:, 0]
    catalog['deblended_flux'] = (flux if image.unit is None
                                 else flux * image.unit)
    catalog['blend_id'] = blend_id
    catalog['n_blend'] = n_blend
    class_id = np.array([det.class_id for det in detections], dtype=int)
    catalog['classification'] = np.array(
        [CLASS_NAMES.get(value, f'class {value}') for value in class_id],
        dtype=str)
    catalog['class_score'] = np.array(
        [det.class_score for det in detections], dtype=float)
    catalog['score'].info.description = (
        'detection confidence: the probability of being a source')
    catalog['classification'].info.description = "'galaxy' or 'star'"
    catalog['class_score'].info.description = (
        'probability of the classification, given that it is a source')
    catalog['deblended_flux'].info.description = (
        'total flux: the Kron flux of the deblended image (the data times '
        'the source\'s share of each pixel)')
    catalog['blend_id'].info.description = 'label of the blend (group of '\
        'sources whose masks overlap or touch)'
    catalog['n_blend'].info.description = 'number of sources in the blend'

    detection_image = np.where(bad, np.nan, subtracted.sum(axis=0))
    return DeblendResult(
        segmentation_image=segm, catalog=catalog,
        scores=np.array([det.score for det in detections], dtype=np.float32),
        classes=np.array([det.class_id for det in detections],
                         dtype=np.int32),
        boxes=np.array([det.box for det in detections], dtype=np.float32),
        bboxes=[_bounding_box(det.bbox) for det in detections],
        mask_cutouts=[det.mask for det in detections],
        deblended_images=deblended_images,
        deblended_bboxes=[_bounding_box(bbox) for bbox in deblended_bboxes],
        mask_threshold=mask_threshold,
        detection_image=detection_image.astype(np.float32),
        unit=image.unit, wcs=image.wcs)


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
        of bands, the unit, and whether there are an error and a WCS
        decide the columns.

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
        background=None, wcs=image.wcs, unit=image.unit)
    result = build_result([source], stand_in, 0.0, 0.5, 0, 1)
    return result.catalog[:0]


def _blends(detections, shape, mask_threshold):
    """
    Group sources whose thresholded masks overlap or touch.

    Returns ``blend_id`` (1, 2, ... in order of the sources' first
    label) and ``n_blend`` for each source.
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
    _, first, blend_id = np.unique(group[:n], return_index=True,
                                   return_inverse=True)
    # number the blends in order of their first source
    order = np.argsort(np.argsort(first))
    blend_id = order[blend_id] + 1
    counts = np.bincount(blend_id)
    return blend_id, counts[blend_id]


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
