"""Tests for galseg.segmentation: from detections to one source per galaxy."""

import numpy as np
from numpy.testing import assert_allclose, assert_array_equal
from scipy import ndimage

from galseg.segmentation import (correlated_noise_factor, flux_shares,
                                 segment_labels, segment_snr,
                                 suppress_contained, suppress_merged,
                                 suppress_nested)
from galseg.tiling import Detection


def _detection(bbox, mask, score):
    return Detection(box=np.array(bbox, dtype=float), score=score, class_id=1,
                     mask=np.asarray(mask, dtype=np.float32), bbox=bbox)


def _full(det, shape):
    out = np.zeros(shape, dtype=np.float32)
    y0, x0, y1, x1 = det.bbox
    out[y0:y1, x0:x1] = det.mask
    return out


def test_overlaps_resolved_to_most_probable_source():
    bad = np.zeros((6, 8), dtype=bool)
    bad[0, 0] = True
    a = _detection((0, 0, 4, 5), np.full((4, 5), 0.9), score=0.9)
    b = _detection((2, 3, 6, 8), np.full((4, 5), 0.6), score=0.8)
    b.mask[0, 1] = 0.95  # b more probable at pixel (2, 4), next to its own
    # c is inside a and less probable everywhere: it wins no pixel
    c = _detection((1, 1, 3, 3), np.full((2, 2), 0.7), score=0.7)
    labels, keep = segment_labels([a, b, c], bad, 0.5, n_pixels=1)
    assert keep == [0, 1]
    expected = np.zeros((6, 8), dtype=int)
    expected[0:4, 0:5] = 1
    expected[2:6, 3:8] = 2
    expected[2:4, 3:5] = 1
    expected[2, 4] = 2
    expected[0, 0] = 0  # masked
    assert_array_equal(labels, expected)


def test_ties_go_to_the_higher_score():
    a = _detection((0, 0, 2, 2), np.full((2, 2), 0.8), score=0.9)
    b = _detection((0, 0, 2, 2), np.full((2, 2), 0.8), score=0.6)
    labels, keep = segment_labels([a, b], np.zeros((2, 2), bool), 0.5, 1)
    assert keep == [0]
    assert_array_equal(labels, 1)


def test_islands_go_to_the_source_around_them():
    # b wins two single pixels inside a: they are islands of b, not
    # connected to b's segment, and go to a, which surrounds them
    a = _detection((0, 0, 10, 10), np.full((10, 10), 0.8), score=0.9)
    b = _detection((0, 8, 10, 16), np.full((10, 8), 0.6), score=0.8)
    b.mask[2, 0] = 0.0  # (2, 8) stays a's
    a_mask = a.mask.copy()
    a_mask[5, 4] = a_mask[2, 2] = 0.55
    a = _detection(a.bbox, a_mask, 0.9)
    b_wide = _detection((0, 0, 10, 16), np.zeros((10, 16)), 0.8)
    b_wide.mask[:, 8:] = 0.6
    b_wide.mask[5, 4] = b_wide.mask[2, 2] = 0.7
    labels, keep = segment_labels([a, b_wide], np.zeros((10, 16), bool),
                                  0.5, n_pixels=5)
    assert keep == [0, 1]
    assert labels[5, 4] == labels[2, 2] == 1
    for label in (1, 2):
        _, n_parts = ndimage.label(labels == label,
                                   structure=np.ones((3, 3)))
        assert n_parts == 1


def test_small_segments_are_absorbed_or_dropped():
    galaxy = _detection((0, 0, 8, 8), np.full((8, 8), 0.7), score=0.9)
    # a 2x2 sliver more probable than the galaxy at its edge: too small
    sliver = _detection((3, 6, 5, 8), np.full((2, 2), 0.9), score=0.8)
    # a 2x2 speck alone in the background
    speck = _detection((10, 10, 12, 12), np.full((2, 2), 0.9), score=0.95)
    labels, keep = segment_labels([speck, galaxy, sliver],
                                  np.zeros((14, 14), bool), 0.5, n_pixels=5)
    assert keep == [1]
    expected = np.zeros((14, 14), dtype=int)
    expected[:8, :8] = 1
    assert_array_equal(labels, expected)
    labels, keep = segment_labels([speck, galaxy, sliver],
                                  np.zeros((14, 14), bool), 0.5, n_pixels=4)
    assert keep == [0, 1, 2]


