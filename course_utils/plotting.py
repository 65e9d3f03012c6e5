"""Figures that several chapters draw: image grids, kernels and feature maps, training curves.

Each function draws into a new figure and returns it, so a chapter can add to it or save it; in
a notebook the figure shows itself. Tensors may live on any device: they are moved to the CPU.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.ticker import MaxNLocator


def to_numpy_image(image) -> np.ndarray:
    """Turn a tensor or array into something ``imshow`` draws.

    Accepts ``(H, W)``, ``(C, H, W)`` with C in {1, 3} (PyTorch's layout) or ``(H, W, C)``.
    Returns ``(H, W)`` or ``(H, W, 3)``.
    """
    if isinstance(image, torch.Tensor):
        image = image.detach().to("cpu", torch.float32).numpy()
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[0] in (1, 3) and image.shape[-1] not in (1, 3):
        image = np.moveaxis(image, 0, -1)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim not in (2, 3):
        raise ValueError(f"expected a 2-D image or a 3-D one with channels, got {image.shape}")
    return image


def show_images(
    images: Sequence,
    titles: Sequence[str] | None = None,
    ncols: int | None = None,
    cmap: str = "gray",
    size: float = 2.5,
    colorbar: bool = False,
    suptitle: str | None = None,
    **imshow_kwargs,
):
    """Draw images in a grid, each with an optional title; return the figure.

    ``images`` is a sequence (or a batch tensor ``(N, H, W)`` / ``(N, C, H, W)``).
    """
    images = list(images)
    if not images:
        raise ValueError("show_images needs at least one image")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"got {len(images)} images but {len(titles)} titles")
    ncols = ncols or min(len(images), 6)
    nrows = math.ceil(len(images) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    for index, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if index >= len(images):
            continue
        shown = ax.imshow(to_numpy_image(images[index]), cmap=cmap, **imshow_kwargs)
        if titles is not None:
            ax.set_title(titles[index], fontsize=9)
        if colorbar:
            fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.04)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def show_kernels(
    weights: torch.Tensor,
    max_kernels: int = 64,
    ncols: int = 8,
    title: str | None = None,
    annotate: bool = False,
):
    """Draw convolution kernels or feature maps, each on its own symmetric colour scale.

    ``weights``: ``(K, K)`` (one kernel), ``(C, H, W)`` (feature maps, one per channel), or a
    layer's weight ``(C_out, C_in, K, K)``; for the latter, kernels with 3 input channels are
    drawn as RGB images, others as their first input channel. Red is positive, blue negative.
    ``annotate`` writes each value, to two decimals, into its cell (for small kernels), and
    draws the cells large enough to read.
    """
    weights = torch.as_tensor(weights).detach().to("cpu", torch.float32)
    if weights.ndim == 2:
        weights = weights[None]
    if weights.ndim == 4:
        if weights.shape[1] == 3:
            return _show_rgb_kernels(weights[:max_kernels], ncols, title)
        weights = weights[:, 0]
    if weights.ndim != 3:
        raise ValueError(f"expected 2, 3 or 4 dimensions, got shape {tuple(weights.shape)}")
    weights = weights[:max_kernels]
    count = weights.shape[0]
    ncols = min(ncols, count)
    nrows = math.ceil(count / ncols)
    side = 1.6 if count > 1 else 3.0
    if annotate:
        side = max(side, 0.8 * max(weights.shape[-2:]) + 0.6)
    fig, axes = plt.subplots(nrows, ncols, figsize=(side * ncols, side * nrows), squeeze=False)
    for index, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if index >= count:
            continue
        kernel = weights[index].numpy()
        limit = float(np.abs(kernel).max()) or 1.0
        ax.imshow(kernel, cmap="RdBu_r", vmin=-limit, vmax=limit)
        if annotate:
            for (row, col), value in np.ndenumerate(kernel):
                ax.text(col, row, _two_decimals(value), ha="center", va="center", fontsize=9)
        if count > 1:
            ax.set_title(str(index), fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def _two_decimals(value: float) -> str:
    """``1.0 -> '1'``, ``-0.333 -> '-0.33'``, ``1e-05 -> '0'``: short labels for kernel cells."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _show_rgb_kernels(weights: torch.Tensor, ncols: int, title: str | None):
    count = weights.shape[0]
    ncols = min(ncols, count)
    nrows = math.ceil(count / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.2 * ncols, 1.2 * nrows), squeeze=False)
    for index, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if index >= count:
            continue
        kernel = weights[index]
        kernel = (kernel - kernel.min()) / (kernel.max() - kernel.min() + 1e-12)
        ax.imshow(kernel.permute(1, 2, 0).numpy())
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_history(
    histories: Mapping[str, Mapping[str, Sequence[float]]] | Mapping[str, Sequence[float]],
    title: str | None = None,
):
    """Plot training curves: one panel per metric, one line per run.

    ``histories`` is either one run's history, ``{"train_loss": [...], "test_acc": [...]}``, or
    several runs by name, ``{"with BN": history, "without BN": history}``. Metrics whose names
    share a suffix (``train_loss`` and ``test_loss``) share a panel.
    """
    if histories and all(isinstance(v, Mapping) for v in histories.values()):
        runs = dict(histories)
    else:
        runs = {"": histories}
    panels: dict[str, list[tuple[str, str, Sequence[float]]]] = {}
    for run_name, history in runs.items():
        for metric, values in history.items():
            if not isinstance(values, Sequence) or not len(values):
                continue
            panel = metric.split("_")[-1]
            label = " ".join(part for part in (run_name, metric.replace("_", " ")) if part)
            panels.setdefault(panel, []).append((label, metric, values))
    if not panels:
        raise ValueError("plot_history found no metric with values to plot")
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 3.2), squeeze=False)
    for ax, (panel, lines) in zip(axes.flat, panels.items(), strict=True):
        for label, _, values in lines:
            epochs = np.arange(1, len(values) + 1)
            ax.plot(epochs, values, marker="o", markersize=3, label=label)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # no epoch 1.5
        ax.set_ylabel({"acc": "accuracy"}.get(panel, panel))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
