"""One simulated blend scene and its truth: `Scene`, `simulate_scene`."""

import atexit
import copy
from dataclasses import dataclass, field
import functools
import math
import warnings

import numpy as np

from ..utils import masks_to_boxes
from ..validation import check_int
from .config import SimulationConfig, _load_catalog
from .noise import add_noise

__all__ = ['Scene', 'simulate_scene', 'GALAXY', 'STAR', 'DRAWING_VERSION',
           'PSF_IMAGE_SIZE']

#: The version of the drawing: raised whenever the same configuration,
#: seed and index give a different scene.  A dataset records it, and a
#: dataset begun with another version is not resumed (its scenes would
#: mix two drawings).  2: every source drawn over the whole stamp (1
#: drew each on a box of its extent plus 3 PSF FWHM, zero outside).
DRAWING_VERSION = 2

#: class id of galaxies
GALAXY = 1
#: class id of stars
STAR = 2

#: side, in pixels, of the PSF images of the scenes (`Scene.psf`)
PSF_IMAGE_SIZE = 41

_FWHM_TO_SIGMA = 1 / (2 * math.sqrt(2 * math.log(2)))
_HLR_TO_SIGMA = 1 / math.sqrt(2 * math.log(2))  # for a Gaussian

# Accuracy settings: folding and maxk thresholds looser than GalSim's
# defaults (5e-3, 1e-3) halve the FFT sizes; the errors stay far below
# the noise of any simulated source.
_GSPARAMS = dict(folding_threshold=1e-2, maxk_threshold=2e-3)

# GalSim returns NaN, without an error, for the FFT of a large high-index
# Sersic profile under a narrow (space-like) PSF: its wings ask for an FFT
# beyond ``maximum_fft_size``.  Such a galaxy is built again from the same
# random draws with this looser folding threshold (a smaller FFT; the light
# folded back stays below 5% and falls far outside the stamp) and drawn
# again.  Only galaxies whose first drawing is not finite are redrawn, so
# every other scene is unchanged.
_FALLBACK_FOLDING_THRESHOLD = 5e-2

# Catalog columns of every scene, in order, with their dtypes.
CATALOG_DTYPES = {
    'x': np.float32, 'y': np.float32, 'flux': np.float32, 'mag': np.float32,
    'snr': np.float32, 'half_light_radius': np.float32,
    'ellipticity': np.float32, 'position_angle': np.float32,
    'bulge_fraction': np.float32, 'class': np.int32,
    'blendedness': np.float32, 'neighbour_distance': np.float32,
    'has_footprint': bool, 'catalog_row': np.int64,
}


@dataclass(eq=False)
class Scene:
    """
    A simulated scene: a blend image and its truth.

    Attributes
    ----------
    image : `~numpy.ndarray`
        float32 ``(n_bands, ny, nx)``: the sky-subtracted noisy blend, in
        electrons.
    noiseless : `~numpy.ndarray`
        float32 ``(n_bands, ny, nx)``: the noiseless blend, the sum of
        ``isolated`` over sources (plus ``faint``, if any).
    isolated : `~numpy.ndarray`
        float32 ``(n_sources, n_bands, ny, nx)``: each source alone,
        noiseless.
    footprints : `~numpy.ndarray`
        bool ``(n_sources, ny, nx)``: where each isolated image exceeds
        ``footprint_threshold`` times the noise in a detection band.
    boxes : `~numpy.ndarray`
        float32 ``(n_sources, 4)``: ``(ymin, xmin, ymax, xmax)`` of each
        footprint in pixel-edge coordinates (all zero for an empty
        footprint).
    classes : `~numpy.ndarray`
        int32 ``(n_sources,)``: 1 for a galaxy, 2 for a star.
    noise_sigma : `~numpy.ndarray`
        float32 ``(n_bands,)``: the sky noise of each band, electrons.
    psf_fwhm : `~numpy.ndarray`
        float32 ``(n_bands,)``: the PSF FWHM of each band, in pixels.
    pixel_scale : float
        The pixel scale, arcsec/px.
    catalog : `~astropy.table.Table`
        One row per source: ``x``, ``y`` (0-based pixel coordinates of
        the profile centre), ``flux`` and ``mag`` (2-D, one column per
        band; electrons and AB magnitudes), ``snr`` (first band, see
        `SimulationConfig`), ``half_light_radius`` (arcsec; the
        flux-weighted mean of disk and bulge radii, 0 for stars, NaN for
        real galaxies), ``ellipticity``, ``position_angle`` (degrees,
        from +x towards +y), ``bulge_fraction``, ``class``,
        ``blendedness`` (``1 - sum(I_i^2) / sum(I_i I_all)`` over the
        band-summed noiseless images), ``neighbour_distance`` (pixels to
        the nearest other source, inf if alone), ``has_footprint`` and
        ``catalog_row`` (row of the input catalog, or -1).
    bands : tuple of str
        The band names.
    noise_correlation : float
        The sigma (pixels) of the kernel that correlates the noise; 0
        for white noise (see `~galseg.simulate.add_noise`).
    psf : `~numpy.ndarray` or `None`
        float32 ``(n_bands, PSF_IMAGE_SIZE, PSF_IMAGE_SIZE)``: the PSF
        of each band drawn as the stars are (pixel included), centred on
        the central pixel, of unit sum: the ``psf`` to give
        `~galseg.MaskRCNNDeblender`.  `None` for scenes of datasets
        written before galseg stored it.
    faint : `~numpy.ndarray` or `None`
        float32 ``(n_bands, ny, nx)``: the noiseless faint galaxies below
        the detection limit (``faint_sources``), included in ``image``
        and ``noiseless`` but not in the truth; `None` when there are
        none.
    """

    image: np.ndarray
    noiseless: np.ndarray
    isolated: np.ndarray
    footprints: np.ndarray
    boxes: np.ndarray
    classes: np.ndarray
    noise_sigma: np.ndarray
    psf_fwhm: np.ndarray
    pixel_scale: float
    catalog: object
    bands: tuple = field(default=())
    noise_correlation: float = 0.0
    faint: np.ndarray = None
    psf: np.ndarray = None

    @property
    def n_sources(self):
        """The number of sources."""
        return self.isolated.shape[0]

    @property
    def n_bands(self):
        """The number of bands."""
        return self.image.shape[0]

    def __repr__(self):
        ny, nx = self.image.shape[1:]
        return (f'<Scene: {self.n_sources} sources, bands '
                f'{",".join(self.bands)}, {ny}x{nx} px>')


