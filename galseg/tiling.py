"""
Tiled inference: cut an image into overlapping tiles and merge the
detections found in them, so that a source is found exactly once.

The network sees square tiles of a fixed size.  Images smaller than a
tile are padded; larger images are covered by a grid of tiles that
overlap by at least ``overlap`` pixels.  Every tile owns a *core*: the
tiles' cores partition the image, the seam between two neighbouring
cores running through the middle of their overlap, so a core is its tile
minus (at least) half the overlap on every side that borders another
tile.  Each tile is normalised on its own (`normalized_tile`), exactly as
a training stamp; the deblender shows the network no tile deeper than
`MAX_TILE_SNR`.

Merge rule
----------
A detection is kept from the tile whose core contains the centre of its
box.  Because two tiles may place the centre of the same source a
fraction of a pixel apart, on opposite sides of a seam, the rule is
applied with a tolerance: detections whose box centre lies within
``margin`` pixels outside their tile's core are candidates as well, and
candidates from different tiles that are the same source (their
thresholded masks overlap with an intersection over union of at least
``iou_threshold`` in the area both tiles see) are reduced to the one
seen deepest inside its tile, that is with its box centre farthest from
the tile's edges that border other tiles.  A source whose centre lies in
a core is at least half the overlap (minus the margin) from the edges of
its tile, so it is never cut as long as its radius is smaller than
that: choose the overlap larger than the largest source you expect.

Sources larger than that
-------------------------
A source whose mask, in the tile it was kept from, reaches an edge of
that tile that lies inside the image (`cut_by_tile`) was seen cut, and
the network's mask of a cut galaxy is unreliable.  Such a source is
looked at again in a tile centred on it (`centred_tile`): its
detection there, the one whose mask overlaps the kept one most (an
intersection over union of at least ``iou_threshold`` in the area both
tiles see), replaces the kept one if it is not cut itself.  The box of a
cut source is off its true centre, so if that view is cut as well, the
source is looked at again in a tile centred on the new view, up to three
tiles in all.  Sources with a radius of up to nearly half a tile are
then seen whole.

Finally, `suppress_duplicates` removes detections whose masks overlap a
more confident detection almost entirely (the network may propose one
source twice with differently shaped boxes, which its box-based
non-maximum suppression lets through).
"""

import dataclasses
import math

import numpy as np
from astropy.stats import mad_std

from .normalization import estimate_background_noise, normalize_image
from .utils import mask_bbox

__all__ = ['Tile', 'Detection', 'make_tiles', 'normalized_tile',
           'MAX_TILE_SNR',
           'tile_detections', 'catch_all_detections',
           'merge_tile_detections', 'cut_by_tile', 'centred_tile',
           'replace_cut_detections', 'suppress_duplicates']

#: A confident detection whose box spans at least this fraction of its
#: tile in both axes, and
CATCH_ALL_SPAN = 0.6
#: whose mask probabilities, over its mask, average less than this, is a
#: catch-all (see `catch_all_detections`).  On the validation scenes
#: (sky-like seed 212; large, very bright, poor-seeing, low-S/N, clumpy,
#: pairs and stars families of seeds 7001+) no detection spanning 77 px
#: (0.6 of a 128 px tile) averaged less than 0.80 (large galaxies 0.92
#: and more); the catch-alls of validation stamps of 10-30 sources
#: average 0.57-0.88, most below 0.75.
CATCH_ALL_MASK_QUALITY = 0.75


