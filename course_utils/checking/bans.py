"""Library bans of the exercises: each part's ban stated once, read by instructions and tests.

A part that asks for an operation *from scratch* forbids the library routines that compute it.
``BANS[exercise][part]`` (``part`` = the grade_id of the part's solution cell) names them:

- ``routines``: dotted names of Python-level functions and classes (``torch.nn.functional.
  batch_norm``), ``modules``: whole packages (``scipy.ndimage``), ``ops``: the dispatcher's
  operators (``aten::native_batch_norm``, ``torchvision::nms``) that every Python name of a
  routine ends up in (``torch.ops.aten.native_batch_norm``, an alias, a module's ``forward``);
- ``tests``: the grade_ids of the test cells that grade the part.

Two checks read the table. In the student's kernel, ``BanWatch`` watches the graded calls
(``torch.overrides.TorchFunctionMode`` and ``TorchDispatchMode`` see torch functions and
operators whatever their Python name; ``sys.setprofile`` sees Python and C functions, NumPy's
and SciPy's included, by identity and module) and *records* which banned routines were reached:
the trusted checker decides. Outside every kernel, the grader scans the submission's code
(``coursekit.grading.bans``) for the banned names, however imported or aliased. The sentence a
part's instructions show is ``ban_sentence(exercise, part)``.
"""

from __future__ import annotations

import importlib
import sys
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


