"""Tests for ``galseg deblend`` (galseg.deblend_cli)."""

import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits
from astropy.table import QTable
from astropy.wcs import WCS
from numpy.testing import assert_allclose

import galseg.models
from galseg.inputs import read_fits_image
from galseg.cli import main

SOURCES = [(20.0, 20.0, 2.5, 60.0), (44.0, 46.0, 2.0, 50.0)]


def make_image(shape=(64, 64), sources=SOURCES, seed=1):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    image = rng.normal(0.0, 1.0, shape)
    for y, x, sigma, amplitude in sources:
        image += amplitude * np.exp(-((yy - y) ** 2 + (xx - x) ** 2)
                                    / (2 * sigma ** 2))
    return image.astype(np.float32)


def make_header(shape=(64, 64)):
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ['RA---TAN', 'DEC--TAN']
    wcs.wcs.crval = [150.0, 2.0]
    wcs.wcs.crpix = [shape[1] / 2, shape[0] / 2]
    wcs.wcs.cdelt = [-0.2 / 3600, 0.2 / 3600]
    header = wcs.to_header()
    header['BUNIT'] = 'electron/s'
    return header


@pytest.fixture
def image_file(tmp_path):
    path = tmp_path / 'field.fits'
    fits.PrimaryHDU(make_image(), header=make_header()).writeto(path)
    return path


def test_round_trip(image_file, tmp_path, tiny_model_dir, capsys):
    segm_path = tmp_path / 'out' / 'segm.fits'
    cat_path = tmp_path / 'out' / 'cat.ecsv'
    plot_path = tmp_path / 'out' / 'plot.png'
    args = [str(image_file), '--model', str(tiny_model_dir),
            '--segmentation', str(segm_path), '--catalog', str(cat_path),
            '--plot', str(plot_path)]
    assert main(['deblend'] + args) == 0
    assert '2 sources' in capsys.readouterr().out

    with fits.open(segm_path) as hdul:
        labels = hdul[0].data
        header = hdul[0].header
    assert labels.dtype.kind == 'i' and labels.shape == (64, 64)
    assert set(np.unique(labels)) == {0, 1, 2}
    assert header['NSOURCES'] == 2
    # the tiny model has no calibration: the deblender's defaults
    assert (header['MINSNR'], header['CONTFRAC'],
            header['COREPROB']) == (5.0, 0.95, 0.0)
    # the segmentation image keeps the input WCS
    wcs_in, wcs_out = WCS(make_header()), WCS(header)
    assert_allclose(wcs_out.pixel_to_world_values(10.0, 50.0),
                    wcs_in.pixel_to_world_values(10.0, 50.0))

    catalog = QTable.read(cat_path)
    assert len(catalog) == 2
    for name in ('label', 'sky_centroid', 'segment_flux', 'score',
                 'deblended_flux', 'parent', 'n_children'):
        assert name in catalog.colnames
    assert catalog['segment_flux'].unit == u.electron / u.s
    assert plot_path.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'

    # the same as the Python API
    from galseg import MaskRCNNDeblender

    segm, python_catalog = MaskRCNNDeblender(tiny_model_dir)(
        read_fits_image(image_file))
    assert np.array_equal(segm.data, labels)
    assert_allclose(python_catalog['deblended_flux'].value,
                    catalog['deblended_flux'].value)


def test_no_overwrite_without_flag(image_file, tmp_path, tiny_model_dir,
                                   capsys):
    cat_path = tmp_path / 'cat.ecsv'
    cat_path.write_text('precious')
    args = ['deblend', str(image_file), '--model', str(tiny_model_dir),
            '--catalog', str(cat_path)]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert 'cat.ecsv already exists' in err and '--overwrite' in err
    assert cat_path.read_text() == 'precious'
    assert main(args + ['--overwrite']) == 0
    assert len(QTable.read(cat_path)) == 2


