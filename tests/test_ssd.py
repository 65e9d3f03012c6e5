"""The one-stage detector: shapes, targets, loss and a short training that must learn."""

import torch

from course_utils.data import micrographs
from course_utils.detection import detection_average_precision
from course_utils.ssd import TinySSD, ssd_detect, ssd_loss, ssd_targets, train_ssd


def test_outputs_one_score_pair_and_offset_per_anchor():
    model = TinySSD(image_size=64, width=8)
    logits, offsets = model(torch.rand(2, 1, 64, 64))
    n = (16 * 16 + 8 * 8 + 4 * 4) * 6
    assert model.anchors.shape == (n, 4)
    assert logits.shape == (2, n, 2) and offsets.shape == (2, n, 4)


def test_targets_mark_an_anchor_for_every_particle():
    data = micrographs(4, size=64, seed=3)
    model = TinySSD(image_size=64, width=8)
    labels, offsets = ssd_targets(model.anchors, data.boxes)
    assert labels.shape == (4, len(model.anchors)) and offsets.shape == (4, len(model.anchors), 4)
    for i in range(4):
        assert int((labels[i] == 1).sum()) >= len(data.boxes[i])


def test_loss_is_zero_for_a_perfect_prediction_and_counts_hard_negatives():
    labels = torch.tensor([[1, 0, 0, 0, 0, -1]])
    targets = torch.randn(1, 6, 4)
    perfect = torch.tensor([[[-20.0, 20.0]] + [[20.0, -20.0]] * 5])
    losses = ssd_loss(perfect, targets.clone(), labels, targets)
    assert float(losses["classification"]) < 1e-6 and float(losses["box_regression"]) == 0.0
    wrong_negatives = torch.tensor([[[-20.0, 20.0]] + [[-20.0, 20.0]] * 5])
    losses = ssd_loss(wrong_negatives, targets.clone(), labels, targets, negatives_per_positive=3)
    assert abs(float(losses["classification"]) - 3 * 40.0) < 1e-3  # 3 of the 4 negatives


def test_short_training_beats_an_untrained_detector():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a small model: more threads only wait for each other
    torch.manual_seed(0)
    data, test = micrographs(200, size=64, seed=0), micrographs(20, size=64, seed=900)
    model = TinySSD(image_size=64, width=16)
    before = detection_average_precision(ssd_detect(model, test.images, device="cpu"), test.boxes)
    history = train_ssd(model, data, iterations=60, batch_size=8, lr=0.05, device="cpu")
    after = detection_average_precision(ssd_detect(model, test.images, device="cpu"), test.boxes)
    assert history["loss"][-1] < history["loss"][0]
    torch.set_num_threads(threads)
    assert after > 0.3 and after > before + 0.2
