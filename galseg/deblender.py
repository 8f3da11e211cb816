"""
The public deblender: find and deblend galaxies in an image with a
trained Mask R-CNN, photutils style.
"""

import math
import os
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from .models import DEFAULT_MODEL_DIR
from .result import DeblendResult
from .segmentation import (_region, flux_shares, kron_fluxes,
                           segment_labels, suppress_contained,
                           suppress_merged)
from .tiling import (extract_tile, make_tiles, merge_tile_detections,
                     suppress_duplicates, tile_detections)

__all__ = ['MaskRCNNDeblender', 'DeblendResult', 'read_fits_image']

# Candidates within this many pixels outside their tile's core are
# compared with those of the neighbouring tile (see galseg.tiling).
_SEAM_MARGIN = 2.0

#: catalog ``classification`` of each class id of the model
CLASS_NAMES = {1: 'galaxy', 2: 'star'}


class MaskRCNNDeblender:
    """
    Detect and deblend sources in an image with a Mask R-CNN model.

    The image is normalised (background subtracted and divided by the
    noise, see `~galseg.normalize_image`), cut into overlapping tiles of
    the model's input size, and every tile is searched for sources.  The
    detections of all tiles are merged so that each source is found
    once, repeated and partial detections of a galaxy are dropped, each
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
    score_threshold : float, optional
        Lowest detection confidence kept, in [0, 1].  The default, 0.7,
        was chosen on the default model's validation set: it keeps F1
        within 0.01 of its best (at 0.8-0.9) while losing less recall
        on images unlike the training data, whose scores tend to be
        lower; lower it for completeness (higher AP and recall, more
        spurious fragments of bright galaxies), raise it for purity.
    mask_threshold : float, optional
        Mask probability, in (0, 1), above which a pixel belongs to a
        source's instance mask.
    duplicate_iou : float, optional
        Two detections whose instance masks overlap with an
        intersection over union of at least this, in (0, 1], are one
        source found twice, and only the more confident is kept (mask
        non-maximum suppression; 1 keeps all but identical masks).
        Genuinely blended galaxies overlap much less than this.
    contained_fraction : float, optional
        A detection whose instance mask lies at least this fraction, in
        (0, 1], inside the instance masks of more confident detections
        is dropped: it is a galaxy found again, a piece of one, or two
        galaxies already found separately (see
        `galseg.segmentation.suppress_contained`).  1 drops only masks
        entirely covered; lower values remove more fragments, and more
        faint galaxies seen on top of bright ones.
    n_pixels : int, optional
        The minimum number of connected pixels of a source's segment,
        as in `~photutils.segmentation.detect_sources`.  Every segment
        is one 8-connected region: islands of a source and segments
        smaller than this go to the source that surrounds them (or to
        the background), and a source left without pixels is dropped
        from the segmentation image and the catalog.
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
        when its radius is smaller than about half the overlap, so the
        overlap should exceed the diameter of the largest source you
        expect.
    batch_size : int, optional
        Tiles per forward pass of the network; with the image itself,
        this bounds the memory used.
    progress : bool, optional
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

    def __init__(self, model='default', *, score_threshold=0.7,
                 mask_threshold=0.5, duplicate_iou=0.6,
                 contained_fraction=0.95, n_pixels=5, flux_dilation=3,
                 tile_size=None, tile_overlap=None, batch_size=8,
                 progress=False):
        self.score_threshold = _validate_fraction(
            'score_threshold', score_threshold, low_open=False,
            high_open=False)
        self.mask_threshold = _validate_fraction(
            'mask_threshold', mask_threshold, low_open=True, high_open=True)
        self.duplicate_iou = _validate_fraction(
            'duplicate_iou', duplicate_iou, low_open=True, high_open=False)
        self.contained_fraction = _validate_fraction(
            'contained_fraction', contained_fraction, low_open=True,
            high_open=False)
        self.n_pixels = _validate_positive_int('n_pixels', n_pixels)
        self.flux_dilation = _validate_nonnegative_int('flux_dilation',
                                                       flux_dilation)
        self.batch_size = _validate_positive_int('batch_size', batch_size)
        if tile_size is not None:
            tile_size = _validate_positive_int('tile_size', tile_size)
        if tile_overlap is not None:
            tile_overlap = _validate_nonnegative_int('tile_overlap',
                                                     tile_overlap)
        if not isinstance(progress, (bool, np.bool_)):
            msg = f'progress must be True or False, got {progress!r}'
            raise TypeError(msg)
        self.progress = bool(progress)

        self.model, self.model_path = _load_model(model)
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
                  'n_pixels': self.n_pixels,
                  'flux_dilation': self.flux_dilation,
                  'tile_size': self.tile_size,
                  'tile_overlap': self.tile_overlap,
                  'batch_size': self.batch_size, 'progress': self.progress}
        fmt = ', '.join(f'{key}={value!r}' for key, value in params.items())
        return f'{type(self).__name__}({fmt})'

    @property
    def n_bands(self):
        """Number of bands the model expects."""
        return self.model.config.n_bands

    def __call__(self, data, mask=None, error=None, background=None,
                 wcs=None):
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
            WCS and its unit; a path is read as a FITS file (the first
            HDU with an image, with the WCS and ``BUNIT`` of its
            header).
        mask : array_like of bool, optional
            Pixels to ignore (`True`), of shape ``(ny, nx)`` or the
            shape of ``data``.  NaN and infinite pixels are always
            ignored.
        error : array_like or `~astropy.units.Quantity`, optional
            The 1-sigma noise of each pixel, of the shape of ``data``.
            It is used as the noise of the normalisation and gives the
            flux errors of the catalog; pixels where it is not finite
            and positive are masked.  When absent, the noise is
            estimated from the data and the catalog has no errors.
        background : float, array_like or `~astropy.units.Quantity`, optional
            The background level: a scalar, one value per band, or an
            array of the shape of ``data``.  When absent, it is
            estimated (see `~galseg.estimate_background_noise`).  It is
            subtracted before fluxes are measured; pass 0 for data that
            are already background-subtracted.
        wcs : WCS object, optional
            A world coordinate system (e.g. `~astropy.wcs.WCS`) that
            gives the catalog its ``sky_centroid`` column.

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
            error, plus ``score``, ``deblended_flux``, ``blend_id`` and
            ``n_blend`` (see `DeblendResult`).  Both are `None`, with a
            `~photutils.utils.NoDetectionsWarning`, when no source is
            found.

        Raises
        ------
        TypeError
            If ``data`` is not numeric.
        ValueError
            If ``data`` has the wrong number of dimensions or bands,
            ``mask``, ``error`` or ``background`` has the wrong shape,
            or every pixel is masked.
        """
        result = self.deblend(data, mask=mask, error=error,
                              background=background, wcs=wcs)
        if result is None:
            return None, None
        return result.segmentation_image, result.catalog

    def deblend(self, data, mask=None, error=None, background=None,
                wcs=None):
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
        from .normalization import estimate_background_noise, normalize_image

        image = _unpack_input(data, mask, error, background, wcs)
        if image.data.shape[0] != self.n_bands:
            msg = (f'data have {image.data.shape[0]} band(s) but the model '
                   f'expects {self.n_bands}')
            raise ValueError(msg)

        background, noise = image.background, image.error
        if background is None or noise is None:
            est_background, est_noise = estimate_background_noise(
                image.data, image.bad)
            background = est_background if background is None else background
            noise = est_noise if noise is None else noise
        normalized = normalize_image(image.data, mask=image.bad,
                                     background=background, noise=noise)

        detections = self._detect(normalized)
        if not detections:
            return _no_detections()
        return _build_result(detections, image, background,
                             self.mask_threshold, self.flux_dilation,
                             self.n_pixels)

    def _detect(self, normalized):
        """Run the network over the tiles and merge their detections."""
        shape = normalized.shape[:2]
        tiles = make_tiles(shape, self.tile_size, self.tile_overlap)
        n_batches = math.ceil(len(tiles) / self.batch_size)
        detections = []
        with _progress_bar(n_batches, self.progress) as bar:
            for start in range(0, len(tiles), self.batch_size):
                batch = tiles[start:start + self.batch_size]
                images = np.stack([extract_tile(normalized, tile)
                                   for tile in batch])
                outputs = self.model.detect(images,
                                            batch_size=self.batch_size)
                for tile, output in zip(batch, outputs):
                    detections.extend(tile_detections(
                        output, tile, shape, self.score_threshold,
                        self.mask_threshold))
                bar.update(1)
        detections = merge_tile_detections(detections, tiles, shape,
                                           self.mask_threshold,
                                           margin=_SEAM_MARGIN)
        detections = suppress_duplicates(detections, self.mask_threshold,
                                         self.duplicate_iou)
        detections = suppress_merged(detections, self.mask_threshold)
        return suppress_contained(detections, shape, self.mask_threshold,
                                  self.contained_fraction)