@dataclasses.dataclass(frozen=True)
class Tile:
    """
    One square tile of an image.

    Attributes
    ----------
    index : int
        The tile's position in the list of tiles.
    y0, x0 : int
        The image coordinates of the tile's first pixel.  The tile covers
        rows ``y0:y0 + size`` and columns ``x0:x0 + size``; where that
        runs past the image (images smaller than a tile), the tile is
        padded.
    size : int
        The side of the tile in pixels.
    core : tuple of float
        ``(ymin, xmin, ymax, xmax)``: the part of the image this tile
        owns, in pixel-edge coordinates (the cores of all tiles
        partition the image).  Infinite on sides that are image edges.
    """

    index: int
    y0: int
    x0: int
    size: int
    core: tuple

    @property
    def slices(self):
        """The ``(y, x)`` slices of the tile in the image."""
        return (slice(self.y0, self.y0 + self.size),
                slice(self.x0, self.x0 + self.size))

    def depth(self, y, x):
        """
        Distance from a point to the nearest tile edge that borders
        another tile (`numpy.inf` when no edge does).

        Parameters
        ----------
        y, x : float or `~numpy.ndarray`
            Pixel-edge coordinates in the image.

        Returns
        -------
        depth : float or `~numpy.ndarray`
        """
        ymin, xmin, ymax, xmax = self.core
        inner = []
        if np.isfinite(ymin):
            inner.append(np.asarray(y) - self.y0)
        if np.isfinite(ymax):
            inner.append(self.y0 + self.size - np.asarray(y))
        if np.isfinite(xmin):
            inner.append(np.asarray(x) - self.x0)
        if np.isfinite(xmax):
            inner.append(self.x0 + self.size - np.asarray(x))
        if not inner:
            return np.full(np.shape(y), np.inf)
        return np.min(np.broadcast_arrays(*inner), axis=0)

    def in_core(self, y, x, margin=0.0):
        """
        Whether points lie in the tile's core, grown by ``margin``.

        Parameters
        ----------
        y, x : float or `~numpy.ndarray`
            Pixel-edge coordinates in the image.
        margin : float, optional
            Tolerance in pixels on every side.

        Returns
        -------
        inside : bool or `~numpy.ndarray` of bool
        """
        ymin, xmin, ymax, xmax = self.core
        return ((y >= ymin - margin) & (y < ymax + margin)
                & (x >= xmin - margin) & (x < xmax + margin))


@dataclasses.dataclass
class Detection:
    """
    One detection in image coordinates, its mask kept as a cutout.

    Attributes
    ----------
    box : `~numpy.ndarray`
        ``(ymin, xmin, ymax, xmax)`` predicted box in pixel-edge image
        coordinates (float).
    score : float
        Detection confidence: the probability that it is a source, of
        any class.
    class_id : int
        Predicted class (1 = galaxy, 2 = star).
    mask : `~numpy.ndarray`
        float32 mask probabilities in ``bbox``.
    bbox : tuple of int
        ``(iymin, ixmin, iymax, ixmax)`` of the cutout in the image
        (``iymax``, ``ixmax`` exclusive): the bounding box of the pixels
        where the mask probability reaches the mask threshold.
    tile : int
        Index of the tile it was found in.
    class_score : float
        The probability of ``class_id`` among the source classes.
    """

    box: np.ndarray
    score: float
    class_id: int
    mask: np.ndarray
    bbox: tuple
    tile: int = 0
    class_score: float = 1.0

    @property
    def centre(self):
        """``(y, x)`` centre of the predicted box."""
        ymin, xmin, ymax, xmax = self.box
        return 0.5 * (ymin + ymax), 0.5 * (xmin + xmax)


def _axis_starts(length, size, overlap):
    """Tile starts along one axis, evenly spread, overlapping >= overlap."""
    if length <= size:
        return np.array([0])
    step = size - overlap
    n_tiles = math.ceil((length - size) / step) + 1
    return np.round(np.linspace(0, length - size, n_tiles)).astype(int)


def _axis_cores(starts, size):
    """Core limits along one axis: seams in the middle of each overlap."""
    seams = [0.5 * (start + prev + size)
             for prev, start in zip(starts[:-1], starts[1:])]
    lower = [-np.inf] + seams
    upper = seams + [np.inf]
    return list(zip(lower, upper))