def test_contained_detections_are_suppressed():
    shape = (20, 30)
    galaxy = _detection((0, 0, 12, 12), np.full((12, 12), 0.9), 0.9)
    twin = _detection((1, 1, 11, 11), np.full((10, 10), 0.9), 0.85)
    neighbour = _detection((0, 10, 12, 20), np.full((12, 10), 0.9), 0.8)
    # a mask over both galaxies, found after them
    merged = _detection((0, 0, 12, 20), np.full((12, 20), 0.9), 0.75)
    kept = suppress_contained([galaxy, twin, neighbour, merged], shape,
                              0.5, max_overlap=0.95)
    assert kept == [galaxy, neighbour]
    # the neighbour lies 2/10 inside the galaxy: kept unless the
    # threshold is below that
    kept = suppress_contained([galaxy, neighbour], shape, 0.5,
                              max_overlap=0.2)
    assert kept == [galaxy]
    # below the mask threshold a detection has no mask: dropped
    faint = _detection((14, 0, 16, 2), np.full((2, 2), 0.3), 0.95)
    assert suppress_contained([faint], shape, 0.5, 0.95) == []


def test_covered_neighbours_centred_outside_a_core_are_kept():
    shape = (30, 30)
    # a bright galaxy whose mask is confident (0.95) in its core, rows and
    # columns 5-14, and uncertain (0.6) in its wing, out to 24
    bright = np.full((25, 25), 0.6)
    bright[5:15, 5:15] = 0.95
    galaxy = _detection((0, 0, 25, 25), bright, 0.99)
    # a faint neighbour, entirely under the wing, centred at (20, 20)
    neighbour = _detection((17, 17, 24, 24), np.full((7, 7), 0.9), 0.9)
    # a knot of the galaxy, entirely in its core, centred at (9, 9)
    knot = _detection((7, 7, 12, 12), np.full((5, 5), 0.9), 0.9)
    detections = [galaxy, neighbour, knot]
    # the old rule (core_probability 0): both are dropped
    assert suppress_contained(detections, shape, 0.5, 0.6) == [galaxy]
    assert suppress_contained(detections, shape, 0.5, 0.6,
                              core_probability=0.0) == [galaxy]
    # the neighbour's centre lies where the galaxy's mask is 0.6
    assert suppress_contained(detections, shape, 0.5, 0.6,
                              core_probability=0.7) == [galaxy, neighbour]
    assert suppress_contained(detections, shape, 0.5, 0.6,
                              core_probability=0.6) == [galaxy]
    # above the core's own probability, nothing covered is dropped
    assert suppress_contained(detections, shape, 0.5, 0.6,
                              core_probability=0.96) == detections
    # the centre is the mask-probability-weighted centroid: a neighbour
    # reaching into the core but centred in the wing is kept
    reaching = np.full((10, 10), 0.55)
    reaching[3:, 3:] = 0.99
    neighbour = _detection((12, 12, 22, 22), reaching, 0.9)
    assert suppress_contained([galaxy, neighbour], shape, 0.5, 0.6,
                              core_probability=0.7) == [galaxy, neighbour]


def test_shares_add_up_to_one_and_fill_the_image():
    shape = (12, 40)
    a = _detection((2, 2, 10, 10), np.full((8, 8), 0.9), 0.9)
    b = _detection((2, 8, 10, 16), np.full((8, 8), 0.3), 0.8)
    b.mask[:, 3:] = 0.8
    bad = np.zeros(shape, dtype=bool)
    bad[0, 39] = True
    labels, keep = segment_labels([a, b], bad, 0.5, 1)
    # equal round models: the mask probabilities decide where both
    # cover; b's model does not reach the right edge of the image
    profiles = ([[5.5, 5.5], [13.0, 5.5]], [np.eye(2) * 4, np.eye(2) * 4],
                [100.0, 100.0])
    shares = flux_shares([a, b], labels, bad, 0.5, 2, profiles)
    whole = (0, 0) + shape
    share_a, share_b = shares.cutout(0, whole), shares.cutout(1, whole)
    assert_allclose((share_a + share_b)[~bad], 1.0)
    assert share_a[0, 39] == share_b[0, 39] == 0
    # inside both grown masks, the product of probability and model
    model = np.exp(-0.5 * (np.array([9 - 5.5, 9 - 13.0]) ** 2) / 4)
    expected = 0.9 * model[0] / (0.9 * model[0] + 0.3 * model[1])
    assert_allclose(share_a[5, 9], expected)
    # outside the masks the models decide: closer to b's centre, b's
    assert share_b[5, 20] > 0.99
    # beyond every model, a pixel belongs to the nearest segment
    assert share_b[11, 38] == 1 and share_a[11, 38] == 0
    # a cutout is the same as the whole image's share there
    assert_array_equal(shares.cutout(1, (3, 5, 9, 20)), share_b[3:9, 5:20])
    # a source with no model is shared by its mask alone
    profiles = ([[np.nan, np.nan], [13.0, 5.5]],
                [np.eye(2) * 4, np.eye(2) * 4], [100.0, 100.0])
    shares = flux_shares([a, b], labels, bad, 0.5, 2, profiles)
    share_a = shares.cutout(0, whole)
    assert share_a[5, 4] == 1


