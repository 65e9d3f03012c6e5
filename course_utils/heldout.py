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

Where the student designs the architecture, weights alone cannot be rebuilt outside: such a part
records the trained model *exported* with ``torch.export`` (``record_exported``), a program of
tensor operations with its weights. The grader draws the held-out inputs with a secret seed,
runs the program on the images alone in a fresh sandboxed process (``run_exported``: the labels
never go there) and scores its outputs itself (``score``). Tasks for exported models:

- ``digits8``: scikit-learn's 8x8 digits, (N, 1, 8, 8) in [0, 1] -> (N, 10) logits. 30 images of
  each class are held out (``held_out_digit_indices``) and blanked in every graded kernel;
  notebooks use the other 1,497 (``public_digits``). The grader scores the accuracy on 200 of
  the 300, chosen and ordered by the secret seed (``held_out_digits``).
- ``micrographs48``: ``micrographs(100, size=48, seed=secret, dose=...)`` from
  ``course_utils.micrographs``, raw images (N, 1, 48, 48) -> (N, 1, 48, 48) logits (a pixel is
  particle where its logit is above 0); the score is the mean over images of the IoU
  (``mean_iou``). The exported program includes whatever normalisation the notebook applies.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import torch

TASKS = ("faces16",)
EXPORTED_TASKS = ("digits8", "micrographs48")
DIGITS_HELD_OUT_PER_CLASS = 30
DIGITS_EVALUATED = 200
MICROGRAPHS_EVALUATED = 100
MICROGRAPH_SIZE = 48


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


# -- models whose architecture is the student's: exported programs -------------------------
def digits_path() -> Path:
    """The file scikit-learn's ``load_digits`` reads (a gzip-compressed CSV, 1,797 rows)."""
    from importlib import resources

    return Path(str(resources.files("sklearn.datasets.data") / "digits.csv.gz"))


def held_out_digit_indices() -> torch.Tensor:
    """Indices into ``load_digits()`` of the 300 held-out images: 30 of each class, fixed."""
    from sklearn.datasets import load_digits

    target = torch.as_tensor(load_digits().target)
    generator = torch.Generator().manual_seed(0)
    chosen = []
    for digit in range(10):
        members = torch.nonzero(target == digit).flatten()
        order = torch.randperm(len(members), generator=generator)
        chosen.append(members[order[:DIGITS_HELD_OUT_PER_CLASS]])
    return torch.sort(torch.cat(chosen)).values


def _all_digits():
    from sklearn.datasets import load_digits

    bunch = load_digits()
    X = torch.tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0
    return X, torch.tensor(bunch.target, dtype=torch.int64)


def public_digits(seed: int = 0, test_fraction: float = 0.25):
    """The 1,497 digits a notebook may use, split like ``datasets.digits``:
    ``(X_train, y_train, X_test, y_test)``, X (N, 1, 8, 8) float32 in [0, 1], y (N,) int64."""
    X, y = _all_digits()
    public = torch.ones(len(y), dtype=torch.bool)
    public[held_out_digit_indices()] = False
    X, y = X[public], y[public]
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    n_test = int(round(len(y) * test_fraction))
    test, train = order[:n_test], order[n_test:]
    return X[train], y[train], X[test], y[test]


def held_out_digits(seed: int):
    """The grader's side: 200 of the held-out digits, chosen and ordered by ``seed``:
    ``(X, y)``, X (200, 1, 8, 8) float32 in [0, 1], y (200,) int64."""
    X, y = _all_digits()
    index = held_out_digit_indices()
    pick = torch.randperm(len(index), generator=torch.Generator().manual_seed(seed))
    index = index[pick[:DIGITS_EVALUATED]]
    return X[index], y[index]


def held_out_micrographs(seed: int, dose: float = 100):
    """The grader's side: ``(images (100, 1, 48, 48) float32, masks (100, 48, 48) bool)``."""
    from .micrographs import micrographs

    data = micrographs(MICROGRAPHS_EVALUATED, size=MICROGRAPH_SIZE, seed=seed, dose=dose)
    return data.images, data.masks.bool()


def held_out_data(task: str, seed: int, **options):
    """``(inputs, truth)`` of an exported-model task, drawn with ``seed`` (trusted side only)."""
    if task == "digits8":
        return held_out_digits(seed)
    if task == "micrographs48":
        dose = float(options.get("dose", 100))
        if not 1 <= dose <= 10_000:
            raise ValueError(f"a dose of {dose} is outside 1 to 10,000")
        return held_out_micrographs(seed, dose)
    raise ValueError(f"unknown exported-model task {task!r} (known: {', '.join(EXPORTED_TASKS)})")


