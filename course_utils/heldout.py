"""Training parts graded on held-out data that the student's notebook cannot reach.

A training part records the *weights* it trained (``record_trained``), not an accuracy the
student's kernel computed. The grader rebuilds the exercise's fixed architecture outside every
student process, loads the recorded weights (plain arrays) and measures the accuracy on data
drawn at grading time, with a seed the notebook cannot know, from images the graded kernel
cannot read (its sandbox shows them blanked, see ``HELD_OUT``). The task's description lives
here, once, for the test cells and for the grader.

Task ``faces16``: scikit-image's 200 face / non-face images at 16x16. The 80 images of the test
split of ``transfer.faces(size=16, test_size=80, seed=0)`` are held out; notebooks train and
try their models on the other 120 (``public_faces``).
"""

from __future__ import annotations

import torch

TASKS = ("faces16",)


def held_out_indices() -> torch.Tensor:
    """Indices into ``skimage.data.lfw_subset()`` of the 80 held-out images (40 and 40)."""
    generator = torch.Generator().manual_seed(0)
    face_order = torch.randperm(100, generator=generator)
    other_order = torch.randperm(100, generator=generator) + 100
    return torch.cat([face_order[:40], other_order[:40]])


def public_faces(size: int = 16):
    """The 120 images a notebook may train and try on: ``(X, y)``, X (120, 1, S, S) in [0, 1]."""
    from .transfer import faces

    X_pool, y_pool, _, _ = faces(size=size, test_size=80, seed=0)
    return X_pool, y_pool


def held_out_faces(seed: int, size: int = 16):
    """The held-out images (the grader's side), each flipped left-right with probability 1/2
    by ``seed``: ``(X, y)``, X (80, 1, S, S) float32 in [0, 1], y (80,) int64, 1 = face."""
    from torch.nn import functional as F

    from .transfer import lfw_images

    X = torch.tensor(lfw_images(), dtype=torch.float32).unsqueeze(1)
    y = torch.cat([torch.ones(100), torch.zeros(100)]).long()
    index = held_out_indices()
    X, y = X[index], y[index]
    if size != X.shape[-1]:
        X = F.interpolate(X, size=(size, size), mode="bilinear", align_corners=False)
    flip = torch.rand(len(X), generator=torch.Generator().manual_seed(seed)) < 0.5
    X[flip] = X[flip].flip(-1)
    return X, y


def rebuild(task: str, state: dict):
    """The task's architecture with the recorded ``state`` (name -> array) loaded, in eval mode."""
    if task != "faces16":
        raise ValueError(f"unknown held-out task {task!r}")
    from .transfer import SmallConvNet

    widths = tuple(int(state[f"features.{i}.0.weight"].shape[0]) for i in (0, 1, 2))
    model = SmallConvNet(num_classes=int(state["fc.weight"].shape[0]), widths=widths)
    model.load_state_dict({k: torch.as_tensor(v) for k, v in state.items()}, strict=True)
    return model.eval()


def accuracy(task: str, state: dict, seed: int) -> float:
    """The accuracy of the recorded weights on the held-out data drawn with ``seed``."""
    model = rebuild(task, state)
    X, y = held_out_faces(seed)
    with torch.no_grad():
        return float((model(X).argmax(1) == y).float().mean())


def record_trained(model, task: str, at_least: float, name: str = "the held-out accuracy"):
    """Record ``model``'s weights for the grader's held-out evaluation (at least ``at_least``).

    Outside grading (``course check``, a plain run) nothing is recorded: the held-out images are
    the grader's. In the reference run the solution's weights are evaluated like a student's.
    """
    from . import testing

    if task not in TASKS:
        raise ValueError(f"unknown held-out task {task!r}")
    mode = testing._mode()
    if mode is None:
        return
    state = {k: v.detach().to("cpu") for k, v in model.state_dict().items()}
    if mode == "graded":
        testing._record("heldout", name, state)
    else:
        testing._record("heldout", name, state, expected=float(at_least), task=task)
