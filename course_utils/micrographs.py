"""Synthetic electron micrographs of nanoparticles, with masks, instance labels and boxes.

``micrographs(n, size, seed)`` simulates a microscope (particles on a carbon film, uneven
illumination, probe blur, shot noise) and returns a :class:`Micrographs` stack: the data of the
detection and segmentation chapters, generated, any size, seeded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage

MICROGRAPH_SHAPES = ("blob", "ellipse", "polygon")


@dataclass(frozen=True)
class Micrographs:
    """A stack of synthetic micrographs with everything a detector or a segmenter needs.

    Attributes (``n`` images of ``H x W`` pixels, image ``i`` holding ``k_i`` particles):

    * ``images``: ``(n, 1, H, W)`` float32, the noisy micrographs (mean background about 0.2 in
      dark field, where particles are bright; about 0.9 in bright field, where they are dark).
    * ``masks``: ``(n, H, W)`` bool, the semantic masks (True on every particle pixel).
    * ``labels``: ``(n, H, W)`` int64, the instance label images: 0 is background and
      ``1..k_i`` number the particles of image ``i`` in the order of ``boxes[i]``.
    * ``boxes``: a list of ``n`` float32 tensors ``(k_i, 4)``, one box per particle in ``xyxy``
      pixel-edge coordinates: pixel ``(row r, column c)`` covers ``[c, c+1) x [r, r+1)``, so a box
      is ``(min column, min row, max column + 1, max row + 1)`` of its particle's pixels and its
      area is the number of pixels of the tightest enclosing rectangle.
    * ``clean``: ``(n, 1, H, W)`` float32, the same images before blur and shot noise.
    """

    images: torch.Tensor
    masks: torch.Tensor
    labels: torch.Tensor
    boxes: list[torch.Tensor]
    clean: torch.Tensor

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index) -> Micrographs:
        """A sub-stack: ``data[:100]``, ``data[[3, 5]]`` or ``data[4]`` (kept as a stack of 1)."""
        if isinstance(index, int):
            index = [index]
        positions = list(range(len(self)))[index] if isinstance(index, slice) else list(index)
        keep = torch.as_tensor(positions, dtype=torch.long)
        return Micrographs(
            self.images[keep],
            self.masks[keep],
            self.labels[keep],
            [self.boxes[i] for i in positions],
            self.clean[keep],
        )

    @property
    def counts(self) -> torch.Tensor:
        """``(n,)`` int64: the number of particles in each image."""
        return torch.tensor([len(b) for b in self.boxes], dtype=torch.int64)

    def instance_masks(self, i: int) -> torch.Tensor:
        """``(k_i, H, W)`` bool: the mask of each particle of image ``i``, as ordered in boxes."""
        k = len(self.boxes[i])
        ids = torch.arange(1, k + 1, dtype=self.labels.dtype)
        return self.labels[i][None] == ids[:, None, None]

    def detection_target(self, i: int) -> dict[str, torch.Tensor]:
        """Image ``i``'s annotations in the form torchvision's detection models train on.

        ``{"boxes": (k_i, 4) float32 xyxy, "labels": (k_i,) int64 (all 1: "particle"),
        "masks": (k_i, H, W) uint8}``.
        """
        k = len(self.boxes[i])
        return {
            "boxes": self.boxes[i].clone(),
            "labels": torch.ones(k, dtype=torch.int64),
            "masks": self.instance_masks(i).to(torch.uint8),
        }


def micrographs(
    n: int,
    size: int | tuple[int, int] = 64,
    seed: int = 0,
    *,
    particles: tuple[int, int] = (1, 6),
    radius: tuple[float, float] | None = None,
    contrast: tuple[float, float] = (0.35, 1.0),
    dose: float | None = 30.0,
    blur: float = 1.0,
    bright_field: bool = False,
    shapes: tuple[str, ...] = MICROGRAPH_SHAPES,
) -> Micrographs:
    """Synthetic electron micrographs of nanoparticles on a carbon film, with their annotations.

    Each image is made as a microscope would make it. Particles (round blobs, ellipses and faceted
    polygons, ``particles`` of them per image, not overlapping and wholly inside the frame) have
    radii drawn from ``radius`` pixels (default: 5 % to 12.5 % of the image side, so 3.2 to 8 at
    64x64) and a dome-shaped projected thickness scaled by a per-particle ``contrast``. They sit
    on an amorphous support film (a smooth random texture) under slightly uneven illumination.
    In dark field (HAADF-STEM, the default) intensity grows with thickness, so particles are
    bright; with ``bright_field=True`` the beam is absorbed, ``exp(-thickness)``, so particles
    are dark. The image is blurred by a Gaussian probe of ``blur`` pixels (standard deviation)
    and recorded with shot noise: the electron count of a pixel is Poisson with mean
    ``dose * intensity``, and the image is ``counts / dose`` (lower ``dose``, noisier image;
    ``dose=None`` gives the noiseless blurred image).

    Image ``i`` depends only on ``(seed, i)`` and the knobs: the same seed gives the same data,
    ``micrographs(10, seed=s)[:5]`` equals ``micrographs(5, seed=s)``, and changing only ``dose``
    or ``blur`` keeps the particles and the background and changes the noise and blur alone.
    A crowded image may hold fewer than ``particles[0]`` particles when no free place is found.

    Returns a :class:`Micrographs` (``images (n, 1, H, W)`` float32, ``masks (n, H, W)`` bool,
    ``labels (n, H, W)`` int64, ``boxes``: list of ``(k_i, 4)`` float32 xyxy, ``clean``).
    Speed: hundreds of 64x64 images per CPU-second (the detection chapter's first page measures
    it); it is vectorised over all particles of all images, and only the random draws loop over
    images.
    """
    side = min(size) if isinstance(size, (tuple, list)) else size
    radius = (0.05 * side, 0.125 * side) if radius is None else tuple(radius)
    height, width = _check_micrograph_args(n, size, particles, radius, contrast, dose, blur, shapes)
    # 1. Draw every image's particles and background from its own generator.
    drawn = [
        _draw_micrograph(
            np.random.default_rng([seed, i, 0]), height, width, particles, radius, contrast, shapes
        )
        for i in range(n)
    ]
    # 2. Render all particles of all images at once, each in a small square patch around it.
    thickness, labels = _render_particles(drawn, height, width, _REACH * radius[1])
    film = np.stack([d["film"] for d in drawn]) if n else np.zeros((0, height, width))
    slopes = np.array([d["slope"] for d in drawn]).reshape(n, 2, 1, 1)
    rows, cols = np.mgrid[0:height, 0:width] + 0.5  # pixel centres
    illumination = 1.0 + slopes[:, 0] * (rows / height - 0.5) + slopes[:, 1] * (cols / width - 0.5)

    # Amorphous carbon: white noise smoothed to a 2-pixel grain (which leaves a standard deviation
    # of 1 / (2 sqrt(pi) sigma)), scaled to a faint texture of standard deviation 0.06.
    grain = 2.0
    film = ndimage.gaussian_filter(film, sigma=(0, grain, grain))
    film *= 0.06 * 2 * np.sqrt(np.pi) * grain
    if bright_field:
        clean = illumination * 0.9 * np.exp(-(1.2 * thickness + film))
    else:
        clean = illumination * (0.2 + 0.6 * thickness + film)
    clean = np.clip(clean, 0.0, None)
    blurred = ndimage.gaussian_filter(clean, sigma=(0, blur, blur)) if blur > 0 else clean
    if dose is None:
        recorded = blurred
    else:
        recorded = np.empty_like(blurred)
        for i in range(n):
            noise_rng = np.random.default_rng([seed, i, 1])
            recorded[i] = noise_rng.poisson(dose * blurred[i]) / dose

    labels_t = torch.from_numpy(labels)
    boxes = [_boxes_from_labels(labels[i]) for i in range(n)]
    return Micrographs(
        images=torch.from_numpy(recorded.astype(np.float32)).unsqueeze(1),
        masks=labels_t > 0,
        labels=labels_t,
        boxes=boxes,
        clean=torch.from_numpy(clean.astype(np.float32)).unsqueeze(1),
    )


def _check_micrograph_args(n, size, particles, radius, contrast, dose, blur, shapes):
    """Validate ``micrographs``' arguments; return ``(height, width)``."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    height, width = (size, size) if isinstance(size, (int, np.integer)) else tuple(size)
    if min(height, width) < 16:
        raise ValueError(f"size {size!r} is too small: micrographs are at least 16x16 pixels")
    low_r, high_r = radius
    if not 1.5 <= low_r <= high_r:
        raise ValueError(f"radius must be (low, high) with 1.5 <= low <= high, got {radius!r}")
    if min(height, width) < 2 * 1.3 * high_r + 4:
        raise ValueError(
            f"size {size!r} is too small for particles of radius up to {high_r}: "
            f"use a size of at least {int(2 * 1.3 * high_r + 4)} pixels"
        )
    low_k, high_k = particles
    if not 0 <= low_k <= high_k:
        raise ValueError(f"particles must be (low, high) with 0 <= low <= high, got {particles!r}")
    if not 0 < contrast[0] <= contrast[1]:
        raise ValueError(f"contrast must be (low, high) with 0 < low <= high, got {contrast!r}")
    if dose is not None and not dose > 0:
        raise ValueError(
            f"dose must be a positive number of electrons per pixel or None, got {dose!r}"
        )
    if not blur >= 0:
        raise ValueError(f"blur must be a non-negative standard deviation, got {blur!r}")
    unknown = [s for s in shapes if s not in MICROGRAPH_SHAPES]
    if not shapes or unknown:
        raise ValueError(
            f"shapes must be a non-empty subset of {MICROGRAPH_SHAPES}, got {shapes!r}"
        )
    return int(height), int(width)


