"""End to end: the tricks of issue 15, each graded with an honest classmate in the same run.

- ex04: batch normalization "from scratch" as one call of ``F.batch_norm`` (and, hidden from
  any reading of the code, ``torch.ops.aten.native_batch_norm`` looked up by a built string);
- ex05: ``torchvision.ops.nms`` imported under another name in an earlier cell (and found
  through ``__import__`` of a built string);
- ex07: fine-tuning on the 80 images the old hidden test graded on;
- ex05 and ex06: the answer of a part computed by one call of the course's own library (or
  scikit-learn);
- ex03: a kernel "learned by gradient descent" solved in closed form (least squares), with a
  made-up falling loss curve;
- ex08: torchvision's ``BoxCoder`` imported under another name, and the course's own
  ``match_anchors`` found through ``importlib`` of a built string;
- ex04 and ex06, whose architectures are the student's: a model that memorises every digit
  ``load_digits`` returns (the graded kernel gets the held-out ones blanked), and accuracies or
  IoUs faked by patching ``check_that`` around an untrained model (the exported model is scored
  by the grader).

Each trick earns nothing for the part it fakes and every other part's points; the honest
solution earns full marks. The real exercises are graded (copied into a temporary course).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest
from grading_fixture import fill, released, submit

from coursekit.grading.autograde import autograde
from coursekit.grading.course import Course
from coursekit.grading.release import release
from coursekit.grading.sandbox import Limits, sandbox_available

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        sandbox_available() is not None, reason=f"no sandbox here: {sandbox_available()}"
    ),
]
LIMITS = Limits(cell_timeout=300, submission_timeout=900)


def _grade(tmp_path: Path, exercise: str, tricks: dict[str, dict[str, str]]):
    """Grade the honest solution and each trick (``{student: {grade_id: source}}``)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "nbgrader_config.py", tmp_path / "nbgrader_config.py")
    shutil.copytree(ROOT / "solutions" / exercise, tmp_path / "solutions" / exercise)
    course = Course(tmp_path)
    release(course, exercise)
    stub = released(tmp_path, exercise)
    solution = nbformat.read(ROOT / "solutions" / exercise / f"{exercise}.ipynb", 4)
    honest = stub
    for cell in solution.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") and not meta.get("grade"):
            honest = fill(honest, meta["grade_id"], cell.source)
    submit(tmp_path, "honest", exercise, honest)
    for student, cells in tricks.items():
        nb = honest
        for grade_id, source in cells.items():
            nb = fill(nb, grade_id, source)
        submit(tmp_path, student, exercise, nb)
    return {
        r.student: r for r in autograde(course, exercise, jobs=2, limits=LIMITS, progress=False)
    }


def _lost(result) -> dict[str, float]:
    return {g: possible - got for g, (got, possible) in result.cells.items() if got < possible}


def test_ex04_batch_norm_by_a_library_call_earns_nothing_for_that_part(tmp_path):
    one_line = (
        "def batch_norm(X, gamma, beta, running_mean, running_var, training, "
        "momentum=0.1, eps=1e-5):\n"
        "    return F.batch_norm(X, running_mean, running_var, gamma, beta, training, "
        "momentum, eps)\n"
    )
    hidden = (
        "def batch_norm(X, gamma, beta, running_mean, running_var, training, "
        "momentum=0.1, eps=1e-5):\n"
        "    op = getattr(getattr(torch.ops, 'at' + 'en'), 'native_' + 'batch_norm')\n"
        "    return op(X, gamma, beta, running_mean, running_var, training, momentum, "
        "eps)[0]\n"
    )
    results = _grade(
        tmp_path,
        "ex04_architectures",
        {"one-line": {"batch_norm": one_line}, "hidden-op": {"batch_norm": hidden}},
    )
    full = results["honest"].max_score
    assert full > 5 and results["honest"].score == full, results["honest"].status
    for student in ("one-line", "hidden-op"):
        assert _lost(results[student]) == {
            "test_batch_norm_training": 3.0,
            "test_batch_norm_evaluation": 2.0,
        }, student
        assert results[student].score == full - 5