def make_tiles(shape, tile_size, overlap):
    """
    Cover an image with square tiles.

    Along each axis the tiles are spread evenly from the first to the
    last pixel so that neighbours overlap by at least ``overlap``
    pixels; an axis shorter than ``tile_size`` gets one (padded) tile.

    Parameters
    ----------
    shape : tuple of int
        ``(ny, nx)`` of the image.
    tile_size : int
        Side of a tile in pixels.
    overlap : int
        Minimum overlap between neighbouring tiles, in pixels, smaller
        than ``tile_size``.

    Returns
    -------
    tiles : list of `Tile`
        In raster order (rows of tiles from the bottom).

    Raises
    ------
    ValueError
        If ``overlap`` is negative or not smaller than ``tile_size``.

    Examples
    --------
    >>> from galseg.tiling import make_tiles
    >>> tiles = make_tiles((100, 50), tile_size=64, overlap=16)
    >>> [(tile.y0, tile.x0) for tile in tiles]
    [(0, 0), (36, 0)]
    >>> tiles[0].core
    (-inf, -inf, 50.0, inf)
    """
    tile_size = int(tile_size)
    overlap = int(overlap)
    if tile_size < 1:
        msg = f'tile_size must be a positive integer, got {tile_size}'
        raise ValueError(msg)
    if not 0 <= overlap < tile_size:
        msg = (f'overlap must be >= 0 and smaller than tile_size '
               f'({tile_size}), got {overlap}')
        raise ValueError(msg)
    ny, nx = shape
    y_starts = _axis_starts(ny, tile_size, overlap)
    x_starts = _axis_starts(nx, tile_size, overlap)
    y_cores = _axis_cores(y_starts, tile_size)
    x_cores = _axis_cores(x_starts, tile_size)
    tiles = []
    for y0, (ymin, ymax) in zip(y_starts, y_cores):
        for x0, (xmin, xmax) in zip(x_starts, x_cores):
            tiles.append(Tile(index=len(tiles), y0=int(y0), x0=int(x0),
                              size=tile_size,
                              core=(float(ymin), float(xmin), float(ymax),
                                    float(xmax))))
    return tiles


#: Seed of the noise that pads a tile beyond the image.
_PADDING_SEED = 0

#: The largest peak signal-to-noise ratio of a tile that the deblender
#: shows the network (`normalized_tile`'s ``max_snr``).  The network
#: merges close pairs of sources much brighter than this (the very
#: bright sources of deep data, noiseless images): of validation pairs
#: made 100 times deeper it found both members of 49% of those 2-3 PSF
#: FWHM apart, and of their noiseless images 3%, against 67% at their
#: simulated depth; shown the same tiles brought down to a peak
#: signal-to-noise ratio of 1000, 66% and 63% (300 and 3000 were also
#: measured; training/README.md, stage 31).
MAX_TILE_SNR = 1000.0

#: Seed of the noise that brings a tile down to ``max_snr``.
_DEPTH_SEED = 1


def _sky_padding(cutout, bad, noise, size):
    """
    A ``(size, size, n_bands)`` normalised tile of empty sky, zero where
    ``cutout`` lies: white noise of the cutout's own pixel-to-pixel
    noise (the robust standard deviation of the differences of
    neighbouring pixels over sqrt(2)) in units of its estimated
    ``noise`` (one value per band; NaN for a band with no usable pixel,
    which gets no noise): about 1 for data with white noise, about 0 for
    noiseless data.
    """
    n_bands, height, width = cutout.shape
    sky_noise = np.zeros((n_bands, 1, 1))
    for band, (values, band_bad, band_noise) in enumerate(
            zip(cutout, bad, noise)):
        both = ~(band_bad[:, 1:] | band_bad[:, :-1])
        steps = np.diff(values, axis=1)[both]
        if np.isfinite(band_noise) and steps.size:
            sky_noise[band] = min(mad_std(steps) / np.sqrt(2) / band_noise,
                                  1.0)
    sky = np.random.default_rng(_PADDING_SEED).normal(
        size=(n_bands, size, size)) * sky_noise
    padded = normalize_image(sky, background=0.0, noise=1.0)
    padded[:height, :width] = 0.0
    return padded


