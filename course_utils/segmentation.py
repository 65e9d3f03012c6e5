"""Segmentation without and with labels: thresholds, clusters, components, and their scores.

* ``histogram`` and ``otsu_threshold``: Otsu's method, computed from a grey-level histogram
  (the same numbers as ``skimage.filters.threshold_otsu``).
* ``kmeans``: Lloyd's algorithm on pixel intensities or colours (the same clusters as
  ``sklearn.cluster.KMeans`` started from the same centres).
* ``label_components``: connected components of a binary mask by breadth-first search (the same
  labels as ``scipy.ndimage.label``).
* ``iou_score`` and ``dice_score``: how well a predicted mask overlaps the true one (the same
  numbers as ``sklearn.metrics.jaccard_score`` / ``f1_score`` on the flattened masks with
  ``zero_division=1.0``: two empty masks agree perfectly).
* ``overlay_mask``: a mask drawn in colour over a grey image, for figures.

Masks are boolean (or 0/1) NumPy arrays or tensors; images are ``(H, W)`` grey or ``(H, W, 3)``.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import torch


def _as_numpy(array) -> np.ndarray:
    if isinstance(array, torch.Tensor):
        return array.detach().cpu().numpy()
    return np.asarray(array)


def _grey_image(image) -> np.ndarray:
    """A NumPy array of grey levels: integers or reals, not a mask and not complex."""
    image = _as_numpy(image)
    if image.dtype == bool:
        raise TypeError(
            "a boolean image is already split into two classes, so it has no "
            "threshold to find: pass image.astype(np.uint8) to threshold 0/1 levels"
        )
    if not (np.issubdtype(image.dtype, np.integer) or np.issubdtype(image.dtype, np.floating)):
        raise TypeError(f"the image must hold integer or real grey levels, got {image.dtype}")
    return image


# --------------------------------------------------------------------------------------------
# Otsu's threshold
# --------------------------------------------------------------------------------------------


def histogram(image, nbins: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Grey-level histogram ``(counts, bin_centers)`` of an image, binned as scikit-image does.

    Integer images get one bin per grey level from their minimum to their maximum; real-valued
    images get ``nbins`` equal bins spanning their range.
    """
    image = _grey_image(image)
    if image.size == 0:
        raise ValueError("histogram got an empty image")
    if np.issubdtype(image.dtype, np.integer):
        low = int(image.min())
        counts = np.bincount(image.ravel().astype(np.int64) - low)
        return counts, np.arange(low, low + len(counts))
    if not np.all(np.isfinite(image)):
        raise ValueError("histogram got an image with NaN or infinite values")
    counts, edges = np.histogram(image, bins=nbins, range=(image.min(), image.max()))
    return counts, (edges[:-1] + edges[1:]) / 2


