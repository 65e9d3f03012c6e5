"""Transfer learning: reuse a trained backbone for a new task.

A classifier is a *backbone* (the convolutional layers that turn an image into a feature
vector) followed by a *head* (the last layer or two that turn features into class scores).
Transfer learning keeps the backbone someone trained on a big task and trains a new head, or
the whole network, on a small one. This module holds the few operations that takes:

* ``head_name`` / ``replace_head``: find and swap the classifier of a torchvision or course model;
* ``freeze`` / ``freeze_backbone`` / ``parameter_counts``: choose what trains;
* ``parameter_groups``: one learning rate for the backbone, another for the head;
* ``load_matching``: load a checkpoint into a model whose head has changed;
* ``SmallConvNet`` and ``pretrained_small_convnet``: the quick profile's backbone, which the
  course pretrains itself on scikit-learn's digits and caches in ``data_dir()``;
* ``download_weights`` / ``torchvision_pretrained``: the full profile's ImageNet weights,
  downloaded once into ``data_dir()``;
* ``faces``: the target task, scikit-image's 200 face / non-face images (ship offline).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from course_utils.runtime import ConfigurationError, data_dir, get_device

HEAD_NAMES = ("fc", "classifier", "head", "heads")


class WeightsUnavailableError(RuntimeError):
    """Pretrained weights are not in the cache and cannot be downloaded here."""


# --- backbone and head ----------------------------------------------------------------------


def head_name(model: nn.Module) -> str:
    """The attribute that holds ``model``'s classifier: ``"fc"`` for ResNets, ``"classifier"``
    for VGG, DenseNet, MobileNet or EfficientNet, ``"head"``/``"heads"`` for Swin and ViT."""
    for name in HEAD_NAMES:
        if isinstance(getattr(model, name, None), nn.Module):
            return name
    raise ValueError(
        f"{type(model).__name__} has none of the head attributes {', '.join(HEAD_NAMES)}: "
        "replace its last layer by hand."
    )


def _last_linear(module: nn.Module) -> tuple[nn.Module, str, nn.Linear]:
    """The last ``nn.Linear`` inside ``module``, with its parent and its name in that parent."""
    found = None
    for parent in module.modules():
        for name, child in parent.named_children():
            if isinstance(child, nn.Linear):
                found = (parent, name, child)
    if found is None:
        raise ValueError(f"{type(module).__name__} contains no nn.Linear layer to replace")
    return found


def replace_head(model: nn.Module, num_classes: int) -> nn.Module:
    """Give ``model`` a new, freshly initialised last linear layer with ``num_classes`` outputs.

    The new layer keeps the old one's ``in_features`` (the backbone's feature size), so
    ``model(X)`` becomes ``(B, num_classes)``. Works in place and returns ``model``.
    """
    if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
    name = head_name(model)
    head = getattr(model, name)
    if isinstance(head, nn.Linear):
        parent, child_name, old = model, name, head
    else:
        parent, child_name, old = _last_linear(head)
    new = nn.Linear(old.in_features, num_classes, bias=old.bias is not None)
    new.to(device=old.weight.device, dtype=old.weight.dtype)
    setattr(parent, child_name, new)
    return model


def freeze(module: nn.Module, frozen: bool = True) -> nn.Module:
    """Stop (or, with ``frozen=False``, restart) gradients for every parameter of ``module``."""
    for parameter in module.parameters():
        parameter.requires_grad_(not frozen)
    return module


def freeze_backbone(model: nn.Module) -> nn.Module:
    """Freeze everything except the head (see ``head_name``); returns ``model``.

    Only ``requires_grad`` changes: batch-norm layers still update their running statistics in
    ``model.train()`` mode, which is why a frozen backbone is best run in ``eval()`` mode.
    """
    freeze(model)
    freeze(getattr(model, head_name(model)), frozen=False)
    return model


def parameter_counts(model: nn.Module) -> dict[str, int]:
    """``{"total", "trainable", "frozen"}``: numbers of scalar parameters of ``model``."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"total": total, "trainable": trainable, "frozen": total - trainable}