def _shallower(cutout, bad, background, noise, max_snr):
    """
    The cutout with white noise added to each band whose peak
    signal-to-noise ratio exceeds ``max_snr``, so that its peak reaches
    exactly ``max_snr`` in units of the new noise, and that noise.
    """
    snr = (cutout - background) / noise
    peak = np.array([np.max(np.where(band_bad, -np.inf, values),
                            initial=-np.inf)
                     for values, band_bad in zip(snr, bad)])
    deep = peak > max_snr
    if not deep.any():
        return cutout, noise
    scale = np.where(deep, peak / max_snr, 1.0).reshape(-1, 1, 1)
    extra = noise * np.sqrt(scale ** 2 - 1.0)
    rng = np.random.default_rng(_DEPTH_SEED)
    cutout = cutout + rng.normal(size=cutout.shape) * extra
    return cutout, noise * scale


def normalized_tile(data, bad, tile, max_snr=None):
    """
    The network's input for one tile: the tile normalised on its own.

    The tile is cut out of the data and normalised with
    `~galseg.normalize_image`, with the background and noise estimated
    in the tile alone, exactly as `galseg.train` normalises each
    training stamp.  (An estimate over a whole large image differs from
    a stamp's near large galaxies, whose wings raise the stamp's
    sigma-clipped background and noise, and the network's masks follow
    the signal-to-noise ratio of its input.)  Where the tile reaches
    beyond the image, it is padded with empty sky as the network knows
    it: normalised Gaussian noise of the tile's own pixel-to-pixel
    noise in units of the estimated noise (about 1 for data with noise,
    0 for noiseless data), the same for every call (a fixed seed).
    Zeros around noisy data, a sky that no training stamp has, made
    models trained on sky-like scenes find sources along the edge of
    the padding.

    With ``max_snr``, a band whose brightest pixel has a larger
    signal-to-noise ratio (in the tile's estimated noise) is shown as a
    shallower image of the same sky: white noise (the same for every
    call, a fixed seed) is added so that its peak has exactly that
    ratio, and it is normalised with the new noise.  A noiseless image
    is then shown with a noise of ``1 / max_snr`` of its brightest
    pixel.  Sources fainter than a few times the new noise are lost
    from such a tile (see `MAX_TILE_SNR`).  Tiles of 512 pixels or more,
    whose noise is a `~photutils.background.Background2D` map, are
    shown as they are.

    Parameters
    ----------
    data : `~numpy.ndarray`
        ``(n_bands, ny, nx)`` data.
    bad : `~numpy.ndarray` of bool
        Masked pixels, of the shape of ``data``.
    tile : `Tile`
    max_snr : float, optional
        The largest peak signal-to-noise ratio shown; `None` (the
        default, as for training stamps) shows the tile as it is.

    Returns
    -------
    cutout : `~numpy.ndarray`
        float32 array of shape ``(tile.size, tile.size, n_bands)``; a
        band with no usable pixel in the tile is zero.
    """
    region = (slice(None), *tile.slices)
    cutout, cutout_bad = data[region], bad[region]
    n_bands, height, width = cutout.shape
    usable = ~cutout_bad.reshape(n_bands, -1).all(axis=1)
    background = noise = None
    if usable.any():
        background, noise = estimate_background_noise(cutout[usable],
                                                      cutout_bad[usable])
        if max_snr is not None and noise.shape[1:] == (1, 1):
            shallow, noise = _shallower(cutout[usable], cutout_bad[usable],
                                        background, noise, max_snr)
            cutout = cutout.astype(float)
            cutout[usable] = shallow
    if height < tile.size or width < tile.size:
        band_noise = np.full(n_bands, np.nan)
        if usable.any():
            band_noise[usable] = np.median(noise.reshape(len(noise), -1),
                                           axis=1)
        padded = _sky_padding(cutout, cutout_bad, band_noise, tile.size)
    else:
        padded = np.zeros((tile.size, tile.size, n_bands), dtype=np.float32)
    if usable.any():
        padded[:height, :width, usable] = normalize_image(
            cutout[usable], mask=cutout_bad[usable], background=background,
            noise=noise)
    return padded