def _progress_bar(total, enabled):
    from contextlib import nullcontext

    if not enabled:
        return nullcontext(SimpleNamespace(update=lambda n: None))
    try:
        from tqdm.auto import tqdm
    except ImportError as exc:
        msg = 'progress=True needs tqdm (pip install tqdm)'
        raise ImportError(msg) from exc
    return tqdm(total=total, desc='galseg deblend', unit='batch')


def _no_detections():
    from photutils.utils import NoDetectionsWarning

    warnings.warn('No sources were found.', NoDetectionsWarning)
    return None


# --- settings ---------------------------------------------------------------

def _validate_number(name, value):
    if isinstance(value, (bool, np.bool_)) or not isinstance(
            value, (int, float, np.integer, np.floating)):
        msg = f'{name} must be a number, got {value!r}'
        raise TypeError(msg)
    return float(value)


def _validate_fraction(name, value, low_open, high_open):
    value = _validate_number(name, value)
    low_ok = value > 0 if low_open else value >= 0
    high_ok = value < 1 if high_open else value <= 1
    if not (low_ok and high_ok):
        interval = (('(' if low_open else '[') + '0, 1'
                    + (')' if high_open else ']'))
        msg = f'{name} must be in {interval}, got {value}'
        raise ValueError(msg)
    return value