# Largest radius of a particle divided by its nominal radius (the blob's wobble reaches 1.24).
_REACH = 1.3


def _draw_micrograph(rng, height, width, particles, radius, contrast, shapes) -> dict:
    """All random choices of one image: its particles' geometry and contrast, film and light."""
    centres, radii = _place_particles(rng, height, width, particles, radius)
    k = len(radii)
    shape_choices = np.array([MICROGRAPH_SHAPES.index(s) for s in shapes])
    return {
        "centres": centres,  # (k, 2) row, column
        "radii": radii,  # (k,)
        "shape_ids": rng.choice(shape_choices, size=k),  # index into MICROGRAPH_SHAPES
        "phases": rng.uniform(0, 2 * np.pi, size=(k, 3)),  # orientations
        "wobbles": rng.uniform(-0.12, 0.12, size=(k, 2)),  # blob: 2- and 3-fold wobble
        "aspects": rng.uniform(1.3, 2.0, size=k),  # ellipse: major / minor axis
        "sides": rng.integers(4, 7, size=k),  # polygon: 4, 5 or 6 facets
        "weights": rng.uniform(*contrast, size=k),  # thickness scale
        "film": rng.standard_normal((height, width)),  # white noise of the support film
        "slope": rng.uniform(-0.15, 0.15, size=2),  # uneven illumination
    }