def test_hdu_and_noise_only(tmp_path, tiny_model_dir, capsys):
    path = tmp_path / 'multi.fits'
    noise = np.random.default_rng(3).normal(0, 1, (64, 64))
    fits.HDUList([fits.PrimaryHDU(),
                  fits.ImageHDU(make_image(), name='SCI'),
                  fits.ImageHDU(noise.astype(np.float32), name='NOISE')]
                 ).writeto(path)
    base = ['deblend', str(path), '--model', str(tiny_model_dir)]
    assert main(base + ['--hdu', 'SCI', '--catalog',
                        str(tmp_path / 'a.ecsv')]) == 0
    assert len(QTable.read(tmp_path / 'a.ecsv')) == 2
    # the first HDU with data is the default
    assert main(base + ['--catalog', str(tmp_path / 'b.ecsv')]) == 0
    assert len(QTable.read(tmp_path / 'b.ecsv')) == 2
    # nothing found: empty outputs and a note, not an error
    assert main(base + ['--hdu', '2', '--catalog', str(tmp_path / 'c.ecsv'),
                        '--segmentation', str(tmp_path / 'c.fits')]) == 0
    assert 'no sources found' in capsys.readouterr().out
    empty = QTable.read(tmp_path / 'c.ecsv')
    assert len(empty) == 0
    # catalogs of many images stack: the same columns and units
    full = QTable.read(tmp_path / 'a.ecsv')
    assert empty.colnames == full.colnames
    for name in full.colnames:
        assert getattr(empty[name], 'unit', None) == getattr(full[name],
                                                             'unit', None)
    assert not fits.getdata(tmp_path / 'c.fits').any()
    assert main(base + ['--hdu', '7', '--catalog',
                        str(tmp_path / 'd.ecsv')]) == 1
    assert 'has no HDU 7' in capsys.readouterr().err


def test_many_files_one_failing(tmp_path, tiny_model_dir, capsys):
    paths = []
    for index in range(2):
        path = tmp_path / f'img{index}.fits'
        fits.PrimaryHDU(make_image(seed=index),
                        header=make_header()).writeto(path)
        paths.append(str(path))
    broken = tmp_path / 'broken.fits'
    broken.write_text('not a FITS file')
    outdir = tmp_path / 'out'
    status = main(['deblend', *paths, str(broken), '--model',
                   str(tiny_model_dir), '--outdir', str(outdir), '--plots'])
    assert status == 1
    captured = capsys.readouterr()
    assert 'broken.fits: error:' in captured.err
    assert '1 of 3 images failed' in captured.err
    for index in range(2):
        assert (outdir / f'img{index}_segm.fits').exists()
        assert len(QTable.read(outdir / f'img{index}_cat.ecsv')) == 2
        assert (outdir / f'img{index}_plot.png').exists()
    assert not (outdir / 'broken_cat.ecsv').exists()
    # existing outputs are kept, file by file, unless --overwrite
    status = main(['deblend', *paths, '--model', str(tiny_model_dir),
                   '--outdir', str(outdir)])
    assert status == 1
    assert '2 of 2 images failed' in capsys.readouterr().err
    assert main(['deblend', *paths, '--model', str(tiny_model_dir),
                 '--outdir', str(outdir), '--overwrite', '--workers',
                 '2']) == 0


def test_distributed_scheduler(image_file, tmp_path, tiny_model_dir):
    distributed = pytest.importorskip('distributed')

    # in-process, dashboard on a random port: other sessions may run
    # clusters on this machine
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1,
                                  processes=False, dashboard_address=':0'
                                  ) as cluster:
        status = main(['deblend', str(image_file), '--model',
                       str(tiny_model_dir), '--outdir', str(tmp_path / 'o'),
                       '--scheduler', cluster.scheduler_address])
    assert status == 0
    assert len(QTable.read(tmp_path / 'o' / 'field_cat.ecsv')) == 2


@pytest.mark.parametrize('extra, message', [
    (['--outdir', 'x', '--catalog', 'c.ecsv'],
     '--segmentation, --catalog and --plot name the outputs of one image'),
    ([], 'nothing to write'),
    (['--catalog', 'c.ecsv', '--plots'], '--plots and --scheduler go with '
     '--outdir'),
    (['--outdir', 'x', '--workers', '0'], '--workers must be an integer'),
])
def test_argument_errors(image_file, extra, message, capsys):
    """Options that do not go together: one line, exit status 2."""
    assert main(['deblend', str(image_file)] + extra) == 2
    assert message in capsys.readouterr().err


