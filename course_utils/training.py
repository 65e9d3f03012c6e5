"""A small, readable training loop shared by the chapters and exercises.

``fit`` trains a classifier for a few epochs and returns its history (loss and accuracy per
epoch), which ``course_utils.plotting.plot_history`` draws. ``train_on_random_batches`` is the
loop of the detectors (``course_utils.ssd``, ``course_utils.detectors``): random mini-batches,
a sum of named losses, SGD with a one-cycle schedule. The device comes from
``get_device()``; the progress bar shows on a terminal and stays quiet in the built book.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import torch
from torch import nn
from torch.utils.data import DataLoader

from course_utils.runtime import get_device


def progress(iterable, description: str = "", total: int | None = None, enabled=None):
    """Wrap ``iterable`` in a tqdm bar on a terminal; return it unchanged elsewhere."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=description, total=total, leave=False)


@torch.no_grad()
def evaluate(
    model: nn.Module, loader: DataLoader, loss_fn=None, device=None
) -> tuple[float, float]:
    """Mean loss and accuracy of a classifier over ``loader`` (batches of ``(X, y)``).

    The model is put in evaluation mode (dropout off, batch norm uses running statistics).
    """
    device = device or get_device()
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    model.eval()
    total_loss, correct, count = 0.0, 0, 0
    for X, y in loader:
        X, y = X.to(device), y.to(device)
        logits = model(X)
        total_loss += float(loss_fn(logits, y)) * len(y)
        correct += int((logits.argmax(dim=1) == y).sum())
        count += len(y)
    if count == 0:
        raise ValueError("evaluate got an empty data loader")
    return total_loss / count, correct / count


def fit(
    model: nn.Module,
    train_loader: DataLoader,
    test_loader: DataLoader | None = None,
    epochs: int = 5,
    lr: float = 0.1,
    optimizer: torch.optim.Optimizer | None = None,
    loss_fn: Callable | None = None,
    device: torch.device | None = None,
    show_progress=None,
) -> dict[str, list[float]]:
    """Train a classifier with mini-batch SGD (or the optimizer given) and return its history.

    Batches are ``(X, y)`` with ``X: (B, C, H, W)`` and integer labels ``y: (B,)``.
    The history has one value per epoch for ``train_loss``, ``train_acc``, ``epoch_seconds``
    and, with a ``test_loader``, ``test_loss`` and ``test_acc``.
    """
    device = device or get_device()
    model.to(device)
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    optimizer = optimizer or torch.optim.SGD(model.parameters(), lr=lr)
    history: dict[str, list[float]] = {"train_loss": [], "train_acc": [], "epoch_seconds": []}
    if test_loader is not None:
        history.update(test_loss=[], test_acc=[])
    for epoch in range(epochs):
        model.train()
        started = time.perf_counter()
        total_loss, correct, count = 0.0, 0, 0
        for X, y in progress(train_loader, f"epoch {epoch + 1}/{epochs}", enabled=show_progress):
            X, y = X.to(device), y.to(device)
            logits = model(X)
            loss = loss_fn(logits, y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total_loss += loss.item() * len(y)
            correct += int((logits.argmax(dim=1) == y).sum())
            count += len(y)
        history["epoch_seconds"].append(time.perf_counter() - started)
        history["train_loss"].append(total_loss / count)
        history["train_acc"].append(correct / count)
        if test_loader is not None:
            test_loss, test_acc = evaluate(model, test_loader, loss_fn, device)
            history["test_loss"].append(test_loss)
            history["test_acc"].append(test_acc)
    return history


def train_on_random_batches(
    model: nn.Module,
    batch_losses: Callable[[torch.Tensor], dict[str, torch.Tensor]],
    n_examples: int,
    iterations: int,
    batch_size: int,
    lr: float,
    seed: int = 0,
) -> dict[str, list[float]]:
    """Minimise the sum of named losses over random mini-batches, with SGD and a one-cycle schedule.

    Each iteration draws ``(batch_size,)`` indices into ``range(n_examples)`` (with replacement,
    from a generator seeded with ``seed``) and calls ``batch_losses(indices)``, which returns the
    batch's named 0-d losses. SGD has momentum 0.9 and weight decay 1e-4; the learning rate rises
    to ``lr`` over the first 10 % of the iterations and then anneals. Returns the history
    ``{"loss": [...], <each named loss>: [...], "seconds": [total]}``, one value per iteration.
    """
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=lr, total_steps=iterations, pct_start=0.1
    )
    generator = torch.Generator().manual_seed(seed)
    history: dict[str, list[float]] = {"loss": []}
    started = time.perf_counter()
    for _ in range(iterations):
        losses = batch_losses(torch.randint(n_examples, (batch_size,), generator=generator))
        loss = sum(losses.values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        history["loss"].append(loss.item())
        for name, value in losses.items():
            history.setdefault(name, []).append(value.item())
    history["seconds"] = [time.perf_counter() - started]
    return history


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of scalar parameters (only those with ``requires_grad`` if asked)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
