"""Tests for galseg.tiling: tiles, cores and the merge across seams."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from astropy.stats import mad_std

from galseg.normalization import ASINH_SOFTENING, normalize_image
from galseg.tiling import (Detection, centred_tile, cut_by_tile, make_tiles,
                           merge_tile_detections, normalized_tile,
                           replace_cut_detections, tile_detections)


def _owner_map(shape, tiles):
    """How many tile cores contain each pixel centre."""
    yy, xx = np.mgrid[:shape[0], :shape[1]] + 0.5
    return sum(tile.in_core(yy, xx).astype(int) for tile in tiles)


@pytest.mark.parametrize('shape', [(64, 64), (40, 50), (100, 50), (65, 200),
                                   (256, 256), (300, 97)])
@pytest.mark.parametrize('overlap', [0, 16, 32])
def test_tiles_cover_image_and_cores_partition_it(shape, overlap):
    tiles = make_tiles(shape, 64, overlap)
    covered = np.zeros(shape, dtype=int)
    for tile in tiles:
        covered[tile.slices] += 1
    assert covered.min() >= 1
    # every pixel centre lies in exactly one core
    assert_array_equal(_owner_map(shape, tiles), 1)
    for tile in tiles:
        assert tile.y0 >= 0 and tile.x0 >= 0
        # tiles only run past the image where the image is smaller
        assert tile.y0 + 64 <= max(shape[0], 64)
        assert tile.x0 + 64 <= max(shape[1], 64)


@pytest.mark.parametrize('length', [65, 100, 129, 500])
def test_neighbouring_tiles_overlap_enough(length):
    tiles = make_tiles((64, length), 64, 20)
    starts = [tile.x0 for tile in tiles]
    assert starts[0] == 0 and starts[-1] == length - 64
    assert np.all(np.diff(starts) <= 64 - 20)
    # the core is the tile minus at least half the overlap inside
    for tile in tiles:
        _, xmin, _, xmax = tile.core
        if np.isfinite(xmin):
            assert xmin - tile.x0 >= 10
        if np.isfinite(xmax):
            assert tile.x0 + 64 - xmax >= 10


def test_small_image_one_tile_with_infinite_core():
    tiles = make_tiles((30, 20), 64, 16)
    assert len(tiles) == 1
    assert tiles[0].core == (-np.inf, -np.inf, np.inf, np.inf)
    assert tiles[0].depth(5.0, 5.0) == np.inf


def test_make_tiles_validates():
    with pytest.raises(ValueError, match='overlap must be >= 0 and smaller '
                       r'than tile_size \(64\), got 64'):
        make_tiles((100, 100), 64, 64)
    with pytest.raises(ValueError, match='overlap must be >= 0'):
        make_tiles((100, 100), 64, -1)
    with pytest.raises(ValueError, match='tile_size must be a positive'):
        make_tiles((100, 100), 0, 0)


def test_normalized_tile_is_a_training_stamp():
    """Each tile is normalised on its own and padded with empty sky."""
    rng = np.random.default_rng(3)
    data = rng.normal(0.0, 1.0, size=(2, 30, 200))
    data[:, :, 100:] = 50.0 + 10.0 * data[:, :, 100:]  # other sky, noise
    bad = np.zeros(data.shape, dtype=bool)
    tiles = make_tiles((30, 200), 64, 16)
    first, last = tiles[0], tiles[-1]
    cutout = normalized_tile(data, bad, last)
    assert cutout.shape == (64, 64, 2)
    assert cutout.dtype == np.float32
    region = (slice(None), *last.slices)
    assert_allclose(cutout[:30, :last.slices[1].stop - last.slices[1].start],
                    normalize_image(data[region]), rtol=1e-6)
    # padded with empty sky: noise of unit signal-to-noise ratio, always
    # the same
    sky = normalize_image(np.random.default_rng(1).normal(
        size=(2, 64, 64)), background=0.0, noise=1.0)
    assert_allclose(cutout[30:].std(), sky.std(), rtol=0.05)
    assert abs(cutout[30:].mean()) < 0.02
    assert_array_equal(normalized_tile(data, bad, last), cutout)
    # the same noise level in both tiles, whatever the sky and its noise
    assert_allclose(normalized_tile(data, bad, first)[:30].std(),
                    cutout[:30].std(), rtol=0.1)


def test_noiseless_data_are_padded_with_noiseless_sky():
    """photutils' deblending fixture: two noiseless Gaussians."""
    yy, xx = np.mgrid[:100, :100]
    data = sum(100.0 * np.exp(-((xx - x) ** 2 + (yy - 50.0) ** 2) / 50.0)
               for x in (35.0, 50.0))
    tile = make_tiles((100, 100), 128, 32)[0]
    cutout = normalized_tile(data[None], np.zeros((1, 100, 100), bool), tile)
    assert np.abs(cutout[100:]).max() < 0.02
    assert np.abs(cutout[:, 100:]).max() < 0.02


