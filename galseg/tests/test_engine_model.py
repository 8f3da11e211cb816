import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from galseg.engine import MaskRCNN, MaskRCNNConfig, load_model, save_model

SLIM = dict(backbone_width=8, fpn_width=16, box_head_width=32,
            mask_head_width=16, pre_nms_proposals_test=100,
            post_nms_proposals_test=20, max_detections=10)


def _box_iou(a, b):
    inter = (max(0, min(a[2], b[2]) - max(a[0], b[0]))
             * max(0, min(a[3], b[3]) - max(a[1], b[1])))
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1])
    return inter / (area - inter)


def test_issue_example_builds_and_runs():
    model = MaskRCNN(MaskRCNNConfig(backbone='resnet18', n_bands=6,
                                    image_size=64))
    images = np.random.default_rng(0).normal(size=(2, 64, 64, 6))
    outputs = model(images.astype(np.float32))
    assert outputs['boxes'].shape == (2, model.config.max_detections, 4)
    assert outputs['masks'].shape == (2, model.config.max_detections, 28, 28)


@pytest.mark.parametrize('n_bands, size', [(1, 64), (3, 96), (6, 128)])
def test_detect_output_shapes(n_bands, size):
    model = MaskRCNN(MaskRCNNConfig(n_bands=n_bands, image_size=size,
                                    **SLIM))
    images = np.random.default_rng(1).normal(size=(3, size, size, n_bands))
    detections = model.detect(images.astype(np.float32), batch_size=2)
    assert len(detections) == 3
    for found in detections:
        n = len(found['scores'])
        assert n <= model.config.max_detections
        assert found['boxes'].shape == (n, 4)
        assert found['classes'].shape == (n,)
        assert found['masks'].shape == (n, size, size)
        assert np.all(np.diff(found['scores']) <= 0)
        assert np.all((found['masks'] >= 0) & (found['masks'] <= 1))
        assert np.all(found['classes'] >= 1)


@pytest.mark.parametrize('backbone', ['resnet34', 'resnet50', 'resnet101'])
def test_other_backbones(backbone):
    model = MaskRCNN(MaskRCNNConfig(backbone=backbone, image_size=64,
                                    n_classes=2, **SLIM))
    outputs = model(np.zeros((1, 64, 64, 1), np.float32))
    assert outputs['boxes'].shape == (1, 10, 4)
    assert model.backbone.outputs[-1].shape[-1] == (
        64 if backbone == 'resnet34' else 256)


def test_config_type_error():
    with pytest.raises(TypeError, match='config must be a MaskRCNNConfig'):
        MaskRCNN('resnet18')


def test_set_trainable():
    model = MaskRCNN(MaskRCNNConfig(image_size=64, **SLIM))
    n_all = len(model.trainable_variables)
    model.set_trainable('heads')
    assert 0 < len(model.trainable_variables) < n_all
    assert not model.backbone.trainable
    model.set_trainable('all')
    assert len(model.trainable_variables) == n_all
    with pytest.raises(ValueError, match='part must be one of'):
        model.set_trainable('backbone')


@pytest.fixture(scope='module')
def slim_model():
    return MaskRCNN(MaskRCNNConfig(image_size=64, n_bands=2, **SLIM))


@pytest.mark.parametrize('images, error, match', [
    (np.zeros((64, 64, 2)), ValueError, r'must have shape \(n, 64, 64, 2\)'),
    (np.zeros((1, 64, 64, 3)), ValueError, r'got \(1, 64, 64, 3\)'),
    (np.zeros((1, 96, 96, 2)), ValueError, r'got \(1, 96, 96, 2\)'),
    (np.full((1, 64, 64, 2), np.nan), ValueError, 'NaN or inf'),
    (np.full((1, 64, 64, 2), 'a'), TypeError, 'must be real numbers'),
])
def test_detect_bad_input(slim_model, images, error, match):
    with pytest.raises(error, match=match):
        slim_model.detect(images)


