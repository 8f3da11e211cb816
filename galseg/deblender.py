"""
The public deblender: find and deblend galaxies in an image with a
trained Mask R-CNN, photutils style.

`MaskRCNNDeblender` runs the steps kept in their own modules: the input
is checked and unpacked (`galseg.inputs`), normalised
(`galseg.normalization`), cut into tiles whose detections are merged
(`galseg.tiling`), suppressed and segmented (`galseg.segmentation`),
and measured into a catalog (`galseg.catalog`).
"""

import math
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from .calibration import StoredCalibration, read_calibration
from .catalog import build_result
from .inputs import read_fits_image, unpack_input
from .result import DeblendResult
from .segmentation import (suppress_contained, suppress_merged,
                           suppress_nested)
from .star_galaxy import SPREAD_THRESHOLD
from .tiling import (MAX_TILE_SNR, catch_all_detections, make_tiles,
                     merge_tile_detections, normalized_tile,
                     replace_cut_detections, suppress_duplicates,
                     tile_detections)
from .validation import (check_bool, check_choice, check_fraction, check_int,
                         check_number)

__all__ = ['MaskRCNNDeblender', 'DeblendResult', 'read_fits_image']

# The score threshold of a model without a calibration (see
# galseg.calibration), chosen on the first default model's validation set.
_SCORE_THRESHOLD = 0.7

# The least segment signal-to-noise ratio of a source for a model without
# a calibration (one that has one stores the value chosen on validation
# data with its score threshold): the conventional 5-sigma detection.
_MIN_SNR = 5.0

# The contained_fraction of a model without a calibrated one (chosen on
# validation pairs for models trained on overlapping footprints, see
# docs/deblending.rst).
_CONTAINED_FRACTION = 0.95

# The core_probability of a model without a calibrated one: every covered
# detection is dropped, wherever its centre (the rule before there was a
# choice).
_CORE_PROBABILITY = 0.0

# Candidates within this many pixels outside their tile's core are
# compared with those of the neighbouring tile (see galseg.tiling).
_SEAM_MARGIN = 2.0
# A detection whose mask comes within this many pixels of an edge of its
# tile inside the image is looked at again in a tile centred on it
# (galseg.tiling.replace_cut_detections).
_CUT_MARGIN = 8