def test_tiles_deeper_than_max_snr_are_shown_shallower():
    """A tile whose peak signal-to-noise ratio exceeds max_snr gets white
    noise (the same every call) that brings the peak down to max_snr;
    shallower tiles and masked bands are shown as they are."""
    yy, xx = np.mgrid[:64, :64]
    star = np.exp(-((xx - 30.0) ** 2 + (yy - 32.0) ** 2) / 8.0)
    rng = np.random.default_rng(5)
    noise = rng.normal(size=(2, 64, 64))
    tile = make_tiles((64, 64), 64, 16)[0]
    bad = np.zeros((2, 64, 64), dtype=bool)
    bad[1] = True
    shallow = 50.0 * star + noise
    assert_array_equal(normalized_tile(shallow, bad, tile, max_snr=100.0),
                       normalized_tile(shallow, bad, tile))
    deep = 1e5 * star + noise
    shown = normalized_tile(deep, bad, tile, max_snr=100.0)
    assert_array_equal(normalized_tile(deep, bad, tile, max_snr=100.0),
                       shown)
    assert np.all(shown[..., 1] == 0)
    snr = ASINH_SOFTENING * np.sinh(shown[..., 0].astype(float))
    assert 80.0 < snr.max() < 120.0
    assert_allclose(mad_std(snr[:, 50:]), 1.0, rtol=0.15)
    # photutils' noiseless fixture: a noise of 1 / max_snr of the
    # brightest pixel, in the image and in the padding alike
    yy, xx = np.mgrid[:100, :100]
    fixture = sum(100.0 * np.exp(-((xx - x) ** 2 + (yy - 50.0) ** 2) / 50.0)
                  for x in (35.0, 50.0))
    tile = make_tiles((100, 100), 128, 32)[0]
    noiseless = normalized_tile(fixture[None], np.zeros((1, 100, 100), bool),
                                tile, max_snr=1000.0)
    snr = ASINH_SOFTENING * np.sinh(noiseless[..., 0].astype(float))
    assert_allclose(mad_std(snr[:, :10]), 1.0, rtol=0.15)
    assert_allclose(mad_std(snr[110:]), 1.0, rtol=0.15)
    assert 900.0 < snr.max() < 1100.0


def test_normalized_tile_with_a_masked_band():
    data = np.random.default_rng(4).normal(size=(2, 64, 64))
    bad = np.zeros(data.shape, dtype=bool)
    bad[1] = True
    bad[0, :8] = True
    tile = make_tiles((64, 64), 64, 16)[0]
    cutout = normalized_tile(data, bad, tile)
    assert np.all(cutout[..., 1] == 0)  # masked pixels: zero
    assert np.all(cutout[:8, :, 0] == 0)
    assert_allclose(cutout[..., 0], normalize_image(data[:1], mask=bad[:1])
                    [..., 0], rtol=1e-6)


def _disk(size, y, x, radius):
    yy, xx = np.mgrid[:size, :size] + 0.5  # pixel centres, edge coordinates
    return (((yy - y) ** 2 + (xx - x) ** 2) <= radius ** 2).astype(np.float32)