_CONVOLUTION_OPS = (
    "aten::convolution",
    "aten::_convolution",
    "aten::conv1d",
    "aten::conv2d",
    "aten::conv_transpose1d",
    "aten::conv_transpose2d",
    "aten::mkldnn_convolution",
    "aten::cudnn_convolution",
    "aten::_slow_conv2d_forward",
    "aten::thnn_conv2d",
    "aten::slow_conv_dilated2d",
    "aten::_conv_depthwise2d",
    "aten::convolution_overrideable",
)
_CONVOLUTIONS = Ban(
    routines=(
        "numpy.convolve",
        "numpy.correlate",
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
_POOLING_OPS = (
    "aten::max_pool2d",
    "aten::max_pool2d_with_indices",
    "aten::avg_pool2d",
    "aten::max_pool1d",
    "aten::max_pool1d_with_indices",
    "aten::avg_pool1d",
    "aten::adaptive_avg_pool1d",
    "aten::adaptive_avg_pool2d",
    "aten::_adaptive_avg_pool2d",
    "aten::adaptive_max_pool2d",
    "aten::adaptive_max_pool1d",
    "aten::mkldnn_max_pool2d",
    "aten::quantized_max_pool2d",
)
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
        "corr2d": Ban(**{**_CONVOLUTIONS.__dict__, "tests": ("test_corr2d",)}),
        "fft_convolve": Ban(**{**_CONVOLUTIONS.__dict__, "tests": ("test_fft_convolve",)}),
        "conv_output_size": Ban(**{**_OUTPUT_SIZE.__dict__, "tests": ("test_conv_output_size",)}),
        "signal_period": Ban(
            modules=("course_utils.signals", "scipy.signal"),
            tests=("test_signal_period",),
            shown=("course_utils.signals (estimate_period, autocorrelation)", "scipy.signal"),
        ),
    },
    "ex02_filters": {
        part: Ban(**{**_FILTERS.__dict__, "tests": (f"test_{part}",)})
        for part in (
            "gaussian_kernel",
            "separable_blur",
            "sobel_magnitude",
            "pass_type",
            "unsharp_mask",
        )
    },
    "ex03_cnn_layers": {
        "conv_out_size": Ban(**{**_OUTPUT_SIZE.__dict__, "tests": ("test_conv_out_size",)}),
        "conv2d_params": Ban(**{**_PARAMETER_COUNT.__dict__, "tests": ("test_conv2d_params",)}),
        "pool2d": Ban(**{**_POOLING.__dict__, "tests": ("test_pool2d",)}),
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
        "block_solution": Ban(
            modules=("course_utils.unet", "course_utils.fcn"),
            tests=("block_tests",),
            shown=("course_utils.unet", "course_utils.fcn"),
        ),
        "tinyunet_solution": Ban(
            modules=("course_utils.unet", "course_utils.fcn"),
            tests=("tinyunet_tests",),
            shown=("course_utils.unet", "course_utils.fcn"),
        ),
        "otsu_solution": Ban(
            routines=(
                "course_utils.segmentation.otsu_threshold",
                "course_utils.segmentation.otsu_threshold_image",
            ),
            modules=("skimage.filters", "cv2"),
            tests=("otsu_tests",),
            shown=("course_utils.segmentation.otsu_threshold", "skimage.filters", "cv2"),
        ),
        "scores_solution": Ban(
            routines=(
                "course_utils.segmentation.iou_score",
                "course_utils.segmentation.dice_score",
            ),
            modules=("sklearn.metrics", "torchmetrics"),
            tests=("scores_tests",),
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


def ban_sentence(exercise: str, part: str) -> str:
    """The instruction sentence of a banned part (rendered into the notebook's markdown)."""
    ban = ban_for(exercise, part)
    shown = ban.shown or ban.routines + ban.modules
    names = ", ".join(f"`{n}`" for n in shown)
    ways = (
        "an alias, `torch.ops`, a module that calls them for you"
        if ban.ops
        else ("an alias, a module that calls them for you")
    )
    return (
        f"**Library ban:** in this part, do not use {names}: do not call, import or name "
        f"them in the part's code, under any name ({ways}). The grader reads your code and "
        "watches the calls it makes, and the part earns nothing if it uses one; "
        "`course check` tells you before you submit."
    )


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


class BanWatch:
    """Watch a part's graded calls for banned routines; ``check()`` records what was reached.

    ::

        _watch = BanWatch("ex04_architectures", "batch_norm")
        with _watch:
            _Y = batch_norm(...)
        _watch.check()      # records the banned routines reached (the checker wants none)
    """

    def __init__(self, exercise: str, part: str):
        self.exercise, self.part = exercise, part
        self.ban = ban_for(exercise, part)
        self.reached: set[str] = set()
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
        self._saved_profile = None

    # which call is banned
    def _module_banned(self, module: str | None) -> str | None:
        if not module:
            return None
        for banned in self.ban.modules:
            if module == banned or module.startswith(banned + "."):
                return banned
        return None

    def _profile(self, frame, event, arg):
        if event == "call":
            name = self._by_code.get(frame.f_code) or self._module_banned(
                frame.f_globals.get("__name__")
            )
        elif event == "c_call":
            name = self._by_id.get(id(arg)) or self._module_banned(
                getattr(arg, "__module__", None)
                or getattr(type(getattr(arg, "__self__", None)), "__module__", None)
            )
        else:
            return
        if name:
            self.reached.add(name)

    def __enter__(self):
        if self._modes:
            raise RuntimeError("a BanWatch is not re-entrant")
        from torch.overrides import TorchFunctionMode
        from torch.utils._python_dispatch import TorchDispatchMode

        watch = self

        class _Functions(TorchFunctionMode):
            def __torch_function__(self, func, types, args=(), kwargs=None):
                name = watch._by_id.get(id(func))
                if name:
                    watch.reached.add(name)
                return func(*args, **(kwargs or {}))

        class _Operators(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                op = func._schema.name
                if op in watch.ban.ops:
                    watch.reached.add(op)
                return func(*args, **(kwargs or {}))

        self._modes = [_Functions(), _Operators()]
        for mode in self._modes:
            mode.__enter__()
        self._saved_profile = sys.getprofile()
        sys.setprofile(self._profile)
        return self

    def __exit__(self, *exc_info):
        sys.setprofile(self._saved_profile)
        for mode in reversed(self._modes):
            mode.__exit__(*exc_info)
        self._modes = []
        return False

    def __call__(self, function):
        """``function`` run under this watch: ``_ban(batch_norm)(X, ...)``."""

        def watched(*args, **kwargs):
            with self:
                return function(*args, **kwargs)

        return watched

    def check(self) -> None:
        """Record (or, outside grading, assert) that no banned routine was reached."""
        from . import checks

        reached = sorted(self.reached)
        name = f"the library routines that {self.part} reached (it may call none)"
        mode = checks.recording_mode()
        if mode == "graded":
            checks.send_record("equal", name, reached)
            return
        if reached:
            raise AssertionError(
                f"{self.part} calls {', '.join(reached)}, which this part "
                "forbids: write it yourself"
            )
        if mode == "reference":
            checks.send_record("equal", name, reached, expected=[])