def _place_particles(rng, height, width, particles, radius):
    """Draw non-overlapping particles wholly in the frame: centres ``(k, 2)``, radii ``(k,)``."""
    wanted = int(rng.integers(particles[0], particles[1] + 1))
    centres = np.zeros((0, 2))
    radii = np.zeros(0)
    for _ in range(wanted):
        r = rng.uniform(*radius)
        reach = _REACH * r
        for _attempt in range(30):
            centre = rng.uniform([reach + 1, reach + 1], [height - reach - 1, width - reach - 1])
            gaps = np.hypot(*(centres - centre).T) - _REACH * (r + radii)
            if np.all(gaps > 1.0):
                centres = np.vstack([centres, centre])
                radii = np.append(radii, r)
                break
    return centres, radii


def _render_particles(drawn: list[dict], height: int, width: int, reach: float):
    """Thickness ``(n, H, W)`` float64 and instance labels ``(n, H, W)`` int64 of all particles.

    Each particle is star-shaped: its edge lies at distance ``R(theta)`` from its centre, and its
    projected thickness is a dome ``weight * sqrt(1 - (rho / R(theta))**2)`` inside the edge. All
    particles are evaluated together on patches of ``(2 h + 1)^2`` pixels around their centres
    (``h`` covers the largest ``reach``) and then added into padded canvases.
    """
    n = len(drawn)
    half = int(np.ceil(reach)) + 1
    image_of = np.concatenate(
        [np.full(len(d["radii"]), i) for i, d in enumerate(drawn)] + [np.zeros(0, dtype=int)]
    ).astype(int)
    number = np.concatenate(
        [np.arange(1, len(d["radii"]) + 1) for d in drawn] + [np.zeros(0, dtype=int)]
    ).astype(int)
    get = {
        key: np.concatenate([d[key] for d in drawn]) if n else np.zeros(0)
        for key in ("radii", "shape_ids", "aspects", "sides", "weights")
    }
    centres = np.concatenate([d["centres"] for d in drawn] + [np.zeros((0, 2))])
    phases = np.concatenate([d["phases"] for d in drawn] + [np.zeros((0, 3))])
    wobbles = np.concatenate([d["wobbles"] for d in drawn] + [np.zeros((0, 2))])
    phases = phases.astype(np.float32)[:, :, None, None]
    wobbles = wobbles.astype(np.float32)[:, :, None, None]

    corner = np.floor(centres).astype(int) - half  # (P, 2) top-left pixel of each patch
    offsets = (np.arange(2 * half + 1) + 0.5).astype(np.float32)
    shift = (corner - centres).astype(np.float32)[:, :, None, None]
    dy, dx = np.broadcast_arrays(shift[:, 0] + offsets[:, None], shift[:, 1] + offsets)
    # ratio = rho / R(theta): below 1 inside the particle, 1 on its edge. Written with cos and sin
    # of theta as dx / rho and dy / rho, which is much faster than angles and their cosines.
    ratio = np.empty(dx.shape, dtype=np.float32)
    kind = get["shape_ids"]
    for shape_id, shape_ratio in enumerate((_blob_ratio, _ellipse_ratio, _polygon_ratio)):
        chosen = kind == shape_id
        if chosen.any():
            ratio[chosen] = shape_ratio(
                dx[chosen],
                dy[chosen],
                phases[chosen],
                wobbles[chosen],
                get["aspects"][chosen],
                get["sides"][chosen],
            )
    ratio /= get["radii"][:, None, None].astype(np.float32)
    inside = ratio < 1
    dome = get["weights"][:, None, None] * np.sqrt(np.clip(1 - ratio**2, 0, None))

    size = 2 * half + 1
    thickness = np.zeros((n, height + 2 * size, width + 2 * size))
    labels = np.zeros((n, height + 2 * size, width + 2 * size), dtype=np.int64)
    for p, (i, (top, left)) in enumerate(zip(image_of, corner + size, strict=True)):
        thickness[i, top : top + size, left : left + size] += dome[p]
        labels[i, top : top + size, left : left + size] += inside[p] * number[p]
    crop = (slice(None), slice(size, size + height), slice(size, size + width))
    return thickness[crop], labels[crop]