def scene_rng(seed, index):
    """
    The random generator of one scene.

    Parameters
    ----------
    seed, index : int
        The dataset seed and the scene index.

    Returns
    -------
    rng : `numpy.random.Generator`
    """
    return np.random.default_rng(
        np.random.SeedSequence(entropy=seed, spawn_key=(index,)))


def _log_uniform(rng, bounds):
    low, high = bounds
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))


@dataclass
class _Conditions:
    pixel_scale: float
    psf_fwhm: np.ndarray      # arcsec, per band
    noise_sigma: np.ndarray   # electrons, per band (float32)
    psfs: list                # GalSim PSF per band


@functools.lru_cache(maxsize=128)
def _airy_fwhm(obscuration):
    """The FWHM of an Airy pattern of unit lambda / D (GalSim gives it
    only without obscuration): where its profile first falls to half."""
    import galsim
    from scipy.optimize import brentq

    airy = galsim.Airy(lam_over_diam=1.0, obscuration=obscuration)
    half = 0.5 * airy.xValue(0.0, 0.0)
    radii = np.linspace(0.0, 1.5, 301)
    below = np.flatnonzero([airy.xValue(r, 0.0) < half for r in radii])[0]
    return 2 * brentq(lambda r: airy.xValue(r, 0.0) - half,
                      radii[below - 1], radii[below])


def _draw_conditions(config, rng, galsim):
    survey = config.survey_info
    bands = [survey.get_band(name) for name in config.bands]
    choices = config.condition_settings()
    # a preset is drawn only when the config names presets
    settings = (choices[rng.integers(len(choices))]
                if config.conditions is not None else choices[0])
    if settings['pixel_scale'] is None:
        scale = survey.pixel_scale
    else:
        scale = rng.uniform(*settings['pixel_scale'])
    # float32 so that the stored value reproduces the scene exactly
    scale = float(np.float32(scale))
    fwhm = np.array([band.psf_fwhm for band in bands])
    if settings['psf_fwhm'] is not None:
        first = rng.uniform(*settings['psf_fwhm'])
        if settings['psf_fwhm_unit'] == 'pixel':
            first *= scale
        fwhm = fwhm / fwhm[0] * first
    profiles = settings['psf_profiles']
    profile = profiles[rng.integers(len(profiles))]
    # beta on a 0.05 grid, so that GalSim reuses its cached Moffat
    # Hankel-transform tables instead of building one per scene
    low, high = config.moffat_beta
    beta = min(max(round(rng.uniform(low, high) / 0.05) * 0.05, low), high)
    gsparams = galsim.GSParams(**_GSPARAMS)
    if profile == 'airy':  # no extra draw for the ground-based profiles
        # on a 0.01 grid, so that the FWHM of each value is found once
        low, high = config.airy_obscuration
        obscuration = min(max(round(rng.uniform(low, high), 2), low), high)
        unit_fwhm = _airy_fwhm(obscuration)
    psfs = []
    for value in fwhm:
        if profile == 'moffat':
            psfs.append(galsim.Moffat(beta=beta, fwhm=value, gsparams=gsparams))
        elif profile == 'kolmogorov':
            psfs.append(galsim.Kolmogorov(fwhm=value, gsparams=gsparams))
        else:
            psfs.append(galsim.Airy(lam_over_diam=value / unit_fwhm,
                                    obscuration=obscuration,
                                    gsparams=gsparams))
    sigma = np.array([math.sqrt(band.sky_level(scale)) for band in bands],
                     dtype=np.float32)
    return _Conditions(scale, fwhm, sigma, psfs)


