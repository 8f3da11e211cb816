"""The Mask R-CNN model: parts wired together, training and detection."""

import keras
import numpy as np
import tensorflow as tf

from ..validation import check_fraction, check_int
from .anchors import generate_anchors
from .backbone import build_fpn, build_resnet
from .boxes import batched_nms, clip_boxes, decode_boxes
from .config import MaskRCNNConfig
from .heads import build_box_head, build_mask_head, build_rpn_head
from .losses import (box_regression_loss, mask_loss, roi_class_loss,
                     rpn_objectness_loss)
from .roi_align import multilevel_roi_align
from .targets import mask_targets, roi_targets, rpn_targets

__all__ = ['MaskRCNN', 'paste_masks', 'LOSS_NAMES', 'TRAINABLE_PARTS']

#: names of the five training losses, as reported by ``fit``
LOSS_NAMES = ('rpn_class_loss', 'rpn_box_loss', 'class_loss', 'box_loss',
              'mask_loss')

#: what `MaskRCNN.set_trainable` accepts
TRAINABLE_PARTS = ('heads', 'all')


class MaskRCNN(keras.Model):
    """
    Mask R-CNN with a ResNet + FPN backbone, for any number of bands.

    The model is built from its parts (backbone, feature pyramid, region
    proposal head, box head and mask head), all randomly initialised.
    ``fit`` trains it on batches of images and true instances; `detect`
    returns the detected instances with full-resolution masks.

    Parameters
    ----------
    config : `~galseg.engine.MaskRCNNConfig` or dict
        The model configuration.

    Notes
    -----
    Training batches are dicts (or the first element of a tuple) with

    * ``images``: float32 ``(batch, size, size, n_bands)``, normalised
      with `galseg.normalize_image`;
    * ``gt_boxes``: float32 ``(batch, max_instances, 4)``,
      ``(ymin, xmin, ymax, xmax)`` pixel-edge coordinates;
    * ``gt_classes``: int32 ``(batch, max_instances)``, 0 for padding;
    * ``gt_masks``: uint8 or bool ``(batch, max_instances, size, size)``.

    Box regression is class-agnostic; masks are predicted per class.

    Examples
    --------
    >>> import numpy as np
    >>> from galseg.engine import MaskRCNN, MaskRCNNConfig
    >>> model = MaskRCNN(MaskRCNNConfig(image_size=64, backbone_width=8,
    ...                                 fpn_width=16))
    >>> detections = model.detect(np.zeros((2, 64, 64, 1), np.float32))
    >>> len(detections), sorted(detections[0])
    (2, ['boxes', 'class_scores', 'classes', 'masks', 'scores'])
    """

    def __init__(self, config, **kwargs):
        super().__init__(name=kwargs.pop('name', 'mask_rcnn'), **kwargs)
        if isinstance(config, dict):
            config = MaskRCNNConfig.from_dict(config)
        if not isinstance(config, MaskRCNNConfig):
            msg = ('config must be a MaskRCNNConfig or a dict, got '
                   f'{type(config).__name__}')
            raise TypeError(msg)
        self.config = config
        self.backbone = build_resnet(config)
        self.fpn = build_fpn(config, [output.shape[-1]
                                      for output in self.backbone.outputs])
        self.rpn_head = build_rpn_head(config)
        self.box_head = build_box_head(config)
        self.mask_head = build_mask_head(config)
        self.anchors = tf.constant(generate_anchors(config))
        self.seed_generator = keras.random.SeedGenerator(0)
        self.loss_trackers = [keras.metrics.Mean(name=name)
                              for name in ('loss', *LOSS_NAMES)]
        self._detect_function = None
        self.built = True

    # --- configuration ---------------------------------------------------
    def get_config(self):
        return {'config': self.config.to_dict()}

    @classmethod
    def from_config(cls, config):
        return cls(config['config'])

    def set_trainable(self, part):
        """
        Choose which layers train: ``'heads'`` freezes the backbone
        (the study's first stage), ``'all'`` trains everything.
        Compile the model again after changing it.
        """
        if part not in TRAINABLE_PARTS:
            msg = f'part must be one of {TRAINABLE_PARTS}, got {part!r}'
            raise ValueError(msg)
        self.backbone.trainable = part == 'all'

    # --- forward pieces -----------------------------------------------------
    def _features(self, images, training):
        stages = self.backbone(images, training=training)
        # the box arithmetic and ROIAlign run in float32 whatever the
        # compute precision of the layers (mixed precision)
        pyramid = [tf.cast(level, tf.float32)
                   for level in self.fpn(stages, training=training)]
        batch = tf.shape(images)[0]
        logits, deltas = [], []
        for level in pyramid:
            level_logits, level_deltas = self.rpn_head(level,
                                                       training=training)
            logits.append(tf.reshape(tf.cast(level_logits, tf.float32),
                                     [batch, -1]))
            deltas.append(tf.reshape(tf.cast(level_deltas, tf.float32),
                                     [batch, -1, 4]))
        return pyramid, tf.concat(logits, 1), tf.concat(deltas, 1)

    def _box_head(self, pooled, training):
        logits, deltas = self.box_head(pooled, training=training)
        return tf.cast(logits, tf.float32), tf.cast(deltas, tf.float32)

    def _mask_head(self, pooled, training):
        return tf.cast(self.mask_head(pooled, training=training), tf.float32)

    def _proposals(self, rpn_logits, rpn_deltas, training):
        config = self.config
        if training:
            pre_nms = config.pre_nms_proposals_train
            post_nms = config.post_nms_proposals_train
        else:
            pre_nms = config.pre_nms_proposals_test
            post_nms = config.post_nms_proposals_test
        pre_nms = min(pre_nms, config.n_anchors)
        rpn_logits = tf.stop_gradient(rpn_logits)
        rpn_deltas = tf.stop_gradient(rpn_deltas)
        top = tf.math.top_k(rpn_logits, k=pre_nms)
        anchors = tf.gather(self.anchors, top.indices)
        deltas = tf.gather(rpn_deltas, top.indices, batch_dims=1)
        boxes = clip_boxes(decode_boxes(deltas, anchors, config.box_std),
                           config.image_size, config.image_size)
        nms = tf.image.combined_non_max_suppression(
            boxes[:, :, None, :], tf.sigmoid(top.values)[:, :, None],
            max_output_size_per_class=post_nms, max_total_size=post_nms,
            iou_threshold=config.rpn_nms_threshold, clip_boxes=False)
        valid = (tf.range(post_nms)[None, :]
                 < nms.valid_detections[:, None])
        return nms.nmsed_boxes, valid

    def _pooled(self, pyramid, rois, size):
        """ROIAlign of batched regions (batch, n, 4) -> (batch * n, ...)."""
        shape = tf.shape(rois)
        batch_indices = tf.repeat(tf.range(shape[0]), shape[1])
        return self._pooled_flat(pyramid, tf.reshape(rois, [-1, 4]),
                                 batch_indices, size)

    def _pooled_flat(self, pyramid, boxes, batch_indices, size):
        return multilevel_roi_align(pyramid, boxes, batch_indices, size,
                                    self.config.roi_level_base_size)

    def _class_masks(self, mask_logits, classes):
        """Pick each region's mask channel, (n, m, m, C) -> (n, m, m)."""
        channel = tf.maximum(tf.reshape(classes, [-1]) - 1, 0)
        return tf.gather(tf.transpose(mask_logits, [0, 3, 1, 2]), channel,
                         batch_dims=1)

    # --- training -------------------------------------------------------------
    @staticmethod
    def _unpack(data):
        if isinstance(data, (tuple, list)):
            data = data[0]
        return (tf.cast(data['images'], tf.float32),
                tf.cast(data['gt_boxes'], tf.float32),
                tf.cast(data['gt_classes'], tf.int32), data['gt_masks'])

    def compute_losses(self, data, training=False):
        """
        The five Mask R-CNN losses of a batch.

        Parameters
        ----------
        data : dict
            A training batch (see the class Notes).
        training : bool
            Whether layers run in training mode.

        Returns
        -------
        losses : dict of scalar tensors
            Keyed by `LOSS_NAMES`.
        """
        config = self.config
        images, gt_boxes, gt_classes, gt_masks = self._unpack(data)
        seed = keras.random.randint((2,), 0, 2 ** 30,
                                    seed=self.seed_generator, dtype='int32')
        pyramid, rpn_logits, rpn_deltas = self._features(images, training)

        indices, labels, weights, rpn_box_targets, positives = rpn_targets(
            self.anchors, gt_boxes, gt_classes, config, seed)
        losses = {
            'rpn_class_loss': rpn_objectness_loss(
                tf.gather(rpn_logits, indices, batch_dims=1), labels,
                weights),
            'rpn_box_loss': box_regression_loss(
                tf.gather(rpn_deltas, indices, batch_dims=1),
                rpn_box_targets, positives),
        }

        proposals, valid = self._proposals(rpn_logits, rpn_deltas,
                                           training=True)
        rois, classes, roi_weights, box_targets, matched = roi_targets(
            proposals, valid, gt_boxes, gt_classes, config, seed + 2)
        class_logits, box_deltas = self._box_head(
            self._pooled(pyramid, rois, config.roi_pool_size), training)
        flat_classes = tf.reshape(classes, [-1])
        losses['class_loss'] = roi_class_loss(
            class_logits, flat_classes, tf.reshape(roi_weights, [-1]))
        losses['box_loss'] = box_regression_loss(
            box_deltas, tf.reshape(box_targets, [-1, 4]),
            tf.cast(flat_classes > 0, tf.float32))

        # the mask head runs on the positive regions only; they all sit in
        # the first positive_rois_per_image samples
        n_mask = config.positive_rois_per_image
        where = tf.cast(tf.where(classes[:, :n_mask] > 0), tf.int32)
        mask_rois = tf.gather_nd(rois, where)
        mask_logits = self._mask_head(
            self._pooled_flat(pyramid, mask_rois, where[:, 0],
                              config.mask_pool_size), training)
        targets = mask_targets(gt_masks, mask_rois, where[:, 0],
                               tf.gather_nd(matched, where),
                               config.mask_size)
        losses['mask_loss'] = mask_loss(
            self._class_masks(mask_logits, tf.gather_nd(classes, where)),
            targets, tf.ones(tf.shape(where)[:1]))
        return losses

    def _record(self, losses, total):
        self.loss_trackers[0].update_state(total)
        for tracker, name in zip(self.loss_trackers[1:], LOSS_NAMES):
            tracker.update_state(losses[name])
        return {tracker.name: tracker.result()
                for tracker in self.loss_trackers}

    def train_step(self, data):
        with tf.GradientTape() as tape:
            losses = self.compute_losses(data, training=True)
            total = tf.add_n(list(losses.values()))
            if self.losses:
                total += tf.add_n(self.losses)
            # under tf.distribute, the replicas' gradients are summed
            replicas = tf.distribute.get_strategy().num_replicas_in_sync
            scaled = total / tf.cast(replicas, total.dtype)
        variables = self.trainable_variables
        gradients = tape.gradient(scaled, variables)
        self.optimizer.apply_gradients(zip(gradients, variables))
        return self._record(losses, total)

    def test_step(self, data):
        losses = self.compute_losses(data, training=False)
        return self._record(losses, tf.add_n(list(losses.values())))

    @property
    def metrics(self):
        return list(self.loss_trackers)

    # --- inference ----------------------------------------------------------
    def call(self, images, training=False, score_threshold=None):
        """
        Detect instances in a batch of normalised images.

        Detections are kept when their score exceeds ``score_threshold``
        (`None`: ``config.detection_score_threshold``) and only they get
        masks.

        Returns
        -------
        detections : dict of tensors
            ``boxes`` (batch, D, 4), ``scores`` (batch, D): the
            probability of not being background, ``classes`` (batch, D)
            int32 (>= 1 for detections): the most probable foreground
            class, ``class_scores`` (batch, D): its probability among
            the foreground classes, ``masks``
            (batch, D, m, m) probabilities in box coordinates, and
            ``n_detections`` (batch,); entries beyond ``n_detections``
            are padding.
        """
        config = self.config
        images = tf.cast(images, tf.float32)
        pyramid, rpn_logits, rpn_deltas = self._features(images, training)
        proposals, valid = self._proposals(rpn_logits, rpn_deltas,
                                           training=False)
        batch = tf.shape(images)[0]
        n_proposals = config.post_nms_proposals_test
        class_logits, box_deltas = self._box_head(
            self._pooled(pyramid, proposals, config.roi_pool_size), training)
        probabilities = tf.reshape(tf.nn.softmax(class_logits),
                                   [batch, n_proposals, -1])
        refined = clip_boxes(
            decode_boxes(tf.reshape(box_deltas, [batch, n_proposals, 4]),
                         proposals, config.box_std),
            config.image_size, config.image_size)
        # class-agnostic detection: a source is found by its probability
        # of not being background, whatever its class, and classified
        # among the foreground classes afterwards (so that a galaxy that
        # looks a little like a star is neither lost nor found twice)
        foreground = probabilities[..., 1:]
        source = 1.0 - probabilities[..., 0]
        objectness = source * tf.cast(valid, tf.float32)
        all_classes = tf.argmax(foreground, axis=-1, output_type=tf.int32) + 1
        all_class_scores = (tf.reduce_max(foreground, axis=-1)
                            / tf.maximum(source, 1e-12))
        if score_threshold is None:
            score_threshold = config.detection_score_threshold
        selected, n_valid = batched_nms(
            refined, objectness, config.max_detections,
            config.detection_nms_threshold, score_threshold)
        n_max = config.max_detections
        valid = tf.range(n_max)[None, :] < n_valid[:, None]
        keep = tf.cast(valid, tf.float32)
        boxes = tf.gather(refined, selected, batch_dims=1) * keep[..., None]
        scores = tf.gather(objectness, selected, batch_dims=1) * keep
        classes = tf.gather(all_classes, selected, batch_dims=1) * tf.cast(
            valid, tf.int32)
        class_scores = tf.gather(all_class_scores, selected,
                                 batch_dims=1) * keep
        # masks of the real detections only, not of the padding
        where = tf.cast(tf.where(valid), tf.int32)
        mask_logits = self._mask_head(
            self._pooled_flat(pyramid, tf.gather_nd(boxes, where),
                              where[:, 0], config.mask_pool_size), training)
        masks = tf.sigmoid(self._class_masks(mask_logits,
                                             tf.gather_nd(classes, where)))
        size = config.mask_size
        masks = tf.scatter_nd(where, masks, [batch, n_max, size, size])
        return {'boxes': boxes, 'scores': scores, 'classes': classes,
                'class_scores': class_scores, 'masks': masks,
                'n_detections': n_valid}

    def _full_resolution(self, images, score_threshold):
        """Detections with their masks pasted into the image frame; the
        masks of the real detections only, image after image."""
        detections = self(images, training=False,
                          score_threshold=score_threshold)
        size = self.config.image_size
        valid = (tf.range(self.config.max_detections)[None, :]
                 < detections['n_detections'][:, None])
        where = tf.cast(tf.where(valid), tf.int32)
        detections['masks'] = paste_masks(
            tf.gather_nd(detections['masks'], where),
            tf.gather_nd(detections['boxes'], where), size, size)
        return detections

    def detect(self, images, batch_size=8, score_threshold=None):
        """
        Detect instances and return them with full-resolution masks.

        Parameters
        ----------
        images : array-like of shape (n, size, size, n_bands)
            Images normalised with `galseg.normalize_image`, where
            ``size`` is ``config.image_size``.
        batch_size : int, optional
            Images per forward pass at most.  A shorter batch (the last
            one, or fewer images than this) is padded only to the next
            power of two: one image costs one image's pass.
        score_threshold : float or `None`, optional
            Only detections scoring above this are returned (and get a
            mask, which is most of the cost of a detection); `None`
            means ``config.detection_score_threshold``, and a lower value
            is raised to it.  The detections above a threshold are the
            same whatever threshold they were found with.

        Returns
        -------
        detections : list of dict
            One dict per image with ``boxes`` float32 (k, 4)
            ``(ymin, xmin, ymax, xmax)`` in pixel-edge coordinates,
            ``classes`` int32 (k,), ``class_scores`` float32 (k,) (the
            probability of the class among the foreground classes),
            ``scores`` float32 (k,) (the probability of being a source,
            of any class) in decreasing order and ``masks`` float32 (k,
            size, size) mask probabilities.

        Raises
        ------
        ValueError
            If ``images`` does not have the shape the model expects.
        """
        images = self._validate_images(images)
        batch_size = check_int('batch_size', batch_size, minimum=1)
        floor = self.config.detection_score_threshold
        if score_threshold is None:
            score_threshold = floor
        score_threshold = tf.constant(
            max(check_fraction('score_threshold', score_threshold), floor),
            tf.float32)
        if self._detect_function is None:
            self._detect_function = tf.function(self._full_resolution,
                                                reduce_retracing=True)
        results = []
        for start in range(0, len(images), batch_size):
            batch = images[start:start + batch_size]
            n_real = len(batch)
            padded = _padded_batch_size(n_real, batch_size)
            if n_real < padded:  # a few traced shapes, not one per size
                batch = np.concatenate([batch, np.zeros(
                    (padded - n_real, *batch.shape[1:]), np.float32)])
            output = {key: value.numpy() for key, value in
                      self._detect_function(tf.constant(batch),
                                            score_threshold).items()}
            first = 0
            for index in range(n_real):
                n = int(output['n_detections'][index])
                found = {key: output[key][index, :n] for key in
                         ('boxes', 'classes', 'class_scores', 'scores')}
                found['masks'] = output['masks'][first:first + n]
                results.append(found)
                first += n
        return results

    def _validate_images(self, images):
        images = np.asarray(images)
        if not np.issubdtype(images.dtype, np.number) \
                or np.issubdtype(images.dtype, np.complexfloating):
            msg = f'images must be real numbers, got dtype {images.dtype}'
            raise TypeError(msg)
        size = self.config.image_size
        expected = (size, size, self.config.n_bands)
        if images.ndim != 4 or images.shape[1:] != expected:
            msg = (f'images must have shape (n, {size}, {size}, '
                   f'{self.config.n_bands}) for this model, got '
                   f'{images.shape}')
            raise ValueError(msg)
        if not np.all(np.isfinite(images)):
            msg = ('images contain NaN or inf values; normalize them with '
                   'galseg.normalize_image first')
            raise ValueError(msg)
        return images.astype(np.float32, copy=False)