def test_several_images_need_outdir(image_file, capsys):
    assert main(['deblend', str(image_file), str(image_file), '--catalog',
                 'c.ecsv']) == 2
    assert 'several images need --outdir' in capsys.readouterr().err


def test_same_names_rejected(tmp_path, image_file, capsys):
    other = tmp_path / 'sub'
    other.mkdir()
    (other / 'field.fits').write_bytes(image_file.read_bytes())
    assert main(['deblend', str(image_file), str(other / 'field.fits'),
                 '--outdir', str(tmp_path / 'o')]) == 1
    assert 'would write the same outputs' in capsys.readouterr().err


def test_missing_default_model(image_file, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(galseg.models.PRESETS, 'default', tmp_path / 'none')
    assert main(['deblend', str(image_file), '--catalog',
                 str(tmp_path / 'c.ecsv')]) == 1
    assert 'no default model is installed' in capsys.readouterr().err


def test_missing_image(tmp_path, tiny_model_dir, capsys):
    assert main(['deblend', str(tmp_path / 'nope.fits'), '--model',
                 str(tiny_model_dir), '--catalog',
                 str(tmp_path / 'c.ecsv')]) == 1
    assert 'nope.fits does not exist' in capsys.readouterr().err


def test_bad_image_reported_before_the_model(tmp_path, monkeypatch,
                                             capsys):
    """An all-NaN image is reported without loading any model."""
    import galseg.deblend_cli

    path = tmp_path / 'nan.fits'
    fits.PrimaryHDU(np.full((64, 64), np.nan, dtype=np.float32)).writeto(
        path)

    def no_model(*args, **kwargs):
        raise AssertionError('the model was loaded')

    monkeypatch.setattr(galseg.deblend_cli, '_make_deblender', no_model)
    assert main(['deblend', str(path), '--catalog',
                 str(tmp_path / 'c.ecsv')]) == 1
    assert 'data are fully masked' in capsys.readouterr().err


def test_text_file_named_fits(tmp_path, tiny_model_dir, capsys):
    path = tmp_path / 'notes.fits'
    path.write_text('not a FITS file')
    assert main(['deblend', str(path), '--model', str(tiny_model_dir),
                 '--catalog', str(tmp_path / 'c.ecsv')]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert 'notes.fits is not a readable FITS file' in err[0]
    assert 'ignore_missing_simple' not in err[0]


def test_cli_prints_only_its_own_lines(image_file, tmp_path):
    """No TensorFlow start-up or optimiser log unless --verbose."""
    import os
    import subprocess
    import sys

    env = {key: value for key, value in os.environ.items()
           if not key.startswith('TF_')}
    catalog = tmp_path / 'cat.ecsv'
    done = subprocess.run(
        [sys.executable, '-c', 'import sys; from galseg.cli import main; '
         'sys.exit(main())', 'deblend', str(image_file), '--catalog',
         str(catalog)], capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ''
    lines = done.stdout.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f'{image_file}: ')
    assert lines[0].endswith(f' -> {catalog}')


def test_help_lists_options(capsys):
    with pytest.raises(SystemExit):
        main(['deblend', '--help'])
    out = capsys.readouterr().out
    for option in ('--segmentation', '--catalog', '--plot', '--outdir',
                   '--scheduler', '--overwrite', '--hdu', '--model'):
        assert option in out


def test_bad_setting_named(image_file, tmp_path, tiny_model_dir, capsys):
    args = ['deblend', str(image_file), '--model', str(tiny_model_dir),
            '--catalog', str(tmp_path / 'c.ecsv'), '--min-snr', '-1']
    assert main(args) != 0
    assert 'min_snr must be >= 0, got -1.0' in capsys.readouterr().err
    assert not (tmp_path / 'c.ecsv').exists()
    args[-2:] = ['--core-probability', '1.2']
    assert main(args) != 0
    assert 'core_probability must be in [0, 1], got 1.2' in (
        capsys.readouterr().err)
    assert not (tmp_path / 'c.ecsv').exists()


def test_psf_option(image_file, tmp_path, tiny_model_dir, capsys):
    yy, xx = np.mgrid[:15, :15]
    psf = np.exp(-((yy - 7) ** 2 + (xx - 7) ** 2) / (2 * 2.0 ** 2))
    psf_path = tmp_path / 'psf.fits'
    fits.PrimaryHDU(psf.astype(np.float32)).writeto(psf_path)
    base = ['deblend', '--model', str(tiny_model_dir), '--psf',
            str(psf_path)]
    cat_path = tmp_path / 'cat.ecsv'
    assert main(base + [str(image_file), '--catalog', str(cat_path)]) == 0
    catalog = QTable.read(cat_path)
    assert len(catalog) == 2
    assert {'spread_model', 'spread_model_err'} <= set(catalog.colnames)
    # the same catalog as the Python API with that psf
    from galseg import MaskRCNNDeblender
    _, python_catalog = MaskRCNNDeblender(tiny_model_dir)(
        read_fits_image(image_file), psf=psf)
    assert_allclose(catalog['spread_model'], python_catalog['spread_model'],
                    rtol=1e-5)
    # an empty catalog has the same columns
    noise_path = tmp_path / 'noise.fits'
    fits.PrimaryHDU(np.random.default_rng(3).normal(0, 1, (64, 64))
                    .astype(np.float32), header=make_header()
                    ).writeto(noise_path)
    assert main(base + [str(noise_path), '--catalog',
                        str(tmp_path / 'empty.ecsv')]) == 0
    assert QTable.read(tmp_path / 'empty.ecsv').colnames == catalog.colnames
    capsys.readouterr()
    # a bad PSF is named before the model loads
    even_path = tmp_path / 'even.fits'
    fits.PrimaryHDU(np.ones((4, 4), np.float32)).writeto(even_path)
    assert main(['deblend', str(image_file), '--model', 'no/such/model',
                 '--psf', str(even_path), '--catalog',
                 str(tmp_path / 'x.ecsv')]) == 1
    err = capsys.readouterr().err
    assert f'--psf {even_path}: psf must have odd sides' in err
    # the threshold goes to the deblender: everything a star
    assert main(base + [str(image_file), '--catalog', str(cat_path),
                        '--overwrite', '--spread-threshold', '10']) == 0
    assert set(QTable.read(cat_path)['classification']) == {'star'}


def test_precision_choices(image_file, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(['deblend', str(image_file), '--catalog', 'c.ecsv',
              '--precision', 'float16'])
    assert exit_info.value.code == 2
    assert "invalid choice: 'float16'" in capsys.readouterr().err


def test_max_tile_snr_option(image_file, tmp_path, tiny_model_dir, capsys):
    """--max-tile-snr goes to the deblender: a number, 'none', and a bad
    value named."""
    from galseg import MaskRCNNDeblender

    base = ['deblend', str(image_file), '--model', str(tiny_model_dir)]
    for value, expected in (('none', None), ('300', 300.0)):
        path = tmp_path / f'cat-{value}.ecsv'
        assert main(base + ['--catalog', str(path),
                            '--max-tile-snr', value]) == 0
        _, catalog = MaskRCNNDeblender(tiny_model_dir,
                                       max_tile_snr=expected)(
            read_fits_image(image_file))
        assert_allclose(QTable.read(path)['x_centroid'],
                        catalog['x_centroid'], rtol=1e-6)
    assert main(base + ['--catalog', str(tmp_path / 'x.ecsv'),
                        '--max-tile-snr', '0.5']) != 0
    assert 'max_tile_snr must be >= 1' in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(base + ['--catalog', str(tmp_path / 'y.ecsv'),
                     '--max-tile-snr', 'deep'])
    assert exit_info.value.code == 2
    assert "must be a number or 'none'" in capsys.readouterr().err