def test_a_mask_over_a_pair_is_dropped_whatever_its_score():
    pair = _detection((0, 0, 12, 24), np.full((12, 24), 0.9), 0.95)
    left = _detection((0, 0, 12, 11), np.full((12, 11), 0.9), 0.9)
    right = _detection((1, 13, 12, 24), np.full((11, 11), 0.9), 0.8)
    assert suppress_merged([pair, left, right], 0.5) == [left, right]
    # one part is not a pair
    assert suppress_merged([pair, left], 0.5) == [pair, left]
    # knots: distinct pieces that cover little of the galaxy
    galaxy = _detection((0, 0, 20, 20), np.full((20, 20), 0.9), 0.95)
    knots = [_detection((y, x, y + 4, x + 4), np.full((4, 4), 0.9), 0.8)
             for y, x in ((2, 2), (10, 12), (14, 3))]
    assert suppress_merged([galaxy, *knots], 0.5) == [galaxy, *knots]
    # two masks of one galaxy are not two parts
    twin = _detection((0, 0, 12, 20), np.full((12, 20), 0.9), 0.9)
    twin2 = _detection((0, 1, 12, 21), np.full((12, 20), 0.9), 0.85)
    big = _detection((0, 0, 14, 26), np.full((14, 26), 0.9), 0.95)
    assert suppress_merged([big, twin, twin2], 0.5) == [big, twin, twin2]


def _disk(shape, centre, radius, hole=0.0):
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    distance = np.hypot(yy - centre[0], xx - centre[1])
    return ((distance <= radius) & (distance >= hole)).astype(np.float32)


def test_a_core_found_beside_its_galaxy_is_merged_into_it():
    """A bright core (more confident) and the whole galaxy whose mask is
    a ring around it: one source with the union of the masks and the
    core's score; a small galaxy off the centre stays."""
    shape = (40, 40)
    core = Detection(box=np.array([15.0, 15.0, 25.0, 25.0]), score=0.97,
                     class_id=1, mask=_disk(shape, (20, 20), 5)[15:26, 15:26],
                     bbox=(15, 15, 26, 26))
    ring = Detection(box=np.array([5.0, 5.0, 35.0, 35.0]), score=0.9,
                     class_id=1, mask=_disk(shape, (20, 20), 14, hole=5.0),
                     bbox=(0, 0, 40, 40))
    neighbour = Detection(box=np.array([6.0, 15.0, 12.0, 21.0]), score=0.8,
                          class_id=1,
                          mask=_disk(shape, (9, 18), 3)[6:13, 15:22],
                          bbox=(6, 15, 13, 22))
    kept = suppress_nested([core, ring, neighbour], mask_threshold=0.5)
    assert [det.score for det in kept] == [0.97, 0.8]
    whole = kept[0]
    assert whole.bbox == (0, 0, 40, 40)
    assert_array_equal(whole.mask >= 0.5, _disk(shape, (20, 20), 14) >= 0.5)
    # nothing nested: nothing changes
    assert suppress_nested([ring, neighbour], 0.5) == [ring, neighbour]