def _blob_ratio(dx, dy, phases, wobbles, aspects, sides):
    """rho / R(theta) of a unit circle with 2- and 3-fold wobbles (patches ``(p, S, S)``)."""
    rho = np.hypot(dx, dy) + 1e-12
    c, s = dx / rho, dy / rho
    cos2, sin2 = c * c - s * s, 2 * c * s
    cos3, sin3 = c * (4 * c * c - 3), s * (3 - 4 * s * s)
    wobble2 = cos2 * np.cos(phases[:, 0]) + sin2 * np.sin(phases[:, 0])  # cos(2 theta - phase)
    wobble3 = cos3 * np.cos(phases[:, 1]) + sin3 * np.sin(phases[:, 1])  # cos(3 theta - phase)
    return rho / (1 + wobbles[:, 0] * wobble2 + wobbles[:, 1] * wobble3)


def _ellipse_ratio(dx, dy, phases, wobbles, aspects, sides):
    """rho / R(theta) of an ellipse with semi-axes 1 and 1 / aspect, turned by ``phases[:, 2]``."""
    cos, sin = np.cos(phases[:, 2]), np.sin(phases[:, 2])
    along, across = dx * cos + dy * sin, dy * cos - dx * sin
    return np.sqrt(along**2 + (aspects[:, None, None] * across) ** 2)


def _polygon_ratio(dx, dy, phases, wobbles, aspects, sides):
    """rho / R(theta) of a regular polygon of circumradius 1: the largest projection on a facet
    normal divided by the apothem ``cos(pi / sides)``."""
    m = sides[:, None, None, None].astype(np.float32)
    facet = np.arange(6, dtype=np.float32)[None, :, None, None] % m  # 4-gons repeat facets
    normal = phases[:, None, 2] + (2 * facet + 1) * np.pi / m  # (p, 6, 1, 1)
    projection = dx[:, None] * np.cos(normal) + dy[:, None] * np.sin(normal)
    return projection.max(axis=1) / np.cos(np.pi / m[:, 0])


def _boxes_from_labels(label_image: np.ndarray) -> torch.Tensor:
    """``(k, 4)`` float32 xyxy pixel-edge boxes of the particles ``1..k`` of a label image."""
    k = int(label_image.max())
    boxes = np.zeros((k, 4), dtype=np.float32)
    for j in range(1, k + 1):
        r, c = np.nonzero(label_image == j)
        boxes[j - 1] = (c.min(), r.min(), c.max() + 1, r.max() + 1)
    return torch.from_numpy(boxes)