def _validate_int(name, value):
    if isinstance(value, (bool, np.bool_)) or not isinstance(
            value, (int, np.integer)):
        msg = f'{name} must be an integer, got {value!r}'
        raise TypeError(msg)
    return int(value)


def _validate_positive_int(name, value):
    value = _validate_int(name, value)
    if value < 1:
        msg = f'{name} must be a positive integer, got {value}'
        raise ValueError(msg)
    return value


def _validate_nonnegative_int(name, value):
    value = _validate_int(name, value)
    if value < 0:
        msg = f'{name} must be >= 0, got {value}'
        raise ValueError(msg)
    return value


def _load_model(model):
    """Return ``(model, path)`` for any accepted form of ``model``."""
    from .engine import MaskRCNN, load_model
    from .engine.io import CONFIG_FILE

    if isinstance(model, MaskRCNN):
        return model, None
    if not isinstance(model, (str, os.PathLike)):
        msg = ("model must be 'default', the path of a model or "
               f'training-run directory, or a MaskRCNN, got '
               f'{type(model).__name__}')
        raise TypeError(msg)
    if isinstance(model, str) and model == 'default':
        if not (DEFAULT_MODEL_DIR / CONFIG_FILE).is_file():
            msg = ('no default model is installed (expected one in '
                   f'{DEFAULT_MODEL_DIR}); pass model= the path of a '
                   'model directory or of a training run')
            raise FileNotFoundError(msg)
        return load_model(DEFAULT_MODEL_DIR), 'default'
    path = Path(model)
    if not path.is_dir():
        msg = f'model directory {path} does not exist'
        raise FileNotFoundError(msg)
    if (path / CONFIG_FILE).is_file():
        return load_model(path), path
    if (path / 'model' / CONFIG_FILE).is_file():
        return load_model(path / 'model'), path
    msg = (f'{path} is neither a model directory ({CONFIG_FILE} and '
           'weights) nor a training-run directory containing model/')
    raise FileNotFoundError(msg)


# --- input ------------------------------------------------------------------

def read_fits_image(path, hdu=None):
    """
    Read an image, its WCS and its unit from a FITS file.

    Parameters
    ----------
    path : str or `~pathlib.Path`
        The FITS file.
    hdu : int or str, optional
        The HDU to read; by default the first with image data.

    Returns
    -------
    image : `~astropy.nddata.NDData`
        With ``wcs`` from the header (celestial axes), ``unit`` from
        ``BUNIT`` when astropy recognises it, and the header as ``meta``.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the HDU holds no image or the file has none.
    """
    from astropy import units as u
    from astropy.io import fits
    from astropy.nddata import NDData
    from astropy.wcs import WCS, FITSFixedWarning

    path = Path(path)
    if not path.is_file():
        msg = f'{path} does not exist'
        raise FileNotFoundError(msg)
    with fits.open(path, memmap=False) as hdul:
        if hdu is None:
            for candidate in hdul:
                if candidate.is_image and candidate.data is not None \
                        and candidate.data.ndim >= 2:
                    break
            else:
                msg = f'{path} has no HDU with image data'
                raise ValueError(msg)
        else:
            try:
                candidate = hdul[hdu]
            except (IndexError, KeyError) as exc:
                msg = f'{path} has no HDU {hdu!r}'
                raise ValueError(msg) from exc
            if not candidate.is_image or candidate.data is None:
                msg = f'HDU {hdu!r} of {path} holds no image data'
                raise ValueError(msg)
        header = candidate.header.copy()
        data = np.array(candidate.data)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', FITSFixedWarning)
        wcs = WCS(header)
    wcs = wcs.celestial if wcs.has_celestial else None
    unit = None
    if 'BUNIT' in header:
        unit = u.Unit(header['BUNIT'], parse_strict='silent')
        if isinstance(unit, u.UnrecognizedUnit):
            unit = None
    return NDData(data, wcs=wcs, unit=unit, meta=header)


