"""The full outcome of deblending an image: `DeblendResult`."""

import numpy as np

__all__ = ['DeblendResult']


class DeblendResult:
    """
    Everything `~galseg.MaskRCNNDeblender.deblend` found in an image.

    Source ``i`` (counting from 0) has label ``i + 1`` in the
    segmentation image and is row ``i`` of the catalog; labels follow
    decreasing detection score.  Per-source arrays are kept as cutouts
    in the source's bounding box, so a result for a large image stays
    small.

    Parameters
    ----------
    segmentation_image : `~photutils.segmentation.SegmentationImage`
        Each pixel labelled with the source most probably there.
    catalog : `~astropy.table.QTable`
        One row per source.  Besides the default columns of
        `~photutils.segmentation.SourceCatalog`: ``score`` (detection
        confidence in (0, 1]), ``deblended_flux`` (the total flux: the
        flux of the source's deblended image in its Kron aperture; a
        1-D column for one band, a 2-D column of shape ``(n_sources,
        n_bands)`` otherwise, in the data's unit), ``deblended_flux_err``
        (its error, when the data have errors: the data errors times the
        source's share of each pixel, in the same aperture),
        ``classification`` (``'galaxy'`` or ``'star'``) and
        ``class_score``, ``parent`` (the label of the source's parent:
        the connected group of sources whose masks overlap or touch, see
        `parent_segmentation_image`), ``n_children`` (the number of
        sources of that parent; 1 for an isolated source), ``nn_dist``
        (pixels to the nearest other source's centroid) and ``flags``
        (a bitmask, see `galseg.catalog.FLAGS`: 1 blended, 2 touches the
        image edge, 4 crosses a tile seam, 8 next to masked pixels, 16
        deblended flux unreliable).
    scores : `~numpy.ndarray`
        float32 detection confidences, decreasing.
    classes : `~numpy.ndarray`
        int32 predicted classes (1 = galaxy, 2 = star).
    boxes : `~numpy.ndarray`
        float32 ``(n_sources, 4)`` boxes predicted by the network,
        ``(ymin, xmin, ymax, xmax)`` in pixel-edge image coordinates.
    bboxes : list of `~photutils.aperture.BoundingBox`
        The bounding box of each source's instance mask (the pixels
        whose mask probability reaches ``mask_threshold``).
    mask_cutouts : list of `~numpy.ndarray`
        float32 mask probabilities inside each bounding box.
    deblended_images : list of `~numpy.ndarray`
        Each source's share of the background-subtracted data, of shape
        ``(n_bands, height, width)`` inside ``deblended_bboxes`` (the
        box of its segment, its instance mask grown by the deblender's
        ``flux_dilation`` and its Kron aperture; zero at masked
        pixels).  The shares of a pixel add up to one (see
        `galseg.segmentation.flux_shares`), so the deblended images add
        up to the data.
    mask_threshold : float
        The threshold that turns probabilities into instance masks.
    detection_image : `~numpy.ndarray`, optional
        The band-summed background-subtracted data (NaN where masked),
        drawn by `plot`.
    unit : `~astropy.units.Unit`, optional
        The unit of the data and of the deblended images.
    wcs : WCS object, optional
        The world coordinate system of the image.
    deblended_bboxes : list of `~photutils.aperture.BoundingBox`, optional
        The bounding box of each deblended image; by default
        ``bboxes`` (deblended images measured inside the instance
        masks).
    """

    def __init__(self, segmentation_image, catalog, scores, classes, boxes,
                 bboxes, mask_cutouts, deblended_images, mask_threshold,
                 detection_image=None, unit=None, wcs=None,
                 deblended_bboxes=None):
        self.segmentation_image = segmentation_image
        self.catalog = catalog
        self.scores = scores
        self.classes = classes
        self.boxes = boxes
        self.bboxes = bboxes
        self.mask_cutouts = mask_cutouts
        self.deblended_images = deblended_images
        self.deblended_bboxes = (list(bboxes) if deblended_bboxes is None
                                 else deblended_bboxes)
        self.mask_threshold = mask_threshold
        self.detection_image = detection_image
        self.unit = unit
        self.wcs = wcs

    def __repr__(self):
        return (f'<{type(self).__name__}: {self.n_sources} sources in a '
                f'{self.shape[0]}x{self.shape[1]} image>')

    def __len__(self):
        return self.n_sources

    @property
    def n_sources(self):
        """The number of sources."""
        return len(self.scores)

    @property
    def labels(self):
        """The labels of the sources, ``1`` to ``n_sources``."""
        return np.arange(1, self.n_sources + 1)

    @property
    def shape(self):
        """``(ny, nx)`` of the image."""
        return self.segmentation_image.shape

    @property
    def parent_segmentation_image(self):
        """
        The segmentation image of the parents, before deblending.

        Every pixel of a source is labelled with the source's ``parent``
        (catalog column): the connected groups of sources whose masks
        overlap or touch, as a `~photutils.segmentation.SegmentationImage`
        (an isolated source is its own parent).
        """
        from photutils.segmentation import SegmentationImage

        parent = np.concatenate([[0], np.asarray(self.catalog['parent'])])
        return SegmentationImage(parent[self.segmentation_image.data])

    def _index(self, label):
        label = int(label)
        if not 1 <= label <= self.n_sources:
            msg = f'label must be in 1..{self.n_sources}, got {label}'
            raise ValueError(msg)
        return label - 1

    def instance_mask(self, label):
        """
        One source's instance mask over the whole image.

        Parameters
        ----------
        label : int

        Returns
        -------
        mask : `~numpy.ndarray`
            bool ``(ny, nx)``: where its mask probability reaches
            ``mask_threshold`` (it may overlap other sources' masks).
        """
        index = self._index(label)
        mask = np.zeros(self.shape, dtype=bool)
        mask[_slices(self.bboxes[index])] = (
            self.mask_cutouts[index] >= self.mask_threshold)
        return mask

    def instance_masks(self):
        """
        All instance masks over the whole image.

        This allocates ``n_sources * ny * nx`` booleans; for large
        images use `instance_mask`, or `bboxes` and `mask_cutouts`.

        Returns
        -------
        masks : `~numpy.ndarray`
            bool ``(n_sources, ny, nx)``; ``masks[i]`` belongs to label
            ``i + 1``.  Masks may overlap.
        """
        masks = np.zeros((self.n_sources,) + self.shape, dtype=bool)
        for index in range(self.n_sources):
            masks[index] = self.instance_mask(index + 1)
        return masks

    def deblended_image(self, label):
        """
        One source's deblended image over the whole image.

        Parameters
        ----------
        label : int

        Returns
        -------
        image : `~numpy.ndarray`
            float32 ``(n_bands, ny, nx)``, zero outside the source.
        """
        index = self._index(label)
        cutout = self.deblended_images[index]
        image = np.zeros((cutout.shape[0],) + self.shape, dtype=np.float32)
        slices = _slices(self.deblended_bboxes[index])
        image[(slice(None),) + slices] = cutout
        return image

    def plot(self, ax=None, labels=True, outlines=True):
        """
        Draw the image with the sources' outlines and labels.

        Parameters
        ----------
        ax : `matplotlib.axes.Axes`, optional
            Where to draw; a new figure by default.
        labels : bool, optional
            Whether to write each source's label at its centroid.
        outlines : bool, optional
            Whether to draw the outline of each segment.

        Returns
        -------
        ax : `matplotlib.axes.Axes`
        """
        import matplotlib.pyplot as plt
        from astropy.visualization import simple_norm
        from matplotlib.colors import ListedColormap

        if ax is None:
            _, ax = plt.subplots()
        image = self.detection_image
        if image is None:
            image = np.zeros(self.shape, dtype=np.float32)
        finite = image[np.isfinite(image)]
        norm = None
        if finite.size and np.ptp(finite) > 0:
            norm = simple_norm(finite, 'asinh', percent=99.5)
        ax.imshow(image, origin='lower', cmap='Greys_r', norm=norm,
                  interpolation='nearest')
        colours = plt.get_cmap('tab10').colors
        if outlines and self.n_sources:
            outline = _outline(self.segmentation_image.data)
            cmap = ListedColormap(colours)
            ax.imshow(np.ma.masked_equal(outline, 0), origin='lower',
                      cmap=cmap, vmin=0.5, vmax=10.5,
                      interpolation='nearest')
        if labels and self.n_sources:
            for index, row in enumerate(self.catalog):
                ax.text(float(row['x_centroid']), float(row['y_centroid']),
                        str(int(row['label'])), color=colours[index % 10],
                        ha='center', va='center', fontsize='small')
        ax.set_xlabel('x [pixel]')
        ax.set_ylabel('y [pixel]')
        return ax


def _slices(bbox):
    """The ``(y, x)`` slices of a `~photutils.aperture.BoundingBox`."""
    return slice(bbox.iymin, bbox.iymax), slice(bbox.ixmin, bbox.ixmax)


def _outline(labels):
    """Inner outline pixels of each label, coloured 1..10 in turn."""
    from skimage.segmentation import find_boundaries

    edge = find_boundaries(labels, connectivity=1, mode='inner')
    return np.where(edge & (labels > 0), (labels - 1) % 10 + 1, 0)
