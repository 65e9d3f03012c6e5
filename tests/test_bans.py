"""Library bans and held-out data: the watch, the static scan, the notebooks, the masked file."""

from __future__ import annotations

import _thread
import json
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch
from torch.nn import functional as F

from course_utils.checking.bans import BAN_TABLE_HEADING, BANS, BanWatch, ban_line
from coursekit.grading.bans import violations
from coursekit.grading.conventions import SELF_REPORTING_CHECKS
from coursekit.grading.notebooks import nbgrader_cell

ROOT = Path(__file__).resolve().parents[1]


def _reached(exercise, part, function):
    """What ``function`` (code of this file, standing for a notebook's) reaches."""
    watch = BanWatch(exercise, part, test_file="<the test cell>")
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


def _windows(X, shape):
    """(positions, taps) matrix of X's windows: a closed-form fit of a kernel solves A k = Y."""
    rows, cols = X.shape[0] - shape[0] + 1, X.shape[1] - shape[1] + 1
    taps = [
        X[i : i + rows, j : j + cols].reshape(-1) for i in range(shape[0]) for j in range(shape[1])
    ]
    return torch.stack(taps, dim=1)


def test_the_watch_sees_a_closed_form_kernel_fit_but_not_gradient_descent():
    import scipy.optimize

    X = torch.randn(7, 9)
    K = torch.randn(2, 2)
    Y = F.conv2d(X[None, None], K[None, None])[0, 0].reshape(-1, 1)
    A = _windows(X, (2, 2))
    fits = {
        "torch.linalg.lstsq": lambda: torch.linalg.lstsq(A, Y),
        "torch.inverse": lambda: torch.inverse(A.T @ A) @ A.T @ Y,
        "numpy.linalg.pinv": lambda: np.linalg.pinv(A.numpy()) @ Y.numpy(),
        "scipy": lambda: scipy.optimize.lsq_linear(A.numpy(), Y[:, 0].numpy()),
        "aten::_linalg_solve_ex": lambda: torch.ops.aten.linalg_solve_ex(A.T @ A, A.T @ Y),
    }
    for expected, fit in fits.items():
        assert expected in _reached("ex03_cnn_layers", "learn_kernel", fit), expected

    def descend():
        kernel = torch.zeros(2, 2, requires_grad=True)
        optimizer = torch.optim.SGD([kernel], lr=0.1)
        for _ in range(5):
            loss = ((A @ kernel.reshape(-1, 1) - Y) ** 2).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    assert _reached("ex03_cnn_layers", "learn_kernel", descend) == set()


def _block_twins():
    """The chapters' own blocks and transfer helpers, returned as a part's answer."""
    import torchvision.models

    import course_utils.architectures
    import course_utils.transfer
    import course_utils.unet

    net = course_utils.transfer.SmallConvNet(num_classes=2)
    return {
        ("ex04_architectures", "vgg_block"): lambda: course_utils.architectures.vgg_block(2, 3, 8),
        ("ex04_architectures", "residual"): lambda: torchvision.models.resnet.BasicBlock(8, 8),
        ("ex04_architectures", "dense_block"): lambda: course_utils.architectures.DenseBlock(
            2, 3, 4
        ),
        ("ex06_segmentation", "block"): lambda: course_utils.unet.UNetBlock(1, 4),
        ("ex07_transfer", "replace_head"): lambda: course_utils.transfer.replace_head(net, 3),
        ("ex07_transfer", "freeze_backbone"): lambda: course_utils.transfer.freeze_backbone(net),
        ("ex07_transfer", "make_optimizer"): lambda: course_utils.transfer.parameter_groups(
            net, 0.1, 0.01
        ),
    }