def tile_detections(output, tile, image_shape, score_threshold,
                    mask_threshold):
    """
    Turn the network's output for one tile into `Detection` objects.

    Masks are cropped to the image (padding is dropped) and to the
    bounding box of the pixels whose probability reaches
    ``mask_threshold``, so that only small cutouts are kept.

    Parameters
    ----------
    output : dict
        One element of ``MaskRCNN.detect()``: ``boxes`` (n, 4),
        ``classes`` (n,), ``class_scores`` (n,), ``scores`` (n,),
        ``masks`` (n, S, S) in tile coordinates.
    tile : `Tile`
    image_shape : tuple of int
        ``(ny, nx)`` of the image.
    score_threshold, mask_threshold : float
        Detections below ``score_threshold`` are dropped, as are those
        whose mask never reaches ``mask_threshold`` inside the image.

    Returns
    -------
    detections : list of `Detection`
    """
    ny, nx = image_shape
    h = min(tile.size, ny - tile.y0)
    w = min(tile.size, nx - tile.x0)
    offset = np.array([tile.y0, tile.x0, tile.y0, tile.x0], dtype=float)
    detections = []
    scores = np.asarray(output['scores'], dtype=float).reshape(-1)
    for i in np.flatnonzero(scores >= score_threshold):
        mask = np.asarray(output['masks'][i])[:h, :w]
        bbox = mask_bbox(mask >= mask_threshold)
        if bbox is None:
            continue
        r0, c0, r1, c1 = bbox
        detections.append(Detection(
            box=np.asarray(output['boxes'][i], dtype=float) + offset,
            score=float(scores[i]),
            class_id=int(output['classes'][i]),
            mask=np.array(mask[r0:r1, c0:c1], dtype=np.float32),
            bbox=(tile.y0 + int(r0), tile.x0 + int(c0),
                  tile.y0 + int(r1), tile.x0 + int(c1)),
            tile=tile.index,
            class_score=float(output['class_scores'][i])))
    return detections


def catch_all_detections(output, tile_size, score_threshold,
                         mask_threshold):
    """
    Which of a tile's detections are catch-alls of a crowded field.

    Shown a stamp with more sources than it was trained on (a deep
    field: tens of galaxies per 128 px tile), a network can answer with
    one confident detection spanning most of the tile, its mask a
    diffuse patchwork over the sources, instead of the sources.  Such a
    detection is not a source, and left in place it would hide every
    source inside it (`galseg.segmentation.suppress_contained`).  A
    detection is taken for one when its score reaches
    ``score_threshold``, its box spans at least `CATCH_ALL_SPAN` of the
    tile in both axes, and its mask probabilities average less than
    `CATCH_ALL_MASK_QUALITY` over the pixels where they reach
    ``mask_threshold`` (a real galaxy that large has a confident mask).

    Parameters
    ----------
    output : dict
        One element of ``MaskRCNN.detect()`` (``boxes``, ``scores``,
        ``masks`` in tile coordinates).
    tile_size : int
        The side of the tile in pixels.
    score_threshold, mask_threshold : float

    Returns
    -------
    catch_all : `~numpy.ndarray` of bool
        One flag per detection.

    Examples
    --------
    >>> import numpy as np
    >>> masks = np.zeros((2, 128, 128), np.float32)
    >>> masks[0] = 0.6                     # diffuse, over the whole tile
    >>> masks[1, 10:110, 10:110] = 0.95    # a large galaxy
    >>> output = {'boxes': np.array([[0, 0, 128, 128], [10, 10, 110, 110]]),
    ...           'scores': np.array([1.0, 1.0]), 'masks': masks}
    >>> catch_all_detections(output, 128, 0.5, 0.5)
    array([ True, False])
    """
    boxes = np.asarray(output['boxes'], dtype=float).reshape(-1, 4)
    scores = np.asarray(output['scores'], dtype=float).reshape(-1)
    span = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    flags = np.zeros(len(scores), dtype=bool)
    for i in np.flatnonzero((scores >= score_threshold)
                            & (span >= CATCH_ALL_SPAN * tile_size)):
        mask = np.asarray(output['masks'][i])
        above = mask[mask >= mask_threshold]
        flags[i] = above.size > 0 and above.mean() < CATCH_ALL_MASK_QUALITY
    return flags