def _place_sources(config, cond, n_sources, rng):
    size = config.stamp_size
    low, high = config.edge_margin, size - 1 - config.edge_margin
    centre = (size - 1) / 2
    radius = config.first_source_offset * math.sqrt(rng.uniform())
    angle = rng.uniform(0, 2 * math.pi)
    positions = [(centre + radius * math.cos(angle),
                  centre + radius * math.sin(angle))]
    if config.separation_unit == 'pixel':
        unit = 1.0
    elif config.separation_unit == 'arcsec':
        unit = 1 / cond.pixel_scale
    else:
        unit = cond.psf_fwhm[0] / cond.pixel_scale
    for _ in range(n_sources - 1):
        for _attempt in range(100):
            ref = positions[rng.integers(len(positions))]
            sep = rng.uniform(*config.separation) * unit
            angle = rng.uniform(0, 2 * math.pi)
            x = ref[0] + sep * math.cos(angle)
            y = ref[1] + sep * math.sin(angle)
            if low <= x <= high and low <= y <= high:
                break
        else:  # rare: every try fell off the stamp
            x, y = rng.uniform(low, high, 2)
        positions.append((float(x), float(y)))
    return np.array(positions)


def _shear(galsim, e, angle_deg):
    return galsim.Shear(e=e, beta=angle_deg * galsim.degrees)


def _q_to_e(q):
    return (1 - q * q) / (1 + q * q)


def _bulge_disk(galsim, gsparams, fraction, disk_hlr, disk_q, disk_pa,
                bulge_hlr, bulge_q, bulge_pa, bulge_shift=(0.0, 0.0)):
    """A unit-flux bulge + disk profile; the bulge is shifted by
    ``bulge_shift`` (arcsec) from the disk centre."""
    parts = []
    if fraction < 1 and disk_hlr > 0:
        disk = galsim.Exponential(half_light_radius=disk_hlr,
                                  flux=1 - fraction, gsparams=gsparams)
        parts.append(disk.shear(_shear(galsim, _q_to_e(disk_q), disk_pa)))
    if fraction > 0 and bulge_hlr > 0:
        bulge = galsim.DeVaucouleurs(half_light_radius=bulge_hlr,
                                     flux=fraction, gsparams=gsparams)
        bulge = bulge.shear(_shear(galsim, _q_to_e(bulge_q), bulge_pa))
        parts.append(bulge.shift(*bulge_shift))
    profile = parts[0] if len(parts) == 1 else galsim.Add(parts)
    return profile.withFlux(1.0)


def _with_knots(config, rng, galsim, gsparams, profile, disk_hlr, q, pa):
    """
    A unit-flux galaxy whose flux is in part in star-forming knots,
    scattered like the disk's light (`galsim.RandomKnots`).
    """
    fraction = rng.uniform(*config.knot_fraction)
    n_knots = int(rng.integers(config.n_knots[0], config.n_knots[1] + 1))
    knot_hlr = disk_hlr * rng.uniform(*config.knot_size)
    deviate = galsim.BaseDeviate(int(rng.integers(1, 2**31 - 1)))
    # the knots of `galsim.RandomKnots(n_knots, half_light_radius=disk_hlr,
    # flux=fraction, rng=deviate).shear(...)`: the same points
    light = galsim.Gaussian(half_light_radius=disk_hlr, flux=fraction)
    knots = _separable_knots_class(galsim)(
        n_knots, profile=light.shear(_shear(galsim, _q_to_e(q), pa)),
        rng=deviate, gsparams=gsparams)
    knots = galsim.Convolve(
        knots, galsim.Gaussian(half_light_radius=knot_hlr, gsparams=gsparams))
    return galsim.Add([profile.withFlux(1.0 - fraction), knots])


