"""Library bans and held-out data: the watch, the static scan, the notebooks, the masked file."""

from __future__ import annotations

from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch
from torch.nn import functional as F

from course_utils.bans import BANS, BanWatch, ban_sentence
from coursekit.grading.bans import violations

ROOT = Path(__file__).resolve().parents[1]


def _reached(exercise, part, function):
    watch = BanWatch(exercise, part)
    with watch:
        function()
    return watch.reached


def _scratch_batch_norm(X):
    mean, var = X.mean(dim=(0, 2, 3)), X.var(dim=(0, 2, 3), unbiased=False)
    return (X - mean.reshape(1, -1, 1, 1)) / torch.sqrt(var.reshape(1, -1, 1, 1) + 1e-5)


def test_the_watch_sees_batch_norm_by_any_name():
    X, name = torch.randn(4, 3, 2, 2), "batch_norm"
    calls = {
        "F.batch_norm": lambda: F.batch_norm(X, None, None, training=True),
        "nn.BatchNorm2d": lambda: torch.nn.BatchNorm2d(3)(X),
        "torch.ops.aten": lambda: torch.ops.aten.native_batch_norm(
            X, None, None, None, None, True, 0.1, 1e-5
        ),
        "getattr": lambda: getattr(torch, name)(X, None, None, None, None, True, 0.1, 1e-5, False),
    }
    for label, call in calls.items():
        assert _reached("ex04_architectures", "batch_norm", call), label
    assert _reached("ex04_architectures", "batch_norm", lambda: _scratch_batch_norm(X)) == set()


def test_the_watch_sees_an_alias_of_nms_and_numpy_scipy_twins():
    import scipy.ndimage
    import torchvision.ops

    suppress = torchvision.ops.nms
    boxes = torch.tensor([[0.0, 0.0, 2.0, 2.0], [0.5, 0.5, 2.5, 2.5]])
    assert "torchvision::nms" in _reached(
        "ex05_detection", "nms", lambda: suppress(boxes, torch.ones(2), 0.5)
    )
    assert "numpy.convolve" in _reached(
        "ex01_convolution", "conv1d_full", lambda: np.convolve([1.0, 2.0], [3.0, 4.0])
    )
    assert "scipy.ndimage" in _reached(
        "ex02_filters", "separable_blur", lambda: scipy.ndimage.gaussian_filter(np.ones((5, 5)), 1)
    )
    assert (
        _reached(
            "ex02_filters",
            "separable_blur",
            lambda: F.conv2d(torch.ones(1, 1, 5, 5), torch.ones(1, 1, 3, 3)),
        )
        == set()
    )


def test_a_finished_watch_leaves_the_profiler_and_torch_modes_as_they_were():
    import sys

    before = sys.getprofile()
    _reached("ex04_architectures", "batch_norm", lambda: torch.ones(2) + 1)
    assert sys.getprofile() is before
    assert not torch._C._is_torch_function_mode_enabled()


def _notebook(cells):
    nb = nbformat.v4.new_notebook()
    for grade_id, source in cells:
        cell = nbformat.v4.new_code_cell(source)
        if grade_id:
            cell.metadata["nbgrader"] = {
                "grade": False,
                "grade_id": grade_id,
                "locked": False,
                "schema_version": 3,
                "solution": True,
            }
        nb.cells.append(cell)
    return nb


@pytest.mark.parametrize(
    "imports, body",
    [
        ("from torchvision.ops import nms as suppress", "return suppress(b, s, t)"),
        ("import torchvision.ops as o\nkeep = o.nms", "return keep(b, s, t)"),
        ("import torch", "return torch.ops.torchvision.nms(b, s, t)"),
        ("import torchvision", "return getattr(torchvision.ops, 'nms')(b, s, t)"),
        ("import importlib", "return importlib.import_module('torchvision.ops').nms(b, s, t)"),
        (
            "from torchvision.ops import boxes\n"
            "def helper(b, s, t):\n    return boxes.nms(b, s, t)",
            "return helper(b, s, t)",
        ),
    ],
)
def test_the_static_scan_follows_aliases_strings_and_helpers_in_other_cells(imports, body):
    nb = _notebook([("imports", imports), ("nms", f"def nms(b, s, t):\n    {body}")])
    assert violations(nb, "ex05_detection") == {
        "test_nms": ["torchvision.ops.nms"]
    } or "test_nms" in violations(nb, "ex05_detection")


