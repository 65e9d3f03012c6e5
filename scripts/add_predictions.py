"""Add one auto-graded "predict a number" question to each exercise, and split ex04's CNN test.

Each question asks the student to work out a number by reasoning (an output length, a receptive
field, a shape, a count, a score), set a variable to it, and the test computes the answer
independently with PyTorch/NumPy; an unanswered question fails with a sentence that says so
(``course_utils.testing.prediction``). Idempotent: of a question already present, only the test
cell is brought in line with ``QUESTIONS``.
Usage: python scripts/add_predictions.py
"""

from __future__ import annotations

from pathlib import Path

import nbformat

from coursekit.grading.notebooks import nbgrader_cell

ROOT = Path(__file__).resolve().parents[1]
SB, SE = "### BEGIN " + "SOLUTION", "### END " + "SOLUTION"

QUESTIONS = {
    "ex01_convolution": (
        "predicted_length",
        "A signal of length 50 is convolved (*full* convolution) with a kernel of length 8, and "
        "the result is cross-correlated (*valid*: only where the kernel fits) with a kernel of "
        "length 5. How many entries does the final result have? Work it out by hand and set "
        "`predicted_length` to that `int` (do not compute it with code).",
        "predicted_length = 53",
        "from course_utils.testing import check_equal, prediction\n"
        "_predicted = prediction(globals(), 'predicted_length')\n"
        "_full = np.convolve(np.ones(50), np.ones(8), mode='full')\n"
        "check_equal(_predicted, len(np.correlate(_full, np.ones(5), mode='valid')),\n"
        "            'the length after a full convolution and a valid cross-correlation')\n",
    ),
    "ex02_filters": (
        "predicted_peak",
        "An image is 0 on its left half and 1 on its right half (a vertical step edge). It is "
        "cross-correlated (valid positions only) with the Sobel kernel "
        "$\\begin{bmatrix}-1 & 0 & 1\\\\ -2 & 0 & 2\\\\ -1 & 0 & 1\\end{bmatrix}$. What is the "
        "largest value of the feature map? Set `predicted_peak` to that number.",
        "predicted_peak = 4.0",
        "from course_utils.testing import check_close, prediction\n"
        "_predicted = prediction(globals(), 'predicted_peak')\n"
        "_step = torch.zeros(1, 1, 8, 8)\n"
        "_step[..., 4:] = 1.0\n"
        "_sobel = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])\n"
        "check_close(_predicted, float(F.conv2d(_step, _sobel[None, None]).max()),\n"
        "            'the largest Sobel response to a step edge')\n",
    ),
    "ex03_cnn_layers": (
        "predicted_receptive_field",
        "A network applies two 3×3 convolutions (stride 1, no padding), then a 2×2 max pool of "
        "stride 2, then one more 3×3 convolution. How many input pixels wide is the receptive "
        "field of one output pixel? Set `predicted_receptive_field` to that `int`.",
        "predicted_receptive_field = 10",
        "from course_utils.testing import check_equal, prediction\n"
        "_predicted = prediction(globals(), 'predicted_receptive_field')\n"
        "# the receptive field, measured: which input pixels does one output's gradient reach?\n"
        "_net = nn.Sequential(nn.Conv2d(1, 1, 3), nn.Conv2d(1, 1, 3), nn.AvgPool2d(2, 2),\n"
        "                     nn.Conv2d(1, 1, 3))\n"
        "for _p in _net.parameters():\n"
        "    nn.init.constant_(_p, 1.0)\n"
        "_x = torch.ones(1, 1, 32, 32, requires_grad=True)\n"
        "_y = _net(_x)\n"
        "_y[0, 0, _y.shape[-2] // 2, _y.shape[-1] // 2].backward()\n"
        "_cols = torch.nonzero(_x.grad[0, 0].abs().sum(0)).flatten()\n"
        "check_equal(_predicted, int(_cols.max() - _cols.min() + 1),\n"
        "            'the receptive field of conv3-conv3-pool2-conv3')\n",
    ),
    "ex04_architectures": (
        "predicted_shape",
        "What is the output shape of `vgg_block(2, 3, 8)` followed by "
        "`nin_block(8, 16, kernel_size=5, stride=2, padding=1)` on an input of shape "
        "`(1, 3, 32, 32)`? Set `predicted_shape` to a `tuple` of four `int`s, worked out by "
        "hand.",
        "predicted_shape = (1, 16, 7, 7)",
        "from course_utils.testing import check_equal, prediction\n"
        "_predicted = prediction(globals(), 'predicted_shape')\n"
        "_net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 8, 3, padding=1),\n"
        "                     nn.MaxPool2d(2, 2), nn.Conv2d(8, 16, 5, stride=2, padding=1))\n"
        "check_equal(_predicted, tuple(_net(torch.zeros(1, 3, 32, 32)).shape),\n"
        "            'the output shape of the VGG block and the NiN block')\n",
    ),
    "ex05_detection": (
        "predicted_anchors",
        "A detector's feature map has 38×50 cells, and each cell gets one anchor per pair of "
        "size in (32, 64, 128) and aspect ratio in (0.5, 1, 2). How many anchor boxes is that? "
        "Set `predicted_anchors` to that `int`.",
        "predicted_anchors = 17100",
        "import itertools\n\nfrom course_utils.testing import check_equal, prediction\n"
        "_predicted = prediction(globals(), 'predicted_anchors')\n"
        "check_equal(_predicted, len(list(itertools.product(range(38), range(50),\n"
        "                                                   (32, 64, 128), (0.5, 1, 2)))),\n"
        "            'the number of anchors over a 38x50 feature map')\n",
    ),
    "ex06_segmentation": (
        "predicted_dice",
        "A predicted mask and the true mask have an IoU of exactly 0.5. What is their Dice "
        "score? Set `predicted_dice` to that number (a `float`; two decimals are enough).",
        "predicted_dice = 2 / 3",
        "import torch\n\nfrom course_utils.testing import check_close, prediction\n"
        "_predicted = prediction(globals(), 'predicted_dice')\n"
        "_pred = torch.tensor([1, 1, 0, 0], dtype=torch.bool)\n"
        "_true = torch.tensor([0, 1, 0, 0], dtype=torch.bool)\n"
        "_inter = float((_pred & _true).sum())\n"
        "assert _inter / float((_pred | _true).sum()) == 0.5\n"
        "check_close(_predicted, 2 * _inter / float(_pred.sum() + _true.sum()),\n"
        "            'the Dice score of two masks with IoU 0.5', atol=0.005, rtol=0.0)\n",
    ),
    "ex07_transfer": (
        "predicted_trainable",
        "After `freeze_backbone` on a torchvision ResNet-18 whose head was replaced by a 5-class "
        "`nn.Linear`, how many scalar parameters are still trainable? Set "
        "`predicted_trainable` to that `int`.",
        "predicted_trainable = 2565",
        "import torchvision\n\nfrom course_utils.testing import check_equal, prediction\n"
        "_predicted = prediction(globals(), 'predicted_trainable')\n"
        "_head = torchvision.models.resnet18(weights=None, num_classes=5).fc\n"
        "check_equal(_predicted, sum(p.numel() for p in _head.parameters()),\n"
        "            'the trainable parameters of a frozen 5-class ResNet-18')\n",
    ),
    "ex08_anchors": (
        "predicted_offsets",
        "The anchor `[0, 0, 16, 16]` is matched to the true box `[8, 0, 40, 16]`. With SSD's "
        "weights `(10, 10, 5, 5)`, what offsets $(t_x, t_y, t_w, t_h)$ does the anchor learn? "
        "Work them out by hand and set `predicted_offsets` to a `tuple` of four `float`s (two "
        "decimals are enough).",
        "predicted_offsets = (10.0, 0.0, 5 * math.log(2), 0.0)",
        "from torchvision.models.detection import _utils as _detection_utils\n\n"
        "from course_utils.testing import check_tensor, prediction\n"
        "_predicted = prediction(globals(), 'predicted_offsets')\n"
        "_coder = _detection_utils.BoxCoder((10.0, 10.0, 5.0, 5.0))\n"
        "check_tensor(torch.as_tensor(_predicted, dtype=torch.float32).reshape(1, -1),\n"
        "             _coder.encode_single(torch.tensor([[8.0, 0.0, 40.0, 16.0]]),\n"
        "                                  torch.tensor([[0.0, 0.0, 16.0, 16.0]])),\n"
        "             'the offsets of the box [8, 0, 40, 16] from the anchor [0, 0, 16, 16]',\n"
        "             atol=0.01, rtol=0.0)\n",
    ),
}