@functools.cache
def _separable_knots_class(galsim):
    """
    `galsim.RandomKnots` with a faster Fourier transform for FFT drawing.

    GalSim evaluates the transform of the knots, point sources of flux
    f at positions p_j, as one pass over the k-space grid per knot.
    The phase factors separate in kx and ky, so the whole grid is one
    complex matrix product::

        F(kx, ky) = f sum_j exp(-i ky v_j) exp(-i kx u_j)

    with (u_j, v_j) the positions after the drawing's Jacobian.  The
    values are GalSim's to rounding (tested).  So are the FFT sizes:
    ``stepk`` and ``maxk`` are those GalSim gives a sum of shifted point
    sources (pi over the largest distance from the centre; unbounded),
    without building GalSim's sum of one object per knot.
    Transformations made with the knot methods (``shear``, ``withFlux``,
    ...) give back plain `galsim.RandomKnots`.
    """

    class SeparableRandomKnots(galsim.RandomKnots):

        @property
        def _stepk(self):
            radius = float(np.hypot(*self.points.T).max())
            if radius == 0:
                return galsim.DeltaFunction._mock_inf
            return math.pi / radius

        @property
        def _maxk(self):
            return galsim.DeltaFunction._mock_inf

        def _drawKImage(self, image, jac=None):
            points = self.points
            if jac is not None:
                points = points @ np.asarray(jac).T
            bounds, dk = image.bounds, image.scale
            kx = dk * np.arange(bounds.xmin, bounds.xmax + 1)
            ky = dk * np.arange(bounds.ymin, bounds.ymax + 1)
            phase_x = np.exp(-1j * np.outer(points[:, 0], kx))
            phase_y = np.exp(-1j * np.outer(ky, points[:, 1]))
            image.array[:] = (self.flux / self.npoints) * (phase_y @ phase_x)

    return SeparableRandomKnots


def _irregular(config, rng, galsim, gsparams, hlr):
    """
    A unit-flux irregular or merging galaxy: exponential components of
    random fluxes, sizes and shapes, offset by up to ``hlr`` (arcsec)
    from the centre.
    """
    low, high = config.irregular_components
    parts = []
    for _ in range(int(rng.integers(low, high + 1))):
        size = hlr * rng.uniform(0.2, 1.0)
        e = rng.uniform(*config.ellipticity)
        distance, angle = hlr * rng.uniform(0, 1), rng.uniform(0, 2 * math.pi)
        part = galsim.Exponential(half_light_radius=size,
                                  flux=rng.uniform(0.2, 1.0),
                                  gsparams=gsparams)
        part = part.shear(_shear(galsim, e, rng.uniform(0, 180)))
        parts.append(part.shift(distance * math.cos(angle),
                                distance * math.sin(angle)))
    return galsim.Add(parts).withFlux(1.0)


def _bulge_geometry(config, rng, disk_hlr, disk_q, disk_pa):
    """
    The bulge's axis ratio, angle and shift (arcsec) from the disk
    centre: the disk's shape and no shift unless the config asks for
    others (and only then are random numbers drawn).
    """
    q, pa, shift = disk_q, disk_pa, (0.0, 0.0)
    if config.bulge_ellipticity is not None:
        e = rng.uniform(*config.bulge_ellipticity)
        q, pa = math.sqrt((1 - e) / (1 + e)), rng.uniform(0, 180)
    if config.bulge_offset[1] > 0:
        distance = disk_hlr * rng.uniform(*config.bulge_offset)
        angle = rng.uniform(0, 2 * math.pi)
        shift = (distance * math.cos(angle), distance * math.sin(angle))
    return q, pa, shift


def _parametric_galaxy(config, rng, galsim, gsparams):
    hlr = _log_uniform(rng, config.half_light_radius)
    bulge_hlr = hlr * rng.uniform(*config.bulge_to_disk_size)
    fraction = rng.uniform(*config.bulge_fraction)
    e = rng.uniform(*config.ellipticity)
    pa = rng.uniform(0, 180)
    q = math.sqrt((1 - e) / (1 + e))
    # no extra draws unless Sersic or irregular galaxies are asked for
    if (config.irregular_fraction > 0
            and rng.uniform() < config.irregular_fraction):
        profile = _irregular(config, rng, galsim, gsparams, hlr)
        fraction, mean_hlr = math.nan, hlr
    elif (config.sersic_fraction > 0
            and rng.uniform() < config.sersic_fraction):
        # on a 0.1 grid, so that GalSim reuses its Sersic tables
        low, high = config.sersic_index
        index = min(max(round(rng.uniform(low, high), 1), low), high)
        profile = galsim.Sersic(index, half_light_radius=hlr,
                                gsparams=gsparams)
        profile = profile.shear(_shear(galsim, _q_to_e(q), pa))
        fraction, mean_hlr = math.nan, hlr
    else:
        profile = _bulge_disk(galsim, gsparams, fraction, hlr, q, pa,
                              bulge_hlr,
                              *_bulge_geometry(config, rng, hlr, q, pa))
        mean_hlr = (1 - fraction) * hlr + fraction * bulge_hlr
    if config.knot_fraction[1] > 0:  # no extra draws for smooth galaxies
        profile = _with_knots(config, rng, galsim, gsparams, profile, hlr,
                              q, pa)
    info = dict(half_light_radius=mean_hlr, ellipticity=e,
                position_angle=pa, bulge_fraction=fraction, catalog_row=-1)
    return profile, info