def parameter_groups(model: nn.Module, backbone_lr: float, head_lr: float) -> list[dict]:
    """Optimizer parameter groups: the backbone at ``backbone_lr``, the head at ``head_lr``.

    Frozen parameters are left out, and so is a group that would be empty, so the result can go
    straight to ``torch.optim.SGD(groups, ...)`` whatever was frozen.
    """
    head_ids = {id(p) for p in getattr(model, head_name(model)).parameters()}
    backbone = [p for p in model.parameters() if p.requires_grad and id(p) not in head_ids]
    head = [p for p in model.parameters() if p.requires_grad and id(p) in head_ids]
    groups = [{"params": backbone, "lr": backbone_lr, "name": "backbone"},
              {"params": head, "lr": head_lr, "name": "head"}]
    return [group for group in groups if group["params"]]


@dataclass(frozen=True)
class LoadReport:
    """What ``load_matching`` did: the keys it could not fill, ignored or skipped for shape."""

    missing_keys: list[str]
    unexpected_keys: list[str]
    mismatched_keys: list[str]


def load_matching(model: nn.Module, state_dict: dict[str, torch.Tensor]) -> LoadReport:
    """Load every tensor of ``state_dict`` whose name and shape fit ``model``; report the rest.

    ``load_state_dict(strict=False)`` tolerates missing and unexpected names but still fails on
    a shape mismatch (a 10-class head loaded into a 2-class one), so those are skipped first.
    After loading a backbone into a model with a new head, ``missing_keys`` should be exactly
    the head's parameters (they keep their fresh initialisation).
    """
    own = model.state_dict()
    mismatched = [k for k, v in state_dict.items() if k in own and own[k].shape != v.shape]
    fitting = {k: v for k, v in state_dict.items() if k not in mismatched}
    result = model.load_state_dict(fitting, strict=False)
    return LoadReport(list(result.missing_keys), list(result.unexpected_keys), mismatched)


def embed(model: nn.Module, X: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """``(N, C, H, W) -> (N, F)``: what ``model`` feeds its head, with the head taken out.

    The model runs in ``eval()`` mode without gradients, so a frozen backbone's features can be
    computed once and a head trained on them alone (same result, far less compute).
    """
    name = head_name(model)
    head = getattr(model, name)
    device = next(model.parameters()).device
    setattr(model, name, nn.Identity())
    try:
        model.eval()
        with torch.no_grad():
            parts = [model(X[i:i + batch_size].to(device)) for i in range(0, len(X), batch_size)]
    finally:
        setattr(model, name, head)
    return torch.cat(parts)


# --- three ways to use a pretrained backbone ------------------------------------------------

STRATEGIES = ("frozen", "fine-tune", "scratch")


def train_strategy(strategy: str, model: nn.Module, train: tuple, test: tuple, steps: int = 60,
                   batch_size: int = 32, head_lr: float = 1e-2, backbone_lr: float = 1e-3,
                   scratch_lr: float = 3e-3, seed: int = 0, device=None) -> dict:
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
    from torch.utils.data import DataLoader, TensorDataset

    from course_utils.runtime import seed_everything
    from course_utils.training import evaluate, fit

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
    train_loader = DataLoader(TensorDataset(X_train, y_train), batch_size=batch_size,
                              shuffle=True, generator=generator)
    epochs = math.ceil(steps / len(train_loader))
    fit(learner, train_loader, epochs=epochs, optimizer=optimizer, device=device)
    _, test_acc = evaluate(learner, DataLoader(TensorDataset(X_test, y_test), batch_size=256),
                           device=device)
    return {"strategy": strategy, "n_train": len(y_train), "test_acc": test_acc,
            "trainable": parameter_counts(learner)["trainable"],
            "seconds": time.perf_counter() - started}


# --- the quick profile's backbone, pretrained by the course ---------------------------------


def conv_bn_relu(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    """3x3 convolution (no bias: batch norm has one), batch norm, ReLU."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class SmallConvNet(nn.Module):
    """A small CNN split like timm's models: ``features`` (backbone), global pooling, ``fc``.

    ``(B, in_channels, H, W) -> (B, num_classes)`` for any ``H, W >= 4``; the feature map of
    ``forward_features`` is ``(B, widths[-1], H/4, W/4)`` (rounded up).
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1,
                 widths: tuple[int, int, int] = (8, 16, 32)):
        super().__init__()
        w1, w2, w3 = widths
        self.features = nn.Sequential(
            conv_bn_relu(in_channels, w1),
            conv_bn_relu(w1, w2, stride=2),
            conv_bn_relu(w2, w3, stride=2),
            conv_bn_relu(w3, w3),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(w3, num_classes)
        self.num_features = w3

    def forward_features(self, X: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W) -> (B, num_features, H', W')``: the backbone's feature maps."""
        return self.features(X)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """``(B, num_features, H', W') -> (B, num_classes)``: pool, then the linear head."""
        return self.fc(self.pool(features).flatten(1))

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(X))


#: How the quick profile pretrains its backbone; the cache file name hashes these settings.
PRETRAINING = {"source": "digits", "size": 16, "epochs": 4, "batch_size": 32, "lr": 3e-3,
               "widths": (8, 16, 32), "seed": 0, "version": 1}


def _train_epochs(model, X, y, epochs, batch_size, lr, seed, device):
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(y), generator=generator)
        for start in range(0, len(y), batch_size):
            batch = order[start:start + batch_size]
            loss = F.cross_entropy(model(X[batch].to(device)), y[batch].to(device))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()


