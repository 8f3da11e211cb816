"""The settings of a simulation: `SimulationConfig`."""

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..validation import check_choice, check_int, check_number, check_range
from .surveys import Survey, get_survey

__all__ = ['SimulationConfig', 'CATALOG_COLUMNS', 'CONDITIONS']

#: Columns a galaxy catalog must have (besides ``<band>_ab`` per band).
CATALOG_COLUMNS = ('a_d', 'b_d', 'a_b', 'b_b', 'pa_disk', 'pa_bulge',
                   'fluxnorm_disk', 'fluxnorm_bulge')

SOURCE_TYPES = ('parametric', 'catalog', 'real')
PSF_PROFILES = ('moffat', 'kolmogorov', 'airy')
PSF_FWHM_UNITS = ('arcsec', 'pixel')
SEPARATION_UNITS = ('psf_fwhm', 'arcsec', 'pixel')

#: Observing-condition presets for the ``conditions`` option: the pixel
#: scale (arcsec/px), PSF profiles and PSF FWHM each preset sets.
#: ``'space'``: HST-, JWST- or Euclid-like pixels of 0.03-0.1"
#: under an obscured Airy PSF of 1.5-2.5 px (undersampled);
#: ``'ground'``: pixels of 0.17-0.3" under Moffat or Kolmogorov seeing
#: of 0.5-1.2" (typical nights of LSST, HSC or DES);
#: ``'poor_seeing'``: the same pixels under seeing of 1.2-2.0" (poor
#: nights, PSFs of 4-12 px).
CONDITIONS = {
    'space': dict(pixel_scale=(0.03, 0.1), psf_profiles=('airy',),
                  psf_fwhm=(1.5, 2.5), psf_fwhm_unit='pixel'),
    'ground': dict(pixel_scale=(0.17, 0.3),
                   psf_profiles=('moffat', 'kolmogorov'),
                   psf_fwhm=(0.5, 1.2), psf_fwhm_unit='arcsec'),
    'poor_seeing': dict(pixel_scale=(0.17, 0.3),
                        psf_profiles=('moffat', 'kolmogorov'),
                        psf_fwhm=(1.2, 2.0), psf_fwhm_unit='arcsec'),
}

# Fields holding a (low, high) range, with the allowed interval of values
# as (lower, upper, lower_open, upper_open); None for no bound.
_RANGES = {
    'n_sources': (1, 100, False, False),
    'pixel_scale': (0, None, True, False),
    'moffat_beta': (1.1, None, True, False),
    'airy_obscuration': (0, 1, False, True),
    'psf_fwhm': (0, None, True, False),
    'half_light_radius': (0, None, True, False),
    'bulge_to_disk_size': (0, None, True, False),
    'ellipticity': (0, 1, False, True),
    'bulge_fraction': (0, 1, False, False),
    'bulge_offset': (0, None, False, False),
    'bulge_ellipticity': (0, 1, False, True),
    'sersic_index': (0.3, 6.2, False, False),
    'irregular_components': (2, 10, False, False),
    'knot_fraction': (0, 1, False, True),
    'n_knots': (1, 1000, False, False),
    'knot_size': (0, None, True, False),
    'snr': (0, None, True, False),
    'star_snr': (0, None, True, False),
    'faint_sources': (0, 1000, False, False),
    'faint_snr': (0, None, True, False),
    'noise_correlation': (0, 5, True, False),
    'magnitude': (None, None, False, False),
    'color': (None, None, False, False),
    'separation': (0, None, False, False),
}


_CATALOG_CACHE = {}


def _load_catalog(catalog):
    """Return the catalog as an astropy Table (file paths are cached)."""
    from astropy.table import Table

    if isinstance(catalog, Table):
        return catalog
    path = Path(catalog)
    if not path.is_file():
        msg = f'catalog file {path} does not exist'
        raise FileNotFoundError(msg)
    key = (str(path.resolve()), path.stat().st_mtime_ns)
    if key not in _CATALOG_CACHE:
        _CATALOG_CACHE.clear()
        _CATALOG_CACHE[key] = Table.read(path)
    return _CATALOG_CACHE[key]