def _catalog_galaxy(config, rng, galsim, gsparams):
    table = _load_catalog(config.catalog)
    rows = config.catalog_rows(table)
    row_index = int(rows[rng.integers(len(rows))])
    row = table[row_index]
    f_disk = max(float(row['fluxnorm_disk']), 0.0)
    f_bulge = max(float(row['fluxnorm_bulge']), 0.0)
    a_d, b_d = float(row['a_d']), float(row['b_d'])
    a_b, b_b = float(row['a_b']), float(row['b_b'])
    if a_d <= 0 or b_d <= 0:
        f_disk = 0.0
    if a_b <= 0 or b_b <= 0:
        f_bulge = 0.0
    if f_disk + f_bulge <= 0:
        msg = f'catalog row {row_index} has neither a disk nor a bulge'
        raise ValueError(msg)
    fraction = f_bulge / (f_disk + f_bulge)
    disk_hlr = math.sqrt(a_d * b_d) if f_disk else 0.0
    bulge_hlr = math.sqrt(a_b * b_b) if f_bulge else 0.0
    disk_q = b_d / a_d if f_disk else 1.0
    bulge_q = b_b / a_b if f_bulge else 1.0
    profile = _bulge_disk(
        galsim, gsparams, fraction, disk_hlr, min(disk_q, 1.0),
        float(row['pa_disk']), bulge_hlr, min(bulge_q, 1.0),
        float(row['pa_bulge']))
    main_q = disk_q if fraction < 0.5 else bulge_q
    info = dict(half_light_radius=(1 - fraction) * disk_hlr
                + fraction * bulge_hlr,
                ellipticity=_q_to_e(min(main_q, 1.0)),
                position_angle=float(row['pa_disk'] if fraction < 0.5
                                     else row['pa_bulge']),
                bulge_fraction=fraction, catalog_row=row_index)
    mags = np.array([float(row[f'{band}_ab']) for band in config.bands])
    return profile, info, mags


# The RealGalaxyCatalog of the last real-galaxy config, kept open (its
# FITS files) across scenes of one process.
_REAL_CATALOGS = {}


def _close_real_catalogs():
    """Close the cached catalogs' files (also at exit, while astropy is
    still there to close them: GalSim's ``__del__`` would run after)."""
    for catalog in _REAL_CATALOGS.values():
        catalog.close()
    _REAL_CATALOGS.clear()


atexit.register(_close_real_catalogs)


def _real_galaxy(config, rng, galsim, gsparams):
    key = (config.real_galaxy_catalog, config.real_galaxy_dir)
    if key not in _REAL_CATALOGS:
        _close_real_catalogs()
        _REAL_CATALOGS[key] = galsim.RealGalaxyCatalog(
            config.real_galaxy_catalog, dir=config.real_galaxy_dir)
    catalog = _REAL_CATALOGS[key]
    row_index = int(rng.integers(len(catalog)))
    deviate = galsim.BaseDeviate(int(rng.integers(1, 2**31)))
    galaxy = galsim.RealGalaxy(catalog, index=row_index, rng=deviate,
                               gsparams=gsparams)
    angle = rng.uniform(0, 360)
    profile = galaxy.rotate(angle * galsim.degrees).withFlux(1.0)
    info = dict(half_light_radius=math.nan, ellipticity=math.nan,
                position_angle=angle, bulge_fraction=math.nan,
                catalog_row=row_index)
    return profile, info


def _first_band_flux(config, cond, band, hlr_arcsec, rng, is_real,
                     is_star=False):
    """Flux in the first band, from the snr or magnitude range (or the
    stars' own ``star_snr``)."""
    if is_star and config.star_snr is not None:
        snr = _log_uniform(rng, config.star_snr)
    elif config.magnitude is not None:
        return float(band.mag_to_flux(rng.uniform(*config.magnitude)))
    else:
        snr = _log_uniform(rng, config.snr)
    size2 = (cond.psf_fwhm[0] * _FWHM_TO_SIGMA) ** 2
    if not is_real:
        size2 += (hlr_arcsec * _HLR_TO_SIGMA) ** 2
    n_eff = 4 * math.pi * size2 / cond.pixel_scale**2
    return snr * float(cond.noise_sigma[0]) * math.sqrt(n_eff)


