"""Tests of galseg.evaluation.metrics against hand-computed cases."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal, assert_equal

from galseg.evaluation.metrics import (COCO_IOU_THRESHOLDS, EvaluationAccumulator,
                                       average_precision, close_pairs,
                                       detection_match_radius,
                                       evaluate_instances, ignored_detections,
                                       mask_iou,
                                       match_detections, match_instances)

SHAPE = (32, 32)


def box(y0, x0, height, width, shape=SHAPE):
    mask = np.zeros(shape, dtype=bool)
    mask[y0:y0 + height, x0:x0 + width] = True
    return mask


def stack(*masks, shape=SHAPE):
    if not masks:
        return np.zeros((0, *shape), dtype=bool)
    return np.stack(masks)


# Three separate 5x5 true sources used by several tests.
TRUE_A, TRUE_B, TRUE_C = box(2, 2, 5, 5), box(2, 20, 5, 5), box(20, 2, 5, 5)


def test_mask_iou_hand_computed():
    truth = stack(box(0, 0, 4, 4), box(0, 4, 4, 4))  # 16 px each, adjacent
    pred = stack(box(0, 0, 4, 2),  # half of the first
                 box(0, 2, 4, 4),  # straddles both
                 box(10, 10, 2, 2))  # overlaps nothing
    expected = [[8 / 16, 0.0],
                [8 / 24, 8 / 24],
                [0.0, 0.0]]
    assert_allclose(mask_iou(pred, truth), expected)


def test_mask_iou_empty_inputs():
    truth = stack(TRUE_A)
    assert mask_iou(stack(), truth).shape == (0, 1)
    assert mask_iou(truth, stack()).shape == (1, 0)
    # An empty mask has zero IoU, even with another empty mask.
    empty = np.zeros((1, *SHAPE), dtype=bool)
    assert_equal(mask_iou(empty, empty), [[0.0]])


def test_mask_iou_validation():
    truth = stack(TRUE_A)
    with pytest.raises(TypeError, match='pred_masks must be a boolean array'):
        mask_iou(truth.astype(int), truth)
    with pytest.raises(ValueError, match=r'true_masks have image shape '
                       r'\(8, 8\) but \(32, 32\) was expected'):
        mask_iou(truth, np.zeros((1, 8, 8), dtype=bool))
    with pytest.raises(ValueError, match='pred_masks must be a 3D array'):
        mask_iou(TRUE_A, truth)


def test_match_instances_greedy_by_score():
    iou = np.array([[0.6, 0.9],
                    [0.0, 0.8]])
    # The higher-scored second prediction takes the second source; the
    # first prediction then falls back to the first source.
    pred_to_true, true_to_pred = match_instances(iou, [0.5, 0.9])
    assert_equal(pred_to_true, [0, 1])
    assert_equal(true_to_pred, [0, 1])
    # With the scores reversed the first prediction takes its best
    # source, and the second has nothing left above threshold.
    pred_to_true, true_to_pred = match_instances(iou, [0.9, 0.5])
    assert_equal(pred_to_true, [1, -1])
    assert_equal(true_to_pred, [-1, 0])


def test_perfect_prediction():
    truth = stack(TRUE_A, TRUE_B, TRUE_C)
    result = evaluate_instances(truth, [0.9, 0.8, 0.7], truth)
    for key in ('AP', 'AP50', 'AP75', 'precision', 'recall', 'F1'):
        assert result[key] == 1.0, key
    assert_equal(result['AP_per_threshold'], np.ones(10))
    assert result['n_true_positive'] == 3


def test_prediction_overlapping_two_sources_matches_one():
    # Two overlapping true sources (cols 0-9 and 2-11); one prediction
    # covering both has IoU 100/120 with each, but may match only one.
    true_1, true_2 = box(0, 0, 10, 10), box(0, 2, 10, 10)
    truth = stack(true_1, true_2)
    merged = stack(box(0, 0, 10, 12))
    assert_allclose(mask_iou(merged, truth), [[100 / 120, 100 / 120]])
    result = evaluate_instances(merged, [1.0], truth,
                                true_positions=[[4.5, 4.5], [6.5, 4.5]],
                                psf_fwhm=2.0)
    assert result['n_true_positive'] == 1
    assert result['precision'] == 1.0
    assert result['recall'] == 0.5
    # The pair (2 px = 1 FWHM apart) is not recovered.
    assert result['blend_recovery'] == 0.0
    assert_equal(result['n_pairs'], [0, 0, 1, 0, 0, 0])
    # AP50: recall 0.5 at precision 1, nothing beyond -> 51 of 101
    # points; the IoU of 0.83 is a match at 7 of the 10 thresholds.
    assert_allclose(result['AP50'], 51 / 101)
    assert_allclose(result['AP'], 0.7 * 51 / 101)

    # A second, better-scored prediction of the second source takes it,
    # and the merged prediction then matches the first one.
    pred = stack(box(0, 0, 10, 12), true_2)
    result = evaluate_instances(pred, [0.5, 0.9], truth,
                                true_positions=[[4.5, 4.5], [6.5, 4.5]],
                                psf_fwhm=2.0)
    assert result['recall'] == 1.0
    assert result['blend_recovery'] == 1.0


def test_images_without_predictions_count():
    accumulator = EvaluationAccumulator()
    accumulator.add(stack(TRUE_A), [0.9], stack(TRUE_A))
    accumulator.add(stack(), [], stack(TRUE_B))  # nothing predicted
    result = accumulator.summary()
    assert result['n_images'] == 2
    assert result['n_true'] == 2
    assert result['recall'] == 0.5
    assert result['precision'] == 1.0
    assert_allclose(result['F1'], 2 / 3)
    assert_allclose([result['AP'], result['AP50'], result['AP75']],
                    [51 / 101] * 3)


def test_no_predictions_at_all():
    result = evaluate_instances(stack(), [], stack(TRUE_A, TRUE_B))
    assert result['AP'] == 0.0
    assert result['recall'] == 0.0
    assert np.isnan(result['precision'])
    assert result['F1'] == 0.0


def test_image_without_truth_gives_false_positives():
    accumulator = EvaluationAccumulator()
    accumulator.add(stack(TRUE_A), [0.9], stack(TRUE_A))
    accumulator.add(stack(TRUE_B), [0.95], stack())  # spurious detection
    result = accumulator.summary()
    assert result['precision'] == 0.5
    assert result['recall'] == 1.0
    # Ranked FP (0.95) then TP (0.9): precision 0.5 at recall 1.
    assert_allclose(result['AP'], 0.5)


def test_hand_computed_101_point_ap():
    # 3 true sources; ranked predictions TP, FP, TP, FP.
    truth = stack(TRUE_A, TRUE_B, TRUE_C)
    spurious_1, spurious_2 = box(12, 12, 3, 3), box(26, 26, 3, 3)
    pred = stack(TRUE_A, spurious_1, TRUE_B, spurious_2)
    result = evaluate_instances(pred, [0.9, 0.8, 0.7, 0.6], truth)
    # recall 1/3, 1/3, 2/3, 2/3; precision 1, 1/2, 2/3, 1/2; envelope
    # 1, 2/3, 2/3, 1/2.  Recall points 0.00-0.33 (34) get 1, 0.34-0.66
    # (33) get 2/3, 0.67-1.00 (34) are never reached.
    expected = (34 * 1 + 33 * 2 / 3) / 101
    assert_allclose(result['AP'], expected)
    assert_allclose(result['AP50'], expected)
    assert_allclose(result['AP75'], expected)
    assert_allclose(average_precision([0.9, 0.8, 0.7, 0.6],
                                      [True, False, True, False], 3),
                    expected)
    assert result['precision'] == 0.5
    assert_allclose(result['recall'], 2 / 3)


def test_ap_over_iou_thresholds():
    # One prediction with IoU 31/50 = 0.62: a match at IoU 0.50, 0.55
    # and 0.60 only, so AP = 3/10.
    truth = stack(box(0, 0, 5, 10))
    pred = stack(box(0, 0, 5, 10) & ~box(3, 0, 2, 10) | box(3, 0, 1, 1))
    assert_allclose(mask_iou(pred, truth), [[0.62]])
    result = evaluate_instances(pred, [1.0], truth)
    assert_allclose(result['AP'], 0.3)
    assert result['AP50'] == 1.0
    assert result['AP75'] == 0.0
    assert_equal(result['AP_per_threshold'],
                 [1, 1, 1, 0, 0, 0, 0, 0, 0, 0])


def test_duplicate_predictions_are_false_positives():
    truth = stack(TRUE_A, TRUE_B)
    # Duplicate of A ranked between the two true positives.
    pred = stack(TRUE_A, TRUE_A, TRUE_B)
    result = evaluate_instances(pred, [0.9, 0.8, 0.7], truth)
    assert result['n_true_positive'] == 2
    assert_allclose(result['precision'], 2 / 3)
    assert result['recall'] == 1.0
    # recall .5, .5, 1; precision 1, .5, 2/3 -> envelope 1, 2/3, 2/3:
    # 51 points at 1 and 50 at 2/3.
    assert_allclose(result['AP'], (51 + 50 * 2 / 3) / 101)
    # Ranked last, a duplicate costs precision but not AP.
    result = evaluate_instances(pred, [0.9, 0.5, 0.7], truth)
    assert result['AP'] == 1.0
    assert_allclose(result['precision'], 2 / 3)


def test_f1():
    truth = stack(TRUE_A, TRUE_B, TRUE_C)
    pred = stack(TRUE_A, TRUE_B, box(12, 12, 3, 3), box(26, 26, 3, 3))
    result = evaluate_instances(pred, [0.9, 0.8, 0.7, 0.6], truth)
    precision, recall = 0.5, 2 / 3
    assert_allclose(result['precision'], precision)
    assert_allclose(result['recall'], recall)
    assert_allclose(result['F1'],
                    2 * precision * recall / (precision + recall))
    assert_allclose(result['F1'], 4 / 7)


def test_average_precision_edge_cases():
    assert np.isnan(average_precision([], [], 0))
    assert average_precision([], [], 3) == 0.0
    with pytest.raises(ValueError, match=r'n_true \(1\) is smaller than '
                       r'the number of true positives \(2\)'):
        average_precision([0.9, 0.8], [True, True], 1)


def test_close_pairs():
    first, second, separation = close_pairs(
        [[0, 0], [3, 4], [0, 8], [100, 100]], max_separation=9)
    assert_equal(first, [0, 0, 1])
    assert_equal(second, [1, 2, 2])
    assert_allclose(separation, [5, 8, 5])


def test_pair_recovery_and_ap_against_separation():
    fwhm = 4.0
    accumulator = EvaluationAccumulator(
        separation_bins=(0, 0.5, 1, 1.5, 2, 3, 5))
    # Image 1: a pair 4 px = 1 FWHM apart (A, B) and an isolated source
    # C.  A and C are found; B is missed, and a spurious detection
    # overlapping B slightly is ranked first.
    truth = stack(box(8, 8, 5, 4), box(8, 12, 5, 4), box(25, 25, 4, 4))
    positions = [[9.5, 10], [13.5, 10], [26.5, 26.5]]
    pred = stack(box(8, 8, 5, 4), box(12, 14, 4, 4), box(25, 25, 4, 4))
    accumulator.add(pred, [0.9, 0.95, 0.8], truth, true_positions=positions,
                    psf_fwhm=fwhm)
    # Image 2: a pair 3 px = 0.75 FWHM apart, both found.
    truth = stack(box(8, 8, 5, 3), box(8, 11, 5, 3))
    positions = [[9, 10], [12, 10]]
    accumulator.add(truth, [0.85, 0.75], truth, true_positions=positions,
                    psf_fwhm=fwhm)
    result = accumulator.summary()
    assert_equal(result['n_pairs'], [0, 1, 1, 0, 0, 0])
    assert_equal(result['n_pairs_recovered'], [0, 1, 0, 0, 0, 0])
    assert_equal(result['pair_recovery'],
                 [np.nan, 1.0, 0.0, np.nan, np.nan, np.nan])
    assert result['blend_recovery'] == 0.5
    # C has no neighbour within 5 FWHM: it is in no bin.
    assert_equal(result['n_true_per_bin'], [0, 2, 2, 0, 0, 0])
    # Bin [1, 1.5): the spurious detection (overlapping B) then A's
    # match: precision 0, 1/2 at recall 0, 1/2 -> 51 points at 1/2.
    assert_allclose(result['ap_vs_separation'],
                    [np.nan, 1.0, 0.5 * 51 / 101, np.nan, np.nan, np.nan])


def test_unmatched_prediction_goes_to_nearest_source_bin():
    # A spurious detection overlapping nothing, nearest to the pair
    # member B: a false positive in the pair's bin.
    truth = stack(box(8, 8, 5, 4), box(8, 12, 5, 4))
    pred = stack(box(8, 8, 5, 4), box(8, 20, 3, 3))
    result = evaluate_instances(pred, [0.9, 0.95], truth,
                                true_positions=[[9.5, 10], [13.5, 10]],
                                psf_fwhm=4.0)
    assert_allclose(result['ap_vs_separation'][2], 0.5 * 51 / 101)


def test_precision_of_separated_sources():
    # a pair 1 FWHM apart: the pair's wrong mask does not count; the
    # isolated source C: one true detection and one false one next to it
    truth = stack(box(8, 8, 5, 4), box(8, 12, 5, 4), TRUE_C)
    pred = stack(box(8, 8, 5, 9), TRUE_C, box(26, 2, 3, 3))
    result = evaluate_instances(
        pred, [0.9, 0.8, 0.7], truth,
        true_positions=[[9.5, 10], [13.5, 10], [4, 22]], psf_fwhm=4.0)
    assert_allclose(result['precision'], 1 / 3)
    assert_allclose(result['precision_separated'], 1 / 2)
    # in an image without truth every detection is separated and false
    empty = evaluate_instances(stack(TRUE_A), [0.9], stack(), psf_fwhm=4.0)
    assert empty['precision_separated'] == 0.0
    # unknown without a PSF FWHM
    assert np.isnan(evaluate_instances(truth, [0.9, 0.8, 0.7],
                                       truth)['precision_separated'])


def test_separation_statistics_need_psf_fwhm():
    truth = stack(box(8, 8, 5, 4), box(8, 12, 5, 4))
    result = evaluate_instances(truth, [0.9, 0.8], truth)
    assert_equal(result['n_pairs'], np.zeros(6))
    assert np.isnan(result['blend_recovery'])
    assert np.all(np.isnan(result['ap_vs_separation']))
    assert result['AP'] == 1.0


def test_positions_default_to_mask_centroids():
    truth = stack(box(8, 8, 5, 4), box(8, 12, 5, 4))  # centroids 4 px apart
    result = evaluate_instances(truth, [0.9, 0.8], truth, psf_fwhm=4.0)
    assert_equal(result['n_pairs'], [0, 0, 1, 0, 0, 0])


def test_median_flux_error():
    truth = stack(TRUE_A, TRUE_B, TRUE_C)
    pred = stack(TRUE_A, TRUE_B, TRUE_C, box(26, 26, 3, 3))
    true_fluxes = [[100.0], [200.0], [50.0]]
    # Relative errors 0.1, 0.3, 0.2; the unmatched prediction is ignored.
    pred_fluxes = [[110.0], [140.0], [60.0], [1e6]]
    result = evaluate_instances(pred, [0.9, 0.8, 0.7, 0.6], truth,
                                pred_fluxes=pred_fluxes,
                                true_fluxes=true_fluxes)
    assert_allclose(result['median_flux_error'], 0.2)
    assert result['n_flux'] == 3
    assert_allclose(result['source_flux_errors'], [0.1, 0.3, 0.2])

    # Per true source: NaN where it was not found (C is missed here);
    # the median over bands for multi-band fluxes.
    result = evaluate_instances(
        pred[[1, 0]], [0.9, 0.8], truth,
        pred_fluxes=[[140.0, 10.0], [110.0, 20.0]],
        true_fluxes=[[100.0, 20.0], [200.0, 20.0], [50.0, 5.0]])
    assert_allclose(result['source_flux_errors'],
                    [np.median([0.1, 0.0]), np.median([0.3, 0.5]), np.nan])

    # One flux per prediction against per-band truth: band totals.
    result = evaluate_instances(pred[:1], [1.0], truth[:1],
                                pred_fluxes=[150.0],
                                true_fluxes=[[40.0, 60.0]])
    assert_allclose(result['median_flux_error'], 0.5)
    with pytest.raises(ValueError, match='the predicted fluxes have 3 bands '
                       'but the true fluxes have 2'):
        evaluate_instances(pred[:1], [1.0], truth[:1],
                           pred_fluxes=[[1.0, 2.0, 3.0]],
                           true_fluxes=[[40.0, 60.0]])


def test_accumulator_validation():
    with pytest.raises(ValueError, match='iou_thresholds must include 0.5'):
        EvaluationAccumulator(iou_thresholds=[0.75])
    with pytest.raises(ValueError, match='separation_bins must be at least '
                       'two finite'):
        EvaluationAccumulator(separation_bins=[1.0, 0.5])
    accumulator = EvaluationAccumulator()
    truth = stack(TRUE_A)
    with pytest.raises(ValueError, match=r'pred_scores must have shape '
                       r'\(1,\); got \(2,\)'):
        accumulator.add(truth, [0.5, 0.4], truth)
    with pytest.raises(ValueError, match='psf_fwhm must be positive'):
        accumulator.add(truth, [0.5], truth, psf_fwhm=-1)
    with pytest.raises(ValueError, match=r'true_positions must have shape '
                       r'\(1, 2\)'):
        accumulator.add(truth, [0.5], truth, true_positions=[1, 2, 3])
    with pytest.raises(ValueError, match=r'pred_fluxes must have shape'):
        accumulator.add(truth, [0.5], truth, pred_fluxes=[[[1.0]]])
    assert accumulator.n_images == 0
    assert 'n_images=0' in repr(accumulator)


def test_coco_thresholds():
    assert_allclose(COCO_IOU_THRESHOLDS, np.arange(10) * 0.05 + 0.5)


def test_match_detections_by_position():
    pred_to_true, true_to_pred = match_detections(
        [[10, 10], [10.5, 10], [30, 30], [50, 50]], [0.5, 0.9, 0.8, 0.7],
        [[10, 10], [31, 30]], max_distance=2.0)
    # the more confident of two detections of one source takes it
    assert_array_equal(pred_to_true, [-1, 0, 1, -1])
    assert_array_equal(true_to_pred, [1, 2])
    empty = match_detections(np.zeros((0, 2)), [], [[1, 1]], 2.0)
    assert_array_equal(empty[0], [])
    assert_array_equal(empty[1], [-1])


def test_match_detections_with_a_radius_per_source():
    # a large galaxy (half-light radius 8 px) whose segment's centroid
    # lies 5 px from its centre, beside a star, under a 2 px PSF
    radius = detection_match_radius(2.0, [8.0, 0.0])
    assert_allclose(radius, [8.0, 2.0])
    pred_to_true, _ = match_detections([[25, 20], [40.5, 20], [44, 20]],
                                       [0.9, 0.8, 0.7],
                                       [[20, 20], [40, 20]], radius)
    assert_array_equal(pred_to_true, [0, 1, -1])
    # one PSF FWHM alone misses the galaxy
    pred_to_true, _ = match_detections([[25, 20], [40.5, 20]], [0.9, 0.8],
                                       [[20, 20], [40, 20]], 2.0)
    assert_array_equal(pred_to_true, [-1, 1])
    # within both radii, the nearest source not matched yet
    pred_to_true, _ = match_detections([[38, 20]], [0.9],
                                       [[20, 20], [40, 20]], [30.0, 2.0])
    assert_array_equal(pred_to_true, [1])
    with pytest.raises(ValueError, match=r'max_distance must be a number '
                       r'or have shape \(2,\); got \(3,\)'):
        match_detections([[38, 20]], [0.9], [[20, 20], [40, 20]],
                         [30.0, 2.0, 1.0])
    with pytest.raises(ValueError, match=r'scores must have shape \(1,\)'):
        match_detections([[38, 20]], [0.9, 0.8], [[20, 20]], 2.0)
    assert detection_match_radius(3.0) == 3.0
    assert_allclose(detection_match_radius(3.0, [np.nan, 1.0, 5.0]),
                    [3.0, 3.0, 5.0])
    with pytest.raises(ValueError, match='psf_fwhm must be positive'):
        detection_match_radius(0.0, [1.0])


def test_detection_level_uses_half_light_radii():
    truth = np.zeros((1, 40, 40), dtype=bool)
    truth[0, 4:36, 4:36] = True
    pred = np.zeros((1, 40, 40), dtype=bool)
    pred[0, 10:36, 10:36] = True  # centroid 3 px from the centre per axis
    kwargs = dict(true_positions=[[19.5, 19.5]], psf_fwhm=2.0)
    strict = evaluate_instances(pred, [0.9], truth, **kwargs)
    assert strict['det_precision'] == 0.0
    resolved = evaluate_instances(pred, [0.9], truth,
                                  true_half_light_radii=[9.0], **kwargs)
    assert resolved['det_precision'] == 1.0
    assert resolved['det_recall'] == 1.0
    accumulator = EvaluationAccumulator()
    with pytest.raises(ValueError, match=r'true_half_light_radii must have '
                       r'shape \(1,\)'):
        accumulator.add(pred, [0.9], truth, true_half_light_radii=[1.0, 2.0],
                        **kwargs)
    with pytest.raises(ValueError, match='true_half_light_radii must not be '
                       'negative'):
        accumulator.add(pred, [0.9], truth, true_half_light_radii=[-1.0],
                        **kwargs)


def test_counts_fragments_and_spurious():
    # two true sources; the method finds one, a fragment of the other
    # galaxy's footprint lying off its centre, and a noise peak
    truth = np.zeros((2, 40, 40), dtype=bool)
    truth[0, 5:15, 5:15] = True
    truth[1, 20:36, 20:36] = True
    pred = np.zeros((3, 40, 40), dtype=bool)
    pred[0, 5:15, 5:15] = True
    pred[1, 30:36, 30:36] = True  # centroid far from (28, 28)
    pred[2, 0:3, 30:33] = True
    result = evaluate_instances(
        pred, [0.9, 0.8, 0.7], truth, true_positions=[[10, 10], [28, 28]],
        psf_fwhm=3.0, pred_fluxes=[100.0, 30.0, 5.0],
        pred_segment_fluxes=[90.0, 30.0, 5.0], true_fluxes=[100.0, 400.0])
    assert result['det_precision'] == pytest.approx(1 / 3)
    assert result['det_recall'] == 0.5
    assert result['fragments'] == pytest.approx(1 / 3)
    assert result['spurious'] == pytest.approx(1 / 3)
    assert result['over_count'] == 1.0 and result['under_count'] == 0.0
    # the pair (18 px = 6 FWHM apart) is outside the last bin
    assert np.all(np.isnan(result['det_pair_recovery']))
    assert result['total_flux_error'] == 0.0
    assert result['segment_flux_error'] == pytest.approx(0.1)
    assert np.isnan(result['total_flux_error_blended'])
    assert_allclose(result['source_total_flux_errors'], [0.0, np.nan])


def test_detections_of_sources_without_footprint_are_ignored():
    # one galaxy with a footprint, one real galaxy too faint to have one:
    # finding the faint one is neither a true nor a false detection, and
    # does not make the image over-counted; a noise peak still counts
    truth = np.zeros((1, 40, 40), dtype=bool)
    truth[0, 5:15, 5:15] = True
    pred = np.zeros((3, 40, 40), dtype=bool)
    pred[0, 5:15, 5:15] = True
    pred[1, 28:32, 28:32] = True  # the faint galaxy at (29.5, 29.5)
    pred[2, 0:3, 30:33] = True
    kwargs = dict(true_positions=[[10, 10]], psf_fwhm=3.0)
    plain = evaluate_instances(pred[:2], [0.9, 0.8], truth, **kwargs)
    assert plain['det_precision'] == 0.5 and plain['over_count'] == 1.0
    result = evaluate_instances(pred[:2], [0.9, 0.8], truth,
                                ignored_positions=[[29.5, 29.5]], **kwargs)
    assert result['det_precision'] == 1.0 and result['det_recall'] == 1.0
    assert result['n_ignored'] == 1
    assert result['over_count'] == 0.0 and result['spurious'] == 0.0
    # the noise peak is no detection of it: it stays spurious
    result = evaluate_instances(pred, [0.9, 0.8, 0.7], truth,
                                ignored_positions=[[29.5, 29.5]], **kwargs)
    assert result['det_precision'] == 0.5
    assert result['spurious'] == 0.5 and result['n_ignored'] == 1
    assert result['over_count'] == 1.0
    # a source with a footprint is matched first: an ignored source at
    # the same place takes nothing from it
    result = evaluate_instances(pred[:1], [0.9], truth,
                                ignored_positions=[[10, 10]], **kwargs)
    assert result['det_precision'] == 1.0 and result['n_ignored'] == 0
    # the radius reaches the ignored source's half-light radius
    far = evaluate_instances(pred[:2], [0.9, 0.8], truth,
                             ignored_positions=[[24.5, 29.5]], **kwargs)
    assert far['n_ignored'] == 0
    near = evaluate_instances(pred[:2], [0.9, 0.8], truth,
                              ignored_positions=[[24.5, 29.5]],
                              ignored_half_light_radii=[6.0], **kwargs)
    assert near['n_ignored'] == 1
    accumulator = EvaluationAccumulator()
    with pytest.raises(ValueError, match=r'ignored_positions must have '
                       r'shape \(k, 2\)'):
        accumulator.add(pred, [0.9, 0.8, 0.7], truth,
                        ignored_positions=[1.0, 2.0, 3.0], **kwargs)
    with pytest.raises(ValueError, match='ignored_half_light_radii needs '
                       'ignored_positions'):
        accumulator.add(pred, [0.9, 0.8, 0.7], truth,
                        ignored_half_light_radii=[1.0], **kwargs)
    with pytest.raises(ValueError, match='ignored_half_light_radii must not '
                       'be negative'):
        accumulator.add(pred, [0.9, 0.8, 0.7], truth,
                        ignored_positions=[[1.0, 2.0]],
                        ignored_half_light_radii=[-1.0], **kwargs)


def test_ignored_detections():
    # detections 0 and 2 unmatched; 2 lies by the ignored source, and
    # so does 1, which is matched to a true source already
    ignored = ignored_detections([[0, 0], [10, 0], [10.5, 0]],
                                 [0.9, 0.8, 0.7], [-1, 0, -1],
                                 [[10, 0]], max_distance=2)
    assert_array_equal(ignored, [False, False, True])
    assert not ignored_detections([[0, 0]], [0.9], [-1], None, 2).any()


def test_detection_level_pair_recovery_and_blended_fluxes():
    # a close pair whose faint member cannot reach IoU 0.5 in a
    # partition: found by position all the same
    truth = np.zeros((2, 30, 30), dtype=bool)
    truth[0, 5:25, 5:25] = True
    truth[1, 12:18, 14:20] = True
    pred = np.zeros((2, 30, 30), dtype=bool)
    pred[0] = truth[0]
    pred[1, 13:17, 15:19] = True
    pred[0, 13:17, 15:19] = False
    result = evaluate_instances(
        pred, [0.9, 0.8], truth, true_positions=[[14.5, 14.5], [16.5, 14.5]],
        psf_fwhm=2.0, pred_fluxes=[110.0, 9.0], true_fluxes=[100.0, 10.0],
        separation_bins=(0, 1, 2, 5))
    assert result['recall'] == 0.5  # the faint one's IoU is 16/36
    assert result['det_recall'] == 1.0
    assert_array_equal(result['pair_recovery'], [np.nan, 0.0, np.nan])
    assert_array_equal(result['det_pair_recovery'], [np.nan, 1.0, np.nan])
    assert result['total_flux_error_blended'] == pytest.approx(0.1)
    assert np.isnan(result['segment_flux_error'])
    assert result['over_count'] == result['under_count'] == 0.0