def _shared_mask_iou(a, b, region, mask_threshold):
    """IoU of two thresholded masks, counted inside ``region`` only."""
    ry0, rx0, ry1, rx1 = region

    def clipped(det):
        y0, x0, y1, x1 = det.bbox
        cy0, cx0 = max(y0, ry0), max(x0, rx0)
        cy1, cx1 = min(y1, ry1), min(x1, rx1)
        if cy0 >= cy1 or cx0 >= cx1:
            return None, (cy0, cx0, cy0, cx0)
        above = det.mask[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0]
        return above >= mask_threshold, (cy0, cx0, cy1, cx1)

    ma, ba = clipped(a)
    mb, bb = clipped(b)
    if ma is None or mb is None:
        return 0.0
    area_a, area_b = int(ma.sum()), int(mb.sum())
    y0, x0 = max(ba[0], bb[0]), max(ba[1], bb[1])
    y1, x1 = min(ba[2], bb[2]), min(ba[3], bb[3])
    inter = 0
    if y0 < y1 and x0 < x1:
        inter = int(np.sum(
            ma[y0 - ba[0]:y1 - ba[0], x0 - ba[1]:x1 - ba[1]]
            & mb[y0 - bb[0]:y1 - bb[0], x0 - bb[1]:x1 - bb[1]]))
    union = area_a + area_b - inter
    return inter / union if union > 0 else 0.0


def merge_tile_detections(detections, tiles, image_shape, mask_threshold,
                          margin=2.0, iou_threshold=0.5):
    """
    Merge the detections of overlapping tiles (see the module notes).

    Parameters
    ----------
    detections : list of `Detection`
        All detections of all tiles, in image coordinates.
    tiles : list of `Tile`
        The tiles, as returned by `make_tiles`.
    image_shape : tuple of int
        ``(ny, nx)`` of the image.
    mask_threshold : float
        Threshold that turns mask probabilities into masks.
    margin : float, optional
        Tolerance in pixels around a tile's core.
    iou_threshold : float, optional
        Candidates from different tiles whose masks overlap at least
        this much (intersection over union, in the area both tiles see)
        are the same source.

    Returns
    -------
    kept : list of `Detection`
        One detection per source, sorted by decreasing score.
    """
    if len(tiles) == 1:
        return sorted(detections, key=lambda det: -det.score)
    ny, nx = image_shape
    candidates = []
    for det in detections:
        tile = tiles[det.tile]
        y, x = det.centre
        if tile.in_core(y, x, margin):
            candidates.append((float(tile.depth(y, x)), det))
    # Deepest first: that copy of a source is the one least likely cut.
    candidates.sort(key=lambda item: (-item[0], -item[1].score))
    neighbours = _tile_neighbours(tiles)
    kept_by_tile = {}
    for _, det in candidates:
        if not any(_same_source(det, other, tiles, image_shape,
                                mask_threshold, iou_threshold)
                   for index in neighbours[det.tile]
                   for other in kept_by_tile.get(index, ())):
            kept_by_tile.setdefault(det.tile, []).append(det)
    kept = [det for dets in kept_by_tile.values() for det in dets]
    return sorted(kept, key=lambda det: -det.score)


def cut_by_tile(det, tile, image_shape, margin=0):
    """
    Whether a detection's mask reaches an edge of its tile that lies
    inside the image, or comes within ``margin`` pixels of it: the
    network saw that source cut (the mask of a cut galaxy often stops
    short of the edge).

    Parameters
    ----------
    det : `Detection`
    tile : `Tile`
        The tile it was found in.
    image_shape : tuple of int
        ``(ny, nx)`` of the image.
    margin : int, optional
        Pixels between the mask and the edge that still count as cut.

    Returns
    -------
    cut : bool

    Examples
    --------
    >>> import numpy as np
    >>> from galseg.tiling import Detection, cut_by_tile, make_tiles
    >>> tiles = make_tiles((200, 100), tile_size=100, overlap=20)
    >>> def square(y0, x0, size):
    ...     return Detection(box=np.array([y0, x0, y0 + size, x0 + size]),
    ...                      score=0.9, class_id=1,
    ...                      mask=np.ones((size, size), np.float32),
    ...                      bbox=(y0, x0, y0 + size, x0 + size))
    >>> cut_by_tile(square(70, 10, 30), tiles[0], (200, 100))
    True
    >>> cut_by_tile(square(0, 10, 30), tiles[0], (200, 100))
    False
    """
    ny, nx = image_shape
    y0, x0, y1, x1 = det.bbox
    y_end, x_end = tile.y0 + tile.size, tile.x0 + tile.size
    return bool((tile.y0 > 0 and y0 <= tile.y0 + margin)
                or (y_end < ny and y1 >= y_end - margin)
                or (tile.x0 > 0 and x0 <= tile.x0 + margin)
                or (x_end < nx and x1 >= x_end - margin))