def pretrain_small_convnet(settings: dict | None = None, device=None) -> tuple[nn.Module, dict]:
    """Train a ``SmallConvNet`` on scikit-learn's digits (upscaled to ``settings["size"]``).

    Returns ``(model, info)`` with ``info`` = the settings plus the test accuracy and seconds.
    """
    from course_utils.data import digits
    from course_utils.runtime import seed_everything
    from course_utils.training import evaluate

    settings = {**PRETRAINING, **(settings or {})}
    device = device or get_device()
    seed_everything(settings["seed"])
    X_train, y_train, X_test, y_test = digits(resize=settings["size"], seed=settings["seed"])
    model = SmallConvNet(10, 1, tuple(settings["widths"])).to(device)
    started = time.perf_counter()
    _train_epochs(model, X_train, y_train, settings["epochs"], settings["batch_size"],
                  settings["lr"], settings["seed"], device)
    seconds = time.perf_counter() - started
    test = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X_test, y_test), 512)
    _, accuracy = evaluate(model, test, device=device)
    info = {**settings, "widths": list(settings["widths"]), "test_accuracy": accuracy,
            "seconds": round(seconds, 2), "device": str(device)}
    return model.eval(), info


def pretrained_small_convnet(settings: dict | None = None, cache: bool = True,
                             device=None) -> tuple[nn.Module, dict]:
    """The quick profile's pretrained backbone: loaded from ``data_dir()/weights`` when cached,
    else pretrained with ``pretrain_small_convnet`` (seconds on a CPU) and saved there.

    Returns ``(model, info)``; ``info["cached"]`` says whether the weights came from the cache.
    A cache folder that cannot be written only costs the saving, never the model.
    """
    settings = {**PRETRAINING, **(settings or {})}
    device = device or get_device()
    key = json.dumps({**settings, "widths": list(settings["widths"])}, sort_keys=True)
    name = f"smallconvnet-{settings['source']}-{hashlib.sha256(key.encode()).hexdigest()[:8]}.pt"
    path = None
    if cache:
        try:
            path = data_dir() / "weights" / name
        except ConfigurationError:
            path = None
    if path is not None and path.exists():
        checkpoint = torch.load(path, map_location=device, weights_only=True)
        model = SmallConvNet(10, 1, tuple(settings["widths"])).to(device)
        model.load_state_dict(checkpoint["state_dict"])
        return model.eval(), {**json.loads(checkpoint["info"]), "cached": True}
    model, info = pretrain_small_convnet(settings, device)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(".partial")
            torch.save({"state_dict": model.state_dict(), "info": json.dumps(info)}, partial)
            partial.replace(path)
        except OSError:
            pass  # a read-only cache: the model is still good, only the saving is lost
    return model, {**info, "cached": False}


# --- the full profile's ImageNet weights ----------------------------------------------------