def test_detect_bad_batch_size(slim_model):
    with pytest.raises(ValueError, match='batch_size must be an integer >= 1'):
        slim_model.detect(np.zeros((1, 64, 64, 2)), batch_size=0)


def test_training_loss_falls(tiny_training):
    history = tiny_training['history']
    assert history['loss'][-1] < 0.3 * history['loss'][0]
    for name in ('rpn_class_loss', 'rpn_box_loss', 'class_loss',
                 'box_loss', 'mask_loss'):
        assert history[name][-1] < history[name][0], name


def test_trained_model_finds_the_blobs(tiny_training):
    """The tiny model finds every blob of its training images."""
    data = tiny_training['data']
    model = tiny_training['model']
    n_images = 16
    detections = model.detect(data['images'][:n_images])
    n_true = n_found = n_confident = 0
    for index, found in enumerate(detections):
        confident = found['scores'] >= 0.5
        boxes = found['boxes'][confident]
        masks = found['masks'][confident] >= 0.5
        for gt_box, gt_mask, gt_class in zip(data['gt_boxes'][index],
                                             data['gt_masks'][index],
                                             data['gt_classes'][index]):
            if gt_class == 0:
                continue
            n_true += 1
            ious = [_box_iou(gt_box, box) for box in boxes]
            if ious and max(ious) >= 0.5:
                mask = masks[int(np.argmax(ious))]
                mask_iou = ((mask & gt_mask.astype(bool)).sum()
                            / (mask | gt_mask.astype(bool)).sum())
                n_found += mask_iou >= 0.5
        n_confident += confident.sum()
    assert n_found >= 0.9 * n_true
    # few spurious or duplicate detections
    assert n_confident <= 1.2 * n_true


def test_detect_score_threshold_keeps_the_same_detections(tiny_training):
    """Asking for detections above a score gives exactly those of the
    default threshold that score above it, masks and all."""
    images = tiny_training['data']['images'][:4]
    model = tiny_training['model']
    everything = model.detect(images)
    threshold = float(np.median(np.concatenate(
        [found['scores'] for found in everything])))
    above = model.detect(images, score_threshold=threshold)
    for found, kept in zip(everything, above):
        keep = found['scores'] > threshold
        assert len(kept['scores']) == keep.sum()
        for key in ('boxes', 'classes', 'class_scores', 'scores', 'masks'):
            assert_allclose(kept[key], found[key][keep], atol=1e-5,
                            err_msg=key)
    # below the network's own threshold it keeps its own
    floor = model.config.detection_score_threshold
    low = model.detect(images, score_threshold=floor / 2)
    assert [len(f['scores']) for f in low] == \
        [len(f['scores']) for f in everything]
    with pytest.raises(ValueError, match=r'score_threshold must be in'):
        model.detect(images, score_threshold=1.5)


def test_save_load_round_trip(tiny_training, tmp_path):
    model = tiny_training['model']
    save_model(model, tmp_path / 'model')
    loaded = load_model(tmp_path / 'model')
    assert loaded.config == model.config
    images = tiny_training['data']['images'][:4]
    before = model.detect(images)
    after = loaded.detect(images)
    for a, b in zip(before, after):
        assert_array_equal(a['classes'], b['classes'])
        assert_allclose(a['scores'], b['scores'], rtol=1e-5, atol=1e-6)
        assert_allclose(a['boxes'], b['boxes'], rtol=1e-5, atol=1e-4)
        # float32 kernels of two traced functions: equal to ~1e-5
        assert_allclose(a['masks'], b['masks'], atol=1e-4)


def test_save_does_not_overwrite(tiny_training, tmp_path):
    save_model(tiny_training['model'], tmp_path)
    with pytest.raises(FileExistsError, match='already exists'):
        save_model(tiny_training['model'], tmp_path)
    save_model(tiny_training['model'], tmp_path, overwrite=True)


def test_load_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match='not a galseg model'):
        load_model(tmp_path)