def test_ex05_an_aliased_nms_earns_nothing_for_that_part(tmp_path):
    solution = nbformat.read(ROOT / "solutions" / "ex05_detection" / "ex05_detection.ipynb", 4)
    imports = next(
        c.source
        for c in solution.cells
        if c.metadata.get("nbgrader", {}).get("grade_id") == "imports"
    )
    alias = {
        "imports": imports + "\nfrom torchvision.ops import nms as _keep_best\n",
        "nms": "def nms(boxes, scores, iou_threshold):\n"
        "    return _keep_best(boxes, scores, iou_threshold)\n",
    }
    dynamic = {
        "nms": "def nms(boxes, scores, iou_threshold):\n"
        "    library = __import__('torch' + 'vision')\n"
        "    return vars(library.ops)['n' + 'ms'](boxes, scores, iou_threshold)\n"
    }
    results = _grade(tmp_path, "ex05_detection", {"alias": alias, "dynamic": dynamic})
    full = results["honest"].max_score
    assert full > 2 and results["honest"].score == full, results["honest"].status
    for student in ("alias", "dynamic"):
        assert _lost(results[student]) == {"test_nms": 2.0}, student
        assert results[student].score == full - 2


def test_ex03_a_closed_form_kernel_fit_with_made_up_losses_earns_nothing_for_that_part(tmp_path):
    """The part asks for gradient descent: a least-squares solve that invents a falling loss
    curve (ending at the true error) passes every value check, and earns nothing."""
    least_squares = (
        "def learn_kernel(X, Y, kernel_shape, steps=300, lr=0.05):\n"
        "    kh, kw = kernel_shape\n"
        "    rows, cols = Y.shape\n"
        "    A = torch.stack([X[i:i + rows, j:j + cols].reshape(-1)\n"
        "                     for i in range(kh) for j in range(kw)], dim=1)\n"
        "    solve = getattr(torch.linalg, 'lst' + 'sq')\n"
        "    kernel = solve(A, Y.reshape(-1, 1)).solution.reshape(kernel_shape)\n"
        "    mse = float(((A @ kernel.reshape(-1, 1) - Y.reshape(-1, 1)) ** 2).mean())\n"
        "    losses = [max(mse, 1e-12) * 1000 ** (1 - t / (steps - 1)) for t in range(steps)]\n"
        "    return kernel.detach(), losses\n"
    )
    results = _grade(
        tmp_path, "ex03_cnn_layers", {"least-squares": {"learn_kernel": least_squares}}
    )
    full = results["honest"].max_score
    assert full > 3 and results["honest"].score == full, results["honest"].status
    assert _lost(results["least-squares"]) == {"test_learn_kernel": 3.0}
    assert results["least-squares"].score == full - 3


