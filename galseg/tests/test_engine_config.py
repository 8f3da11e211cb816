import pytest

from galseg.engine import MaskRCNNConfig


def test_defaults_round_trip():
    config = MaskRCNNConfig()
    assert MaskRCNNConfig.from_dict(config.to_dict()) == config
    assert config.mask_size == 2 * config.mask_pool_size
    assert config.anchors_per_location == 6


def test_json_round_trip():
    import json

    config = MaskRCNNConfig(backbone='resnet50', n_bands=6, image_size=96,
                            n_classes=2, anchor_sizes=[4, 8, 16, 32])
    assert config.anchor_sizes == (4.0, 8.0, 16.0, 32.0)
    assert MaskRCNNConfig.from_dict(json.loads(config.to_json())) == config


def test_n_anchors():
    config = MaskRCNNConfig(image_size=64)
    cells = 16 ** 2 + 8 ** 2 + 4 ** 2 + 2 ** 2
    assert config.n_anchors == cells * 6


@pytest.mark.parametrize('changes, error, match', [
    ({'backbone': 'vgg16'}, ValueError, 'backbone must be one of'),
    ({'image_size': 100}, ValueError, 'image_size must be a multiple of 32'),
    ({'image_size': 32}, ValueError, 'at least 64'),
    ({'n_bands': 0}, ValueError, 'n_bands must be an integer >= 1'),
    ({'n_bands': '3'}, TypeError, 'n_bands must be an integer'),
    ({'n_bands': 2.0}, TypeError, 'n_bands must be an integer'),
    ({'anchor_sizes': (8, 16)}, ValueError, 'one size per pyramid level'),
    ({'anchor_ratios': (1.0, -2.0)}, ValueError,
     'anchor_ratios must be finite and positive'),
    ({'anchor_scales': 2.0}, TypeError, 'anchor_scales must be a sequence'),
    ({'rpn_positive_iou': 1.5}, ValueError, r'rpn_positive_iou must be in'),
    ({'rpn_negative_iou': 0.8}, ValueError,
     'rpn_negative_iou must not exceed'),
    ({'detection_score_threshold': 1.0}, ValueError,
     'detection_score_threshold must be in'),
    ({'rois_per_image': 500}, ValueError, 'rois_per_image'),
    ({'mask_head_convs': -1}, ValueError, 'mask_head_convs must be >= 0'),
])
def test_invalid_config(changes, error, match):
    with pytest.raises(error, match=match):
        MaskRCNNConfig(**changes)


def test_unknown_fields():
    with pytest.raises(ValueError, match=r"unknown MaskRCNNConfig fields: "
                                         r"\['depth'\]"):
        MaskRCNNConfig.from_dict({'depth': 3})