def centred_tile(det, image_shape, size, index):
    """
    A tile centred on a detection's box, moved inside the image.

    Parameters
    ----------
    det : `Detection`
    image_shape : tuple of int
        ``(ny, nx)`` of the image.
    size : int
        Side of the tile.
    index : int
        The new tile's ``index``.

    Returns
    -------
    tile : `Tile`
        With a core spanning the whole image (it is no part of the
        grid of `make_tiles`).
    """
    y, x = det.centre
    origin = [int(min(max(round(centre - size / 2), 0), max(length - size,
                                                            0)))
              for centre, length in zip((y, x), image_shape)]
    return Tile(index=index, y0=origin[0], x0=origin[1], size=size,
                core=(-np.inf, -np.inf, np.inf, np.inf))


def replace_cut_detections(detections, tiles, image_shape, find,
                           mask_threshold, iou_threshold=0.5, margin=0,
                           looks=3):
    """
    Look again, in a tile centred on it, at every source seen cut by its
    tile (see the module notes).

    A tile centred on the cut detection's box may still cut the source
    (the box of a cut source is off its true centre), so a source still
    seen cut in the centred tile is looked at again in a tile centred on
    that view, in up to ``looks`` tiles in all: each moves the tile by
    about half of what the previous one cut off.

    Parameters
    ----------
    detections : list of `Detection`
        Merged detections (`merge_tile_detections`).
    tiles : list of `Tile`
        The tiles they were found in (``Detection.tile`` indexes it).
    image_shape : tuple of int
        ``(ny, nx)`` of the image.
    find : callable
        ``find(new_tiles)`` returns, for each of a list of tiles, the
        detections found in it in image coordinates (as
        `tile_detections`).
    mask_threshold : float
        Threshold that turns mask probabilities into masks.
    iou_threshold : float, optional
        A detection of the centred tile is the same source when its mask
        overlaps the view it was centred on with at least this
        intersection over union, in the area both tiles see.
    margin : int, optional
        The ``margin`` of `cut_by_tile`.
    looks : int, optional
        The most centred tiles a cut source is looked at in.

    Returns
    -------
    detections : list of `Detection`
        Sorted by decreasing score, each cut detection replaced by its
        first uncut view in a centred tile where there is one.
    """
    n_tiles = len(tiles)  # the next new tile's index
    detections = list(detections)
    # index of a cut detection -> its latest (cut) view and that view's
    # tile
    pending = {index: (det, tiles[det.tile])
               for index, det in enumerate(detections)
               if cut_by_tile(det, tiles[det.tile], image_shape, margin)}
    for _ in range(looks):
        new_tiles, tile_of = {}, {}
        for index, (view, own) in pending.items():
            tile = centred_tile(view, image_shape, tiles[0].size,
                                n_tiles + len(new_tiles))
            if (tile.y0, tile.x0) == (own.y0, own.x0):
                continue
            tile_of[index] = new_tiles.setdefault((tile.y0, tile.x0), tile)
        if not tile_of:
            break
        ordered = sorted(new_tiles.values(), key=lambda tile: tile.index)
        found = dict(zip((tile.index for tile in ordered), find(ordered)))
        n_tiles += len(ordered)
        still_cut = {}
        for index, tile in tile_of.items():
            view, own = pending[index]
            best = _best_view(view, own, found[tile.index], tile,
                              image_shape, mask_threshold, iou_threshold)
            if best is None:
                continue
            if cut_by_tile(best, tile, image_shape, margin):
                still_cut[index] = (best, tile)
            else:
                detections[index] = best
        pending = still_cut
    return sorted(detections, key=lambda det: -det.score)