def test_ex05_and_ex06_answers_from_the_course_library_earn_nothing_for_those_parts(tmp_path):
    """The teaching library computes several parts' answers in one call (it is what the chapters
    teach from): box conversion and AP in ex05, Otsu's threshold and IoU/Dice in ex06."""
    ex05 = {
        "box_formats": "import course_utils.detection as _cd\n"
        "def xywh_to_xyxy(boxes):\n"
        "    return _cd.box_convert(boxes, 'xywh', 'xyxy')\n"
        "def xyxy_to_cxcywh(boxes):\n"
        "    return _cd.box_convert(boxes, 'xyxy', 'cxcywh')\n",
        "average_precision": "from course_utils import detection as _d\n"
        "average_precision = _d.average_precision\n",
    }
    results = _grade(tmp_path / "ex05", "ex05_detection", {"library": ex05})
    full = results["honest"].max_score
    assert full > 4 and results["honest"].score == full, results["honest"].status
    # detection_ap calls the student's average_precision, so it reaches the library's too
    assert set(_lost(results["library"])) == {
        "test_box_formats",
        "test_average_precision",
        "test_detection_ap",
    }

    ex06 = {
        "otsu": "from course_utils.segmentation import otsu_threshold as _otsu\n"
        "def otsu_threshold(counts, bin_centers):\n"
        "    return _otsu(counts, bin_centers)\n",
        "scores": "import sklearn.metrics as _m\n"
        "def iou_score(pred, target):\n"
        "    if pred.shape != target.shape:\n"
        "        raise ValueError('shapes differ')\n"
        "    if not (pred | target).any():\n"
        "        return 1.0\n"
        "    return float(_m.jaccard_score(target.flatten(), pred.flatten()))\n"
        "def dice_score(pred, target):\n"
        "    if pred.shape != target.shape:\n"
        "        raise ValueError('shapes differ')\n"
        "    if not (pred | target).any():\n"
        "        return 1.0\n"
        "    return float(_m.f1_score(target.flatten(), pred.flatten()))\n",
    }
    results = _grade(tmp_path / "ex06", "ex06_segmentation", {"library": ex06})
    full = results["honest"].max_score
    assert full > 6 and results["honest"].score == full, results["honest"].status
    assert _lost(results["library"]) == {
        "test_otsu": 3.0,
        "test_scores": 2.25,
        "test_scores_errors": 0.75,
    }
    assert results["library"].score == full - 6


def test_ex07_training_on_the_graded_images_earns_nothing_for_that_part(tmp_path):
    on_test_images = (
        "def fine_tune(model, X_train, y_train):\n"
        "    from course_utils.transfer import faces\n"
        "    _, _, X_graded, y_graded = faces(size=16, test_size=80, seed=0)\n"
        "    device = next(model.parameters()).device\n"
        "    X, y = X_graded.to(device), y_graded.to(device)\n"
        "    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)\n"
        "    model.train()\n"
        "    for _ in range(150):\n"
        "        loss = F.cross_entropy(model(X), y)\n"
        "        optimizer.zero_grad()\n"
        "        loss.backward()\n"
        "        optimizer.step()\n"
        "    return model\n"
    )
    results = _grade(tmp_path, "ex07_transfer", {"memorizer": {"fine_tune": on_test_images}})
    full = results["honest"].max_score
    assert full > 3 and results["honest"].score == full, results["honest"].status
    assert _lost(results["memorizer"]) == {"test_fine_tune": 3.0}
    assert results["memorizer"].score == full - 3


def test_ex08_a_banned_twin_by_alias_or_importlib_earns_nothing_for_that_part(tmp_path):
    aliased = {
        "encode_offsets": "from torchvision.models.detection._utils import BoxCoder as _Coder\n"
        "def encode_offsets(boxes, anchors, weights=(1.0, 1.0, 1.0, 1.0)):\n"
        "    return _Coder(weights).encode_single(boxes, anchors)\n"
    }
    dynamic = {
        "match_anchors": "import importlib\n"
        "def match_anchors(anchors, truth, high=0.5, low=0.4):\n"
        "    if len(truth) == 0:\n"
        "        return torch.full((len(anchors),), -1, dtype=torch.int64)\n"
        "    library = importlib.import_module('course_utils.' + 'anch' + 'ors')\n"
        "    return getattr(library, 'match_' + 'anchors')(anchors, truth, high, low)\n"
    }
    results = _grade(tmp_path, "ex08_anchors", {"aliased": aliased, "dynamic": dynamic})
    full = results["honest"].max_score
    assert full > 2 and results["honest"].score == full, results["honest"].status
    assert _lost(results["aliased"]) == {"test_encode_offsets": 2.0}
    assert _lost(results["dynamic"]) == {"test_match_anchors": 2.0}
    for student in ("aliased", "dynamic"):
        assert results[student].score == full - 2, student