def _output(size, sources):
    """A fake network output for one tile: (y, x, radius, score) disks."""
    masks = np.array([_disk(size, y, x, r) * 0.9 for y, x, r, _ in sources],
                     dtype=np.float32).reshape(-1, size, size)
    boxes = np.array([[y - r, x - r, y + r, x + r] for y, x, r, _ in sources],
                     dtype=np.float32).reshape(-1, 4)
    scores = np.array([s for *_, s in sources], dtype=np.float32)
    return {'boxes': boxes, 'classes': np.ones(len(sources), np.int32),
            'class_scores': np.ones(len(sources), np.float32),
            'scores': scores, 'masks': masks}


def test_tile_detections_crops_and_thresholds():
    tile = make_tiles((40, 50), 64, 16)[0]
    output = _output(64, [(10.0, 10.0, 4.0, 0.9), (20.0, 20.0, 3.0, 0.3),
                          (55.0, 55.0, 3.0, 0.9)])  # third in the padding
    detections = tile_detections(output, tile, (40, 50), 0.5, 0.5)
    assert len(detections) == 1
    det = detections[0]
    assert det.bbox == (6, 6, 14, 14)
    assert det.mask.shape == (8, 8)
    assert det.mask.dtype == np.float32
    assert det.score == pytest.approx(0.9)
    assert det.centre == (10.0, 10.0)


def _detections_in_tiles(shape, tiles, sources, jitter=None):
    """Every tile sees the (y, x, radius) sources that fall in it."""
    detections = []
    for tile in tiles:
        local = []
        for i, (y, x, r) in enumerate(sources):
            dy, dx = (0.0, 0.0) if jitter is None else jitter(tile, i)
            local.append((y - tile.y0 + dy, x - tile.x0 + dx, r, 0.9))
        detections += tile_detections(_output(tile.size, local), tile, shape,
                                      0.5, 0.5)
    return detections


@pytest.mark.parametrize('position', [(30.0, 50.0), (30.0, 49.5),
                                      (50.0, 50.0), (50.4, 49.6)])
def test_source_on_a_seam_is_kept_once(position):
    shape = (100, 100)
    tiles = make_tiles(shape, 64, 28)
    assert tiles[0].core[2] == 50.0 and tiles[0].core[3] == 50.0
    detections = _detections_in_tiles(shape, tiles, [(*position, 5.0)])
    assert len(detections) >= 2  # seen by several tiles
    kept = merge_tile_detections(detections, tiles, shape, 0.5)
    assert len(kept) == 1
    # the copy kept is not cut by its tile
    rows, cols = np.nonzero(_disk(100, *position, 5.0))
    assert kept[0].bbox == (rows.min(), cols.min(), rows.max() + 1,
                            cols.max() + 1)


def test_jittered_centres_across_a_seam_are_found_once():
    # Each tile places the centre a little differently, on its own side
    # of the seam; the source must be neither lost nor duplicated.
    shape = (64, 100)
    tiles = make_tiles(shape, 64, 28)
    seam = tiles[0].core[3]

    def towards_own_side(tile, index):
        return 0.0, (-0.8 if tile.x0 == 0 else 0.8)

    def away_from_own_side(tile, index):
        return 0.0, (0.8 if tile.x0 == 0 else -0.8)

    for jitter in (towards_own_side, away_from_own_side):
        detections = _detections_in_tiles(shape, tiles, [(32.0, seam, 6.0)],
                                          jitter)
        kept = merge_tile_detections(detections, tiles, shape, 0.5)
        assert len(kept) == 1


def test_overlapping_sources_on_a_seam_are_both_kept():
    shape = (64, 100)
    tiles = make_tiles(shape, 64, 28)
    seam = tiles[0].core[3]
    sources = [(32.0, seam - 2.0, 5.0), (33.0, seam + 2.5, 5.0)]
    detections = _detections_in_tiles(shape, tiles, sources)
    kept = merge_tile_detections(detections, tiles, shape, 0.5)
    assert len(kept) == 2
    centres = sorted(det.centre[1] for det in kept)
    assert centres == pytest.approx([seam - 2.0, seam + 2.5])