def _best_view(view, view_tile, candidates, tile, image_shape,
               mask_threshold, iou_threshold):
    """
    The candidate of ``tile`` whose mask overlaps ``view`` (seen in
    ``view_tile``) most, with at least ``iou_threshold``, or None.
    """
    region = _shared_region(view_tile, tile, image_shape)
    best, best_iou = None, iou_threshold
    for other in candidates:
        iou = _shared_mask_iou(view, other, region, mask_threshold)
        if iou >= best_iou:
            best, best_iou = other, iou
    return best


def _shared_region(tile, other_tile, image_shape):
    """The ``(ymin, xmin, ymax, xmax)`` part of the image two tiles see."""
    ny, nx = image_shape
    return (max(tile.y0, other_tile.y0), max(tile.x0, other_tile.x0),
            min(tile.y0 + tile.size, other_tile.y0 + other_tile.size, ny),
            min(tile.x0 + tile.size, other_tile.x0 + other_tile.size, nx))


def _tile_neighbours(tiles):
    """For each tile, the indices of the other tiles that overlap it."""
    y0 = np.array([tile.y0 for tile in tiles])
    x0 = np.array([tile.x0 for tile in tiles])
    size = tiles[0].size
    neighbours = []
    for tile in tiles:
        near = (np.abs(y0 - tile.y0) < size) & (np.abs(x0 - tile.x0) < size)
        near[tile.index] = False
        neighbours.append(np.flatnonzero(near).tolist())
    return neighbours


def _same_source(det, other, tiles, image_shape, mask_threshold,
                 iou_threshold):
    """Whether two detections from overlapping tiles are one source."""
    if not _bboxes_intersect(det, other):
        return False
    region = _shared_region(tiles[det.tile], tiles[other.tile],
                            image_shape)
    return (_shared_mask_iou(det, other, region, mask_threshold)
            >= iou_threshold)


def _mask_iou(a, b, mask_threshold):
    """IoU of the thresholded masks of two detections."""
    region = (min(a.bbox[0], b.bbox[0]), min(a.bbox[1], b.bbox[1]),
              max(a.bbox[2], b.bbox[2]), max(a.bbox[3], b.bbox[3]))
    return _shared_mask_iou(a, b, region, mask_threshold)


def suppress_duplicates(detections, mask_threshold, iou_threshold,
                        cell_size=64):
    """
    Mask non-maximum suppression: drop detections that repeat a more
    confident one.

    Parameters
    ----------
    detections : list of `Detection`
        Sorted by decreasing score.
    mask_threshold : float
        Threshold that turns mask probabilities into masks.
    iou_threshold : float
        A detection whose thresholded mask has an intersection over
        union of at least this with the mask of a more confident kept
        detection is dropped.
    cell_size : int, optional
        Side of the grid cells used to find neighbours quickly.

    Returns
    -------
    kept : list of `Detection`
        In the order of ``detections``.
    """
    grid = {}
    kept = []
    for det in detections:
        y0, x0, y1, x1 = det.bbox
        cells = [(cy, cx)
                 for cy in range(y0 // cell_size, (y1 - 1) // cell_size + 1)
                 for cx in range(x0 // cell_size, (x1 - 1) // cell_size + 1)]
        neighbours = {id(other): other for cell in cells
                      for other in grid.get(cell, ())}
        if any(_bboxes_intersect(det, other)
               and _mask_iou(det, other, mask_threshold) >= iou_threshold
               for other in neighbours.values()):
            continue
        kept.append(det)
        for cell in cells:
            grid.setdefault(cell, []).append(det)
    return kept


def _bboxes_intersect(a, b):
    ay0, ax0, ay1, ax1 = a.bbox
    by0, bx0, by1, bx1 = b.bbox
    return ay0 < by1 and by0 < ay1 and ax0 < bx1 and bx0 < ax1
