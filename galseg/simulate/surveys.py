"""Survey descriptions (pixel scale, bands, PSF, zeropoints, sky)."""

from dataclasses import dataclass, field
import math

__all__ = ['Band', 'Survey', 'get_survey', 'SURVEY_PRESETS']

#: galseg preset name -> survey name in `surveycodex`
SURVEY_PRESETS = {
    'lsst': 'LSST',
    'hsc': 'HSC',
    'des': 'DES',
    'euclid_vis': 'Euclid_VIS',
}


@dataclass(frozen=True)
class Band:
    """
    The observing conditions of one band.

    Parameters
    ----------
    name : str
        The band (filter) name, e.g. ``'i'``.
    psf_fwhm : float
        The PSF full width at half maximum, in arcsec.
    zeropoint : float
        The AB magnitude of a source giving one electron per second.
    sky_brightness : float
        The mean sky brightness, in AB mag per square arcsec.
    exposure_time : float
        The exposure time, in seconds.
    """

    name: str
    psf_fwhm: float
    zeropoint: float
    sky_brightness: float
    exposure_time: float

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            msg = f'band name must be a non-empty string, got {self.name!r}'
            raise TypeError(msg)
        for attr in ('psf_fwhm', 'zeropoint', 'sky_brightness',
                     'exposure_time'):
            value = getattr(self, attr)
            if (isinstance(value, bool)
                    or not isinstance(value, (int, float))
                    or not math.isfinite(value)):
                msg = (f'band {self.name!r}: {attr} must be a finite number, '
                       f'got {value!r}')
                raise ValueError(msg)
            object.__setattr__(self, attr, float(value))
        for attr in ('psf_fwhm', 'exposure_time'):
            if getattr(self, attr) <= 0:
                msg = (f'band {self.name!r}: {attr} must be positive, '
                       f'got {getattr(self, attr)}')
                raise ValueError(msg)

    def flux_to_mag(self, flux):
        """
        Convert a flux in electrons (over the exposure) to AB magnitudes.

        Parameters
        ----------
        flux : float or `~numpy.ndarray`
            The flux, in electrons.

        Returns
        -------
        mag : float or `~numpy.ndarray`
        """
        import numpy as np

        with np.errstate(divide='ignore', invalid='ignore'):
            return self.zeropoint - 2.5 * np.log10(
                np.asarray(flux, dtype=float) / self.exposure_time)

    def mag_to_flux(self, mag):
        """
        Convert AB magnitudes to a flux in electrons over the exposure.

        Parameters
        ----------
        mag : float or `~numpy.ndarray`
            The AB magnitude.

        Returns
        -------
        flux : float or `~numpy.ndarray`
        """
        import numpy as np

        return self.exposure_time * 10 ** (
            -0.4 * (np.asarray(mag, dtype=float) - self.zeropoint))

    def sky_level(self, pixel_scale):
        """
        The mean sky level per pixel, in electrons.

        Parameters
        ----------
        pixel_scale : float
            The pixel scale, in arcsec per pixel.

        Returns
        -------
        sky : float
        """
        return float(self.mag_to_flux(self.sky_brightness)) * pixel_scale**2