def _snr(config, cond, flux, hlr_arcsec):
    size2 = (cond.psf_fwhm[0] * _FWHM_TO_SIGMA) ** 2
    if np.isfinite(hlr_arcsec):
        size2 += (hlr_arcsec * _HLR_TO_SIGMA) ** 2
    n_eff = 4 * math.pi * size2 / cond.pixel_scale**2
    return flux / (float(cond.noise_sigma[0]) * math.sqrt(n_eff))


def _draw_sources(config, cond, n_sources, rng, galsim):
    """Draw each source's profile, fluxes and properties."""
    survey = config.survey_info
    bands = [survey.get_band(name) for name in config.bands]
    gsparams = galsim.GSParams(**_GSPARAMS)
    sources = []
    for _ in range(n_sources):
        is_star = rng.uniform() < config.star_fraction
        mags = None
        if is_star:
            profile = None
            info = dict(half_light_radius=0.0, ellipticity=0.0,
                        position_angle=0.0, bulge_fraction=math.nan,
                        catalog_row=-1)
            rebuild = None
        else:
            build = _GALAXY_BUILDERS[config.source_type]
            rebuild = functools.partial(_rebuild_profile, build, config,
                                        copy.deepcopy(rng.bit_generator))
            profile, info, *mags = build(config, rng, galsim, gsparams)
            mags = mags[0] if mags else None
        if mags is None:
            flux0 = _first_band_flux(config, cond, bands[0],
                                     info['half_light_radius'], rng,
                                     config.source_type == 'real'
                                     and not is_star, is_star)
            mags = [float(bands[0].flux_to_mag(flux0))]
            mags += [mags[0] + rng.uniform(*config.color)
                     for _ in bands[1:]]
            mags = np.array(mags)
        fluxes = np.array([band.mag_to_flux(mag)
                           for band, mag in zip(bands, mags)])
        sources.append(dict(profile=profile, fluxes=fluxes,
                            cls=STAR if is_star else GALAXY,
                            rebuild=rebuild, **info))
    return sources


_GALAXY_BUILDERS = {'parametric': _parametric_galaxy,
                    'catalog': _catalog_galaxy, 'real': _real_galaxy}


def _rebuild_profile(build, config, bit_generator, gsparams):
    """A galaxy's profile made again from the same draws, new accuracy."""
    import galsim

    rng = np.random.Generator(copy.deepcopy(bit_generator))
    return build(config, rng, galsim, gsparams)[0]


def _render(config, cond, sources, positions, galsim):
    """The isolated noiseless image of each source, in each band."""
    size = config.stamp_size
    n_bands = len(config.bands)
    isolated = np.zeros((len(sources), n_bands, size, size), dtype=np.float32)
    # 0-based pixel coordinates, as the positions
    full = galsim.BoundsI(0, size - 1, 0, size - 1)
    for i, (source, (x, y)) in enumerate(zip(sources, positions)):
        for b in range(n_bands):
            psf = cond.psfs[b]
            # the whole scene: a box around the source would cut its
            # wings off where a deep or bright image still shows them
            stamp = galsim.ImageF(full, scale=cond.pixel_scale)
            flux = float(source['fluxes'][b])
            center = galsim.PositionD(x, y)
            if source['profile'] is None:
                psf.withFlux(flux).drawImage(image=stamp, center=center)
            else:
                _draw_galaxy(source, flux, psf, stamp, center, galsim)
            isolated[i, b] = stamp.array
    return isolated


def _draw_galaxy(source, flux, psf, stamp, center, galsim):
    """Draw a galaxy into ``stamp``; rebuild it looser if GalSim gave NaN."""
    with warnings.catch_warnings():
        # the FFT-size warning comes with the NaN drawing handled here
        warnings.simplefilter('ignore', galsim.GalSimFFTSizeWarning)
        profile = source['profile']
        galsim.Convolve(profile.withFlux(flux), psf).drawImage(
            image=stamp, center=center)
        if np.isfinite(stamp.array).all():
            return
        # a new profile: withGSParams would keep the FFT sizes GalSim has
        # cached; and explicit gsparams on the convolution, or it takes
        # the strictest of its parts'
        gsparams = galsim.GSParams(
            **{**_GSPARAMS, 'folding_threshold': _FALLBACK_FOLDING_THRESHOLD})
        profile = source['rebuild'](gsparams)
        galsim.Convolve(profile.withFlux(flux), psf,
                        gsparams=gsparams).drawImage(image=stamp, center=center)
    if not np.isfinite(stamp.array).all():
        msg = f'GalSim drew a non-finite image of {profile!r}'
        raise RuntimeError(msg)


