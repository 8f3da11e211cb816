"""The configuration that describes a Mask R-CNN model completely."""

import dataclasses
import json
import math

from ..validation import check_int

__all__ = ['MaskRCNNConfig', 'BACKBONES', 'FPN_STRIDES']

#: backbone name -> (block type, blocks per stage)
BACKBONES = {
    'resnet18': ('basic', (2, 2, 2, 2)),
    'resnet34': ('basic', (3, 4, 6, 3)),
    'resnet50': ('bottleneck', (3, 4, 6, 3)),
    'resnet101': ('bottleneck', (3, 4, 23, 3)),
}

#: pixel strides of the FPN levels P2, P3, P4, P5
FPN_STRIDES = (4, 8, 16, 32)


@dataclasses.dataclass(frozen=True)
class MaskRCNNConfig:
    """
    Everything that defines a Mask R-CNN model.

    A saved model is this configuration plus its weights.  Sizes are in
    pixels.  The defaults describe a lean model for small sources
    (galaxies of about 4 to 64 pixels) that trains on a CPU.

    Parameters
    ----------
    backbone : {'resnet18', 'resnet34', 'resnet50', 'resnet101'}
        The ResNet used as backbone.
    backbone_width : int
        Channels of the first ResNet stage (64 for the standard ResNet;
        smaller values give a slimmer, faster model).
    n_bands : int
        Number of image bands (input channels).
    image_size : int
        Side of the square input images; a multiple of 32, at least 64.
    n_classes : int
        Number of object classes, not counting the background (1:
        galaxy; 2: galaxy and star).
    fpn_width : int
        Channels of the feature-pyramid levels P2 to P5.
    anchor_sizes : tuple of float
        Base anchor size for each pyramid level P2 to P5.
    anchor_scales : tuple of float
        Multipliers of the base size at each level.
    anchor_ratios : tuple of float
        Anchor height/width ratios.
    box_std : tuple of float
        Scales of the (dy, dx, dh, dw) box encoding.
    rpn_anchors_per_image : int
        Anchors sampled per image for the RPN losses.
    rpn_positive_fraction : float
        Largest fraction of positive anchors in that sample.
    rpn_positive_iou, rpn_negative_iou : float
        IoU above which an anchor is positive, below which negative.
    rpn_nms_threshold : float
        IoU threshold of the non-maximum suppression of proposals.
    pre_nms_proposals_train, post_nms_proposals_train : int
        Proposals kept per image before and after NMS in training (at
        most the number of anchors before NMS).
    pre_nms_proposals_test, post_nms_proposals_test : int
        The same at inference.
    rois_per_image : int
        Regions of interest sampled per image for the ROI head losses.
    roi_positive_fraction : float
        Largest fraction of positive regions in that sample.
    roi_positive_iou : float
        IoU with a true box above which a region is positive.
    roi_level_base_size : float
        Boxes smaller than twice this size are pooled from P2, and each
        doubling of size moves one pyramid level up.
    max_instances : int
        Largest number of true instances per training image.
    box_head_width : int
        Width of the two fully connected layers of the box head.
    mask_head_width : int
        Channels of the mask head convolutions.
    mask_head_convs : int
        Number of 3x3 convolutions in the mask head.
    roi_pool_size : int
        Side of the ROIAlign output for the box head.
    mask_pool_size : int
        Side of the ROIAlign output for the mask head; the predicted
        masks have twice this side.
    max_detections : int
        Largest number of detections per image.
    detection_score_threshold : float
        Lowest class probability of a detection.
    detection_nms_threshold : float
        IoU threshold of the per-class NMS of detections.

    Examples
    --------
    >>> from galseg.engine import MaskRCNNConfig
    >>> config = MaskRCNNConfig(n_bands=3, image_size=64)
    >>> MaskRCNNConfig.from_dict(config.to_dict()) == config
    True
    """

    backbone: str = 'resnet18'
    backbone_width: int = 32
    n_bands: int = 1
    image_size: int = 128
    n_classes: int = 1
    fpn_width: int = 64
    anchor_sizes: tuple = (6.0, 12.0, 24.0, 48.0)
    anchor_scales: tuple = (1.0, 1.5)
    anchor_ratios: tuple = (0.5, 1.0, 2.0)
    box_std: tuple = (0.1, 0.1, 0.2, 0.2)
    rpn_anchors_per_image: int = 128
    rpn_positive_fraction: float = 0.5
    rpn_positive_iou: float = 0.6
    rpn_negative_iou: float = 0.3
    rpn_nms_threshold: float = 0.7
    pre_nms_proposals_train: int = 1000
    post_nms_proposals_train: int = 200
    pre_nms_proposals_test: int = 500
    post_nms_proposals_test: int = 100
    rois_per_image: int = 64
    roi_positive_fraction: float = 0.33
    roi_positive_iou: float = 0.5
    roi_level_base_size: float = 16.0
    max_instances: int = 16
    box_head_width: int = 256
    mask_head_width: int = 64
    mask_head_convs: int = 2
    roi_pool_size: int = 7
    mask_pool_size: int = 14
    max_detections: int = 100
    detection_score_threshold: float = 0.2
    detection_nms_threshold: float = 0.5

    def __post_init__(self):
        for name in ('anchor_sizes', 'anchor_scales', 'anchor_ratios',
                     'box_std'):
            value = getattr(self, name)
            if isinstance(value, (str, bytes)) or not hasattr(value,
                                                              '__iter__'):
                msg = f'{name} must be a sequence of numbers, got {value!r}'
                raise TypeError(msg)
            object.__setattr__(self, name, tuple(float(v) for v in value))
        self._validate()

    # --- validation -----------------------------------------------------
    def _validate(self):
        if self.backbone not in BACKBONES:
            msg = (f'backbone must be one of {sorted(BACKBONES)}, got '
                   f'{self.backbone!r}')
            raise ValueError(msg)
        for name in ('backbone_width', 'n_bands', 'image_size', 'n_classes',
                     'fpn_width', 'rpn_anchors_per_image',
                     'pre_nms_proposals_train', 'post_nms_proposals_train',
                     'pre_nms_proposals_test', 'post_nms_proposals_test',
                     'rois_per_image', 'max_instances', 'box_head_width',
                     'mask_head_width', 'roi_pool_size', 'mask_pool_size',
                     'max_detections'):
            object.__setattr__(self, name,
                               check_int(name, getattr(self, name),
                                         minimum=1))
        if self.mask_head_convs < 0:
            msg = f'mask_head_convs must be >= 0, got {self.mask_head_convs}'
            raise ValueError(msg)
        if self.image_size < 64 or self.image_size % 32:
            msg = ('image_size must be a multiple of 32 and at least 64, got '
                   f'{self.image_size}')
            raise ValueError(msg)
        if len(self.anchor_sizes) != len(FPN_STRIDES):
            msg = (f'anchor_sizes needs one size per pyramid level '
                   f'({len(FPN_STRIDES)}), got {len(self.anchor_sizes)}')
            raise ValueError(msg)
        if len(self.box_std) != 4:
            msg = f'box_std needs 4 values, got {len(self.box_std)}'
            raise ValueError(msg)
        for name in ('anchor_sizes', 'anchor_scales', 'anchor_ratios',
                     'box_std'):
            values = getattr(self, name)
            if not values or any(not math.isfinite(v) or v <= 0
                                 for v in values):
                msg = f'{name} must be finite and positive, got {values}'
                raise ValueError(msg)
        for name in ('rpn_positive_fraction', 'roi_positive_fraction',
                     'rpn_positive_iou', 'rpn_negative_iou',
                     'rpn_nms_threshold', 'roi_positive_iou',
                     'detection_nms_threshold'):
            value = getattr(self, name)
            if not 0 < value <= 1:
                msg = f'{name} must be in (0, 1], got {value}'
                raise ValueError(msg)
        if not 0 <= self.detection_score_threshold < 1:
            msg = ('detection_score_threshold must be in [0, 1), got '
                   f'{self.detection_score_threshold}')
            raise ValueError(msg)
        if self.rpn_negative_iou > self.rpn_positive_iou:
            msg = ('rpn_negative_iou must not exceed rpn_positive_iou, got '
                   f'{self.rpn_negative_iou} > {self.rpn_positive_iou}')
            raise ValueError(msg)
        if self.rpn_anchors_per_image > self.n_anchors:
            msg = (f'rpn_anchors_per_image ({self.rpn_anchors_per_image}) '
                   f'exceeds the number of anchors ({self.n_anchors})')
            raise ValueError(msg)
        if self.rois_per_image > self.post_nms_proposals_train:
            msg = (f'rois_per_image ({self.rois_per_image}) must not exceed '
                   'post_nms_proposals_train '
                   f'({self.post_nms_proposals_train})')
            raise ValueError(msg)
        if self.post_nms_proposals_train > self.pre_nms_proposals_train:
            msg = ('post_nms_proposals_train must not exceed '
                   'pre_nms_proposals_train')
            raise ValueError(msg)
        if self.post_nms_proposals_test > self.pre_nms_proposals_test:
            msg = ('post_nms_proposals_test must not exceed '
                   'pre_nms_proposals_test')
            raise ValueError(msg)

    # --- derived quantities ----------------------------------------------
    @property
    def anchors_per_location(self):
        """Number of anchors at each feature-map position."""
        return len(self.anchor_scales) * len(self.anchor_ratios)

    @property
    def n_anchors(self):
        """Total number of anchors over all pyramid levels."""
        return sum((self.image_size // stride) ** 2
                   for stride in FPN_STRIDES) * self.anchors_per_location

    @property
    def mask_size(self):
        """Side of the predicted ROI masks."""
        return 2 * self.mask_pool_size

    @property
    def positive_rois_per_image(self):
        """Largest number of positive ROIs sampled per image."""
        return max(1, round(self.rois_per_image * self.roi_positive_fraction))

    # --- serialisation ----------------------------------------------------
    def to_dict(self):
        """Return the configuration as a JSON-serialisable dict."""
        return {field.name: (list(value) if isinstance(value, tuple)
                             else value)
                for field in dataclasses.fields(self)
                for value in [getattr(self, field.name)]}

    @classmethod
    def from_dict(cls, values):
        """
        Make a configuration from a dict, as written by `to_dict`.

        Raises
        ------
        ValueError
            If ``values`` has keys that are not configuration fields.
        """
        names = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            msg = f'unknown MaskRCNNConfig fields: {unknown}'
            raise ValueError(msg)
        return cls(**values)

    def to_json(self):
        """Return the configuration as a JSON string."""
        return json.dumps(self.to_dict(), indent=2)

    def replace(self, **changes):
        """Return a copy with some fields changed (and validated)."""
        return dataclasses.replace(self, **changes)
