"""Three ways to use a pretrained backbone on a new task: frozen, fine-tuned, or from scratch."""

from __future__ import annotations

import math
import time

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course_utils.freezing import freeze_backbone, parameter_counts, parameter_groups
from course_utils.heads import embed, head_name
from course_utils.runtime import get_device, seed_everything
from course_utils.training import evaluate, fit

STRATEGIES = ("frozen", "fine-tune", "scratch")


def train_strategy(
    strategy: str,
    model: nn.Module,
    train: tuple,
    test: tuple,
    steps: int = 60,
    batch_size: int = 32,
    head_lr: float = 1e-2,
    backbone_lr: float = 1e-3,
    scratch_lr: float = 3e-3,
    seed: int = 0,
    device=None,
) -> dict:
    """Train ``model`` (already given its new head) on ``train = (X, y)`` in one of three ways.

    * ``"frozen"``: the backbone stays as it is; its features are computed once (``embed``) and
      only the head learns, at ``head_lr``.
    * ``"fine-tune"``: everything learns, the pretrained backbone gently (``backbone_lr``), the
      fresh head faster (``head_lr``): two optimizer parameter groups.
    * ``"scratch"``: everything learns at ``scratch_lr``; pass a freshly initialised ``model``.

    Every run makes about ``steps`` optimizer updates (as many epochs as that takes), so small
    and large training sets get the same amount of training. Adam is the optimizer in all three.
    Returns ``{"strategy", "n_train", "test_acc", "trainable", "seconds"}``, the accuracy on
    ``test = (X, y)`` at the end.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}: use one of {', '.join(STRATEGIES)}")
    device = device or get_device()
    seed_everything(seed)
    model.to(device)
    (X_train, y_train), (X_test, y_test) = train, test
    started = time.perf_counter()
    if strategy == "frozen":
        freeze_backbone(model)
        X_train, X_test = embed(model, X_train), embed(model, X_test)
        learner = getattr(model, head_name(model))
        optimizer = torch.optim.Adam(learner.parameters(), lr=head_lr)
    elif strategy == "fine-tune":
        learner = model
        optimizer = torch.optim.Adam(parameter_groups(model, backbone_lr, head_lr))
    else:
        learner = model
        optimizer = torch.optim.Adam(model.parameters(), lr=scratch_lr)
    generator = torch.Generator().manual_seed(seed)
    train_loader = DataLoader(
        TensorDataset(X_train, y_train), batch_size=batch_size, shuffle=True, generator=generator
    )
    epochs = math.ceil(steps / len(train_loader))
    fit(learner, train_loader, epochs=epochs, optimizer=optimizer, device=device)
    _, test_acc = evaluate(
        learner, DataLoader(TensorDataset(X_test, y_test), batch_size=256), device=device
    )
    return {
        "strategy": strategy,
        "n_train": len(y_train),
        "test_acc": test_acc,
        "trainable": parameter_counts(learner)["trainable"],
        "seconds": time.perf_counter() - started,
    }