def _unpack_input(data, mask, error, background, wcs):
    """
    Validate the input and bring it to ``(n_bands, ny, nx)`` arrays.

    Returns a namespace with ``data`` (float64), ``bad`` (bool mask of
    ``data``'s shape, masked or non-finite), ``error`` (or `None`),
    ``background`` (broadcastable, or `None`), ``wcs`` and ``unit``.
    """
    from astropy import units as u
    from astropy.nddata import NDData

    if isinstance(data, (str, os.PathLike)):
        data = read_fits_image(data)
    if isinstance(data, NDData):
        data, mask, error, wcs = _unpack_nddata(data, mask, error, wcs)

    unit = data.unit if isinstance(data, u.Quantity) else None
    if isinstance(data, np.ma.MaskedArray):
        mask = _combine_masks(mask, np.ma.getmaskarray(data))
        data = data.data
    data = _validate_data(data)
    shape = data.shape
    values = np.array(data.value if unit is not None else data, dtype=float,
                      ndmin=3)

    bad = ~np.isfinite(values)
    if mask is not None:
        bad |= _validate_mask(mask, shape)
    if error is not None:
        error = _validate_error(error, shape, unit)
        bad |= ~(np.isfinite(error) & (error > 0))
        error = np.where(bad, 1.0, error)
    if bad.all():
        msg = 'data are fully masked: no unmasked finite pixel'
        raise ValueError(msg)
    if background is not None:
        background = _validate_background(background, shape, unit)
    if wcs is not None and getattr(wcs, 'pixel_n_dim', 2) > 2 \
            and getattr(wcs, 'has_celestial', False):
        wcs = wcs.celestial
    return SimpleNamespace(data=values, bad=bad, error=error,
                           background=background, wcs=wcs, unit=unit)


def _unpack_nddata(nddata, mask, error, wcs):
    """Take data, mask, uncertainty, WCS and unit from an NDData."""
    from astropy import units as u
    from astropy.nddata import StdDevUncertainty
    from astropy.utils.exceptions import AstropyUserWarning

    for key, value in {'mask': mask, 'error': error, 'wcs': wcs}.items():
        if value is not None:
            msg = (f'The {key!r} keyword will be ignored. Its value is '
                   'obtained from the input NDData object.')
            warnings.warn(msg, AstropyUserWarning)
    error = None
    if nddata.uncertainty is not None:
        uncertainty = nddata.uncertainty
        if not isinstance(uncertainty, StdDevUncertainty):
            try:
                uncertainty = uncertainty.represent_as(StdDevUncertainty)
            except (TypeError, ValueError, AttributeError) as exc:
                msg = ('the NDData uncertainty must be convertible to a '
                       'standard deviation, got '
                       f'{type(nddata.uncertainty).__name__}')
                raise TypeError(msg) from exc
        error = np.asarray(uncertainty.array)
        if uncertainty.unit is not None:
            error = error * uncertainty.unit
    data = nddata.data
    if nddata.unit is not None:
        data = u.Quantity(data, nddata.unit, copy=False)
    return data, nddata.mask, error, nddata.wcs


def _combine_masks(mask, other):
    if mask is None:
        return other
    mask = np.asarray(mask)
    if mask.shape != other.shape:
        msg = (f'mask must have the shape of data {other.shape}, got '
               f'{mask.shape}')
        raise ValueError(msg)
    return mask | other


def _validate_data(data):
    from astropy import units as u

    if not isinstance(data, u.Quantity):
        data = np.asanyarray(data)
    dtype = data.dtype
    if dtype == bool or not (np.issubdtype(dtype, np.integer)
                             or np.issubdtype(dtype, np.floating)):
        msg = ('data must be a numeric (integer or floating-point) array, '
               f'got dtype {dtype}')
        raise TypeError(msg)
    if data.ndim not in (2, 3):
        msg = ('data must be 2-D (ny, nx) or 3-D (n_bands, ny, nx), got '
               f'{data.ndim}-D data of shape {data.shape}')
        raise ValueError(msg)
    if data.size == 0:
        msg = f'data must not be empty, got shape {data.shape}'
        raise ValueError(msg)
    return data


