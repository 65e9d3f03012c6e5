"""Library bans of the exercises: each part's ban stated once, read by instructions and tests.

A part that asks for an operation *from scratch* forbids the library routines that compute it.
``BANS[exercise][part]`` (``part`` = the grade_id of the part's solution cell) names them:

- ``routines``: dotted names of Python-level functions and classes (``torch.nn.functional.
  batch_norm``), ``modules``: whole packages (``scipy.ndimage``), ``ops``: the dispatcher's
  operators (``aten::native_batch_norm``, ``torchvision::nms``) that every Python name of a
  routine ends up in (``torch.ops.aten.native_batch_norm``, an alias, a module's ``forward``);
- ``tests``: the grade_ids of the test cells that grade the part (a ``..._errors`` cell holds
  only self-reported ``check_raises`` checks and no watch: the static scan still zeroes it).

Two checks read the table. In the student's kernel, a test cell watches its checks in a
``with watching_bans(exercise, part):`` block (``BanWatch``: torch's function and dispatch modes
see torch functions and operators whatever their Python name; ``sys.setprofile`` and
``threading.setprofile`` see Python and C functions, NumPy's and SciPy's included, by identity
and module, in every thread started in the block; every other Python thread is judged by the
code it runs, and one the kernel did not start makes the watch undecided) and *records* which
banned routines the notebook's code reached: the trusted checker decides. Outside every
kernel, the grader scans the submission's code (``coursekit.grading.bans``, whose interface
is ``BANS`` and ``Ban``) for the banned names, however imported or aliased. An exercise states
its bans once, in a table at the top (``ban_table``), and each banned part in one line
(``ban_line``).
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class Ban:
    """What one part may not call (see the module's docstring)."""

    routines: tuple[str, ...] = ()
    modules: tuple[str, ...] = ()
    ops: tuple[str, ...] = ()
    tests: tuple[str, ...] = ()
    shown: tuple[str, ...] = ()  # the names the instructions list (default: routines + modules)

    def names(self) -> tuple[str, ...]:
        """Every dotted name the static scan refuses (operators as ``torch.ops`` names)."""
        return (
            self.routines
            + self.modules
            + tuple("torch.ops." + op.replace("::", ".") for op in self.ops)
        )


def aten_family(*words: str, exclude: tuple[str, ...] = ()) -> tuple[str, ...]:
    """Every ATen operator whose name holds one of ``words`` (overloads folded into their name):
    a family read from PyTorch's own registry, so a member nobody listed (``aten::slow_conv3d``,
    ``aten::max_pool3d_with_indices``) cannot slip through a hand-written list."""
    import torch

    registered = {
        name.split(".")[0]
        for name in torch._C._dispatch_get_all_op_names()
        if name.startswith("aten::")
    }
    return tuple(
        sorted(
            name
            for name in registered
            if any(word in name for word in words) and not any(word in name for word in exclude)
        )
    )


# Every convolution and correlation operator, forward and backward (a weight gradient is a
# correlation too), on every backend.
_CONVOLUTION_OPS = aten_family("conv", exclude=("convert",))
_CONVOLUTIONS = Ban(
    routines=(
        "numpy.convolve",
        "numpy.correlate",
        # the C routines behind them, reachable under other names
        "numpy._core.multiarray.correlate",
        "numpy._core.multiarray.correlate2",  # numpy.core.multiarray's are the same objects
        "torch.nn.functional.conv1d",
        "torch.nn.functional.conv2d",
        "torch.nn.functional.conv_transpose1d",
        "torch.nn.functional.conv_transpose2d",
        "torch.conv1d",
        "torch.conv2d",
        "torch.convolution",
        "torch.nn.Conv1d",
        "torch.nn.Conv2d",
        "course_utils.conv.corr2d",
    ),
    modules=("scipy.signal", "scipy.ndimage", "course_utils.signals"),
    ops=_CONVOLUTION_OPS,
    shown=(
        "np.convolve",
        "np.correlate",
        "scipy.signal",
        "scipy.ndimage",
        "torch.nn.functional.conv1d/conv2d",
        "nn.Conv1d/Conv2d",
        "course_utils.conv",
    ),
)
_FILTERS = Ban(
    modules=("scipy.ndimage", "scipy.signal", "skimage.filters", "course_utils.filters"),
    shown=("scipy.ndimage", "scipy.signal", "skimage.filters", "course_utils.filters"),
)
_POOLING_OPS = aten_family("pool")  # max, average, adaptive, fractional, 1-D to 3-D
_POOLING = Ban(
    routines=(
        "torch.nn.functional.max_pool2d",
        "torch.nn.functional.avg_pool2d",
        "torch.nn.functional.max_pool1d",
        "torch.nn.functional.avg_pool1d",
        "torch.nn.functional.adaptive_avg_pool1d",
        "torch.nn.functional.adaptive_avg_pool2d",
        "torch.max_pool2d",
        "torch.avg_pool1d",
        "torch.max_pool1d",
        "torch.adaptive_avg_pool1d",
        "torch.nn.MaxPool2d",
        "torch.nn.AvgPool2d",
        "torch.nn.MaxPool1d",
        "torch.nn.AvgPool1d",
        "torch.nn.AdaptiveAvgPool1d",
        "torch.nn.AdaptiveAvgPool2d",
        "course_utils.conv.pool2d",
    ),
    modules=("scipy.ndimage", "skimage.measure"),
    ops=_POOLING_OPS,
    shown=(
        "torch.nn.functional.*pool*",
        "nn.MaxPool*/AvgPool*/AdaptiveAvgPool*",
        "course_utils.conv.pool2d",
        "scipy.ndimage",
    ),
)

_SOLVER_OPS = (
    "aten::linalg_lstsq",
    "aten::linalg_solve",
    "aten::linalg_solve_ex",
    "aten::_linalg_solve_ex",
    "aten::linalg_inv",
    "aten::linalg_inv_ex",
    "aten::linalg_pinv",
    "aten::linalg_svd",
    "aten::_linalg_svd",
    "aten::linalg_qr",
    "aten::linalg_cholesky_ex",
    "aten::cholesky_solve",
    "aten::triangular_solve",
    "aten::linalg_solve_triangular",
    "aten::linalg_lu_factor_ex",
    "aten::linalg_lu_solve",
    "aten::_linalg_eigh",
)
_SOLVERS = (
    "torch.linalg.lstsq",
    "torch.linalg.solve",
    "torch.linalg.solve_ex",
    "torch.linalg.inv",
    "torch.linalg.inv_ex",
    "torch.linalg.pinv",
    "torch.linalg.svd",
    "torch.linalg.qr",
    "torch.linalg.cholesky",
    "torch.linalg.eigh",
    "torch.linalg.lu_factor",
    "torch.linalg.lu_solve",
    "torch.inverse",
    "torch.pinverse",
    "torch.svd",
    "torch.cholesky_solve",
    "torch.triangular_solve",
    "numpy.linalg.lstsq",
    "numpy.linalg.solve",
    "numpy.linalg.inv",
    "numpy.linalg.pinv",
)

# A size or a count worked out from the formula, not read off a layer that the code builds.
_OUTPUT_SIZE = Ban(
    routines=_CONVOLUTIONS.routines
    + _POOLING.routines
    + ("course_utils.conv.conv_output_size", "course_utils.fcn.transposed_conv_output_size"),
    modules=("course_utils.conv", "course_utils.layers", "course_utils.fcn"),
    ops=_CONVOLUTION_OPS + _POOLING_OPS,
    shown=(
        "course_utils.conv.conv_output_size",
        "torch.nn.functional.conv1d/conv2d",
        "nn.Conv1d/Conv2d",
        "torch.nn.functional.max_pool2d/avg_pool2d",
        "nn.MaxPool2d/AvgPool2d",
    ),
)
_PARAMETER_COUNT = Ban(
    routines=(
        "torch.nn.Conv2d",
        "torch.nn.LazyConv2d",
        "torch.nn.modules.conv._ConvNd",
        "torch.nn.Module.parameters",
        "torch.nn.Module.named_parameters",
        "course_utils.training.count_parameters",
    ),
    modules=("course_utils.training", "course_utils.layers"),
    shown=("nn.Conv2d", "nn.Module.parameters", "course_utils.training.count_parameters"),
)
# Average precision computed, not handed to a library that computes it.
_AVERAGE_PRECISION = Ban(
    routines=(
        "course_utils.detection.average_precision",
        "course_utils.detection.precision_recall",
        "course_utils.detection.match_detections",
        "course_utils.detection.detection_average_precision",
    ),
    modules=("sklearn.metrics", "torchmetrics", "pycocotools"),
    shown=(
        "course_utils.detection.average_precision/precision_recall",
        "course_utils.detection.match_detections/detection_average_precision",
        "sklearn.metrics",
        "torchmetrics",
        "pycocotools",
    ),
)

# A block built from its description, not taken from a library that has it.
_ARCHITECTURE_BLOCK = Ban(
    modules=("course_utils.architectures", "torchvision.models"),
    shown=("course_utils.architectures", "torchvision.models"),
)

# ex08: every part forbids the course's own anchor and SSD code and torchvision's detection
# utilities (the tests compute the answers with them); box_iou stays allowed.
_DETECTION_UTILS = "torchvision.models.detection._utils"
_ANCHOR_LIBRARIES = ("course_utils.anchors", "course_utils.ssd", _DETECTION_UTILS)
_ANCHOR_LIBRARIES_SHOWN = (
    f"{_DETECTION_UTILS} (BoxCoder, Matcher, encode_boxes, ...)",
    "course_utils.anchors",
    "course_utils.ssd",
)


def _anchor_part(test: str, twins: tuple[str, ...]) -> Ban:
    """An ex08 part: its library twins by name, and the three libraries as a whole."""
    return Ban(
        routines=twins, modules=_ANCHOR_LIBRARIES, tests=(test,), shown=_ANCHOR_LIBRARIES_SHOWN
    )


BANS: dict[str, dict[str, Ban]] = {
    "ex01_convolution": {
        "conv1d_full": Ban(**{**_CONVOLUTIONS.__dict__, "tests": ("test_conv1d_full",)}),
        "corr2d": Ban(**{**_CONVOLUTIONS.__dict__, "tests": ("test_corr2d", "test_corr2d_errors")}),
        "fft_convolve": Ban(
            **{
                **_CONVOLUTIONS.__dict__,
                "tests": ("test_fft_convolve", "test_fft_convolve_uses_fft"),
            }
        ),
        "conv_output_size": Ban(
            **{
                **_OUTPUT_SIZE.__dict__,
                "tests": ("test_conv_output_size", "test_conv_output_size_errors"),
            }
        ),
        "signal_period": Ban(
            modules=("course_utils.signals", "scipy.signal"),
            tests=("test_signal_period",),
            shown=("course_utils.signals (estimate_period, autocorrelation)", "scipy.signal"),
        ),
    },
    "ex02_filters": {
        part: Ban(
            **{
                **_FILTERS.__dict__,
                "tests": (f"test_{part}",)
                + (("test_gaussian_kernel_errors",) if part == "gaussian_kernel" else ()),
            }
        )
        for part in (
            "gaussian_kernel",
            "separable_blur",
            "sobel_magnitude",
            "pass_type",
            "unsharp_mask",
        )
    },
    "ex03_cnn_layers": {
        "conv_out_size": Ban(
            **{
                **_OUTPUT_SIZE.__dict__,
                "tests": ("test_conv_out_size", "test_conv_out_size_errors"),
            }
        ),
        "conv2d_params": Ban(**{**_PARAMETER_COUNT.__dict__, "tests": ("test_conv2d_params",)}),
        "pool2d": Ban(**{**_POOLING.__dict__, "tests": ("test_pool2d", "test_pool2d_errors")}),
        "corr2d_multi_in_out": Ban(
            **{**_CONVOLUTIONS.__dict__, "tests": ("test_corr2d_multi_in_out",)}
        ),
        "conv1x1": Ban(**{**_CONVOLUTIONS.__dict__, "tests": ("test_conv1x1",)}),
        "adaptive": Ban(**{**_POOLING.__dict__, "tests": ("test_adaptive_avg_pool1d",)}),
        # Learning the kernel by gradient descent, not solving for it in closed form.
        "learn_kernel": Ban(
            routines=_SOLVERS,
            modules=("torch.linalg", "numpy.linalg", "scipy", "sklearn"),
            ops=_SOLVER_OPS,
            tests=("test_learn_kernel",),
            shown=(
                "torch.linalg",
                "torch.inverse",
                "torch.pinverse",
                "torch.svd",
                "numpy.linalg",
                "scipy",
                "sklearn",
            ),
        ),
    },
    "ex04_architectures": {
        **{
            part: Ban(**{**_ARCHITECTURE_BLOCK.__dict__, "tests": (f"test_{part}",)})
            for part in ("vgg_block", "nin_block", "residual", "dense_block")
        },
        "batch_norm": Ban(
            routines=(
                "torch.nn.functional.batch_norm",
                "torch.batch_norm",
                "torch.native_batch_norm",
                "torch.nn.functional.instance_norm",
                "torch.nn.functional.layer_norm",
                "torch.nn.functional.group_norm",
                "torch.nn.BatchNorm1d",
                "torch.nn.BatchNorm2d",
                "torch.nn.BatchNorm3d",
                "torch.nn.LazyBatchNorm1d",
                "torch.nn.LazyBatchNorm2d",
                "torch.nn.SyncBatchNorm",
                "torch.nn.modules.batchnorm._BatchNorm",
                "torch.nn.modules.batchnorm._NormBase",
            ),
            modules=("course_utils.normalization",),
            ops=(
                "aten::batch_norm",
                "aten::_batch_norm_impl_index",
                "aten::native_batch_norm",
                "aten::_native_batch_norm_legit",
                "aten::_native_batch_norm_legit_no_training",
                "aten::_native_batch_norm_legit_functional",
                "aten::cudnn_batch_norm",
                "aten::miopen_batch_norm",
                "aten::_batch_norm_with_update",
                "aten::_batch_norm_no_update",
                "aten::batch_norm_stats",
                "aten::batch_norm_elemt",
                "aten::batch_norm_update_stats",
                "aten::instance_norm",
                "aten::native_layer_norm",
                "aten::native_group_norm",
            ),
            tests=("test_batch_norm_training", "test_batch_norm_evaluation"),
            shown=(
                "torch.nn.functional.batch_norm",
                "torch.batch_norm",
                "torch.ops.aten.*batch_norm*",
                "nn.BatchNorm1d/2d/3d",
                "torch.nn.functional.instance_norm/layer_norm/group_norm",
                "course_utils.normalization",
            ),
        ),
    },
    "ex05_detection": {
        "box_formats": Ban(
            routines=("torchvision.ops.box_convert", "course_utils.detection.box_convert"),
            modules=("torchvision.ops._box_convert",),
            tests=("test_box_formats",),
            shown=("torchvision.ops.box_convert", "course_utils.detection.box_convert"),
        ),
        "box_iou": Ban(
            routines=(
                "torchvision.ops.box_iou",
                "torchvision.ops.boxes.box_iou",
                "torchvision.ops.boxes._box_inter_union",
                "torchvision.ops.generalized_box_iou",
                "torchvision.ops.distance_box_iou",
                "torchvision.ops.complete_box_iou",
                "course_utils.detection.box_iou",
            ),
            tests=("test_box_iou",),
            shown=(
                "torchvision.ops.box_iou (and its generalized, distance and complete twins)",
                "course_utils.detection.box_iou",
            ),
        ),
        "nms": Ban(
            routines=(
                "torchvision.ops.nms",
                "torchvision.ops.batched_nms",
                "torchvision.ops.boxes.nms",
                "torchvision.ops.boxes.batched_nms",
                "torchvision.ops.boxes._batched_nms_vanilla",
                "torchvision.ops.boxes._batched_nms_coordinate_trick",
                "course_utils.detection.nms",
            ),
            ops=("torchvision::nms",),
            tests=("test_nms",),
            shown=(
                "torchvision.ops.nms",
                "torchvision.ops.batched_nms",
                "torch.ops.torchvision.nms",
                "course_utils.detection.nms",
            ),
        ),
        "anchor_boxes": Ban(
            routines=("course_utils.detection.anchor_boxes",),
            modules=("course_utils.anchors", "torchvision.models.detection.anchor_utils"),
            tests=("test_anchor_boxes",),
            shown=(
                "course_utils.detection.anchor_boxes",
                "course_utils.anchors",
                "torchvision.models.detection.anchor_utils",
            ),
        ),
        "average_precision": Ban(
            **{**_AVERAGE_PRECISION.__dict__, "tests": ("test_average_precision",)}
        ),
        "detection_ap": Ban(**{**_AVERAGE_PRECISION.__dict__, "tests": ("test_detection_ap",)}),
    },
    "ex06_segmentation": {
        "block": Ban(
            modules=("course_utils.unet", "course_utils.fcn"),
            tests=("test_block",),
            shown=("course_utils.unet", "course_utils.fcn"),
        ),
        "tinyunet": Ban(
            modules=("course_utils.unet", "course_utils.fcn"),
            tests=("test_tinyunet",),
            shown=("course_utils.unet", "course_utils.fcn"),
        ),
        "otsu": Ban(
            routines=(
                "course_utils.segmentation.otsu_threshold",
                "course_utils.segmentation.otsu_threshold_image",
            ),
            modules=("skimage.filters", "cv2"),
            tests=("test_otsu",),
            shown=("course_utils.segmentation.otsu_threshold", "skimage.filters", "cv2"),
        ),
        "scores": Ban(
            routines=(
                "course_utils.segmentation.iou_score",
                "course_utils.segmentation.dice_score",
            ),
            modules=("sklearn.metrics", "torchmetrics"),
            tests=("test_scores", "test_scores_errors"),
            shown=(
                "course_utils.segmentation.iou_score/dice_score",
                "sklearn.metrics",
                "torchmetrics",
            ),
        ),
    },
    "ex07_transfer": {
        "replace_head": Ban(
            routines=("course_utils.heads.replace_head", "course_utils.transfer.replace_head"),
            modules=("course_utils.heads",),
            tests=("test_replace_head",),
            shown=("course_utils.heads", "course_utils.transfer.replace_head"),
        ),
        "freeze_backbone": Ban(
            modules=("course_utils.freezing",),
            tests=("test_freeze_backbone",),
            shown=("course_utils.freezing", "course_utils.transfer.freeze_backbone"),
        ),
        "make_optimizer": Ban(
            modules=("course_utils.freezing", "course_utils.transfer_strategies"),
            tests=("test_make_optimizer",),
            shown=("course_utils.freezing.parameter_groups", "course_utils.transfer_strategies"),
        ),
    },
    "ex08_anchors": {
        "encode_offsets": _anchor_part(
            "test_encode_offsets",
            (
                f"{_DETECTION_UTILS}.BoxCoder",
                f"{_DETECTION_UTILS}.BoxCoder.encode",
                f"{_DETECTION_UTILS}.BoxCoder.encode_single",
                f"{_DETECTION_UTILS}.encode_boxes",
                f"{_DETECTION_UTILS}.BoxLinearCoder",
                "course_utils.anchors.encode_offsets",
            ),
        ),
        "decode_offsets": _anchor_part(
            "test_decode_offsets",
            (
                f"{_DETECTION_UTILS}.BoxCoder",
                f"{_DETECTION_UTILS}.BoxCoder.decode",
                f"{_DETECTION_UTILS}.BoxCoder.decode_single",
                f"{_DETECTION_UTILS}.BoxLinearCoder",
                "course_utils.anchors.decode_offsets",
            ),
        ),
        "match_anchors": _anchor_part(
            "test_match_anchors",
            (
                f"{_DETECTION_UTILS}.Matcher",
                f"{_DETECTION_UTILS}.SSDMatcher",
                "course_utils.anchors.match_anchors",
            ),
        ),
        "one_stage_head": _anchor_part("test_one_stage_head", ("course_utils.ssd.TinySSD",)),
        "one_stage_loss": _anchor_part("test_one_stage_loss", ("course_utils.ssd.ssd_loss",)),
    },
}


def ban_for(exercise: str, part: str) -> Ban:
    try:
        return BANS[exercise][part]
    except KeyError:
        raise KeyError(f"no ban is stated for part {part!r} of {exercise!r}") from None


def _shown(ban: Ban) -> str:
    return ", ".join(f"`{n}`" for n in (ban.shown or ban.routines + ban.modules))


BAN_TABLE_HEADING = "## Library bans"


def ban_table(exercise: str, titles: dict[str, str] | None = None) -> str:
    """The exercise's bans, stated once: a markdown table (part, what it may not use) and the
    rule in one paragraph. ``titles``: how the notebook names each part, in the notebook's
    order (default: the parts' ids)."""
    titles = titles or {part: f"`{part}`" for part in BANS[exercise]}
    rows = [f"| {title} | {_shown(BANS[exercise][part])} |" for part, title in titles.items()]
    any_ops = any(ban.ops for ban in BANS[exercise].values())
    ways = "an alias, `torch.ops`, a module that calls them for you" if any_ops else "an alias"
    return (
        f"{BAN_TABLE_HEADING}\n\n"
        "Some parts ask for an operation written from scratch. Such a part may not use the "
        "library routines that compute it: do not call, import or name them in the part's "
        f"code, under any name ({ways}). The grader reads your code and watches the calls "
        "your functions make while its test runs; a part that uses one earns nothing, and "
        "`course check` tells you before you submit.\n\n"
        "| part | do not use |\n|---|---|\n" + "\n".join(rows)
    )


def ban_line(exercise: str, part: str) -> str:
    """The one line a banned part's instructions show (the rule is in ``ban_table``)."""
    return f"**Library ban:** {_shown(ban_for(exercise, part))} (see *Library bans* at the top)."


# -- the in-kernel watch ---------------------------------------------------------------------
def _resolve(dotted: str):
    """The object a dotted name refers to, or None (a library that is not installed)."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return None
        return obj
    return None


# The packages whose threads a kernel runs on its own, where students run notebooks (Jupyter,
# Colab, an editor's debugger), and tqdm's monitor, which runs only tqdm's own refresh: started
# from a function of theirs, these threads are no part of the notebook's answer.
_MACHINERY = (
    "ipykernel.",
    "IPython.",
    "zmq.",
    "jupyter_client.",
    "tornado.",
    "tqdm._monitor",
    "google.colab.",
    "debugpy.",
    "_pydevd_bundle.",
    "_pydev_bundle.",
)
# Starting a thread without ``threading`` (whose threads get the watch's profile)
_RAW_THREAD_STARTS = ("start_new_thread", "start_new", "start_joinable_thread")
# Starting a process (``os`` and ``subprocess`` and multiprocessing all end in these): the
# watch cannot see into another process, so work handed to one is undecided
_PROCESS_STARTS = {
    "posix": ("fork", "forkpty", "posix_spawn", "posix_spawnp", "system", "execv", "execve"),
    "_posixsubprocess": ("fork_exec",),
}
UNDECIDED = "undecided: "


def _child_processes() -> set[int]:
    """The live (or unreaped) child processes of this process: ``/proc``'s list per thread,
    empty where there is no ``/proc`` (macOS: the profile and ``_children_ran`` still see)."""
    children: set[int] = set()
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return children
    for task in tasks:
        try:
            with open(f"/proc/self/task/{task}/children") as listing:
                children.update(int(pid) for pid in listing.read().split())
        except (OSError, ValueError):
            continue
    return children


def _children_usage() -> tuple:
    """What the reaped children of this process used (``RUSAGE_CHILDREN``): it grows when a
    child process ran and was waited for, however it was started (``ctypes`` too)."""
    try:
        import resource
    except ImportError:  # Windows
        return ()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (usage.ru_utime, usage.ru_stime, usage.ru_minflt, usage.ru_majflt, usage.ru_nvcsw)


def _current_frames():
    """``sys._current_frames()`` where it is CPython's own function (None where the notebook
    replaced it: its answer could hide threads)."""
    function = sys._current_frames
    if (
        type(function) is not type(sys.getprofile)
        or getattr(function, "__self__", None) is not sys
        or function.__name__ != "_current_frames"
    ):
        return None
    return function()


def _trusted_roots() -> tuple[str, ...]:
    """Where the installation's code lives: the interpreter's and the virtual environment's
    prefixes and this package's folder (code from anywhere else is the notebook's)."""
    import site
    from pathlib import Path

    package = str(Path(__file__).resolve().parents[1])
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, package}
    # libraries installed elsewhere: the interpreter's site folders, and a hub's
    # `pip install --user` where user site-packages are on (graded kernels turn them off, so
    # a file a submission writes there is never taken for a library)
    roots.update(getattr(site, "getsitepackages", list)())
    if site.ENABLE_USER_SITE:
        roots.add(site.getusersitepackages())
    return tuple(r.rstrip("/") + "/" for r in roots if r) + ("<frozen ",)


class BanWatch:
    """Watch a test cell for banned routines that the notebook's code reaches; record them.

    ::

        with BanWatch("ex04_architectures", "batch_norm") as watch:
            Y = batch_norm(X, ...)
        watch.reached     # {"torch.nn.functional.batch_norm"} if batch_norm called it

    The whole block is watched, in this thread and in every thread started inside it
    (``sys.setprofile``, ``threading.setprofile``, and torch's function and dispatch modes).
    A banned routine counts when code of the notebook, other than the test code that opened
    the watch, is on the stack that reached it: the test's own reference computations do not
    count, the part's functions (however named, in any cell, in a lambda or a thread) do.
    Where the watch cannot see (a thread that runs the notebook's code or that the kernel did
    not start, alive when the block begins or ends; a thread started with ``_thread`` in the
    block; a child process alive when the block begins or ends, started in it, or run and
    reaped in it (``RUSAGE_CHILDREN`` grew); ``sys._current_frames`` replaced; the profile or
    the torch modes switched off; a dispatch guard of ``torch._C`` entered by the notebook)
    it records that it could not decide, which fails the check and tells the instructor why.
    ``check()`` records what was reached (``watching_bans`` calls it at the end of the block);
    outside grading it fails with one sentence when something was.
    """

    def __init__(self, exercise: str, part: str, test_file: str | None = None):
        self.exercise, self.part = exercise, part
        self.ban = ban_for(exercise, part)
        self.reached: set[str] = set()
        self.undecided: set[str] = set()
        self.test_file = test_file
        self._roots = _trusted_roots()
        self._by_id: dict[int, str] = {}
        self._by_code: dict[object, str] = {}
        for name in self.ban.routines:
            obj = _resolve(name)
            if obj is None:
                continue
            self._by_id[id(obj)] = name
            for function in (
                obj,
                getattr(obj, "__wrapped__", None),
                getattr(obj, "forward", None),
                getattr(obj, "__init__", None),
            ):
                code = getattr(function, "__code__", None)
                if code is not None:
                    self._by_code[code] = name
        self._modes: list = []
        self._saved: tuple = ()
        self._hook = None
        self._profiled: set[int] = set()  # threads started in the block, profiled
        self._children_before: tuple = ()

    # -- whose call it is
    def _notebook_code(self, filename: str) -> bool:
        return filename != self.test_file and not filename.startswith(self._roots)

    def _from_notebook(self, frame) -> bool:
        """Whether code of the notebook (not the test that opened the watch) is on the stack
        between the call and the test: what called the test cell (the kernel's machinery, a
        test runner) is no part of the notebook's answer."""
        while frame is not None:
            if frame.f_code.co_filename == self.test_file:
                return False
            if self._notebook_code(frame.f_code.co_filename):
                return True
            frame = frame.f_back
        return False

    def _reach(self, name: str, frame) -> None:
        if name not in self.reached and self._from_notebook(frame):
            self.reached.add(name)

    # -- which call is banned
    def _module_banned(self, module: str | None) -> str | None:
        if not module:
            return None
        for banned in self.ban.modules:
            if module == banned or module.startswith(banned + "."):
                return banned
        return None

    def _operator_banned(self, frame) -> str | None:
        """A call of ``torch.ops...`` (an OpOverloadPacket or OpOverload), whatever its name,
        seen in Python even where torch's dispatch modes are switched off."""
        operator = frame.f_locals.get("self")
        name = getattr(operator, "_qualified_op_name", None) or getattr(operator, "_name", None)
        if isinstance(name, str) and name.split(".")[0] in self.ban.ops:
            return name.split(".")[0]
        return None

    def _profile(self, frame, event, arg):
        if event == "call":
            code = frame.f_code
            name = self._by_code.get(code) or self._module_banned(frame.f_globals.get("__name__"))
            if not name and self.ban.ops and code.co_name == "__call__":
                if frame.f_globals.get("__name__") == "torch._ops":
                    name = self._operator_banned(frame)
        elif event == "c_call":
            name = self._by_id.get(id(arg)) or self._module_banned(
                getattr(arg, "__module__", None)
                or getattr(type(getattr(arg, "__self__", None)), "__module__", None)
            )
            if (
                not name
                and getattr(arg, "__name__", "") in _RAW_THREAD_STARTS
                and getattr(arg, "__self__", None) is sys.modules.get("_thread")
                and frame.f_globals.get("__name__") != "threading"
            ):
                self.undecided.add("the notebook started a thread that the watch cannot see")
            if not name and self._process_start(arg) and self._from_notebook(frame):
                self.undecided.add("the notebook started a process that the watch cannot see")
            if (
                not name
                and getattr(arg, "__module__", None) == "torch._C"
                and getattr(arg, "__name__", "") == "__enter__"
                and self._notebook_code(frame.f_code.co_filename)
            ):
                self.undecided.add("the notebook entered a dispatch guard of torch._C")
        else:
            return
        if name:
            self._reach(name, frame)

    def _unseen_threads(self) -> list[str]:
        """What runs in the other Python threads that the watch does not profile: every thread
        with a Python frame (``sys._current_frames``: threads of ``_thread`` too, which
        ``threading`` does not list), judged by the code it runs, not by names it could set.

        A thread is the kernel's machinery when no frame on its stack is the notebook's code
        and the function it was started with (below ``threading``'s own frames) is a function
        of the kernel's packages (``_MACHINERY``) from the installation's files. Any other
        thread could run the part's work where the profile cannot see it: it is named."""
        frames = _current_frames()
        if frames is None:
            return ["sys._current_frames was replaced"]
        unseen = []
        for ident, frame in frames.items():
            if ident == threading.get_ident() or ident in self._profiled:
                continue
            stack = []
            while frame is not None:
                stack.append(frame)
                frame = frame.f_back
            name = getattr(threading._active.get(ident), "name", None) or f"thread {ident}"
            if any(self._notebook_code(f.f_code.co_filename) for f in stack):
                unseen.append(f"{name}, running the notebook's code")
                continue
            started = [f for f in reversed(stack) if f.f_globals.get("__name__") != "threading"]
            origin = started[0].f_globals.get("__name__", "") if started else ""
            if not (isinstance(origin, str) and origin.startswith(_MACHINERY)):
                unseen.append(name)
        return sorted(unseen)

    @staticmethod
    def _process_start(function) -> bool:
        owner = getattr(function, "__self__", None)
        for module, names in _PROCESS_STARTS.items():
            if owner is not None and owner is sys.modules.get(module):
                return getattr(function, "__name__", "") in names
        return False

    def _processes_unseen(self) -> str | None:
        """Why another process could have done the block's work, or None: a child process
        alive (started before the block or in it), or one that ran and was reaped in it."""
        children = _child_processes()
        if children:
            return f"a process the notebook started is running (pid {min(children)})"
        if _children_usage() != self._children_before:
            return "a process the watch cannot see ran in the block"
        return None

    def _thread_profiled(self, frame, event, arg):
        """``threading``'s profile for threads started in the block: note the thread as
        watched, then profile it like the others."""
        self._profiled.add(threading.get_ident())
        sys.setprofile(self._profile)
        return self._profile(frame, event, arg)

    def __enter__(self):
        if self._modes:
            raise RuntimeError("a BanWatch is not re-entrant")
        if self.test_file is None:
            self.test_file = sys._getframe(1).f_code.co_filename
        from torch.overrides import TorchFunctionMode
        from torch.utils._python_dispatch import TorchDispatchMode

        watch = self

        class _Functions(TorchFunctionMode):
            def __torch_function__(self, func, types, args=(), kwargs=None):
                name = watch._by_id.get(id(func))
                if name:
                    watch._reach(name, sys._getframe(1))
                return func(*args, **(kwargs or {}))

        class _Operators(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                op = func._schema.name
                if op in watch.ban.ops:
                    watch._reach(op, sys._getframe(1))
                return func(*args, **(kwargs or {}))

        unseen = self._unseen_threads()
        if unseen:
            self.undecided.add(f"threads the watch cannot see were running ({unseen[0]})")
        self._children_before = _children_usage()
        process = self._processes_unseen()
        if process:
            self.undecided.add(process)
        self._modes = [_Functions(), _Operators()]
        for mode in self._modes:
            mode.__enter__()
        self._saved = (sys.getprofile(), threading.getprofile())
        threading.setprofile(self._thread_profiled)
        sys.setprofile(self._profile)
        self._hook = sys.getprofile()
        return self

    def __exit__(self, exc_type, *exc_info):
        switched_off = sys.getprofile() is not self._hook
        sys.setprofile(self._saved[0])
        threading.setprofile(self._saved[1])
        try:
            for mode in reversed(self._modes):
                mode.__exit__(exc_type, *exc_info)
        except Exception:  # noqa: BLE001 - a mode popped by the notebook
            self.undecided.add("the notebook removed torch's modes")
        self._modes = []
        if switched_off:
            self.undecided.add("the notebook switched the watch's profile off")
        unseen = self._unseen_threads()
        if unseen:
            self.undecided.add(f"threads the watch cannot see were running ({unseen[0]})")
        process = self._processes_unseen()
        if process:
            self.undecided.add(process)
        return False

    def findings(self) -> list[str]:
        """The banned routines reached, then what the watch could not decide (sorted)."""
        return sorted(self.reached) + sorted(UNDECIDED + u for u in self.undecided)

    def check(self) -> None:
        """Record (or, outside grading, assert) that no banned routine was reached."""
        from . import checks

        found = self.findings()
        name = f"the library routines that {self.part} reached (it may call none)"
        mode = checks.recording_mode()
        if mode == "graded":
            checks.send_record("equal", name, found)
            return
        if found:
            what = ", ".join(found)
            raise AssertionError(
                f"{self.part} reaches {what}, which this part forbids: write it yourself"
                if self.reached
                else f"the library ban of {self.part} could not be watched: {what}"
            )
        if mode == "reference":
            checks.send_record("equal", name, found, expected=[])


class _CheckedWatch(BanWatch):
    def __exit__(self, exc_type, *exc_info):
        super().__exit__(exc_type, *exc_info)
        if exc_type is None:
            self.check()
        return False


def watching_bans(exercise: str, part: str) -> BanWatch:
    """The library ban of ``part`` watched over a ``with`` block of a test cell, checked (and
    recorded) at its end (see ``BanWatch``)::

        with watching_bans("ex01_convolution", "corr2d"):
            check_tensor(corr2d(X, K), expected, "corr2d(X, K)")
    """
    return _CheckedWatch(exercise, part, test_file=sys._getframe(1).f_code.co_filename)
