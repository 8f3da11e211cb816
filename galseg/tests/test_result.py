"""Tests for galseg.result: DeblendResult built from known pieces."""

import numpy as np
import pytest
from astropy.table import QTable
from numpy.testing import assert_array_equal
from photutils.aperture import BoundingBox
from photutils.segmentation import SegmentationImage

from galseg import DeblendResult


@pytest.fixture
def result():
    """Two overlapping square sources in a 10 x 12 image."""
    labels = np.zeros((10, 12), dtype=int)
    labels[1:5, 1:6] = 1
    labels[3:8, 5:10] = 2
    labels[3:5, 5] = 1
    a = np.full((4, 5), 0.9, dtype=np.float32)
    b = np.full((5, 6), 0.7, dtype=np.float32)
    b[:, 0] = 0.2  # below the threshold
    data = np.ones((1, 10, 12), dtype=np.float32)
    catalog = QTable({'label': [1, 2], 'x_centroid': [3.0, 7.0],
                      'y_centroid': [2.5, 5.0]})
    return DeblendResult(
        segmentation_image=SegmentationImage(labels), catalog=catalog,
        scores=np.array([0.9, 0.8], dtype=np.float32),
        classes=np.array([1, 2], dtype=np.int32),
        boxes=np.array([[1, 1, 5, 6], [3, 4, 8, 10]], dtype=np.float32),
        bboxes=[BoundingBox(ixmin=1, ixmax=6, iymin=1, iymax=5),
                BoundingBox(ixmin=4, ixmax=10, iymin=3, iymax=8)],
        mask_cutouts=[a, b],
        deblended_images=[data[:, 1:5, 1:6], data[:, 3:8, 4:10] * 0.5],
        mask_threshold=0.5, detection_image=data[0])


def test_basic_properties(result):
    assert result.n_sources == len(result) == 2
    assert result.shape == (10, 12)
    assert_array_equal(result.labels, [1, 2])
    assert repr(result) == '<DeblendResult: 2 sources in a 10x12 image>'


def test_instance_masks(result):
    masks = result.instance_masks()
    assert masks.shape == (2, 10, 12) and masks.dtype == bool
    expected = np.zeros((10, 12), dtype=bool)
    expected[1:5, 1:6] = True
    assert_array_equal(masks[0], expected)
    expected = np.zeros((10, 12), dtype=bool)
    expected[3:8, 5:10] = True  # column 4 is below the threshold
    assert_array_equal(masks[1], expected)
    assert_array_equal(result.instance_mask(2), masks[1])
    # the masks overlap; the segmentation image does not
    assert np.sum(masks.sum(axis=0) > 1) == 2


def test_deblended_image_in_full(result):
    image = result.deblended_image(2)
    assert image.shape == (1, 10, 12)
    assert image.dtype == np.float32
    assert image.sum() == pytest.approx(0.5 * 30)
    assert np.all(image[:, :3] == 0)


def test_bad_label(result):
    with pytest.raises(ValueError, match=r'label must be in 1\.\.2, got 3'):
        result.instance_mask(3)
    with pytest.raises(ValueError, match='label must be in'):
        result.deblended_image(0)


def test_plot(result):
    from matplotlib.figure import Figure

    ax = Figure().add_subplot()
    assert result.plot(ax=ax) is ax
    assert [text.get_text() for text in ax.texts] == ['1', '2']
    assert len(ax.images) == 2  # the data and the outlines
    outline = ax.images[1].get_array()
    # outlines of label 1 in colour 1, of label 2 in colour 2
    assert set(np.unique(outline.compressed())) == {1, 2}


def test_plot_new_figure_without_labels(result):
    import matplotlib.pyplot as plt

    ax = result.plot(labels=False, outlines=False)
    try:
        assert len(ax.texts) == 0
        assert len(ax.images) == 1
    finally:
        plt.close(ax.figure)