@dataclass
class SimulationConfig:
    """
    The settings of a blend simulation.

    Ranges are ``(low, high)`` pairs; each scene draws its value from
    the range (uniformly, or log-uniformly where said), so one dataset
    spans randomised conditions.  A scene is a pure function of the
    config, a seed and its index (see `simulate_scene`).

    Parameters
    ----------
    survey : str, dict or `Survey`, optional
        A preset name (``'lsst'``, ``'hsc'``, ``'des'``,
        ``'euclid_vis'``, see `get_survey`), a custom `Survey`, or a
        dict accepted by `Survey.from_dict`.
    bands : tuple of str, optional
        The bands to simulate, 1 to 6 of the survey's bands.  By default
        ``('i',)`` where the survey has an i band, else its first band.
        The first band is the reference band for ``snr``,
        ``magnitude`` and ``psf_fwhm``.
    stamp_size : int, optional
        The scene size in pixels (square), at least 16.
    n_sources : (int, int), optional
        The number of sources per scene, drawn uniformly (inclusive).
    source_type : {'parametric', 'catalog', 'real'}, optional
        Galaxies from the parametric distributions below, from rows of
        ``catalog``, or real HST galaxies from
        ``real_galaxy_catalog``.
    catalog : str or `~astropy.table.Table`, optional
        For ``source_type='catalog'``: a table (or a file astropy can
        read) with CatSim-like columns: ``<band>_ab`` AB magnitudes for
        each band, disk and bulge half-light semi-axes ``a_d``, ``b_d``,
        ``a_b``, ``b_b`` (arcsec), position angles ``pa_disk``,
        ``pa_bulge`` (degrees) and flux fractions ``fluxnorm_disk``,
        ``fluxnorm_bulge``.  Only file paths can be saved in a dataset
        manifest.
    real_galaxy_catalog, real_galaxy_dir : str, optional
        For ``source_type='real'``: the COSMOS catalog file and its
        directory, as taken by `galsim.RealGalaxyCatalog`.
    star_fraction : float, optional
        The probability that a source is a star (a point source drawn
        with the scene's PSF, class 2) rather than a galaxy (class 1).
        Stars are placed like galaxies, so they fall near and on top of
        galaxies.
    star_snr : (float, float) or `None`, optional
        The signal-to-noise range of stars (log-uniform, as ``snr``),
        e.g. ``(20, 1e5)`` to include bright stars; `None` (the default)
        gives stars the galaxies' ``snr`` or ``magnitude`` range.
    conditions : tuple of str or `None`, optional
        Observing-condition presets, one picked uniformly per scene:
        ``'space'`` (pixel scale 0.03--0.1", obscured Airy PSF of
        1.5--2.5 px FWHM), ``'ground'`` (0.17--0.3", Moffat or
        Kolmogorov seeing of 0.5--1.2") and ``'poor_seeing'`` (the same
        pixels, seeing of 1.2--2.0"); see `CONDITIONS`.  A preset
        sets ``pixel_scale``, ``psf_profiles``, ``psf_fwhm`` and
        ``psf_fwhm_unit`` for its scenes; `None` (the default) uses
        those fields.
    pixel_scale : (float, float), optional
        A range of pixel scales (arcsec/px) that overrides the survey's.
    psf_profiles : tuple of str, optional
        The PSF profiles to choose from, uniformly: ``'moffat'`` and
        ``'kolmogorov'`` (ground-based seeing) and ``'airy'`` (the
        diffraction pattern of a space telescope with a central
        obscuration; give a ``psf_fwhm`` of 1.5--2.5 pixels for an
        undersampled, HST-, JWST- or Euclid-like PSF).
    moffat_beta : (float, float), optional
        The range of the Moffat ``beta`` parameter (drawn on a grid of
        step 0.05, which lets GalSim reuse its Moffat tables).
    airy_obscuration : (float, float), optional
        The range of the Airy PSF's central obscuration, the linear
        fraction of the aperture, in [0, 1).
    psf_fwhm : (float, float), optional
        A range of PSF FWHM (in ``psf_fwhm_unit``) for the first band
        that overrides the survey's; the other bands keep the survey's
        FWHM ratios.  By default each band has the survey's FWHM.
    psf_fwhm_unit : {'arcsec', 'pixel'}, optional
        The unit of ``psf_fwhm``.
    half_light_radius : (float, float), optional
        The disk half-light radius of parametric galaxies, arcsec,
        log-uniform.
    bulge_to_disk_size : (float, float), optional
        The ratio of bulge to disk half-light radius.
    ellipticity : (float, float), optional
        The ellipticity ``|e| = (1 - q^2) / (1 + q^2)`` of parametric
        galaxies; position angles are uniform.
    bulge_fraction : (float, float), optional
        The bulge flux fraction of parametric galaxies.
    bulge_offset : (float, float), optional
        The distance of the bulge from the disk centre, in disk
        half-light radii, in a uniform direction; the default (0, 0)
        centres bulges.
    bulge_ellipticity : (float, float) or `None`, optional
        The bulge's own ellipticity range, with its own uniform position
        angle; `None` (the default) gives bulges the disk's shape.
    sersic_fraction : float, optional
        The probability that a parametric galaxy is a single Sersic
        profile (with the drawn half-light radius, ellipticity and
        angle, and no bulge) instead of a bulge + disk.
    sersic_index : (float, float), optional
        The range of the Sersic index, uniform on a grid of step 0.1
        (which lets GalSim reuse its Sersic tables), within GalSim's
        [0.3, 6.2] (0.5 is a Gaussian, 1 an exponential, 4 a de
        Vaucouleurs profile).
    irregular_fraction : float, optional
        The probability that a parametric galaxy is irregular or
        merging: the sum of ``irregular_components`` exponential
        components of random fluxes, sizes (0.2--1 times the drawn
        half-light radius) and shapes, offset from the centre by up to
        the half-light radius.  It is still ONE source in the truth
        (one footprint, one flux, one label).
    irregular_components : (int, int), optional
        The range of the number of components of an irregular galaxy,
        within [2, 10].
    knot_fraction : (float, float), optional
        The fraction of a parametric galaxy's flux in star-forming knots,
        in [0, 1) (e.g. (0, 0.5)); the default (0, 0) makes smooth
        galaxies.  The knots (`galsim.RandomKnots`) are scattered like
        the disk light: with its half-light radius and shape.
    n_knots : (int, int), optional
        The range of the number of knots of a galaxy with knots.
    knot_size : (float, float), optional
        The half-light radius of each knot (a round Gaussian) in units
        of the disk half-light radius.
    snr : (float, float), optional
        The signal-to-noise ratio of each source in the first band,
        log-uniform: ``flux / (noise_sigma * sqrt(4 pi (s_gal^2 +
        s_psf^2)))`` with the Gaussian-equivalent sizes ``s`` in pixels
        (the optimal SNR of a Gaussian source in sky-dominated noise).
        Exactly one of ``snr`` and ``magnitude`` must be given
        (``snr`` wins the default).  Catalog galaxies keep their own
        magnitudes.
    magnitude : (float, float), optional
        The AB magnitude of each source in the first band, uniform.  For
        catalog galaxies, a cut on the catalog rows.
    color : (float, float), optional
        The magnitude offset of each further band from the first band,
        drawn per source and band.
    separation : (float, float), optional
        The distance of each source after the first from an existing
        source (picked at random), uniform, in ``separation_unit``.
        Small values make close blends.
    separation_unit : {'psf_fwhm', 'arcsec', 'pixel'}, optional
        The unit of ``separation``; ``'psf_fwhm'`` is the scene's
        first-band PSF FWHM.
    faint_sources : (int, int), optional
        The number of faint galaxies per scene below the detection
        limit, placed uniformly over the stamp: part of the image and
        of the noiseless image, NOT of the truth (no footprint, label or
        catalog row), as the unresolved background of deep images.  The
        default (0, 0) adds none.
    faint_snr : (float, float), optional
        The signal-to-noise range of the faint galaxies (log-uniform, as
        ``snr``), by default 0.3--3.
    correlated_noise_fraction : float, optional
        The probability that a scene's noise is correlated, as in
        resampled coadds (the default, 0, keeps all noise white).
    noise_correlation : (float, float), optional
        The sigma (pixels) of the Gaussian kernel that correlates the
        noise of such a scene, uniform within (0, 5]; each pixel keeps
        its variance (see `~galseg.simulate.add_noise`).
    first_source_offset : float, optional
        The maximum distance (pixels) of the first source from the stamp
        centre.
    edge_margin : float, optional
        The minimum distance (pixels) of any source centre from the
        stamp edges.
    footprint_threshold : float, optional
        ``k``: a source's footprint is where its isolated noiseless
        image exceeds ``k`` times the noise in any detection band.  The
        default, 1, keeps the pixels where the source alone changes the
        data by at least one standard deviation: lower values reach into
        pure noise, higher ones shrink faint sources to nothing.
    detection_bands : tuple of str, optional
        The bands used for footprints (default: all ``bands``).
    source_noise : bool, optional
        Whether the noise includes the sources' Poisson noise (Gaussian
        approximation) on top of the sky's.

    Raises
    ------
    ValueError, TypeError
        If a setting is invalid: unknown survey, band or option, an
        empty or impossible range, or a catalog missing columns.

    Examples
    --------
    >>> from galseg.simulate import SimulationConfig
    >>> config = SimulationConfig(survey='hsc', bands=('r', 'i'),
    ...                           n_sources=(2, 3), stamp_size=64)
    >>> SimulationConfig.from_dict(config.to_dict()) == config
    True
    """

    survey: object = 'lsst'
    bands: tuple = None
    stamp_size: int = 128
    n_sources: tuple = (1, 6)
    source_type: str = 'parametric'
    catalog: object = None
    real_galaxy_catalog: str = None
    real_galaxy_dir: str = None
    star_fraction: float = 0.0
    star_snr: tuple = None
    conditions: tuple = None
    pixel_scale: tuple = None
    psf_profiles: tuple = ('moffat', 'kolmogorov')
    moffat_beta: tuple = (2.0, 5.0)
    airy_obscuration: tuple = (0.1, 0.4)
    psf_fwhm: tuple = None
    psf_fwhm_unit: str = 'arcsec'
    half_light_radius: tuple = (0.2, 2.0)
    bulge_to_disk_size: tuple = (0.2, 0.7)
    ellipticity: tuple = (0.0, 0.6)
    bulge_fraction: tuple = (0.0, 1.0)
    bulge_offset: tuple = (0.0, 0.0)
    bulge_ellipticity: tuple = None
    sersic_fraction: float = 0.0
    sersic_index: tuple = (0.5, 6.0)
    irregular_fraction: float = 0.0
    irregular_components: tuple = (2, 4)
    knot_fraction: tuple = (0.0, 0.0)
    n_knots: tuple = (10, 50)
    knot_size: tuple = (0.05, 0.2)
    snr: tuple = (10.0, 1000.0)
    magnitude: tuple = None
    color: tuple = (-0.5, 0.5)
    separation: tuple = (0.3, 3.0)
    separation_unit: str = 'psf_fwhm'
    faint_sources: tuple = (0, 0)
    faint_snr: tuple = (0.3, 3.0)
    correlated_noise_fraction: float = 0.0
    noise_correlation: tuple = (0.5, 1.5)
    first_source_offset: float = 8.0
    edge_margin: float = 4.0
    footprint_threshold: float = 1.0
    detection_bands: tuple = None
    source_noise: bool = True

    def __post_init__(self):
        survey = self._validate_survey(self.survey)
        object.__setattr__(self, '_survey', survey)
        self._validate_bands(survey)
        self.stamp_size = check_int('stamp_size', self.stamp_size)
        if self.stamp_size < 16:
            msg = f'stamp_size must be at least 16 pixels, got {self.stamp_size}'
            raise ValueError(msg)
        check_choice('source_type', self.source_type, SOURCE_TYPES)
        check_choice('psf_fwhm_unit', self.psf_fwhm_unit, PSF_FWHM_UNITS)
        check_choice('separation_unit', self.separation_unit,
                     SEPARATION_UNITS)
        if isinstance(self.psf_profiles, str):
            self.psf_profiles = (self.psf_profiles,)
        self.psf_profiles = tuple(self.psf_profiles)
        if not self.psf_profiles:
            msg = 'psf_profiles must name at least one profile'
            raise ValueError(msg)
        for profile in self.psf_profiles:
            check_choice('psf_profiles', profile, PSF_PROFILES)
        if self.snr is not None and self.magnitude is not None:
            if self.snr == SimulationConfig.snr:
                self.snr = None  # an explicit magnitude range replaces the default
            else:
                msg = 'give only one of snr and magnitude'
                raise ValueError(msg)
        if self.snr is None and self.magnitude is None:
            msg = 'one of snr and magnitude must be given'
            raise ValueError(msg)
        for name, (lower, upper, lower_open, upper_open) in _RANGES.items():
            value = getattr(self, name)
            if value is None and name in ('pixel_scale', 'psf_fwhm', 'snr',
                                          'magnitude', 'bulge_ellipticity',
                                          'star_snr'):
                continue
            setattr(self, name, check_range(
                name, value, lower, upper, lower_open=lower_open,
                upper_open=upper_open,
                integer=(name in ('n_sources', 'n_knots', 'faint_sources',
                                  'irregular_components'))))
        for name in ('star_fraction', 'sersic_fraction', 'irregular_fraction',
                     'correlated_noise_fraction', 'first_source_offset',
                     'edge_margin', 'footprint_threshold'):
            setattr(self, name, check_number(name, getattr(self, name)))
        for name in ('star_fraction', 'sersic_fraction', 'irregular_fraction',
                     'correlated_noise_fraction'):
            if not 0 <= getattr(self, name) <= 1:
                msg = f'{name} must be in [0, 1], got {getattr(self, name)}'
                raise ValueError(msg)
        if self.footprint_threshold <= 0:
            msg = ('footprint_threshold must be positive, got '
                   f'{self.footprint_threshold}')
            raise ValueError(msg)
        if self.first_source_offset < 0 or self.edge_margin < 0:
            msg = 'first_source_offset and edge_margin must not be negative'
            raise ValueError(msg)
        if not isinstance(self.source_noise, bool):
            msg = f'source_noise must be True or False, got {self.source_noise!r}'
            raise TypeError(msg)
        self._validate_conditions()
        for settings in self.condition_settings():
            self._validate_geometry(survey, settings)
        self._validate_sources()

    def _validate_conditions(self):
        if self.conditions is None:
            return
        if isinstance(self.conditions, str):
            self.conditions = (self.conditions,)
        self.conditions = tuple(self.conditions)
        if not self.conditions:
            msg = 'conditions must name at least one preset, or be None'
            raise ValueError(msg)
        for name in self.conditions:
            check_choice('conditions', name, tuple(CONDITIONS))

    def condition_settings(self):
        """
        The observing settings scenes are drawn from, one per preset.

        Returns
        -------
        settings : list of dict
            ``pixel_scale``, ``psf_profiles``, ``psf_fwhm`` and
            ``psf_fwhm_unit``: the config's own fields when
            ``conditions`` is `None`, else one dict per preset in
            ``conditions``.
        """
        if self.conditions is None:
            return [dict(pixel_scale=self.pixel_scale,
                         psf_profiles=self.psf_profiles,
                         psf_fwhm=self.psf_fwhm,
                         psf_fwhm_unit=self.psf_fwhm_unit)]
        return [CONDITIONS[name] for name in self.conditions]

    @staticmethod
    def _validate_survey(survey):
        if isinstance(survey, Survey):
            return survey
        if isinstance(survey, str):
            return get_survey(survey)
        if isinstance(survey, dict):
            return Survey.from_dict(survey)
        msg = ('survey must be a preset name, a Survey or a dict, got '
               f'{type(survey).__name__}')
        raise TypeError(msg)

    def _validate_bands(self, survey):
        if self.bands is None:
            self.bands = (('i',) if 'i' in survey.bands
                          else (survey.band_names[0],))
        if isinstance(self.bands, str):
            self.bands = tuple(band for band in self.bands.split(',') if band)
        self.bands = tuple(self.bands)
        if not 1 <= len(self.bands) <= 6:
            msg = f'bands must hold 1 to 6 bands, got {len(self.bands)}'
            raise ValueError(msg)
        if len(set(self.bands)) != len(self.bands):
            msg = f'bands must not repeat a band, got {self.bands}'
            raise ValueError(msg)
        for band in self.bands:
            survey.get_band(band)
        if self.detection_bands is not None:
            if isinstance(self.detection_bands, str):
                self.detection_bands = tuple(
                    band for band in self.detection_bands.split(',') if band)
            self.detection_bands = tuple(self.detection_bands)
            if not self.detection_bands:
                msg = 'detection_bands must name at least one band'
                raise ValueError(msg)
            for band in self.detection_bands:
                if band not in self.bands:
                    msg = (f'detection band {band!r} is not one of the '
                           f'simulated bands {", ".join(self.bands)}')
                    raise ValueError(msg)

    def _validate_geometry(self, survey, settings):
        usable = self.stamp_size - 1 - 2 * self.edge_margin
        if usable <= 0:
            msg = (f'edge_margin {self.edge_margin} leaves no room in a '
                   f'{self.stamp_size}-pixel stamp')
            raise ValueError(msg)
        if self.first_source_offset > usable / 2:
            msg = (f'first_source_offset {self.first_source_offset} pixels '
                   f'does not fit in a {self.stamp_size}-pixel stamp with '
                   f'edge_margin {self.edge_margin}')
            raise ValueError(msg)
        # the smallest separation this config can ask for, in pixels
        scale_hi = (settings['pixel_scale'][1] if settings['pixel_scale']
                    else survey.pixel_scale)
        if self.separation_unit == 'pixel':
            min_sep = self.separation[0]
        elif self.separation_unit == 'arcsec':
            min_sep = self.separation[0] / scale_hi
        else:
            if settings['psf_fwhm'] is None:
                fwhm_px = survey.get_band(self.bands[0]).psf_fwhm / scale_hi
            elif settings['psf_fwhm_unit'] == 'pixel':
                fwhm_px = settings['psf_fwhm'][0]
            else:
                fwhm_px = settings['psf_fwhm'][0] / scale_hi
            min_sep = self.separation[0] * fwhm_px
        if self.n_sources[1] > 1 and min_sep > usable:
            msg = (f'separation: impossible range; at least {min_sep:.1f} '
                   f'pixels do not fit in a {self.stamp_size}-pixel stamp '
                   f'with edge_margin {self.edge_margin}')
            raise ValueError(msg)

    def _validate_sources(self):
        from astropy.table import Table

        if self.source_type == 'catalog':
            if self.catalog is None:
                msg = "source_type='catalog' needs a catalog"
                raise ValueError(msg)
            if isinstance(self.catalog, os.PathLike):
                self.catalog = os.fspath(self.catalog)
            if not isinstance(self.catalog, (str, Table)):
                msg = ('catalog must be an astropy Table or a file path, got '
                       f'{type(self.catalog).__name__}')
                raise TypeError(msg)
            if isinstance(self.catalog, Table):
                self._check_catalog(self.catalog)
        if self.source_type == 'real' and self.real_galaxy_catalog is None:
            msg = "source_type='real' needs real_galaxy_catalog"
            raise ValueError(msg)

    def _check_catalog(self, table):
        required = list(CATALOG_COLUMNS) + [f'{band}_ab' for band in self.bands]
        missing = [name for name in required if name not in table.colnames]
        if missing:
            msg = f'catalog is missing required columns: {", ".join(missing)}'
            raise ValueError(msg)
        if len(table) == 0:
            msg = 'catalog has no rows'
            raise ValueError(msg)
        if self.magnitude is not None and not len(self.catalog_rows(table)):
            msg = (f'no catalog row has {self.bands[0]}_ab in the magnitude '
                   f'range {self.magnitude}')
            raise ValueError(msg)

    def catalog_rows(self, table):
        """
        The catalog rows usable as sources (within ``magnitude``).

        Parameters
        ----------
        table : `~astropy.table.Table`
            The galaxy catalog.

        Returns
        -------
        rows : `~numpy.ndarray` of int
        """
        import numpy as np

        mag = np.asarray(table[f'{self.bands[0]}_ab'], dtype=float)
        ok = np.isfinite(mag)
        if self.magnitude is not None:
            ok &= (mag >= self.magnitude[0]) & (mag <= self.magnitude[1])
        return np.flatnonzero(ok)

    def check_inputs(self):
        """
        Check the input files (catalogs) that the config refers to.

        `simulate_dataset` calls it before any work starts.

        Raises
        ------
        FileNotFoundError
            If a catalog file does not exist.
        ValueError
            If the catalog lacks required columns or usable rows.
        """
        if self.source_type == 'catalog':
            self._check_catalog(_load_catalog(self.catalog))
        elif self.source_type == 'real':
            path = Path(self.real_galaxy_catalog)
            if self.real_galaxy_dir is not None and not path.is_absolute():
                path = Path(self.real_galaxy_dir) / path
            if not path.is_file():
                msg = f'real galaxy catalog {path} does not exist'
                raise FileNotFoundError(msg)

    @property
    def survey_info(self):
        """The resolved `Survey`."""
        return self._survey

    def to_dict(self):
        """
        Return the config as a JSON-serialisable dict.

        Returns
        -------
        config : dict

        Raises
        ------
        TypeError
            If the catalog is an in-memory table (save it to a file and
            pass its path instead).
        """
        from astropy.table import Table

        if isinstance(self.catalog, Table):
            msg = ('a config holding an in-memory catalog table cannot be '
                   'saved; write the table to a file and pass its path')
            raise TypeError(msg)
        out = {}
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if isinstance(value, Survey):
                value = value.to_dict()
            elif isinstance(value, tuple):
                value = list(value)
            out[item.name] = value
        return out

    @classmethod
    def from_dict(cls, config):
        """
        Build a config from a dict (e.g. the output of `to_dict`).

        Parameters
        ----------
        config : dict
            Field names and values; missing fields take their defaults.

        Returns
        -------
        config : `SimulationConfig`

        Raises
        ------
        ValueError
            If the dict has unknown keys or invalid values.
        """
        if not isinstance(config, dict):
            msg = f'config must be a dict, got {type(config).__name__}'
            raise TypeError(msg)
        names = {item.name for item in dataclasses.fields(cls)}
        unknown = sorted(set(config) - names)
        if unknown:
            msg = f'unknown SimulationConfig fields: {", ".join(unknown)}'
            raise ValueError(msg)
        values = {key: tuple(value) if isinstance(value, list) else value
                  for key, value in config.items()}
        return cls(**values)

    @classmethod
    def from_file(cls, path):
        """
        Read a config from a JSON or TOML file of `SimulationConfig` fields.

        Parameters
        ----------
        path : str or `~pathlib.Path`
            A ``.json`` or ``.toml`` file.

        Returns
        -------
        config : `SimulationConfig`
        """
        return cls.from_dict(read_config_file(path))

    def __eq__(self, other):
        if not isinstance(other, SimulationConfig):
            return NotImplemented
        try:
            return self.to_dict() == other.to_dict()
        except TypeError:
            return self is other


def read_config_file(path):
    """
    Read a dict of config fields from a JSON or TOML file.

    Parameters
    ----------
    path : str or `~pathlib.Path`
        The file; ``.toml`` files are read as TOML, others as JSON.

    Returns
    -------
    fields : dict
    """
    path = Path(path)
    if not path.is_file():
        msg = f'config file {path} does not exist'
        raise FileNotFoundError(msg)
    text = path.read_text()
    try:
        if path.suffix.lower() == '.toml':
            import tomllib

            fields = tomllib.loads(text)
        else:
            fields = json.loads(text)
    except ValueError as exc:
        msg = f'cannot parse config file {path}: {exc}'
        raise ValueError(msg) from None
    if not isinstance(fields, dict):
        msg = f'config file {path} must hold a table/object of fields'
        raise ValueError(msg)
    return fields