def _validate_mask(mask, shape):
    mask = np.asanyarray(mask)
    if mask.dtype != bool:
        if not (np.issubdtype(mask.dtype, np.integer)
                or np.issubdtype(mask.dtype, np.floating)):
            msg = f'mask must be a boolean array, got dtype {mask.dtype}'
            raise TypeError(msg)
        mask = mask != 0
    if mask.shape not in (shape, shape[-2:]):
        msg = (f'mask must have the shape of data {shape}'
               + (f' or of one band {shape[-2:]}' if len(shape) == 3 else '')
               + f', got {mask.shape}')
        raise ValueError(msg)
    n_bands = shape[0] if len(shape) == 3 else 1
    return np.broadcast_to(mask, (n_bands,) + shape[-2:])


def _to_unit(name, value, unit):
    """Strip a unit from ``value``, converting it to the data's unit."""
    from astropy import units as u

    if isinstance(value, u.Quantity):
        if unit is None:
            msg = f'{name} has a unit ({value.unit}) but data have none'
            raise ValueError(msg)
        try:
            return value.to_value(unit)
        except u.UnitConversionError as exc:
            msg = (f'{name} unit ({value.unit}) cannot be converted to the '
                   f'data unit ({unit})')
            raise ValueError(msg) from exc
    return value


def _validate_error(error, shape, unit):
    error = np.asarray(_to_unit('error', error, unit))
    if not (np.issubdtype(error.dtype, np.integer)
            or np.issubdtype(error.dtype, np.floating)) \
            or error.dtype == bool:
        msg = f'error must be a numeric array, got dtype {error.dtype}'
        raise TypeError(msg)
    if error.shape != shape:
        msg = f'error must have the shape of data {shape}, got {error.shape}'
        raise ValueError(msg)
    return np.array(error, dtype=float, ndmin=3)


def _validate_background(background, shape, unit):
    background = np.asarray(_to_unit('background', background, unit),
                            dtype=float)
    n_bands = shape[0] if len(shape) == 3 else 1
    if background.ndim == 0:
        background = background.reshape(1, 1, 1)
    elif len(shape) == 3 and background.shape == (n_bands,):
        background = background.reshape(n_bands, 1, 1)
    elif background.shape == shape:
        background = background.reshape((n_bands,) + shape[-2:])
    else:
        msg = ('background must be a scalar'
               + (f', one value per band ({n_bands},)'
                  if len(shape) == 3 else '')
               + f' or an array of the shape of data {shape}, got shape '
               f'{background.shape}')
        raise ValueError(msg)
    if not np.all(np.isfinite(background)):
        msg = 'background must be finite'
        raise ValueError(msg)
    return background


# --- from detections to result -------------------------------------------

def _build_result(detections, image, background, mask_threshold,
                  flux_dilation, n_pixels):
    """Segment, measure and deblend the sources and collect the result."""
    from photutils.segmentation import SegmentationImage

    bad = image.bad.any(axis=0)
    labels, keep = segment_labels(detections, bad, mask_threshold, n_pixels)
    if not keep:
        return _no_detections()
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


def _blends(detections, shape, mask_threshold):
    """
    Group sources whose thresholded masks overlap or touch.

    Returns ``blend_id`` (1, 2, ... in order of the sources' first
    label) and ``n_blend`` for each source.
    """
    from scipy import ndimage

    union = np.zeros(shape, dtype=bool)
    for det in detections:
        union[_region(det)] |= det.mask >= mask_threshold
    components, _ = ndimage.label(union, structure=np.ones((3, 3)))
    parent = {}

    def find(node):
        while parent.setdefault(node, node) != node:
            node = parent[node]
        return node

    source_component = []
    for det in detections:
        touched = np.unique(components[_region(det)][det.mask
                                                     >= mask_threshold])
        roots = [find(int(c)) for c in touched]
        for root in roots[1:]:
            parent[root] = roots[0]
        source_component.append(int(touched[0]))
    roots = [find(c) for c in source_component]
    blend_ids = {}
    blend_id = np.array([blend_ids.setdefault(root, len(blend_ids) + 1)
                         for root in roots])
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
