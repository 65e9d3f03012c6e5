"""Choose what trains: freeze parameters, count them, and give backbone and head their own
learning rates."""

from __future__ import annotations

from torch import nn

from course_utils.heads import head_name
from course_utils.training import count_parameters


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
    total = count_parameters(model)
    trainable = count_parameters(model, trainable_only=True)
    return {"total": total, "trainable": trainable, "frozen": total - trainable}


def parameter_groups(model: nn.Module, backbone_lr: float, head_lr: float) -> list[dict]:
    """Optimizer parameter groups: the backbone at ``backbone_lr``, the head at ``head_lr``.

    Frozen parameters are left out, and so is a group that would be empty, so the result can go
    straight to ``torch.optim.SGD(groups, ...)`` whatever was frozen.
    """
    head_ids = {id(p) for p in getattr(model, head_name(model)).parameters()}
    backbone = [p for p in model.parameters() if p.requires_grad and id(p) not in head_ids]
    head = [p for p in model.parameters() if p.requires_grad and id(p) in head_ids]
    groups = [
        {"params": backbone, "lr": backbone_lr, "name": "backbone"},
        {"params": head, "lr": head_lr, "name": "head"},
    ]
    return [group for group in groups if group["params"]]