def test_segment_snr_of_noise_and_of_a_source():
    rng = np.random.default_rng(4)
    sigma = np.array([2.0, 1.0]).reshape(2, 1, 1)
    data = rng.normal(0.0, 1.0, (2, 400, 400)) * sigma
    labels = np.zeros((400, 400), dtype=int)
    # 1600 segments of pure noise, 10 x 10 pixels each
    labels[:] = 1 + (np.arange(400)[:, None] // 10) * 40 + (
        np.arange(400)[None, :] // 10)
    snr = segment_snr(labels, data, sigma ** 2)
    assert snr.shape == (1600,)
    # the ratio of noise is a standard normal variable
    assert abs(snr.mean()) < 0.1 and abs(snr.std() - 1.0) < 0.05
    # a flux of 10 in every pixel of both bands of one segment: 2000 over
    # sqrt(100 * (4 + 1))
    data[:, :10, :10] = 10.0
    assert_allclose(segment_snr(labels, data, sigma ** 2)[0],
                    2000 / np.sqrt(500))
    # a zero variance has no ratio; unlabelled pixels count for nothing
    assert np.isnan(segment_snr(labels, data, 0.0)).all()
    assert segment_snr(np.zeros((3, 3), int), np.ones((1, 3, 3)), 1.0).size == 0


def _smoothed_noise(shape, sigma, seed):
    """Unit-variance white noise smoothed by a Gaussian of ``sigma`` px."""
    from scipy import ndimage

    noise = np.random.default_rng(seed).normal(size=shape)
    if sigma:
        noise = ndimage.gaussian_filter(noise, (0, sigma, sigma))
    return noise / noise.std()


def test_correlated_noise_factor_measures_the_noise_of_sums():
    import pytest

    sky = np.ones((200, 200), dtype=bool)
    sky[60:140, 50:150] = False  # where the sources are
    factors = []
    for sigma in (0.0, 0.5, 1.0, 1.5):
        data = _smoothed_noise((1, 200, 200), sigma, seed=2)
        # a bright source off the sky does not count
        data[0, 70:130, 60:140] += 1000.0
        factors.append(correlated_noise_factor(data, 1.0, sky))
    # independent pixels: 1 (never below); correlated: the variance of
    # 5 x 5 sums over 25 times the pixels' variance, growing with the
    # correlation length, below the 4 pi sigma^2 of infinite sums
    assert 1.0 <= factors[0] < 1.15
    assert np.all(np.diff(factors) > 0)
    assert 5.0 < factors[2] < 4 * np.pi
    # larger boxes come closer to 4 pi sigma^2
    data = _smoothed_noise((1, 200, 200), 1.0, seed=2)
    by_size = [correlated_noise_factor(data, 1.0, sky, size)
               for size in (3, 5, 9)]
    assert np.all(np.diff(by_size) > 0)
    assert 0.7 * 4 * np.pi < by_size[-1] < 1.3 * 4 * np.pi
    # the variance is in the units of the data: two bands of noise 2 and
    # 1, summed, against their summed variances
    data = np.concatenate([2 * _smoothed_noise((1, 200, 200), 1.0, seed=3),
                           _smoothed_noise((1, 200, 200), 1.0, seed=4)])
    two_bands = correlated_noise_factor(
        data, np.array([4.0, 1.0]).reshape(2, 1, 1), sky)
    assert 5.0 < two_bands < 4 * np.pi
    # too little sky to measure
    small = np.zeros((200, 200), dtype=bool)
    small[:12, :12] = True
    assert np.isnan(correlated_noise_factor(data, 1.0, small))
    with pytest.raises(ValueError, match='box_size must be an integer >= 1'):
        correlated_noise_factor(data, 1.0, sky, 0)
    with pytest.raises(ValueError, match='data must be 3-D'):
        correlated_noise_factor(data[0], 1.0, sky)
    with pytest.raises(ValueError, match='sky must have the image shape'):
        correlated_noise_factor(data, 1.0, sky[1:])
    with pytest.raises(ValueError, match=r'variance of shape \(3,\) does '
                       'not broadcast'):
        correlated_noise_factor(data, np.ones(3), sky)


def test_segment_snr_checks_shapes():
    import pytest

    labels = np.ones((4, 5), dtype=int)
    with pytest.raises(ValueError, match='data must be 3-D'):
        segment_snr(labels, np.ones((4, 5)), 1.0)
    with pytest.raises(ValueError, match='labels must have the image shape'):
        segment_snr(labels, np.ones((1, 5, 4)), 1.0)
    with pytest.raises(ValueError, match=r'variance of shape \(2,\) does '
                       'not broadcast'):
        segment_snr(labels, np.ones((2, 4, 5)), np.ones(2))


def test_bright_segments_grow_over_their_footprint():
    """Segments of sources brighter than min_peak_snr grow over the
    rest of their footprint (data > threshold x noise), split between
    them by watershed; fainter sources and masked pixels keep theirs."""
    from galseg.segmentation import grow_bright_segments

    yy, xx = np.mgrid[:80, :120]

    def blob(x, y, peak):
        return peak * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / 32.0)

    data = blob(25, 40, 1e5) + blob(45, 40, 5e4) + blob(95, 40, 50.0)
    labels = np.zeros((80, 120), dtype=int)
    labels[38:43, 23:28] = 1
    labels[38:43, 43:48] = 2
    labels[38:43, 93:98] = 3
    bad = np.zeros((80, 120), dtype=bool)
    bad[:, 10] = True
    grown = grow_bright_segments(labels, data[None], 1.0, bad, 1000.0)
    footprint = ndimage.gaussian_filter(data, 1.0) > 1.0
    bright = footprint & (xx > 10) & (xx < 70)  # right of the masked column
    assert np.all(grown[bright] > 0)
    assert np.all(grown[~footprint & (labels == 0)] == 0)
    assert np.all(grown[bad] == 0)
    # the saddle between the two bright sources parts them
    assert np.all(grown[40, 20:34] == 1) and np.all(grown[40, 37:50] == 2)
    for label in (1, 2):
        assert ndimage.label(grown == label, np.ones((3, 3)))[1] == 1
    # the faint source keeps its segment
    assert_array_equal(grown == 3, labels == 3)
    # nothing that bright: nothing changes
    assert grow_bright_segments(labels, data[None] / 1e3, 1.0, bad,
                                1000.0) is labels