class MaskRCNNDeblender:
    """
    Detect and deblend sources in an image with a Mask R-CNN model.

    The image is cut into overlapping tiles of the model's input size,
    every tile is normalised as a training stamp (the background and
    noise estimated in the tile are subtracted and divided out, see
    `galseg.tiling.normalized_tile`) and searched for sources.  The
    detections of all tiles are merged so that each source is found
    once, repeated and partial detections of a galaxy are dropped (masks
    spanning galaxies found separately, `galseg.segmentation.suppress_merged`;
    a galaxy's core found beside the whole galaxy is merged into it,
    `galseg.segmentation.suppress_nested`; pieces inside more confident
    detections, `galseg.segmentation.suppress_contained`), each
    pixel goes to the most probable source and every segment is made
    one connected region (see `galseg.segmentation`), and the sources
    are measured with `~photutils.segmentation.SourceCatalog` and on
    their deblended images.

    Parameters
    ----------
    model : str, `~pathlib.Path` or `~galseg.engine.MaskRCNN`, optional
        The trained model: ``'default'`` for the model bundled with
        galseg, the path of a model directory (``config.json`` and
        ``model.weights.h5``), the path of a training-run directory
        holding such a directory as ``model/``, or a model instance.
    score_threshold : float or `None`, optional
        Lowest detection score kept, in [0, 1].  By default (`None`),
        the threshold chosen for the model on validation data (see
        `galseg.calibration`: among those whose detection-level
        precision reaches 0.95, the most conservative one whose F1 is
        within one standard error of the best, stored in the model
        directory's ``calibration.json``), or 0.7 for a model without
        one.  Lower it for completeness (more faint sources, more
        spurious ones), raise it for purity.  Scores are calibrated
        when the model has a calibration: a score of 0.8 then means
        that 80% of the validation detections so scored were real
        sources.
    mask_threshold : float, optional
        Mask probability, in (0, 1), above which a pixel belongs to a
        source's instance mask.
    duplicate_iou : float, optional
        Two detections whose instance masks overlap with an
        intersection over union of at least this, in (0, 1], are one
        source found twice, and only the more confident is kept (mask
        non-maximum suppression; 1 keeps all but identical masks).
        Genuinely blended galaxies overlap much less than this.
    contained_fraction : float or `None`, optional
        A detection whose instance mask lies at least this fraction, in
        (0, 1], inside the instance masks of more confident detections
        is dropped: it is a galaxy found again, a piece of one, or two
        galaxies already found separately (see
        `galseg.segmentation.suppress_contained`).  1 drops only masks
        entirely covered; lower values remove more fragments, and more
        faint galaxies seen on top of bright ones.  By default (`None`),
        the value chosen with the score threshold on validation data
        (``calibration.json``), or 0.95 for a model without one.
    core_probability : float or `None`, optional
        A detection covered by more confident ones (see
        ``contained_fraction``) is dropped only if its centre lies where
        the instance mask of one of them has a probability of at least
        this value, in [0, 1]: a faint neighbour under the wing of a
        bright galaxy, centred where the bright galaxy's mask is
        uncertain, is kept, while a piece of a galaxy, centred in the
        galaxy's confident core, is not.  0 drops every covered
        detection.  By default (`None`), the value chosen with the
        score threshold on validation data (``calibration.json``), or 0
        for a model without one.
    n_pixels : int, optional
        The minimum number of connected pixels of a source's segment,
        as in `~photutils.segmentation.detect_sources`.  Every segment
        is one 8-connected region: islands of a source and segments
        smaller than this go to the source that surrounds them (or to
        the background), and a source left without pixels is dropped
        from the segmentation image and the catalog.
    min_snr : float or `None`, optional
        The least signal-to-noise ratio, >= 0, of a source's segment
        flux (the catalog's ``segment_snr``: the band-summed flux of
        the segment over its noise, from ``error`` or else from the
        background noise estimated in the image, see
        `galseg.segmentation.segment_snr`).  A source below it is not
        a significant detection: it is dropped and its pixels go to the
        other sources or the background.  By default (`None`), the
        value chosen with the score threshold on validation data
        (``calibration.json``), or 5 for a model without one; 0 keeps
        every source.
    flux_dilation : int, optional
        Pixels by which the instance masks are grown to split the data
        between sources: a source's share of a pixel is proportional to
        its mask probability there (in the grown mask, so its wings take
        almost nothing from a neighbour's core) times a smooth model of
        its brightness (see `galseg.segmentation.flux_shares`).  The
        shares of a pixel add up to one, and each source's deblended
        image is the data times its share; ``deblended_flux`` is the
        flux of that image in the source's Kron aperture (see
        `DeblendResult`).  The instance masks and the segmentation image
        are not grown.
    tile_size : int or `None`, optional
        Side of the tiles in pixels.  The network's anchors are fixed to
        its input size, so this must be the model's ``image_size``,
        which `None` (the default) selects.
    tile_overlap : int or `None`, optional
        Minimum overlap of neighbouring tiles in pixels; `None` means a
        quarter of the tile size.  A source is never cut by a tile edge
        when its radius is smaller than about half the overlap; a larger
        one that its tile cuts is looked at again in tiles centred on
        it (`galseg.tiling.replace_cut_detections`), which see it whole
        up to a radius of nearly half a tile.
    max_tile_snr : float or `None`, optional
        The deepest tile shown to the network: a tile whose brightest
        pixel has a larger signal-to-noise ratio is shown with white
        noise added (the same at every call) that brings it down to
        this, and the segments of sources that bright are then grown
        over their footprint in the data (see
        `galseg.tiling.normalized_tile`,
        `galseg.segmentation.grow_bright_segments`).  The network
        merges close pairs of sources much brighter than it was mostly
        trained on; the default, 1000 (`galseg.tiling.MAX_TILE_SNR`),
        was chosen on validation data.  Sources fainter than a few
        thousandths of the brightest in their tile are then lost from
        that tile: raise it, or `None` to show every tile as it is, to
        keep them at the price of bright close pairs.
    batch_size : int, optional
        Tiles per forward pass of the network; with the image itself,
        this bounds the memory used.
    precision : {'float32', 'bfloat16'}, optional
        The precision the network computes in (see
        `galseg.engine.load_model`).  ``'bfloat16'`` runs the network
        about 1.3 times faster on CPUs with AVX512-BF16 or AMX (see
        ``benchmarks/deblend_speed.py``) and slower on others; its
        scores differ from float32's by a few thousandths, and the
        thresholds chosen for the model in float32 are used as they are.
        For models galseg loads: with a `~galseg.engine.MaskRCNN`
        instance, which computes as it was built, only ``'float32'`` is
        accepted.
    spread_threshold : float, optional
        With a PSF (the ``psf`` of `__call__`), the ``spread_model``
        above which a source is a galaxy (see `galseg.star_galaxy`); the
        default, 0.00175, was chosen on validation scenes of the
        sky-like recipe (DES used 0.003 with SExtractor): raise it for
        more complete stars and purer galaxies, lower it for the
        reverse.
    progress_bar : bool, optional
        Whether to show a progress bar over the tiles (needs tqdm).

    Raises
    ------
    FileNotFoundError
        If ``model`` is a path that holds no model, or ``'default'``
        while no default model is installed.
    TypeError, ValueError
        If a setting has the wrong type or value.

    See Also
    --------
    photutils.segmentation.SourceFinder, DeblendResult

    Notes
    -----
    Masked pixels (``mask``, and any NaN or infinite data value) are
    treated as empty sky by the network and belong to no source; in
    multi-band data, a pixel masked in any band is masked.

    Examples
    --------
    >>> from galseg import MaskRCNNDeblender
    >>> deblender = MaskRCNNDeblender('path/to/run')  # doctest: +SKIP
    >>> segm, catalog = deblender(data)  # doctest: +SKIP
    """

    def __init__(self, model='default', *, score_threshold=None,
                 mask_threshold=0.5, duplicate_iou=0.6,
                 contained_fraction=None, core_probability=None,
                 n_pixels=5, min_snr=None, flux_dilation=3, tile_size=None,
                 tile_overlap=None, max_tile_snr=MAX_TILE_SNR, batch_size=8,
                 precision='float32', spread_threshold=SPREAD_THRESHOLD,
                 progress_bar=False):
        if score_threshold is not None:
            score_threshold = check_fraction('score_threshold',
                                             score_threshold)
        self.mask_threshold = check_fraction(
            'mask_threshold', mask_threshold, low_open=True, high_open=True)
        self.duplicate_iou = check_fraction('duplicate_iou', duplicate_iou,
                                            low_open=True)
        if contained_fraction is not None:
            contained_fraction = check_fraction(
                'contained_fraction', contained_fraction, low_open=True)
        if core_probability is not None:
            core_probability = check_fraction('core_probability',
                                              core_probability)
        self.n_pixels = check_int('n_pixels', n_pixels, minimum=1)
        if min_snr is not None:
            min_snr = check_number('min_snr', min_snr, minimum=0)
        self.flux_dilation = check_int('flux_dilation', flux_dilation,
                                       minimum=0)
        self.batch_size = check_int('batch_size', batch_size, minimum=1)
        self.spread_threshold = check_number('spread_threshold',
                                             spread_threshold, minimum=0)
        from .engine.io import PRECISIONS

        self.precision = check_choice('precision', precision,
                                      tuple(PRECISIONS))
        if tile_size is not None:
            tile_size = check_int('tile_size', tile_size, minimum=1)
        if tile_overlap is not None:
            tile_overlap = check_int('tile_overlap', tile_overlap, minimum=0)
        self.max_tile_snr = (None if max_tile_snr is None else check_number(
            'max_tile_snr', max_tile_snr, minimum=1))
        self.progress_bar = check_bool('progress_bar', progress_bar)

        self.model, self.model_path, directory = _load_model(model,
                                                             precision)
        stored = (read_calibration(directory) if directory is not None
                  else StoredCalibration())
        self.score_calibration = stored.score_calibration
        self.score_threshold = _chosen(score_threshold,
                                       stored.score_threshold,
                                       _SCORE_THRESHOLD)
        self.min_snr = _chosen(min_snr, stored.min_snr, _MIN_SNR)
        self.contained_fraction = _chosen(contained_fraction,
                                          stored.contained_fraction,
                                          _CONTAINED_FRACTION)
        self.core_probability = _chosen(core_probability,
                                        stored.core_probability,
                                        _CORE_PROBABILITY)
        image_size = self.model.config.image_size
        if tile_size is None:
            tile_size = image_size
        elif tile_size != image_size:
            msg = (f'tile_size must equal the model input size '
                   f'({image_size}), got {tile_size}: the network works '
                   'on images of that size only')
            raise ValueError(msg)
        if tile_overlap is None:
            tile_overlap = tile_size // 4
        elif tile_overlap >= tile_size:
            msg = (f'tile_overlap must be smaller than tile_size '
                   f'({tile_size}), got {tile_overlap}')
            raise ValueError(msg)
        self.tile_size = tile_size
        self.tile_overlap = tile_overlap

    def __repr__(self):
        model = (str(self.model_path) if self.model_path is not None
                 else f'<{type(self.model).__name__} instance>')
        params = {'model': model, 'n_bands': self.n_bands,
                  'score_threshold': self.score_threshold,
                  'mask_threshold': self.mask_threshold,
                  'duplicate_iou': self.duplicate_iou,
                  'contained_fraction': self.contained_fraction,
                  'core_probability': self.core_probability,
                  'n_pixels': self.n_pixels,
                  'min_snr': self.min_snr,
                  'flux_dilation': self.flux_dilation,
                  'tile_size': self.tile_size,
                  'tile_overlap': self.tile_overlap,
                  'max_tile_snr': self.max_tile_snr,
                  'batch_size': self.batch_size,
                  'precision': self.precision,
                  'spread_threshold': self.spread_threshold,
                  'progress_bar': self.progress_bar}
        fmt = ', '.join(f'{key}={value!r}' for key, value in params.items())
        return f'{type(self).__name__}({fmt})'

    @property
    def n_bands(self):
        """Number of bands the model expects."""
        return self.model.config.n_bands

    def __call__(self, data, mask=None, error=None, background=None,
                 wcs=None, psf=None):
        """
        Detect and deblend the sources in an image.

        Parameters
        ----------
        data : array_like, `~astropy.nddata.NDData` or path
            The image: 2-D ``(ny, nx)`` for one band or 3-D
            ``(n_bands, ny, nx)``, possibly an
            `~astropy.units.Quantity`.  An `~astropy.nddata.NDData` (or
            `~astropy.nddata.CCDData`) gives its mask, its uncertainty
            (as ``error``; it must convert to a standard deviation), its
            WCS, its PSF and its unit; a path is read as a FITS file (the first
            HDU with an image, with the WCS and ``BUNIT`` of its
            header).
        mask : array_like of bool, optional
            Pixels to ignore (`True`), of shape ``(ny, nx)`` or the
            shape of ``data``.  NaN and infinite pixels are always
            ignored.
        error : array_like or `~astropy.units.Quantity`, optional
            The 1-sigma noise of each pixel, of the shape of ``data``.
            It gives the flux errors of the catalog and the noise of
            ``segment_snr`` (and so which sources ``min_snr`` keeps);
            pixels where it is not finite and positive are masked.  When
            absent, the catalog has no errors and ``segment_snr`` uses
            the background noise estimated in the data.  The network
            does not use it: its input is normalised with the noise
            estimated from the data, exactly as in training (see
            `galseg.tiling.normalized_tile`).
        background : float, array_like or `~astropy.units.Quantity`, optional
            The background level: a scalar, one value per band, or an
            array of the shape of ``data``.  When absent, it is
            estimated (see `~galseg.estimate_background_noise`).  It is
            subtracted from ``data`` before every flux is measured (the
            SourceCatalog columns, ``deblended_flux`` and the deblended
            images); pass 0 for data that are already
            background-subtracted.  The network's input is always
            normalised with the estimated background, as in training.
            This differs from the ``background`` of photutils'
            `~photutils.segmentation.SourceCatalog`, a level that was
            already subtracted and is only reported: here, as for
            `~photutils.segmentation.SourceFinder`, the sources are found
            in background-subtracted data, and galseg does that
            subtraction itself.
        wcs : WCS object, optional
            A world coordinate system (e.g. `~astropy.wcs.WCS`) that
            gives the catalog its ``sky_centroid`` column.
        psf : array_like, optional
            An image of the point-spread function at the pixel scale of
            the data, centred on its central pixel (odd sides): 2-D for
            every band or 3-D ``(n_bands, py, px)``, any normalisation.
            With it, stars and galaxies are told apart by comparing
            each source with the PSF (SExtractor's ``spread_model``, see
            `galseg.star_galaxy`): the catalog gets ``spread_model`` and
            ``spread_model_err``, and for sources of ``segment_snr`` >=
            30 ``classification`` and ``class_score`` come from them
            instead of from the network, which does not know the PSF
            (fainter sources keep the network's class).

        Returns
        -------
        segment_image : `~photutils.segmentation.SegmentationImage` or `None`
            Labels from 1 in order of decreasing detection score; each
            pixel belongs to at most one source.
        catalog : `~astropy.table.QTable` or `None`
            One row per label (row ``i`` is label ``i + 1``): the
            default columns of `~photutils.segmentation.SourceCatalog`
            measured on the (band-summed) background-subtracted data,
            ``sky_centroid`` only with a WCS, flux errors only with an
            error, plus ``score``, ``classification``, ``class_score``,
            ``deblended_flux`` (and ``deblended_flux_err`` with an
            error), ``parent``, ``n_children``, ``nn_dist`` and ``flags``
            (see `DeblendResult`), and ``spread_model`` and
            ``spread_model_err`` with a PSF.  Both are `None`, with a
            `~photutils.utils.NoDetectionsWarning`, when no source is
            found.

        Raises
        ------
        TypeError
            If ``data`` or ``psf`` is not numeric.
        ValueError
            If ``data`` has the wrong number of dimensions or bands,
            ``mask``, ``error`` or ``background`` has the wrong shape,
            ``psf`` is not a PSF image of the data's bands (see
            `galseg.star_galaxy.validate_psf`), or every pixel is
            masked.
        """
        result = self.deblend(data, mask=mask, error=error,
                              background=background, wcs=wcs, psf=psf)
        if result is None:
            return None, None
        return result.segmentation_image, result.catalog

    def deblend(self, data, mask=None, error=None, background=None,
                wcs=None, psf=None):
        """
        Detect and deblend sources, returning everything found.

        The parameters are those of `__call__`.

        Returns
        -------
        result : `DeblendResult` or `None`
            The segmentation image, the catalog, and every source's
            score, class, mask probabilities and deblended image;
            `None`, with a `~photutils.utils.NoDetectionsWarning`, when
            no source is found.
        """
        from .normalization import estimate_background_noise

        image = unpack_input(data, mask, error, background, wcs, psf)
        if image.data.shape[0] != self.n_bands:
            msg = (f'data have {image.data.shape[0]} band(s) but the model '
                   f'expects {self.n_bands}')
            raise ValueError(msg)

        # The network sees every tile normalised on its own, with the
        # background and noise estimated in it, as each training stamp
        # was (see normalized_tile); a given background or error serve
        # the measurements only.
        detections = self._detect(image.data, image.bad)
        if not detections:
            return _no_detections()
        background, noise = image.background, None
        if background is None:
            background, noise = estimate_background_noise(image.data,
                                                          image.bad)
        elif image.error is None:
            noise = _noise_if_estimable(image)
        result = build_result(detections, image, background,
                              self.mask_threshold, self.flux_dilation,
                              self.n_pixels, seams=self._seams(image),
                              noise=noise, min_snr=self.min_snr,
                              spread_threshold=self.spread_threshold,
                              max_tile_snr=self.max_tile_snr)
        return _no_detections() if result is None else result

    def _seams(self, image):
        """The seams between the tiles of an image (see `build_result`)."""
        tiles = make_tiles(image.data.shape[1:], self.tile_size,
                           self.tile_overlap)
        seams = set()
        for tile in tiles:
            ymin, xmin, ymax, xmax = tile.core
            seams.update(('y', edge) for edge in (ymin, ymax)
                         if math.isfinite(edge))
            seams.update(('x', edge) for edge in (xmin, xmax)
                         if math.isfinite(edge))
        return sorted(seams)

    def _detect(self, data, bad):
        """Run the network over the tiles and merge their detections."""
        shape = data.shape[1:]
        tiles = make_tiles(shape, self.tile_size, self.tile_overlap)
        per_tile, crowded = self._find(data, bad, tiles, self.progress_bar)
        if crowded:
            _warn_crowded(crowded, len(tiles), self.tile_size,
                          self.model.config.max_instances)
        detections = merge_tile_detections(
            [det for found in per_tile for det in found], tiles, shape,
            self.mask_threshold, margin=_SEAM_MARGIN)
        detections = replace_cut_detections(
            detections, tiles, shape,
            lambda centred: self._find(data, bad, centred)[0],
            self.mask_threshold, margin=_CUT_MARGIN)
        detections = suppress_duplicates(detections, self.mask_threshold,
                                         self.duplicate_iou)
        detections = suppress_merged(detections, self.mask_threshold)
        detections = suppress_nested(detections, self.mask_threshold)
        return suppress_contained(detections, shape, self.mask_threshold,
                                  self.contained_fraction,
                                  self.core_probability)

    def _find(self, data, bad, tiles, progress_bar=False):
        """
        The detections of each tile, in image coordinates, and the
        number of tiles where the network answered with a catch-all.
        """
        shape = data.shape[1:]
        n_batches = math.ceil(len(tiles) / self.batch_size)
        per_tile = []
        crowded = 0  # tiles with a catch-all detection
        network_threshold = self._network_threshold()
        with _progress_bar(n_batches, progress_bar) as bar:
            for start in range(0, len(tiles), self.batch_size):
                batch = tiles[start:start + self.batch_size]
                images = np.stack([normalized_tile(data, bad, tile,
                                                   self.max_tile_snr)
                                   for tile in batch])
                outputs = self.model.detect(
                    images, batch_size=self.batch_size,
                    score_threshold=network_threshold)
                if self.score_calibration is not None:
                    outputs = [{**output, 'scores': self.score_calibration(
                        output['scores'])} for output in outputs]
                for tile, output in zip(batch, outputs):
                    catch_all = catch_all_detections(
                        output, self.tile_size, self.score_threshold,
                        self.mask_threshold)
                    crowded += bool(catch_all.any())
                    # a score below every threshold: tile_detections drops it
                    output = {**output, 'scores': np.where(
                        catch_all, -1.0, output['scores'])}
                    per_tile.append(tile_detections(
                        output, tile, shape, self.score_threshold,
                        self.mask_threshold))
                bar.update(1)
        return per_tile, crowded

    def _network_threshold(self):
        """The network score below which no detection can reach
        ``score_threshold`` once calibrated: the network skips those
        (and their masks, most of its time per detection)."""
        raw = self.score_threshold
        if self.score_calibration is not None:
            raw = self.score_calibration.raw_threshold(raw)
        # the network keeps scores above its threshold, we keep those
        # reaching ours: a little lower, and ties are kept
        return max(raw - 1e-6, 0.0)