def test_the_static_scan_leaves_other_parts_alone():
    nb = _notebook(
        [
            ("imports", "from torch import nn\nfrom torch.nn import functional as F"),
            ("residual", "def block(c):\n    return nn.BatchNorm2d(c)"),
            ("batch_norm", "def batch_norm(X):\n    return X - X.mean()"),
        ]
    )
    assert violations(nb, "ex04_architectures") == {}
    nb.cells[2].source = "def batch_norm(X, *a):\n    return F.batch_norm(X, *a)"
    assert set(violations(nb, "ex04_architectures")) == {
        "test_batch_norm_training",
        "test_batch_norm_evaluation",
    }


@pytest.mark.parametrize("exercise", sorted(BANS))
def test_every_banned_part_states_its_ban_and_watches_its_tests(exercise):
    nb = nbformat.read(ROOT / "solutions" / exercise / f"{exercise}.ipynb", as_version=4)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    tests = {c.metadata.get("nbgrader", {}).get("grade_id"): c.source for c in nb.cells}
    for part, ban in BANS[exercise].items():
        assert ban_sentence(exercise, part) in text, part
        assert ban.tests
        for test in ban.tests:
            assert f"BanWatch({exercise!r}, {part!r})" in tests[test], test
            assert tests[test].rstrip().endswith("_ban.check()"), test
    # the honest solution passes the static scan
    assert violations(nb, exercise) == {}


def test_the_held_out_faces_are_blanked_for_kernels_and_not_among_the_public_ones():
    from course_utils.heldout import held_out_faces, held_out_indices, public_faces
    from course_utils.transfer import lfw_path
    from coursekit.grading.heldout import masked_files

    original = str(lfw_path())
    replacement = dict(masked_files())[original]
    full, masked = np.load(original), np.load(replacement)
    held = held_out_indices().numpy()
    assert len(set(held.tolist())) == 80
    assert np.all(masked[held] == 0) and np.array_equal(
        np.delete(masked, held, 0), np.delete(full, held, 0)
    )
    X_public, _ = public_faces(16)
    X_held, y_held = held_out_faces(seed=1)
    assert len(X_public) == 120 and int(y_held.sum()) == 40
    distances = torch.cdist(X_held.flatten(1), X_public.flatten(1))
    mirrored = torch.cdist(X_held.flip(-1).flatten(1), X_public.flatten(1))
    assert float(torch.minimum(distances, mirrored).min()) > 1e-3


def _decoded_weights(model):
    return (
        "dict",
        {
            k: (
                "tensor",
                {
                    "array": v.detach().numpy(),
                    "dtype": str(v.dtype),
                    "device": "cpu",
                    "plain": True,
                },
            )
            for k, v in model.state_dict().items()
        },
    )


def test_the_held_out_check_refuses_untrained_weights_and_other_architectures():
    from course_utils.transfer import SmallConvNet
    from coursekit.grading.checker import Mismatch
    from coursekit.grading.heldout import check_heldout

    torch.manual_seed(0)
    untrained = SmallConvNet(num_classes=2)
    params = {"task": "faces16"}
    with pytest.raises(Mismatch, match="below the required"):
        check_heldout(_decoded_weights(untrained), ("float", 0.9), params)
    with pytest.raises(Mismatch, match="could not be evaluated"):
        check_heldout(_decoded_weights(torch.nn.Linear(3, 2)), ("float", 0.9), params)
    with pytest.raises(Mismatch, match="not a model's weights"):
        check_heldout(("list", []), ("float", 0.9), params)