def otsu_threshold(counts, bin_centers) -> float:
    """Otsu's threshold from a histogram: the bin centre that best splits it into two classes.

    Splitting after bin ``k`` makes a dark class (bins ``0..k``) with weight ``w0`` and mean
    ``m0`` and a bright class with ``w1`` and ``m1``. Otsu picks the ``k`` that maximises the
    between-class variance ``w0 * w1 * (m0 - m1) ** 2`` (equivalently, minimises the spread
    within the classes) and returns ``bin_centers[k]``: pixels *above* it are foreground.
    """
    counts = _as_numpy(counts).astype(np.float64)
    bin_centers = _as_numpy(bin_centers).astype(np.float64)
    if counts.ndim != 1 or counts.shape != bin_centers.shape:
        raise ValueError(
            f"counts and bin_centers must be 1-D and equally long, got {counts.shape} and "
            f"{bin_centers.shape}"
        )
    if counts.sum() <= 0 or np.any(counts < 0):
        raise ValueError("the histogram needs non-negative counts and at least one pixel")
    if np.count_nonzero(counts) == 1:  # one grey level only: nothing to split
        return float(bin_centers[np.flatnonzero(counts)[0]])
    # Class weights and sums for every split "bins 0..k | bins k+1..end".
    w0 = np.cumsum(counts)[:-1]
    w1 = np.cumsum(counts[::-1])[::-1][1:]
    sum0 = np.cumsum(counts * bin_centers)[:-1]
    sum1 = np.cumsum((counts * bin_centers)[::-1])[::-1][1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        between = w0 * w1 * (sum0 / w0 - sum1 / w1) ** 2
    between = np.nan_to_num(between, nan=-1.0)  # an empty class is never a split
    return float(bin_centers[int(np.argmax(between))])


def otsu_threshold_image(image, nbins: int = 256) -> float:
    """Otsu's threshold of an image: ``otsu_threshold(*histogram(image, nbins))``.

    An image of one grey level has nothing to split: its threshold is that level. A boolean
    image is refused: it is already two classes (scikit-image returns a meaningless 1/512).
    """
    image = _grey_image(image)
    if image.size and image.min() == image.max():
        return float(image.flat[0])
    return otsu_threshold(*histogram(image, nbins))


# --------------------------------------------------------------------------------------------
# k-means
# --------------------------------------------------------------------------------------------


def kmeans(
    points, k: int, iterations: int = 100, seed: int = 0, init=None, tolerance: float = 1e-4
) -> tuple[np.ndarray, np.ndarray]:
    """Lloyd's k-means: ``(labels (N,), centres (k, D))`` for ``points`` of shape ``(N, D)``.

    Starts from ``init`` (``(k, D)``) or from ``k`` distinct points drawn at random, then
    alternates two steps until the centres stop moving (relative shift below ``tolerance``, as
    scikit-learn measures it): give each point the label of its nearest centre, and move each
    centre to the mean of its points. A centre that loses all its points stays where it was.
    """
    points = _as_points(points)
    if not 1 <= k <= len(points):
        raise ValueError(f"k must be between 1 and the number of points ({len(points)}), got {k}")
    if init is None:
        rng = np.random.default_rng(seed)
        centres = points[rng.choice(len(points), size=k, replace=False)].copy()
    else:
        centres = np.array(_as_numpy(init), dtype=np.float64).reshape(k, points.shape[1])
    # scikit-learn's stopping rule: squared shift against the mean variance of the features.
    scale = tolerance * np.mean(np.var(points, axis=0))
    for _ in range(iterations):
        labels = _nearest_centre(points, centres)
        new_centres = centres.copy()
        for j in range(k):
            members = points[labels == j]
            if len(members):
                new_centres[j] = members.mean(axis=0)
        shift = np.sum((new_centres - centres) ** 2)
        centres = new_centres
        if shift <= scale:
            break
    return _nearest_centre(points, centres), centres


def _as_points(points) -> np.ndarray:
    """``(N, D)`` float64 points with ``N > 0`` (a 1-D input is N points of one feature)."""
    points = _as_numpy(points)
    if np.iscomplexobj(points):
        raise TypeError("k-means needs real points; pass their .real and .imag as two features")
    points = points.astype(np.float64)
    if points.ndim == 1:
        points = points[:, None]
    if points.ndim != 2 or len(points) == 0:
        raise ValueError(f"points must be (N, D) with N > 0, got shape {points.shape}")
    return points


def _nearest_centre(points: np.ndarray, centres: np.ndarray) -> np.ndarray:
    distances = ((points[:, None, :] - centres[None, :, :]) ** 2).sum(axis=-1)
    return distances.argmin(axis=1)


# --------------------------------------------------------------------------------------------
# Connected components
# --------------------------------------------------------------------------------------------


def label_components(mask, connectivity: int = 1) -> tuple[np.ndarray, int]:
    """Label the connected regions of a 2-D binary mask: ``(labels (H, W) int32, count)``.

    Background is 0; regions are numbered 1, 2, ... in the order a raster scan (row by row)
    first meets them. ``connectivity=1`` joins the 4 edge neighbours, ``2`` also the diagonal
    ones (8 neighbours), as in ``scipy.ndimage.label`` / ``skimage.measure.label``.
    """
    mask = _as_numpy(mask).astype(bool)
    if mask.ndim != 2:
        raise ValueError(f"label_components needs a 2-D mask, got shape {mask.shape}")
    if connectivity not in (1, 2):
        raise ValueError(f"connectivity must be 1 (4 neighbours) or 2 (8), got {connectivity}")
    steps = [(-1, 0), (1, 0), (0, -1), (0, 1)]
    if connectivity == 2:
        steps += [(-1, -1), (-1, 1), (1, -1), (1, 1)]
    height, width = mask.shape
    labels = np.zeros(mask.shape, dtype=np.int32)
    count = 0
    for start in zip(*np.nonzero(mask), strict=True):  # raster order
        if labels[start]:
            continue
        count += 1
        labels[start] = count
        queue = deque([start])
        while queue:  # flood the region from its first pixel
            row, col = queue.popleft()
            for d_row, d_col in steps:
                r, c = row + d_row, col + d_col
                if 0 <= r < height and 0 <= c < width and mask[r, c] and not labels[r, c]:
                    labels[r, c] = count
                    queue.append((r, c))
    return labels, count


# --------------------------------------------------------------------------------------------
# Scores
# --------------------------------------------------------------------------------------------


def _binary_pair(pred, target) -> tuple[np.ndarray, np.ndarray]:
    pred, target = _as_numpy(pred), _as_numpy(target)
    if pred.shape != target.shape:
        raise ValueError(f"masks differ in shape: {pred.shape} and {target.shape}")
    for name, mask in (("prediction", pred), ("target", target)):
        if mask.dtype != bool and not np.isin(mask, (0, 1)).all():
            raise ValueError(f"the {name} mask must be boolean or 0/1; threshold it first")
    return pred.astype(bool), target.astype(bool)


def iou_score(pred, target) -> float:
    """Intersection over union (Jaccard index) of two binary masks of the same shape.

    ``|P ∩ T| / |P ∪ T|``; two empty masks agree perfectly (1.0).
    """
    pred, target = _binary_pair(pred, target)
    union = np.logical_or(pred, target).sum()
    if union == 0:
        return 1.0
    return float(np.logical_and(pred, target).sum() / union)


def dice_score(pred, target) -> float:
    """Dice coefficient (F1 score of the foreground pixels) of two binary masks.

    ``2 |P ∩ T| / (|P| + |T|)``; two empty masks agree perfectly (1.0).
    Dice and IoU rank predictions the same way: ``dice = 2 iou / (1 + iou)``.
    """
    pred, target = _binary_pair(pred, target)
    total = pred.sum() + target.sum()
    if total == 0:
        return 1.0
    return float(2 * np.logical_and(pred, target).sum() / total)


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------


def overlay_mask(
    image,
    mask,
    color=(1.0, 0.2, 0.2),
    alpha: float = 0.45,
    outline=None,
    outline_color=(0.2, 1.0, 0.2),
) -> np.ndarray:
    """An RGB picture ``(H, W, 3)`` in [0, 1]: ``image`` with ``mask`` tinted in ``color``.

    ``image`` is grey ``(H, W)`` or RGB ``(H, W, 3)``, any range (scaled to [0, 1]). An optional
    second mask ``outline`` (e.g. the ground truth) is drawn as its one-pixel boundary.
    """
    image = _as_numpy(image).astype(np.float64)
    if image.ndim == 3 and image.shape[0] in (1, 3) and image.shape[-1] not in (1, 3):
        image = np.moveaxis(image, 0, -1)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    low, high = image.min(), image.max()
    image = (image - low) / (high - low) if high > low else np.zeros_like(image)
    rgb = np.repeat(image[..., None], 3, axis=-1) if image.ndim == 2 else image.copy()
    mask = _as_numpy(mask).astype(bool)
    if mask.shape != rgb.shape[:2]:
        raise ValueError(f"mask shape {mask.shape} does not match image shape {rgb.shape[:2]}")
    rgb[mask] = (1 - alpha) * rgb[mask] + alpha * np.asarray(color)
    if outline is not None:
        rgb[mask_boundary(outline)] = outline_color
    return rgb


def mask_boundary(mask) -> np.ndarray:
    """The pixels of a binary mask that touch the background (4-neighbourhood), as a mask."""
    mask = _as_numpy(mask).astype(bool)
    padded = np.pad(mask, 1, mode="constant", constant_values=False)
    interior = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    return mask & ~interior