def _meta(cell, grade_id: str, points: float | None):
    """``cell`` with nbgrader's metadata of a test (``points``) or solution (None) cell."""
    cell.metadata["nbgrader"] = nbgrader_cell("", grade_id, points).metadata["nbgrader"]
    return cell


def add_question(exercise: str) -> None:
    path = ROOT / "solutions" / exercise / f"{exercise}.ipynb"
    nb = nbformat.read(path, as_version=4)
    name, question, answer, test = QUESTIONS[exercise]
    by_id = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in nb.cells}
    if name in by_id:  # present: only its test cell follows QUESTIONS
        cell = by_id[f"test_{name}"]
        if cell.source != test:
            cell.source = test
            nbformat.validate(nb)
            nbformat.write(nb, path)
            print(f"{path.relative_to(ROOT)}: the test of {name} updated")
        return
    cells = [
        nbformat.v4.new_markdown_cell(f"## Predict a number (1 point)\n\n{question}"),
        _meta(nbformat.v4.new_code_cell(f"{SB}\n{answer}\n{SE}"), name, None),
        _meta(nbformat.v4.new_code_cell(test), f"test_{name}", 1),
    ]
    last = nb.cells[-1]
    at = len(nb.cells) - 1 if last.cell_type == "markdown" else len(nb.cells)
    if exercise == "ex06_segmentation":  # after the last test, before the closing figure
        at = (
            max(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade"))
            + 1
        )
    nb.cells[at:at] = cells
    nb.cells[0].source += (
        "\n\nThe exercise ends with a short question that asks you to predict "
        "a number by reasoning (1 point)."
    )
    nbformat.validate(nb)
    nbformat.write(nb, path)
    print(f"{path.relative_to(ROOT)}: question {name} added")


def split_small_cnn() -> None:
    """ex04 part 6: the design (1 point) and the accuracy (3 points) graded separately."""
    path = ROOT / "solutions" / "ex04_architectures" / "ex04_architectures.ipynb"
    nb = nbformat.read(path, as_version=4)
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells]
    if "test_small_cnn_design" in ids:
        return
    index = ids.index("test_small_cnn")
    accuracy = nb.cells[index]
    design = (
        "from course_utils.testing import check_equal, check_that, check_type\n"
        "course_utils.seed_everything(0)\n"
        "_model = make_model()\n"
        'check_type(_model, nn.Module, "make_model()")\n'
        "check_equal(any(isinstance(m, nn.Conv2d) for m in _model.modules()), True,\n"
        '            "whether make_model() contains an nn.Conv2d")\n'
        'check_that(n_params(_model), "at_most", 50_000, '
        '"the number of parameters of make_model()")\n'
        "check_equal(tuple(_model.eval()(torch.zeros(5, 1, 8, 8)).shape), (5, 10),\n"
        '            "the shape of make_model()\'s logits on (5, 1, 8, 8)")\n'
    )
    old = (
        "    check_equal(any(isinstance(m, nn.Conv2d) for m in model.modules()), True,\n"
        '                "whether make_model() contains an nn.Conv2d")\n'
        '    check_that(n_params(model), "at_most", 50_000, '
        '"the number of parameters of make_model()")\n'
    )
    if old not in accuracy.source:
        raise SystemExit("ex04: the small CNN test is not the one this script splits")
    accuracy.source = accuracy.source.replace(old, "")
    accuracy.metadata["nbgrader"]["points"] = 3
    nb.cells.insert(index, _meta(nbformat.v4.new_code_cell(design), "test_small_cnn_design", 1))
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = cell.source.replace(
                "a small CNN trained to 93 % test accuracy on the digits within 2 minutes "
                "(4 points)",
                "a small CNN of a given size (1 point) trained to 93 % test "
                "accuracy on the digits within 2 minutes (3 points)",
            )
            cell.source = cell.source.replace(
                "## 6. Train a small CNN (4 points)", "## 6. Train a small CNN (1 + 3 points)"
            )
    nbformat.validate(nb)
    nbformat.write(nb, path)
    print(f"{path.relative_to(ROOT)}: the small CNN test split into design and accuracy")


if __name__ == "__main__":
    split_small_cnn()
    for exercise in QUESTIONS:
        add_question(exercise)