def test_far_sources_and_sources_of_one_tile_are_all_kept():
    shape = (200, 200)
    tiles = make_tiles(shape, 64, 16)
    rng = np.random.default_rng(3)
    sources = [(y, x, 3.0) for y, x in rng.uniform(5, 195, (40, 2))]
    detections = _detections_in_tiles(shape, tiles, sources)
    kept = merge_tile_detections(detections, tiles, shape, 0.5)
    # nearly coincident pairs found by one tile are not merged: every
    # source is kept exactly once
    found = np.array(sorted(det.centre for det in kept))
    truth = np.array(sorted((y, x) for y, x, _ in sources))
    assert found.shape == truth.shape
    assert_allclose(found, truth, atol=1e-4)
    scores = [det.score for det in kept]
    assert scores == sorted(scores, reverse=True)


def test_deepest_copy_of_a_cut_source_is_kept():
    # a big source near a seam is cut by the left tile; the right tile,
    # which sees it whole, must provide it
    shape = (64, 100)
    tiles = make_tiles(shape, 64, 28)
    seam = tiles[0].core[3]
    detections = _detections_in_tiles(shape, tiles,
                                      [(32.0, seam + 1.5, 13.0)])
    left = [det for det in detections if det.tile == 0][0]
    right = [det for det in detections if det.tile == 1][0]
    assert left.bbox[3] == 64  # cut at the left tile's edge
    kept = merge_tile_detections(detections, tiles, shape, 0.5)
    assert len(kept) == 1
    assert kept[0] is right


def test_merge_of_one_tile_sorts_by_score():
    tiles = make_tiles((64, 64), 64, 16)
    dets = [Detection(box=np.array([0, 0, 4, 4.0]), score=s, class_id=1,
                      mask=np.ones((4, 4), np.float32), bbox=(0, 0, 4, 4))
            for s in (0.6, 0.9, 0.7)]
    kept = merge_tile_detections(dets, tiles, (64, 64), 0.5)
    assert [det.score for det in kept] == [0.9, 0.7, 0.6]


def _square(y0, x0, size, score=0.9, tile=0):
    return Detection(box=np.array([y0, x0, y0 + size, x0 + size], float),
                     score=score, class_id=1,
                     mask=np.full((size, size), 0.9, np.float32),
                     bbox=(y0, x0, y0 + size, x0 + size), tile=tile)


def test_cut_by_inner_tile_edges_only():
    shape = (200, 100)
    tiles = make_tiles(shape, 100, 0)  # rows 0-99 and 100-199
    assert (tiles[1].y0, tiles[1].x0) == (100, 0)
    assert cut_by_tile(_square(70, 10, 30), tiles[0], shape)
    # image edges cut nothing
    assert not cut_by_tile(_square(0, 0, 30), tiles[0], shape)
    assert not cut_by_tile(_square(40, 70, 30), tiles[0], shape)
    assert not cut_by_tile(_square(170, 10, 30), tiles[1], shape)
    # a mask stopping short of the edge counts within the margin
    near = _square(62, 10, 30)  # ends 8 px before row 100
    assert not cut_by_tile(near, tiles[0], shape)
    assert cut_by_tile(near, tiles[0], shape, margin=8)
    assert not cut_by_tile(near, tiles[0], shape, margin=7)


def test_centred_tile_stays_inside_the_image():
    shape = (200, 150)
    tile = centred_tile(_square(90, 60, 20), shape, 64, index=7)
    assert (tile.y0, tile.x0, tile.size, tile.index) == (68, 38, 64, 7)
    corner = centred_tile(_square(180, 140, 10), shape, 64, index=0)
    assert (corner.y0, corner.x0) == (136, 86)
    small = centred_tile(_square(5, 5, 10), (40, 50), 64, index=0)
    assert (small.y0, small.x0) == (0, 0)