@dataclass(frozen=True)
class Survey:
    """
    A survey: a pixel scale and the conditions of its bands.

    Use `get_survey` for the presets (LSST, HSC, DES, Euclid VIS, whose
    numbers come from `surveycodex`) or build a custom survey directly.
    Images are in electrons; the zeropoints give the magnitude of one
    electron per second.

    Parameters
    ----------
    name : str
        The survey name.
    pixel_scale : float
        The pixel scale, in arcsec per pixel.
    bands : dict of `Band`
        The bands, keyed by band name.  Dicts of `Band` keyword arguments
        are accepted.

    Examples
    --------
    >>> from galseg.simulate import Band, Survey
    >>> survey = Survey('mine', 0.25, {'r': Band('r', 0.8, 28.0, 21.0, 300.0)})
    >>> survey.band_names
    ('r',)
    """

    name: str
    pixel_scale: float
    bands: dict = field(default_factory=dict)

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            msg = f'survey name must be a non-empty string, got {self.name!r}'
            raise TypeError(msg)
        scale = self.pixel_scale
        if (isinstance(scale, bool) or not isinstance(scale, (int, float))
                or not math.isfinite(scale) or scale <= 0):
            msg = (f'survey {self.name!r}: pixel_scale must be a positive '
                   f'number, got {scale!r}')
            raise ValueError(msg)
        object.__setattr__(self, 'pixel_scale', float(scale))
        if not isinstance(self.bands, dict) or not self.bands:
            msg = f'survey {self.name!r}: bands must be a non-empty dict'
            raise ValueError(msg)
        bands = {}
        for key, band in self.bands.items():
            if isinstance(band, dict):
                band = Band(**{'name': key, **band})
            if not isinstance(band, Band):
                msg = (f'survey {self.name!r}: band {key!r} must be a Band '
                       f'or a dict, got {type(band).__name__}')
                raise TypeError(msg)
            if band.name != key:
                msg = (f'survey {self.name!r}: band key {key!r} differs from '
                       f'the band name {band.name!r}')
                raise ValueError(msg)
            bands[key] = band
        object.__setattr__(self, 'bands', bands)

    @property
    def band_names(self):
        """The band names, in order (tuple of str)."""
        return tuple(self.bands)

    def get_band(self, name):
        """
        Return one band.

        Parameters
        ----------
        name : str
            The band name.

        Returns
        -------
        band : `Band`

        Raises
        ------
        ValueError
            If the survey has no such band.
        """
        if name not in self.bands:
            msg = (f'unknown band {name!r} for survey {self.name!r}; '
                   f'available bands: {", ".join(self.bands)}')
            raise ValueError(msg)
        return self.bands[name]

    def to_dict(self):
        """
        Return the survey as a JSON-serialisable dict.

        Returns
        -------
        survey : dict
        """
        return {'name': self.name, 'pixel_scale': self.pixel_scale,
                'bands': {key: {'psf_fwhm': band.psf_fwhm,
                                'zeropoint': band.zeropoint,
                                'sky_brightness': band.sky_brightness,
                                'exposure_time': band.exposure_time}
                          for key, band in self.bands.items()}}

    @classmethod
    def from_dict(cls, survey):
        """
        Build a survey from the output of `to_dict`.

        Parameters
        ----------
        survey : dict
            With keys ``name``, ``pixel_scale`` and ``bands`` (a dict of
            band name -> dict with ``psf_fwhm``, ``zeropoint``,
            ``sky_brightness`` and ``exposure_time``).

        Returns
        -------
        survey : `Survey`
        """
        if not isinstance(survey, dict):
            msg = f'a survey must be a dict, got {type(survey).__name__}'
            raise TypeError(msg)
        missing = {'name', 'pixel_scale', 'bands'} - set(survey)
        if missing:
            msg = f'survey dict is missing keys: {", ".join(sorted(missing))}'
            raise ValueError(msg)
        unknown = set(survey) - {'name', 'pixel_scale', 'bands'}
        if unknown:
            msg = f'survey dict has unknown keys: {", ".join(sorted(unknown))}'
            raise ValueError(msg)
        return cls(survey['name'], survey['pixel_scale'], dict(survey['bands']))


def get_survey(name):
    """
    Return a survey preset, with numbers taken from `surveycodex`.

    Parameters
    ----------
    name : str
        One of ``'lsst'``, ``'hsc'``, ``'des'`` or ``'euclid_vis'``
        (case-insensitive).  The exposure times are the full-depth ones
        of `surveycodex`.

    Returns
    -------
    survey : `Survey`

    Raises
    ------
    ValueError
        If the survey is unknown.

    Examples
    --------
    >>> from galseg.simulate import get_survey
    >>> lsst = get_survey('lsst')
    >>> lsst.pixel_scale, lsst.band_names
    (0.2, ('u', 'g', 'r', 'i', 'z', 'y'))
    """
    if not isinstance(name, str):
        msg = f'survey name must be a string, got {type(name).__name__}'
        raise TypeError(msg)
    key = name.lower()
    if key not in SURVEY_PRESETS:
        msg = (f'unknown survey {name!r}; available surveys: '
               f'{", ".join(SURVEY_PRESETS)}')
        raise ValueError(msg)
    import surveycodex

    codex = surveycodex.get_survey(SURVEY_PRESETS[key])
    bands = {}
    for band_name in codex.available_filters:
        band = codex.get_filter(band_name)
        bands[band_name] = Band(
            name=band_name,
            psf_fwhm=float(band.psf_fwhm.to_value('arcsec')),
            zeropoint=float(band.zeropoint.value),
            sky_brightness=float(band.sky_brightness.value),
            exposure_time=float(band.full_exposure_time.to_value('s')))
    return Survey(key, float(codex.pixel_scale.to_value('arcsec')), bands)