def _faint_image(config, cond, rng, galsim):
    """
    The noiseless image of the faint galaxies below the detection limit
    (``faint_sources``): small exponential disks at uniform positions,
    drawn together in one pass per band; `None` when there are none.
    """
    low, high = config.faint_sources
    if high == 0:  # no draws unless a faint population is asked for
        return None
    n_faint = int(rng.integers(low, high + 1))
    size = config.stamp_size
    n_bands = len(config.bands)
    image = np.zeros((n_bands, size, size), dtype=np.float32)
    if n_faint == 0:
        return image
    survey = config.survey_info
    bands = [survey.get_band(name) for name in config.bands]
    gsparams = galsim.GSParams(**_GSPARAMS)
    centre = (size - 1) / 2
    parts = [[] for _ in bands]
    for _ in range(n_faint):
        hlr = _log_uniform(rng, (0.1, 0.5))  # arcsec: small, distant
        e, angle = rng.uniform(0, 0.6), rng.uniform(0, 180)
        x, y = rng.uniform(-0.5, size - 0.5, 2)
        snr = _log_uniform(rng, config.faint_snr)
        size2 = ((cond.psf_fwhm[0] * _FWHM_TO_SIGMA) ** 2
                 + (hlr * _HLR_TO_SIGMA) ** 2)
        flux0 = snr * float(cond.noise_sigma[0]) * math.sqrt(
            4 * math.pi * size2 / cond.pixel_scale**2)
        mags = [float(bands[0].flux_to_mag(flux0))]
        mags += [mags[0] + rng.uniform(*config.color) for _ in bands[1:]]
        shape = galsim.Exponential(half_light_radius=hlr, gsparams=gsparams)
        shape = shape.shear(_shear(galsim, e, angle))
        offset = ((x - centre) * cond.pixel_scale,
                  (y - centre) * cond.pixel_scale)
        for b, band in enumerate(bands):
            parts[b].append(shape.withFlux(float(band.mag_to_flux(mags[b])))
                            .shift(*offset))
    for b in range(n_bands):
        stamp = galsim.ImageF(size, size, scale=cond.pixel_scale)
        galsim.Convolve(galsim.Add(parts[b]), cond.psfs[b]).drawImage(
            image=stamp, method='auto')
        image[b] = stamp.array
    return image


def _noise_correlation(config, rng):
    """The noise kernel sigma of a scene (0: white); no draws unless
    correlated noise is asked for."""
    if config.correlated_noise_fraction == 0:
        return 0.0
    if rng.uniform() >= config.correlated_noise_fraction:
        return 0.0
    return float(np.float32(rng.uniform(*config.noise_correlation)))


def noiseless_sum(isolated):
    """
    The noiseless blend: the sum of the isolated images, in float32.

    Parameters
    ----------
    isolated : `~numpy.ndarray`
        float32 ``(n_sources, n_bands, ny, nx)``.

    Returns
    -------
    noiseless : `~numpy.ndarray`
        float32 ``(n_bands, ny, nx)``.
    """
    noiseless = np.zeros(isolated.shape[1:], dtype=np.float32)
    for image in isolated:  # in source order, so that it is reproducible
        noiseless += image
    return noiseless


def make_footprints(isolated, noise_sigma, threshold, band_index):
    """
    Footprints: where an isolated image exceeds ``threshold`` x noise.

    Parameters
    ----------
    isolated : `~numpy.ndarray`
        float32 ``(n_sources, n_bands, ny, nx)``.
    noise_sigma : `~numpy.ndarray`
        ``(n_bands,)``.
    threshold : float
        ``k``, in units of the noise.
    band_index : list of int
        The detection bands.

    Returns
    -------
    footprints : `~numpy.ndarray`
        bool ``(n_sources, ny, nx)``.
    """
    limit = (threshold * np.asarray(noise_sigma, dtype=np.float64)[band_index])
    return np.any(isolated[:, band_index] > limit[None, :, None, None], axis=1)


def footprint_boxes(footprints):
    """
    The bounding boxes of footprints in pixel-edge coordinates.

    Parameters
    ----------
    footprints : `~numpy.ndarray`
        bool ``(n_sources, ny, nx)``.

    Returns
    -------
    boxes : `~numpy.ndarray`
        float32 ``(n_sources, 4)`` as ``(ymin, xmin, ymax, xmax)``; a
        footprint covering rows ``r0..r1`` has ``ymin=r0``,
        ``ymax=r1+1``.  Empty footprints give zeros.
    """
    return masks_to_boxes(footprints)


def _blendedness(isolated):
    summed = isolated.astype(np.float64).sum(axis=1)  # over bands
    total = summed.sum(axis=0)
    own = np.einsum('ijk,ijk->i', summed, summed)
    shared = np.einsum('ijk,jk->i', summed, total)
    with np.errstate(divide='ignore', invalid='ignore'):
        beta = np.where(shared > 0, 1 - own / shared, 0.0)
    return np.clip(beta, 0, 1)