def test_cut_source_is_replaced_by_its_view_in_a_centred_tile():
    shape = (200, 100)
    tiles = make_tiles(shape, 100, 0)
    # a large source at rows 60-119: tile 0 (rows 0-99) keeps it, cut
    cut = _square(60, 20, 40, score=0.95, tile=0)
    cut.mask = cut.mask[:40]
    cut.bbox = (60, 20, 100, 60)
    small = _square(10, 70, 8, score=0.8, tile=0)
    asked = []

    def find(new_tiles):
        asked.extend(new_tiles)
        # the centred tile sees the source whole, and a cut piece of
        # something else
        return [[_square(60, 20, 40, score=0.97, tile=new_tiles[0].index),
                 _square(new_tiles[0].y0, 0, 10, score=0.9,
                         tile=new_tiles[0].index)]]

    kept = replace_cut_detections([cut, small], tiles, shape, find, 0.5)
    assert len(asked) == 1 and (asked[0].y0, asked[0].x0) == (30, 0)
    assert [det.bbox for det in kept] == [(60, 20, 100, 60), (10, 70, 18, 78)]
    assert kept[0].score == pytest.approx(0.97)
    assert kept[1] is small


def test_cut_source_is_kept_when_the_centred_tiles_do_not_help():
    shape = (200, 100)
    tiles = make_tiles(shape, 100, 0)
    cut = _square(60, 20, 40, tile=0)
    cut.mask, cut.bbox = cut.mask[:40], (60, 20, 100, 60)

    def cut_again(new_tiles):
        # every centred tile sees it reach its top edge
        return [[_square(tile.y0, 20, 60, tile=tile.index)]
                for tile in new_tiles]

    # the centred tiles find it cut again, or find something else
    for find in (cut_again, lambda new_tiles: [[_square(150, 20, 10)]],
                 lambda new_tiles: [[]]):
        kept = replace_cut_detections([cut], tiles, shape, find, 0.5)
        assert kept == [cut]


def test_source_still_cut_in_the_centred_tile_is_looked_at_again():
    shape = (300, 100)
    tiles = make_tiles(shape, 100, 0)
    # a source at rows 60-149, seen by tile 0 (rows 0-99) as rows 60-99
    cut = _square(60, 20, 40, score=0.9, tile=0)
    asked = []

    def find(new_tiles):
        asked.extend((tile.y0, tile.x0) for tile in new_tiles)
        views = []
        for tile in new_tiles:
            # each tile sees the rows 60-149 that it contains
            y0, y1 = max(60, tile.y0), min(150, tile.y0 + tile.size)
            view = _square(y0, 20, 40, score=0.95, tile=tile.index)
            view.mask = np.ones((y1 - y0, 40), np.float32)
            view.bbox = (y0, 20, y1, 60)
            view.box = np.array(view.bbox, float)
            views.append([view])
        return views

    # centred on rows 60-99, the tile (rows 30-129) cuts it at row 129;
    # centred on rows 60-129, the tile (rows 45-144) cuts it at row 144;
    # centred on rows 60-144, the tile (rows 52-151) sees it whole
    kept = replace_cut_detections([cut], tiles, shape, find, 0.5, looks=2)
    assert asked == [(30, 0), (45, 0)]
    assert kept == [cut]
    asked.clear()
    kept = replace_cut_detections([cut], tiles, shape, find, 0.5)
    assert asked == [(30, 0), (45, 0), (52, 0)]
    assert kept[0].bbox == (60, 20, 150, 60)
    assert kept[0].score == pytest.approx(0.95)


def test_uncut_sources_are_not_looked_at_again():
    shape = (200, 100)
    tiles = make_tiles(shape, 100, 0)

    def find(new_tiles):
        raise AssertionError('no source is cut')

    dets = [_square(10, 10, 20, score=0.5), _square(140, 40, 30, 0.9, 1)]
    kept = replace_cut_detections(dets, tiles, shape, find, 0.5)
    assert [det.score for det in kept] == [0.9, 0.5]
