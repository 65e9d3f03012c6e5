"""Load a checkpoint into a model that differs from the one that saved it (a new head)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


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
