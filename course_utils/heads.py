"""A classifier's head: find it, replace it, or take it off to read the backbone's features.

A classifier is a *backbone* (the layers that turn an image into a feature vector) followed by a
*head* (the last layer or two that turn features into class scores). These functions find the
head of a torchvision, timm or course model by its attribute name and swap or remove it.
"""

from __future__ import annotations

import torch
from torch import nn

HEAD_NAMES = ("fc", "classifier", "head", "heads")


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
            parts = [model(X[i : i + batch_size].to(device)) for i in range(0, len(X), batch_size)]
    finally:
        setattr(model, name, head)
    return torch.cat(parts)