def _padded_batch_size(n_images, batch_size):
    """
    The batch size that ``n_images`` images are padded to.

    The next power of two, at most ``batch_size``: one image runs as a
    batch of one, and the network is traced for a few batch sizes only.
    """
    return min(batch_size, 1 << max(n_images - 1, 0).bit_length())


def paste_masks(masks, boxes, height, width):
    """
    Resample box-relative masks into full images.

    Parameters
    ----------
    masks : tensor (n, m, m)
        Mask probabilities over each box.
    boxes : tensor (n, 4)
        The boxes, pixel-edge coordinates.
    height, width : int
        Size of the output images.

    Returns
    -------
    full : tensor (n, height, width)
        Zero outside each box; bilinear inside, falling to zero at the
        box edges.
    """
    masks = tf.convert_to_tensor(masks, tf.float32)
    boxes = tf.convert_to_tensor(boxes, tf.float32)
    size = tf.cast(tf.shape(masks)[1], tf.float32)
    padded = tf.pad(masks, [[0, 0], [1, 1], [1, 1]])[..., None]
    last = size + 1.0  # index of the last padded cell
    box_h = tf.maximum(boxes[:, 2] - boxes[:, 0], 1e-3)
    box_w = tf.maximum(boxes[:, 3] - boxes[:, 1], 1e-3)
    start_y = ((0.5 - boxes[:, 0]) * size / box_h + 0.5) / last
    start_x = ((0.5 - boxes[:, 1]) * size / box_w + 0.5) / last
    end_y = start_y + (height - 1) * size / box_h / last
    end_x = start_x + (width - 1) * size / box_w / last
    full = tf.image.crop_and_resize(
        padded, tf.stack([start_y, start_x, end_y, end_x], axis=1),
        tf.range(tf.shape(masks)[0]), [height, width],
        extrapolation_value=0.0)
    return full[..., 0]
