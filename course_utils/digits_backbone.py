"""The quick profile's pretrained backbone: a small conv-BN-ReLU network that the course
pretrains itself on scikit-learn's digits (seconds on a CPU) and caches in ``data_dir()``."""

from __future__ import annotations

import hashlib
import json
import time

import torch
from torch import nn
from torch.nn import functional as F

from course_utils.layers import conv_bn_relu
from course_utils.runtime import ConfigurationError, data_dir, get_device


class ConvBNNet(nn.Module):
    """Four conv-BN-ReLU blocks split like timm's models: ``features`` (backbone), global
    pooling, ``fc`` (head).

    ``(B, in_channels, H, W) -> (B, num_classes)`` for any ``H, W >= 4``; the feature map of
    ``forward_features`` is ``(B, widths[-1], H/4, W/4)`` (rounded up).
    """

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 1,
        widths: tuple[int, int, int] = (8, 16, 32),
    ):
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


#: The name this network had before (ex07 imports it; the class is the same).
SmallConvNet = ConvBNNet

#: How the quick profile pretrains its backbone; the cache file name hashes these settings.
PRETRAINING = {
    "source": "digits",
    "size": 16,
    "epochs": 4,
    "batch_size": 32,
    "lr": 3e-3,
    "widths": (8, 16, 32),
    "seed": 0,
    "version": 3,  # 2: the public digits only (see pretrain_small_convnet); 3: image counts
}


def _train_epochs(model, X, y, epochs, batch_size, lr, seed, device):
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(y), generator=generator)
        for start in range(0, len(y), batch_size):
            batch = order[start : start + batch_size]
            loss = F.cross_entropy(model(X[batch].to(device)), y[batch].to(device))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()


def pretrain_small_convnet(settings: dict | None = None, device=None) -> tuple[nn.Module, dict]:
    """Train a ``ConvBNNet`` on scikit-learn's public digits (upscaled to ``settings["size"]``).

    Only the 1,497 digits of ``datasets.public_digits``: the 300 that ex04's small CNN is graded
    on are in no weights the course makes, and a graded kernel (which sees them blanked) and
    the instructor's machine pretrain the very same network.

    Returns ``(model, info)`` with ``info`` = the settings plus the test accuracy, the numbers
    of training and test images, and the seconds.
    """
    from course_utils.datasets import public_digits
    from course_utils.runtime import seed_everything
    from course_utils.training import evaluate

    settings = {**PRETRAINING, **(settings or {})}
    device = device or get_device()
    seed_everything(settings["seed"])
    X_train, y_train, X_test, y_test = public_digits(seed=settings["seed"])
    if settings["size"] != X_train.shape[-1]:
        size = (settings["size"], settings["size"])
        X_train = F.interpolate(X_train, size=size, mode="bilinear", align_corners=False)
        X_test = F.interpolate(X_test, size=size, mode="bilinear", align_corners=False)
    model = ConvBNNet(10, 1, tuple(settings["widths"])).to(device)
    started = time.perf_counter()
    _train_epochs(
        model,
        X_train,
        y_train,
        settings["epochs"],
        settings["batch_size"],
        settings["lr"],
        settings["seed"],
        device,
    )
    seconds = time.perf_counter() - started
    test = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X_test, y_test), 512)
    _, accuracy = evaluate(model, test, device=device)
    info = {
        **settings,
        "widths": list(settings["widths"]),
        "test_accuracy": accuracy,
        "train_images": len(y_train),
        "test_images": len(y_test),
        "seconds": round(seconds, 2),
        "device": str(device),
    }
    return model.eval(), info


def pretrained_small_convnet(
    settings: dict | None = None, cache: bool = True, device=None
) -> tuple[nn.Module, dict]:
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
        model = ConvBNNet(10, 1, tuple(settings["widths"])).to(device)
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