def input_shape(task: str) -> tuple[int, ...]:
    """The shape of the batch the grader feeds an exported model of ``task``."""
    if task == "digits8":
        return (DIGITS_EVALUATED, 1, 8, 8)
    if task == "micrographs48":
        return (MICROGRAPHS_EVALUATED, 1, MICROGRAPH_SIZE, MICROGRAPH_SIZE)
    raise ValueError(f"unknown exported-model task {task!r} (known: {', '.join(EXPORTED_TASKS)})")


def output_shape(task: str) -> tuple[int, ...]:
    """The shape the grader requires of the exported model's output."""
    n = input_shape(task)[0]
    return (n, 10) if task == "digits8" else (n, 1, MICROGRAPH_SIZE, MICROGRAPH_SIZE)


def export_model(model, task: str) -> bytes:
    """``model`` (a copy, on the CPU, in evaluation mode) exported with ``torch.export`` for the
    task's batch shape, as the bytes ``torch.export.save`` writes. Raises what export raises."""
    import contextlib
    import copy
    import logging

    module = copy.deepcopy(model).to("cpu").eval()
    example = torch.zeros(input_shape(task))
    # a failed export prints the traced graph to stderr (nbgrader would fail the cell for it)
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            program = torch.export.export(module, (example,))
    finally:
        logging.disable(previous)
    buffer = io.BytesIO()
    torch.export.save(program, buffer)
    return buffer.getvalue()


def record_exported(model, task: str, at_least: float, name: str, **options) -> None:
    """Record ``model`` exported for the grader, who scores it on held-out data (``at_least``).

    ``options``: the task's (``micrographs48``: ``dose``). Everywhere, also under ``course
    check``, a model that ``torch.export`` cannot export fails here with one sentence that names
    the export error; in a graded run that failure is recorded and the part earns nothing.
    """
    from . import testing

    if task not in EXPORTED_TASKS:
        raise ValueError(
            f"unknown exported-model task {task!r} (known: {', '.join(EXPORTED_TASKS)})"
        )
    mode = testing._mode()
    try:
        program = np.frombuffer(export_model(model, task), dtype=np.uint8)
    except Exception as error:  # noqa: BLE001 - any failure to export is the same refusal
        if mode == "graded":
            testing._record("exported", name, "export failed")
            return
        first = str(error).strip().splitlines()[0][:300] if str(error).strip() else ""
        raise AssertionError(
            f"torch.export could not export your model ({type(error).__name__}: {first}); the "
            "grader scores only exported models: keep forward to torch operations and modules, "
            "with no branch on a tensor's values and no NumPy"
        ) from None
    if mode == "graded":
        testing._record("exported", name, program)
    elif mode == "reference":
        testing._record(
            "exported", name, program, expected=float(at_least), task=task, options=options
        )


def run_exported(folder: str) -> None:
    """The sandbox's side: ``program.pt2`` on ``images.npy`` -> ``outputs.npy`` (float32).

    Runs in a fresh process in the grader's sandbox; the folder holds only the program and the
    images, never the labels or masks.
    """
    torch.set_num_threads(1)
    here = Path(folder)
    images = torch.from_numpy(np.load(here / "images.npy", allow_pickle=False))
    program = torch.export.load(here / "program.pt2")
    with torch.no_grad():
        outputs = program.module()(images)
    if not isinstance(outputs, torch.Tensor):
        raise TypeError(f"the model returned a {type(outputs).__name__}, not a tensor")
    array = outputs.detach().to("cpu", torch.float32).numpy()
    np.save(here / "outputs.npy", np.ascontiguousarray(array), allow_pickle=False)


def mean_iou(predicted: np.ndarray, truth: np.ndarray) -> float:
    """Mean over images of the IoU of boolean masks (N, H, W); two empty masks count 1."""
    scores = []
    for p, t in zip(np.asarray(predicted, bool), np.asarray(truth, bool), strict=True):
        union = np.logical_or(p, t).sum()
        scores.append(1.0 if union == 0 else np.logical_and(p, t).sum() / union)
    return float(np.mean(scores))


def score(task: str, outputs: np.ndarray, truth) -> float:
    """The task's score of checked ``outputs`` (see ``output_shape``) against ``truth``."""
    truth = np.asarray(truth)
    if task == "digits8":
        return float(np.mean(outputs.argmax(axis=1) == truth))
    if task == "micrographs48":
        return mean_iou(outputs[:, 0] > 0, truth)
    raise ValueError(f"unknown exported-model task {task!r}")


if __name__ == "__main__":
    run_exported(sys.argv[1])