def test_the_watch_sees_the_teaching_library_and_library_twins_of_each_part():
    """Each part whose answer the course's own library (or a well-known one) computes in one
    call: that call is seen; the answer worked out by hand is not."""
    import numpy as np
    import sklearn.metrics
    import torchvision.ops
    from torchvision.models.detection.anchor_utils import AnchorGenerator

    import course_utils.detection
    import course_utils.filters
    import course_utils.segmentation
    import course_utils.signals
    from course_utils.conv import conv_output_size
    from course_utils.training import count_parameters

    boxes = torch.tensor([[0.0, 0.0, 4.0, 2.0]])
    mask = torch.tensor([[True, False], [True, True]])
    counts, centres = np.array([3.0, 0.0, 1.0, 4.0]), np.array([0.0, 1.0, 2.0, 3.0])
    wave = torch.sin(torch.arange(64, dtype=torch.float64) * 2 * torch.pi / 8)
    twins = {
        ("ex01_convolution", "conv_output_size"): lambda: conv_output_size(7, 3),
        ("ex03_cnn_layers", "conv_out_size"): lambda: F.conv1d(
            torch.zeros(1, 1, 8), torch.zeros(1, 1, 3), padding=1
        ).shape[-1],
        ("ex03_cnn_layers", "conv2d_params"): lambda: count_parameters(torch.nn.Conv2d(3, 5, 3)),
        ("ex01_convolution", "signal_period"): lambda: course_utils.signals.estimate_period(wave),
        ("ex02_filters", "pass_type"): lambda: course_utils.filters.pass_type(torch.ones(3, 3)),
        ("ex05_detection", "box_formats"): lambda: torchvision.ops.box_convert(
            boxes, "xyxy", "cxcywh"
        ),
        ("ex05_detection", "anchor_boxes"): lambda: AnchorGenerator(((8,),), ((1.0,),)),
        ("ex05_detection", "average_precision"): lambda: sklearn.metrics.average_precision_score(
            [1, 0, 1], [0.9, 0.5, 0.2]
        ),
        ("ex05_detection", "detection_ap"): lambda: course_utils.detection.average_precision(
            torch.tensor([0.9, 0.5]), torch.tensor([True, False]), 1
        ),
        ("ex06_segmentation", "otsu"): lambda: course_utils.segmentation.otsu_threshold(
            counts, centres
        ),
        ("ex06_segmentation", "scores"): lambda: sklearn.metrics.jaccard_score(
            mask.flatten(), mask.flatten()
        ),
    }
    twins.update(_block_twins())
    for (exercise, part), call in twins.items():
        assert _reached(exercise, part, call), (exercise, part)
    by_hand = {
        ("ex01_convolution", "conv_output_size"): lambda: (7 + 2 * 0 - 3) // 1 + 1,
        ("ex03_cnn_layers", "conv2d_params"): lambda: 5 * 3 * 3 * 3 + 5,
        ("ex06_segmentation", "scores"): lambda: float((mask & mask).sum() / mask.sum()),
        ("ex05_detection", "box_formats"): lambda: torch.stack(
            [(boxes[:, 0] + boxes[:, 2]) / 2, boxes[:, 3] - boxes[:, 1]], dim=-1
        ),
    }
    for (exercise, part), call in by_hand.items():
        assert _reached(exercise, part, call) == set(), (exercise, part)