def _warn_crowded(n_crowded, n_tiles, tile_size, max_instances):
    """Warn that tiles were more crowded than the model knows."""
    from .exceptions import CrowdedTilesWarning

    msg = (f'{n_crowded} of {n_tiles} tiles of {tile_size} px look more '
           'crowded than the model was trained for (at most '
           f'{max_instances} sources per stamp): the network answered with '
           'a detection spanning the whole tile instead of the sources, '
           'which was dropped, and sources there are likely missed')
    warnings.warn(msg, CrowdedTilesWarning, stacklevel=4)


def _chosen(given, calibrated, default):
    """A setting: as given, else as calibrated, else the default."""
    if given is not None:
        return given
    return default if calibrated is None else calibrated


def _noise_if_estimable(image):
    """The estimated noise, or `None` where a band has no usable pixel
    (the background being given, nothing else needs the estimate)."""
    from .normalization import estimate_background_noise

    try:
        return estimate_background_noise(image.data, image.bad)[1]
    except ValueError:
        return None


def _progress_bar(total, enabled):
    from contextlib import nullcontext

    if not enabled:
        return nullcontext(SimpleNamespace(update=lambda n: None))
    try:
        from tqdm.auto import tqdm
    except ImportError as exc:
        msg = 'progress_bar=True needs tqdm (pip install tqdm)'
        raise ImportError(msg) from exc
    return tqdm(total=total, desc='galseg deblend', unit='batch')


def _no_detections():
    from photutils.utils import NoDetectionsWarning

    warnings.warn('No sources were found.', NoDetectionsWarning)
    return None


def _load_model(model, precision='float32'):
    """Return ``(model, path, directory)`` for any accepted form of
    ``model``, loaded in ``precision``."""
    from .engine import MaskRCNN, load_model
    from .models import model_directory

    if isinstance(model, MaskRCNN):
        if precision != 'float32':
            msg = ('precision applies to the models galseg loads; a '
                   'MaskRCNN instance computes in the precision it was '
                   'built with')
            raise ValueError(msg)
        return model, None, None
    directory = model_directory(model)
    path = model if isinstance(model, str) and model == 'default' \
        else Path(model)
    return load_model(directory, precision), path, directory
