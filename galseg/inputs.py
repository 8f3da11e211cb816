"""
The input of the deblender: images, masks, errors, backgrounds and WCS
as users give them, checked and brought to one form.

`read_fits_image` reads a FITS image with its WCS and unit;
`unpack_input` accepts what `~galseg.MaskRCNNDeblender` accepts (arrays,
`~astropy.units.Quantity`, masked arrays, `~astropy.nddata.NDData` and
FITS paths) and returns plain ``(n_bands, ny, nx)`` arrays.  Every
problem raises `TypeError` (a wrong type) or `ValueError` (a wrong
value) naming the argument, before any model runs.
"""

import os
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from .star_galaxy import validate_psf

__all__ = ['read_fits_image', 'unpack_input']


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
        If the file is not a readable FITS file, or the HDU holds no
        image or the file has none.
    """
    from astropy import units as u
    from astropy.io import fits
    from astropy.nddata import NDData
    from astropy.wcs import WCS, FITSFixedWarning

    path = Path(path)
    if not path.is_file():
        msg = f'{path} does not exist'
        raise FileNotFoundError(msg)
    try:
        hdul = fits.open(path, memmap=False)
    except OSError as exc:
        msg = f'{path} is not a readable FITS file ({_first_sentence(exc)})'
        raise ValueError(msg) from None
    with hdul:
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


def _first_sentence(exc):
    """The first sentence of an error message, without hints."""
    return str(exc).split('.')[0].strip() or type(exc).__name__


def unpack_input(data, mask=None, error=None, background=None, wcs=None,
                 psf=None):
    """
    Check the deblender's input and bring it to ``(n_bands, ny, nx)``.

    Parameters
    ----------
    data, mask, error, background, wcs, psf
        As `galseg.MaskRCNNDeblender.__call__` takes them.

    Returns
    -------
    image : `types.SimpleNamespace`
        ``data`` (float64, ``(n_bands, ny, nx)``), ``bad`` (bool, of
        ``data``'s shape: masked, non-finite, or of zero or non-finite
        error), ``error`` (float64 of ``data``'s shape, 1 at bad pixels,
        or `None`), ``background`` (broadcastable to ``data``, or
        `None`), ``wcs`` (2-D celestial, or `None`), ``unit`` (or
        `None`) and ``psf`` (float64 ``(n_bands, py, px)``, each band
        summing to 1, or `None`; see `galseg.star_galaxy.validate_psf`).

    Raises
    ------
    TypeError
        If an argument has the wrong type: non-numeric data, error,
        background or psf, a mask that is neither boolean nor numeric,
        or a ``wcs`` that is not a WCS.
    ValueError
        If an argument has the wrong value: data not 2-D or 3-D, a shape
        that differs from the data's, mask values other than 0 and 1,
        negative errors, incompatible units, a WCS of another shape or
        dimensionality, a psf that `~galseg.star_galaxy.validate_psf`
        refuses, or data with no unmasked finite pixel.
    """
    from astropy import units as u
    from astropy.nddata import NDData

    if isinstance(data, (str, os.PathLike)):
        data = read_fits_image(data)
    if isinstance(data, NDData):
        data, mask, error, wcs, psf = _unpack_nddata(data, mask, error, wcs,
                                                     psf)

    unit = data.unit if isinstance(data, u.Quantity) else None
    if isinstance(data, np.ma.MaskedArray):
        mask = _combine_masks(mask, np.ma.getmaskarray(data))
        data = data.data
    data = _validate_data(data)
    shape = data.shape
    values = np.array(data.value if unit is not None else data, dtype=float,
                      ndmin=3)

    non_finite = ~np.isfinite(values)
    masked = (np.zeros_like(non_finite) if mask is None
              else _validate_mask(mask, shape))
    no_error = np.zeros_like(non_finite)
    if error is not None:
        error = _validate_error(error, shape, unit)
        no_error = ~(np.isfinite(error) & (error > 0))
    bad = non_finite | masked | no_error
    if bad.all():
        raise ValueError(_fully_masked_message(non_finite, masked, no_error))
    if error is not None:
        error = np.where(bad, 1.0, error)
    if background is not None:
        background = _validate_background(background, shape, unit)
    wcs = _validate_wcs(wcs, shape)
    if psf is not None:
        psf = validate_psf(psf, values.shape[0])
    return SimpleNamespace(data=values, bad=bad, error=error,
                           background=background, wcs=wcs, unit=unit,
                           psf=psf)


def _unpack_nddata(nddata, mask, error, wcs, psf):
    """
    Take data, mask, uncertainty, WCS, PSF and unit from an NDData.

    A keyword is ignored, with a warning, only where the NDData has a
    value of its own; otherwise the keyword is used.
    """
    from astropy import units as u
    from astropy.utils.exceptions import AstropyUserWarning

    own = {'mask': nddata.mask, 'error': _nddata_error(nddata),
           'wcs': nddata.wcs, 'psf': nddata.psf}
    given = {'mask': mask, 'error': error, 'wcs': wcs, 'psf': psf}
    for key, value in given.items():
        if value is not None and own[key] is not None:
            msg = (f'The {key!r} keyword will be ignored. Its value is '
                   'obtained from the input NDData object.')
            warnings.warn(msg, AstropyUserWarning)
    values = {key: given[key] if own[key] is None else own[key]
              for key in own}
    data = nddata.data
    if nddata.unit is not None:
        data = u.Quantity(data, nddata.unit, copy=False)
    return (data, values['mask'], values['error'], values['wcs'],
            values['psf'])


def _nddata_error(nddata):
    """The NDData uncertainty as a standard deviation (or `None`)."""
    from astropy.nddata import StdDevUncertainty

    uncertainty = nddata.uncertainty
    if uncertainty is None:
        return None
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
    return error


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
        if not np.all((mask == 0) | (mask == 1)):
            msg = ('mask must be boolean (or numeric of 0 and 1 only), got '
                   f'values other than 0 and 1 (dtype {mask.dtype})')
            raise ValueError(msg)
        mask = mask == 1
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
    error = np.array(error, dtype=float, ndmin=3)
    with np.errstate(invalid='ignore'):
        n_negative = int(np.count_nonzero(error < 0))
    if n_negative:
        msg = (f'error must not be negative, got {n_negative} negative '
               'pixel(s); it is the 1-sigma noise of each pixel')
        raise ValueError(msg)
    return error


def _fully_masked_message(non_finite, masked, no_error):
    """Say why no pixel is left, naming the inputs responsible."""
    reasons = []
    if masked.any():
        reasons.append(f'mask covers {masked.mean():.0%} of the pixels')
    if non_finite.any():
        reasons.append(f'{non_finite.mean():.0%} of the data are not finite')
    if no_error.any():
        reasons.append(f'error is zero or not finite at {no_error.mean():.0%} '
                       'of the pixels')
    return ('data are fully masked: no pixel is finite, unmasked and of '
            'positive error (' + '; '.join(reasons) + ')')


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


def _validate_wcs(wcs, shape):
    """A 2-D (celestial) WCS matching the image, or `None`."""
    if wcs is None:
        return None
    if not (hasattr(wcs, 'pixel_to_world') and hasattr(wcs, 'pixel_n_dim')):
        msg = ('wcs must be a WCS object (e.g. astropy.wcs.WCS, with '
               f'pixel_to_world), got {type(wcs).__name__}')
        raise TypeError(msg)
    if wcs.pixel_n_dim > 2 and getattr(wcs, 'has_celestial', False):
        wcs = wcs.celestial
    if wcs.pixel_n_dim != 2:
        msg = (f'wcs must have 2 pixel dimensions, got {wcs.pixel_n_dim}')
        raise ValueError(msg)
    array_shape = getattr(wcs, 'array_shape', None)
    if array_shape is not None and tuple(array_shape) != tuple(shape[-2:]):
        msg = (f'wcs is for images of shape {tuple(array_shape)}, but data '
               f'have shape {tuple(shape[-2:])}')
        raise ValueError(msg)
    return wcs