# make_model passes the design test; train_model ignores its data and returns a table of every
# digit scikit-learn's load_digits gives (held-out ones included, were they readable) that
# answers the stored label of an exact match, and class 0 for any image it has not seen.
MEMORISER = """
class _Table(nn.Module):
    def __init__(self, images, labels):
        super().__init__()
        self.register_buffer("images", images)
        self.register_buffer("onehot", F.one_hot(labels, 10).float())

    def forward(self, x):
        distance = ((x.flatten(1)[:, None, :] - self.images[None]) ** 2).sum(-1)
        nearest = distance.min(dim=1)
        seen = (nearest.values == 0).float()[:, None]
        return self.onehot[nearest.indices] * seen


def make_model():
    return nn.Sequential(nn.Conv2d(1, 1, 1), nn.Flatten(), nn.Linear(64, 10))


def train_model(model, X_train, y_train):
    from sklearn.datasets import load_digits

    everything = load_digits()
    assert len(everything.target) == 1797
    images = torch.tensor(everything.data, dtype=torch.float32) / 16.0
    return _Table(images, torch.tensor(everything.target)).to(X_train.device)
"""

# every check_that on an accuracy or IoU records a perfect score, around an untrained model
FAKE_CHECK_THAT = """
import course_utils.testing as _testing

_real_check_that = _testing.check_that


def _forged_check_that(actual, predicate, bound=None, name="the result"):
    if "accuracy" in name or "IoU" in name:
        actual = 1.0
    return _real_check_that(actual, predicate, bound, name)


_testing.check_that = _forged_check_that
"""


def _solution_cell(exercise: str, grade_id: str) -> str:
    solution = nbformat.read(ROOT / "solutions" / exercise / f"{exercise}.ipynb", 4)
    return next(
        c.source
        for c in solution.cells
        if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id
    )


def test_ex04_a_memorised_or_faked_small_cnn_earns_nothing_for_that_part(tmp_path):
    untrained = _solution_cell("ex04_architectures", "small_cnn").replace(
        "    fit(model, loader, epochs=8, optimizer=optimizer, device=X_train.device)\n", ""
    )
    assert "fit(model" not in untrained
    honest = _solution_cell("ex04_architectures", "small_cnn")
    # 60,000 spare numbers beside an honest model: the design limit is counted outside, from
    # the exported program, so neither the kernel's check nor its say can let them pass
    hoarder = honest + (
        "\n_make_model = make_model\n\n\ndef make_model():\n    model = _make_model()\n"
        "    model.register_buffer('spare', torch.zeros(60_000))\n    return model\n"
    )
    results = _grade(
        tmp_path,
        "ex04_architectures",
        {
            "memoriser": {"small_cnn": MEMORISER},
            "forger": {"small_cnn": FAKE_CHECK_THAT + untrained},
            "hoarder": {"small_cnn": hoarder},
        },
    )
    full = results["honest"].max_score
    assert full > 3 and results["honest"].score == full, results["honest"].status
    for student in ("memoriser", "forger", "hoarder"):
        assert _lost(results[student]) == {"test_small_cnn": 3.0}, student
        assert results[student].score == full - 3


def test_ex06_a_faked_mean_iou_earns_nothing_for_that_part(tmp_path):
    fake_training = (
        "def train_unet(model, images, masks, epochs=12, lr=3e-3, batch_size=16, "
        "pos_weight=3.0, seed=0):\n"
        "    return [1.0 / (epoch + 1) for epoch in range(epochs)]\n"
    )
    solution = _solution_cell("ex06_segmentation", "training")
    predict = solution[solution.index("def predict_masks") :]
    results = _grade(
        tmp_path,
        "ex06_segmentation",
        {"forger": {"training": FAKE_CHECK_THAT + fake_training + "\n\n" + predict}},
    )
    full = results["honest"].max_score
    assert full > 4 and results["honest"].score == full, results["honest"].status
    assert _lost(results["forger"]) == {"test_training": 4.0}
    assert results["forger"].score == full - 4