def test_the_watch_sees_ex08_twins_by_alias_and_importlib_but_allows_box_iou():
    import importlib

    import torchvision.ops

    boxes = torch.tensor([[0.0, 0.0, 4.0, 4.0], [1.0, 1.0, 6.0, 5.0]])
    anchors = torch.tensor([[0.0, 0.0, 5.0, 5.0], [2.0, 0.0, 6.0, 6.0]])
    utils = importlib.import_module("torchvision.models.detection." + "_utils")
    encode = utils.BoxCoder((1.0, 1.0, 1.0, 1.0)).encode_single
    assert _reached("ex08_anchors", "encode_offsets", lambda: encode(boxes, anchors))
    assert _reached(
        "ex08_anchors", "encode_offsets", lambda: utils.encode_boxes(boxes, anchors, torch.ones(4))
    )
    matcher = importlib.import_module("course_utils.anchors").match_anchors
    assert "course_utils.anchors.match_anchors" in _reached(
        "ex08_anchors", "match_anchors", lambda: matcher(anchors, boxes)
    )
    assert (
        _reached(
            "ex08_anchors",
            "match_anchors",
            lambda: torchvision.ops.box_iou(boxes, anchors).max(dim=0),
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
    """A notebook of solution cells ``(grade_id, source)``; a ``None`` grade_id is plain code."""
    nb = nbformat.v4.new_notebook()
    for grade_id, source in cells:
        cell = nbgrader_cell(source, grade_id) if grade_id else nbformat.v4.new_code_cell(source)
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
    found = violations(nb, "ex05_detection")
    assert set(found) == {"test_nms"} and any("nms" in name for name in found["test_nms"]), found


@pytest.mark.parametrize(
    "imports, body",
    [
        (
            "from torchvision.models.detection._utils import BoxCoder as Coder",
            "return Coder(w).encode_single(b, a)",
        ),
        (
            "import importlib",
            "return importlib.import_module('course_utils.anchors').encode_offsets(b, a, w)",
        ),
    ],
)
def test_the_static_scan_finds_ex08_twins_by_alias_and_importlib(imports, body):
    nb = _notebook(
        [("imports", imports), ("encode_offsets", f"def encode_offsets(b, a, w):\n    {body}")]
    )
    assert set(violations(nb, "ex08_anchors")) == {"test_encode_offsets"}


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


def test_the_static_scan_reads_ipython_syntax_as_the_kernel_runs_it():
    """Magics and help syntax are IPython, not Python: honest code with them is clean, a ban
    under a cell magic is still found, and only code that is no Python at all is unreadable."""
    from coursekit.grading.bans import UNREADABLE, reason

    honest = "def batch_norm(X):\n    return X - X.mean()"
    imports = ("imports", "from torch import nn\nfrom torch.nn import functional as F")
    for source in (
        f"%%time\n{honest}",
        f"{honest}\n%timeit batch_norm(X)",
        f"nn.BatchNorm2d?\n{honest}",
        f"!nvidia-smi\n{honest}",
    ):
        assert violations(_notebook([imports, ("batch_norm", source)]), "ex04_architectures") == {}
    timed = _notebook(
        [imports, ("batch_norm", "%%time\ndef batch_norm(X):\n    return F.batch_norm(X)")]
    )
    assert violations(timed, "ex04_architectures")["test_batch_norm_training"] == [
        "torch.nn.functional.batch_norm"
    ]
    broken = _notebook([imports, ("batch_norm", "def batch_norm(X:\n    return X")])
    names = violations(broken, "ex04_architectures")["test_batch_norm_training"]
    assert names == [UNREADABLE]
    assert "cannot be read as Python" in reason(names)
    assert "remove it" in reason(["torch.nn.functional.batch_norm"])


def test_the_self_check_zeroes_what_the_grader_would_ban():
    """``course check`` reads the code like the grader: a banned part shows 0 with the reason."""
    from coursekit.grading.check import CellResult, CheckResult, apply_library_bans

    nb = _notebook(
        [
            ("imports", "import torchvision.models"),
            (
                "vgg_block",
                "def vgg_block(n, i, o):\n    return torchvision.models.vgg11().features",
            ),
            ("nin_block", "def nin_block(*a):\n    return None"),
        ]
    )
    result = CheckResult(
        ROOT, cells=[CellResult("test_vgg_block", 3, 3), CellResult("test_nin_block", 2, 2)]
    )
    apply_library_bans(result, nb, "ex04_architectures")
    assert (result.cells[0].earned, result.cells[1].earned) == (0.0, 2)
    assert "torchvision.models" in result.cells[0].message
    assert "library ban" in result.cells[0].message and not result.cells[1].message


@pytest.mark.parametrize("exercise", sorted(BANS))
def test_every_banned_part_states_its_ban_once_and_watches_its_tests(exercise):
    """The table at the top states the bans once, each part shows one line, and each of the
    part's test cells watches its checks in one ``with watching_bans(...)`` block: no wrapper
    around each call, no generated code."""
    nb = nbformat.read(ROOT / "solutions" / exercise / f"{exercise}.ipynb", as_version=4)
    markdown = [c.source for c in nb.cells if c.cell_type == "markdown"]
    tables = [m for m in markdown if m.startswith(BAN_TABLE_HEADING)]
    assert len(tables) == 1
    text = "\n".join(markdown)
    tests = {c.metadata.get("nbgrader", {}).get("grade_id"): c.source for c in nb.cells}
    for part, ban in BANS[exercise].items():
        assert ban_line(exercise, part) in text, part
        assert text.count("**Library ban:**") == len(BANS[exercise])
        assert ban.tests
        for test in ban.tests:
            if any(f"{check}(" in tests[test] for check in SELF_REPORTING_CHECKS.values()):
                continue  # self-reported checks only (the static scan still zeroes them)
            assert f"with watching_bans({exercise!r}, {part!r}):" in tests[test], test
            assert "_ban(" not in tests[test] and "BanWatch" not in tests[test], test
    # the honest solution passes the static scan
    assert violations(nb, exercise) == {}


def test_the_held_out_faces_are_blanked_for_kernels_and_not_among_the_public_ones():
    from course_utils.checking.heldout import held_out_faces, held_out_indices, public_faces
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


def test_recorded_weights_with_a_batch_norm_counter_are_evaluated_as_recorded():
    """A state dict as a graded kernel records it (``record`` -> checker): its 0-d batch-norm
    counters come back 0-d, so the architecture check passes with no special case."""
    from course_utils.checking.checks import decoded
    from course_utils.transfer import SmallConvNet
    from coursekit.grading.checker import Mismatch
    from coursekit.grading.heldout import check_heldout

    torch.manual_seed(0)
    state = SmallConvNet(num_classes=2).state_dict()
    assert any(k.endswith("num_batches_tracked") and v.dim() == 0 for k, v in state.items())
    with pytest.raises(Mismatch, match="below the required"):  # evaluated, not refused
        check_heldout(decoded(dict(state)), ("float", 0.99), {"task": "faces16"})


# -- the whole-cell watch (issue 24 item 4, issue 28 item 2) --------------------------------
def _notebook_code(source: str) -> dict:
    """Functions defined by ``source`` as a notebook cell defines them (its own file name)."""
    namespace = {"torch": torch, "F": F, "np": np}
    exec(compile(source, "/tmp/ipykernel_0/cell_1.py", "exec"), namespace)
    return namespace


def _watched(function, *args):
    from course_utils.checking.bans import watching_bans

    with watching_bans("ex04_architectures", "batch_norm") as watch:
        function(*args)
    return watch


def _findings_in_a_fresh_python(source: str) -> list[str]:
    """The ``findings()`` of the watch ``source`` names ``watch``, run in a fresh interpreter.

    An honest part's verdict depends on every thread of the process: in a kernel those are
    the kernel's own, but in this test process a thread another test left running would be
    named (rightly) as one the watch cannot see. A fresh Python is the kernel's situation."""
    run = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(source) + "\nprint(json.dumps(watch.findings()))"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_the_watch_leaves_the_tests_own_reference_calls_alone():
    findings = _findings_in_a_fresh_python(
        """
        import json
        import torch
        from torch.nn import functional as F
        from course_utils.checking.bans import watching_bans

        cell = (
            "def batch_norm(X):\\n"
            "    mean, var = X.mean(dim=(0, 2, 3)), X.var(dim=(0, 2, 3), unbiased=False)\\n"
            "    centred = X - mean.reshape(1, -1, 1, 1)\\n"
            "    return centred / (var.reshape(1, -1, 1, 1) + 1e-5).sqrt()\\n"
        )
        honest = {"torch": torch}
        exec(compile(cell, "/tmp/ipykernel_0/cell_1.py", "exec"), honest)
        X = torch.randn(4, 3, 2, 2)
        with watching_bans("ex04_architectures", "batch_norm") as watch:
            # the test computes its expected value with the banned routine itself
            expected = F.batch_norm(X, None, None, training=True)
            torch.testing.assert_close(honest["batch_norm"](X), expected, rtol=1e-4, atol=1e-4)
        """
    )
    assert findings == []


def test_the_watch_sees_threads_disabled_dispatch_and_attributes_of_torch():
    X = torch.randn(4, 3, 2, 2)
    cheats = _notebook_code(
        "import threading\n"
        "def in_a_thread(X):\n"
        "    out = []\n"
        "    t = threading.Thread(target=lambda: out.append(F.batch_norm(X, None, None, "
        "training=True)))\n"
        "    t.start(); t.join()\n"
        "    return out[0]\n"
        "torch.hidden_op = torch.ops.aten.native_batch_norm\n"
        "def undispatched(X):\n"
        "    with torch._C._DisableTorchDispatch():\n"
        "        return torch.hidden_op(X, None, None, None, None, True, 0.1, 1e-5)[0]\n"
    )
    try:
        with pytest.raises(AssertionError, match="forbids"):
            _watched(cheats["in_a_thread"], X)
        watch = None
        with pytest.raises(AssertionError, match="forbids") as raised:
            watch = _watched(cheats["undispatched"], X)
        assert watch is None and "aten::native_batch_norm" in str(raised.value)
    finally:
        del torch.hidden_op


def test_the_watch_flags_what_it_cannot_see_instead_of_passing():
    import sys
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        pool.submit(lambda: None).result()  # a worker started before the test cell
        with pytest.raises(AssertionError, match="could not be watched: undecided: threads"):
            _watched(lambda: None)
    switch_off = _notebook_code("import sys\ndef off():\n    sys.setprofile(None)\n")
    with pytest.raises(AssertionError, match="switched the watch's profile off"):
        _watched(switch_off["off"])
    assert sys.getprofile() is None


_UNLISTED_ROUTES = """
import numpy as np, torch
def conv1d_full(f, g):  # np.convolve's C core under another name
    return torch.from_numpy(np.core.multiarray.correlate2(f.numpy(), g.numpy()[::-1].copy(), 2))
def corr2d(X, K):  # a 3-D convolution operator on a 2-D problem
    return torch._C._nn.slow_conv3d(X[None, None, None], K[None, None, None],
                                    (1,) + tuple(K.shape))[0, 0, 0]
def pool2d_max(X):  # 3-D max pooling on a 2-D problem
    return torch._C._nn.max_pool3d_with_indices(X[:, :, None], [1, 2, 2], [1, 2, 2], [0, 0, 0],
                                                [1, 1, 1], False)[0][:, :, 0]
def pool2d_avg(X):
    return torch.nn.functional.avg_pool3d(X[:, :, None], (1, 2, 2))[:, :, 0]
"""


@pytest.mark.parametrize(
    "exercise, part, function, arguments",
    [
        ("ex01_convolution", "conv1d_full", "conv1d_full", "1d"),
        ("ex01_convolution", "corr2d", "corr2d", "2d"),
        ("ex03_cnn_layers", "pool2d", "pool2d_max", "4d"),
        ("ex03_cnn_layers", "pool2d", "pool2d_avg", "4d"),
    ],
)
def test_the_watch_bans_whole_operator_families_not_a_list(exercise, part, function, arguments):
    """Red team (issue 28): np.convolve's C core, aten::slow_conv3d and 3-D pooling were not on
    the hand-written lists; the bans now take every registered conv/pool operator."""
    from course_utils.checking.bans import BanWatch

    code = {}
    exec(compile(_UNLISTED_ROUTES, "/tmp/notebook_cell.py", "exec"), code)
    inputs = {
        "1d": (torch.tensor([1.0, 2, 3, 4]), torch.tensor([1.0, 1, 1])),
        "2d": (torch.arange(9.0).reshape(3, 3), torch.tensor([[0.0, 1], [2, 3]])),
        "4d": (torch.randn(2, 3, 6, 6),),
    }[arguments]
    watch = BanWatch(exercise, part, test_file="/tmp/test_cell.py")
    with watch:
        code[function](*inputs)
    assert watch.findings(), f"{function} escaped the ban of {part}"


# -- threads started before the test cell (red team, issue 28 item 2) -------------------------
_EARLIER_WORKERS = """
import _thread, queue, threading
import numpy as np
jobs, answers = queue.Queue(), queue.Queue()
_table = {"c": np.convolve}
def work():
    while True:
        job = jobs.get()
        if job is None:
            answers.put("stopped")
            return
        name, f, g = job
        answers.put(_table[name](f, g))
work.__module__ = "ipykernel.iostream"  # a name it can set says nothing
class Kernelish(threading.Thread):
    __module__ = "ipykernel.heartbeat"
def conv1d_full(f, g):
    jobs.put(("c", f, g))
    return answers.get()
"""


def _earlier_cell():
    code = {}
    exec(compile(_EARLIER_WORKERS, "/tmp/ipykernel_0/cell_2.py", "exec"), code)
    return code


def _watch_conv(code):
    from course_utils.checking.bans import BanWatch

    watch = BanWatch("ex01_convolution", "conv1d_full", test_file="/tmp/test_cell.py")
    with watch:
        result = code["conv1d_full"](np.ones(3), np.ones(2))
    assert np.allclose(result, [1, 2, 2, 1])  # the work was done, out of the profile's sight
    return watch


@pytest.mark.parametrize("start", ["threading", "_thread", "a forged kernel thread"])
def test_a_worker_started_in_an_earlier_cell_is_undecided_however_started(start):
    """A graded function that hands np.convolve's work to a thread started before the test
    cell: the profile never runs there, so the watch names the thread (however it was
    started, whatever module it claims) and the check fails with 'could not be watched'."""
    code = _earlier_cell()
    if start == "threading":
        threading.Thread(target=code["work"], daemon=True).start()
    elif start == "_thread":  # no threading.Thread object announces it
        _thread.start_new_thread(code["work"], ())
    else:
        code["Kernelish"](target=code["work"], daemon=True).start()
    try:
        watch = _watch_conv(code)
    finally:
        code["jobs"].put(None)
        assert code["answers"].get(timeout=10) == "stopped"
    assert watch.reached == set()
    assert any("threads the watch cannot see" in u for u in watch.undecided), watch.undecided
    with pytest.raises(AssertionError, match="could not be watched"):
        watch.check()


def test_a_library_loop_in_an_earlier_thread_is_undecided_too():
    """No notebook frame on the worker's stack (a pool's own loop runs the notebook's work):
    a thread the kernel did not start is named all the same."""
    from concurrent.futures import ThreadPoolExecutor

    from course_utils.checking.bans import BanWatch

    pool = ThreadPoolExecutor(1)
    pool.submit(int).result()
    try:
        watch = BanWatch("ex01_convolution", "conv1d_full", test_file="/tmp/test_cell.py")
        with watch:
            pool.submit(np.convolve, np.ones(3), np.ones(2)).result()
    finally:
        pool.shutdown()
    assert any("ThreadPoolExecutor" in u for u in watch.undecided), watch.undecided


def test_a_raw_thread_started_in_the_block_or_a_replaced_frame_listing_is_undecided():
    from course_utils.checking.bans import BanWatch

    done = threading.Event()
    code = _notebook_code(
        "import _thread\ndef start(done):\n    _thread.start_new_thread(done.set, ())\n"
    )
    watch = BanWatch("ex01_convolution", "conv1d_full", test_file="/tmp/test_cell.py")
    with watch:
        code["start"](done)
        assert done.wait(10)
    assert "the notebook started a thread that the watch cannot see" in watch.undecided

    real = sys._current_frames
    sys._current_frames = lambda: {}
    try:
        watch = BanWatch("ex01_convolution", "conv1d_full", test_file="/tmp/test_cell.py")
        with watch:
            pass
    finally:
        sys._current_frames = real
    assert any("replaced" in u for u in watch.undecided), watch.undecided


def test_threads_started_in_the_block_and_tqdms_monitor_keep_an_honest_part_clean():
    """Honest code is not penalised: a thread the test's block starts is profiled (and a
    pool made there may outlive the block), and tqdm's monitor only refreshes bars."""
    findings = _findings_in_a_fresh_python(
        """
        import io, json
        from concurrent.futures import ThreadPoolExecutor
        import numpy as np
        import tqdm
        from course_utils.checking.bans import BanWatch

        bar = tqdm.tqdm(range(3), file=io.StringIO(), mininterval=0)
        assert tqdm.tqdm.monitor is not None and tqdm.tqdm.monitor.is_alive()
        pool = ThreadPoolExecutor(2)
        try:
            watch = BanWatch("ex01_convolution", "conv1d_full", test_file="/tmp/test_cell.py")
            with watch:
                assert pool.submit(lambda: np.fft.rfft(np.ones(4))).result().shape == (3,)
                list(bar)
        finally:
            pool.shutdown()
            bar.close()
        """
    )
    assert findings == []


# -- work handed to another process (red team 3, issue 28) ------------------------------------
_PROCESS_ROUTES = """
import json, subprocess, sys
import numpy as np
_CHILD = ("import json, sys, numpy as np; f, g = json.loads(sys.argv[1]); "
          "print(json.dumps(np.convolve(f, g).tolist()))")
def in_a_child(f, g):
    out = subprocess.run([sys.executable, "-c", _CHILD, json.dumps([list(f), list(g)])],
                         capture_output=True, text=True, check=True).stdout
    return np.array(json.loads(out))
def in_a_fork(f, g):
    import multiprocessing
    with multiprocessing.get_context("fork").Pool(1) as pool:
        return pool.apply(np.convolve, (f, g))
def through_ctypes(f, g):
    import ctypes
    ctypes.CDLL(None).system(b"true")
    return np.array([1.0, 2, 2, 1])
"""


@pytest.mark.parametrize("route", ["in_a_child", "in_a_fork", "through_ctypes"])
def test_work_handed_to_another_process_is_undecided(route):
    """A banned routine run in a child process (``subprocess``, a multiprocessing worker, a
    process ``ctypes`` starts out of the profile's sight): the watch cannot see into another
    process, so the part's check fails with 'could not be watched'."""
    from course_utils.checking.bans import BanWatch

    code = {}
    exec(compile(_PROCESS_ROUTES, "/tmp/ipykernel_0/cell_3.py", "exec"), code)
    watch = BanWatch("ex01_convolution", "conv1d_full", test_file="/tmp/test_cell.py")
    with watch:
        result = code[route]([1.0, 1, 1], [1.0, 1])
    assert list(result) == [1, 2, 2, 1]  # the work was done
    assert any("process" in u for u in watch.undecided), watch.undecided
    assert watch.reached == set()
    with pytest.raises(AssertionError, match="could not be watched"):
        watch.check()


def test_a_process_started_before_the_block_is_undecided_and_a_clean_block_is_not():
    findings = _findings_in_a_fresh_python(
        """
        import json, multiprocessing, time
        from course_utils.checking.bans import BanWatch

        clean = BanWatch("ex01_convolution", "conv1d_full", test_file="/tmp/test_cell.py")
        with clean:
            pass
        assert clean.findings() == [], clean.findings()
        pool = multiprocessing.get_context("fork").Pool(1)  # an earlier cell's worker
        watch = BanWatch("ex01_convolution", "conv1d_full", test_file="/tmp/test_cell.py")
        with watch:
            pass
        pool.terminate()
        """
    )
    assert any("a process the notebook started is running" in f for f in findings), findings