def _neighbour_distance(positions):
    """Distance from each position to the nearest other (inf if none)."""
    from scipy.spatial import KDTree

    if len(positions) < 2:
        return np.full(len(positions), np.inf)
    distances, _ = KDTree(positions).query(positions, k=2)
    return distances[:, 1]


def _catalog_table(config, cond, sources, positions, isolated, footprints):
    from astropy.table import Table

    bands = [config.survey_info.get_band(name) for name in config.bands]
    flux = np.array([source['fluxes'] for source in sources])
    mag = np.array([[band.flux_to_mag(value) for band, value in zip(bands, row)]
                    for row in flux])
    columns = {
        'x': positions[:, 0], 'y': positions[:, 1], 'flux': flux, 'mag': mag,
        'snr': [_snr(config, cond, source['fluxes'][0],
                     source['half_light_radius']) for source in sources],
        'half_light_radius': [s['half_light_radius'] for s in sources],
        'ellipticity': [s['ellipticity'] for s in sources],
        'position_angle': [s['position_angle'] for s in sources],
        'bulge_fraction': [s['bulge_fraction'] for s in sources],
        'class': [s['cls'] for s in sources],
        'blendedness': _blendedness(isolated),
        'neighbour_distance': _neighbour_distance(positions),
        'has_footprint': footprints.any(axis=(1, 2)),
        'catalog_row': [s['catalog_row'] for s in sources],
    }
    return Table({name: np.asarray(value, dtype=CATALOG_DTYPES[name])
                  for name, value in columns.items()})


def detection_band_index(config):
    """The indices of the detection bands within ``config.bands``."""
    names = config.detection_bands or config.bands
    return [config.bands.index(name) for name in names]


def simulate_scene(config, seed, index):
    """
    Simulate one blend scene with its truth.

    The scene is a pure function of its arguments: its random draws come
    from a generator seeded with ``(seed, index)`` (see `scene_rng`), so
    any scene of a dataset can be made again alone, by any process.

    Parameters
    ----------
    config : `SimulationConfig`
        The simulation settings.
    seed : int
        The dataset seed (non-negative).
    index : int
        The scene index (non-negative).

    Returns
    -------
    scene : `Scene`

    Raises
    ------
    TypeError, ValueError
        If ``config`` is not a `SimulationConfig` or the seed or index is
        not a non-negative integer.

    Examples
    --------
    >>> from galseg.simulate import SimulationConfig, simulate_scene
    >>> config = SimulationConfig(stamp_size=64, n_sources=(2, 2))
    >>> scene = simulate_scene(config, seed=1, index=0)
    >>> scene.image.shape, scene.isolated.shape
    ((1, 64, 64), (2, 1, 64, 64))
    """
    import galsim

    if not isinstance(config, SimulationConfig):
        msg = f'config must be a SimulationConfig, got {type(config).__name__}'
        raise TypeError(msg)
    seed = check_int('seed', seed, minimum=0)
    index = check_int('index', index, minimum=0)
    rng = scene_rng(seed, index)

    cond = _draw_conditions(config, rng, galsim)
    n_sources = int(rng.integers(config.n_sources[0], config.n_sources[1] + 1))
    positions = _place_sources(config, cond, n_sources, rng)
    sources = _draw_sources(config, cond, n_sources, rng, galsim)
    isolated = _render(config, cond, sources, positions, galsim)
    noiseless = noiseless_sum(isolated)
    faint = _faint_image(config, cond, rng, galsim)
    if faint is not None:
        noiseless += faint
    correlation = _noise_correlation(config, rng)

    image = add_noise(noiseless, cond.noise_sigma, rng, config.source_noise,
                      correlation)

    footprints = make_footprints(isolated, cond.noise_sigma,
                                 config.footprint_threshold,
                                 detection_band_index(config))
    catalog = _catalog_table(config, cond, sources, positions, isolated,
                             footprints)
    return Scene(
        image=image, noiseless=noiseless, isolated=isolated,
        footprints=footprints, boxes=footprint_boxes(footprints),
        classes=np.asarray(catalog['class'], dtype=np.int32),
        noise_sigma=cond.noise_sigma,
        psf_fwhm=(cond.psf_fwhm / cond.pixel_scale).astype(np.float32),
        pixel_scale=cond.pixel_scale, catalog=catalog,
        bands=tuple(config.bands), noise_correlation=correlation,
        faint=faint, psf=_psf_images(cond))


def _psf_images(cond):
    """The PSF of each band on a `PSF_IMAGE_SIZE` grid, of unit sum."""
    images = [psf.drawImage(nx=PSF_IMAGE_SIZE, ny=PSF_IMAGE_SIZE,
                            scale=cond.pixel_scale).array
              for psf in cond.psfs]
    return np.stack([image / image.sum() for image in images]
                    ).astype(np.float32)
