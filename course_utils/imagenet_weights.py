"""The full profile's ImageNet weights: downloaded once into ``data_dir()/weights``, with a
one-sentence error where that cannot happen (offline)."""

from __future__ import annotations

import re
from pathlib import Path

import torch
from torch import nn

from course_utils.heads import replace_head
from course_utils.runtime import data_dir, standin


class WeightsUnavailableError(RuntimeError):
    """Pretrained weights are not in the cache and cannot be downloaded here."""


_HASH_PREFIX = re.compile(r"-([a-f0-9]{6,})\.")


def download_weights(url: str, folder: Path | None = None, check_hash: bool = True) -> Path:
    """The local path of the weights file at ``url``, downloaded once into ``data_dir()/weights``.

    A file already in the cache is used as it is (no network). Torchvision's file names end in
    the first hex digits of the file's SHA-256, which ``check_hash`` verifies after downloading.
    Raises ``WeightsUnavailableError`` (one sentence) when the file is missing and the download
    fails, for example offline. A stand-in run (``COURSE_STANDIN=1``) finds randomly initialised
    weights there under the same name (``python -m coursekit.standin``) and never downloads.
    """
    folder = Path(folder) if folder is not None else data_dir() / "weights"
    filename = url.rstrip("/").rsplit("/", 1)[-1]
    path = folder / filename
    if path.exists():
        return path
    if standin():
        raise WeightsUnavailableError(
            f"the stand-in folder {folder} has no {filename}: add the model to "
            "coursekit.standin's list and make the folder again."
        )
    match = _HASH_PREFIX.search(filename) if check_hash else None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(
            url, str(path), hash_prefix=match.group(1) if match else None, progress=False
        )
    except (OSError, RuntimeError, ValueError) as error:
        reason = getattr(error, "reason", None) or error
        raise WeightsUnavailableError(
            f"the pretrained weights {filename} are not in {folder} and could not be downloaded "
            f"from {url} ({reason}): connect to the internet once, or use COURSE_PROFILE=quick."
        ) from None
    return path


def torchvision_pretrained(
    name: str = "resnet18",
    weights: str = "IMAGENET1K_V1",
    num_classes: int | None = None,
    folder: Path | None = None,
) -> nn.Module:
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