_HASH_PREFIX = re.compile(r"-([a-f0-9]{6,})\.")


def download_weights(url: str, folder: Path | None = None, check_hash: bool = True) -> Path:
    """The local path of the weights file at ``url``, downloaded once into ``data_dir()/weights``.

    A file already in the cache is used as it is (no network). Torchvision's file names end in
    the first hex digits of the file's SHA-256, which ``check_hash`` verifies after downloading.
    Raises ``WeightsUnavailableError`` (one sentence) when the file is missing and the download
    fails, for example offline.
    """
    folder = Path(folder) if folder is not None else data_dir() / "weights"
    filename = url.rstrip("/").rsplit("/", 1)[-1]
    path = folder / filename
    if path.exists():
        return path
    match = _HASH_PREFIX.search(filename) if check_hash else None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(url, str(path), hash_prefix=match.group(1) if match
                                       else None, progress=False)
    except (OSError, RuntimeError, ValueError) as error:
        reason = getattr(error, "reason", None) or error
        raise WeightsUnavailableError(
            f"the pretrained weights {filename} are not in {folder} and could not be downloaded "
            f"from {url} ({reason}): connect to the internet once, or use COURSE_PROFILE=quick."
        ) from None
    return path


def torchvision_pretrained(name: str = "resnet18", weights: str = "IMAGENET1K_V1",
                           num_classes: int | None = None,
                           folder: Path | None = None) -> nn.Module:
    """A torchvision model with its published weights (downloaded once, see ``download_weights``),
    optionally with a new ``num_classes`` head. The weights' preprocessing is
    ``torchvision.models.get_weight(f"{Name}_Weights.{weights}").transforms()``.
    """
    from torchvision import models

    weights_enum = models.get_model_weights(name)[weights]
    path = download_weights(weights_enum.url, folder)
    model = models.get_model(name, weights=None)
    state_dict = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state_dict)
    if num_classes is not None:
        replace_head(model, num_classes)
    return model


# --- the target task ------------------------------------------------------------------------


def lfw_path():
    """Where scikit-image ships ``lfw_subset.npy`` (a graded kernel sees a masked copy there)."""
    from pathlib import Path

    import skimage.data

    return Path(skimage.data.__file__).resolve().parent / "lfw_subset.npy"


def lfw_images():
    """scikit-image's 200 face / non-face images, (200, 25, 25) uint8, read from ``lfw_path``.

    Read directly rather than through ``skimage.data.lfw_subset``, whose hash check would refuse
    the copy a graded kernel sees (with the grader's held-out images blanked).
    """
    import numpy as np

    path = lfw_path()
    if path.is_file():
        return np.load(path, allow_pickle=False)
    from skimage.data import lfw_subset

    return lfw_subset()


def faces(size: int | None = None, test_size: int = 80, seed: int = 0):
    """scikit-image's face / non-face images as a seeded, balanced train/test split.

    ``skimage.data.lfw_subset()`` holds 100 faces then 100 non-face crops, 25x25 grey. Returns
    ``(X_train, y_train, X_test, y_test)`` with ``X: (N, 1, S, S)`` float32 in [0, 1] (``S`` =
    25, or ``size``) and ``y: (N,)`` int64, 1 = face; the test set has ``test_size / 2`` of each.
    """
    if test_size % 2 or not 0 < test_size < 200:
        raise ValueError(f"test_size must be an even number between 2 and 198, got {test_size}")
    X = torch.tensor(lfw_images(), dtype=torch.float32).unsqueeze(1)
    y = torch.cat([torch.ones(100), torch.zeros(100)]).long()
    if size is not None and size != X.shape[-1]:
        X = F.interpolate(X, size=(size, size), mode="bilinear", align_corners=False)
    generator = torch.Generator().manual_seed(seed)
    face_order = torch.randperm(100, generator=generator)
    other_order = torch.randperm(100, generator=generator) + 100
    half = test_size // 2
    test = torch.cat([face_order[:half], other_order[:half]])
    rest = torch.cat([face_order[half:], other_order[half:]])
    train = rest[torch.randperm(len(rest), generator=generator)]
    return X[train], y[train], X[test], y[test]
