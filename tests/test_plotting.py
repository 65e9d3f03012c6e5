"""course_utils.plotting: the shared figures draw what they are given, and refuse nonsense."""

import numpy as np
import pytest
import torch
from matplotlib import pyplot as plt

from course_utils.plotting import plot_history, show_images, show_kernels, to_numpy_image


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.mark.parametrize(
    ("shape", "expected"),
    [((5, 7), (5, 7)), ((1, 5, 7), (5, 7)), ((3, 5, 7), (5, 7, 3)), ((5, 7, 3), (5, 7, 3))],
)
def test_to_numpy_image_accepts_pytorch_and_matplotlib_layouts(shape, expected):
    assert to_numpy_image(torch.rand(shape)).shape == expected


def test_to_numpy_image_rejects_a_batch():
    with pytest.raises(ValueError, match="2-D image"):
        to_numpy_image(torch.rand(2, 3, 5, 7))


def test_show_images_draws_one_titled_axis_per_image():
    images = torch.rand(5, 1, 8, 8)
    fig = show_images(images, titles=[f"digit {i}" for i in range(5)], ncols=3)
    drawn = [ax for ax in fig.axes if ax.images]
    assert len(drawn) == 5
    assert [ax.get_title() for ax in drawn] == [f"digit {i}" for i in range(5)]
    np.testing.assert_allclose(drawn[2].images[0].get_array(), images[2, 0].numpy())


def test_show_images_checks_titles_match_images():
    with pytest.raises(ValueError, match="2 images but 1 titles"):
        show_images([np.zeros((4, 4))] * 2, titles=["one"])


def test_show_kernels_uses_a_symmetric_colour_scale_per_kernel():
    weights = torch.randn(6, 1, 3, 3)
    fig = show_kernels(weights, ncols=4)
    drawn = [ax for ax in fig.axes if ax.images]
    assert len(drawn) == 6
    for ax, kernel in zip(drawn, weights[:, 0], strict=True):
        low, high = ax.images[0].get_clim()
        assert low == pytest.approx(-high) and high == pytest.approx(kernel.abs().max().item())


def test_show_kernels_draws_rgb_first_layers_in_colour():
    fig = show_kernels(torch.randn(4, 3, 5, 5))
    assert all(ax.images[0].get_array().shape == (5, 5, 3) for ax in fig.axes if ax.images)


def test_show_kernels_annotates_small_kernels():
    fig = show_kernels(torch.tensor([[1.0, -1.0]]), annotate=True)
    assert sorted(t.get_text() for t in fig.axes[0].texts) == ["-1", "1"]


def test_show_kernels_annotations_are_short_and_readable():
    fig = show_kernels(torch.tensor([[1e-5, -2.0], [0.333, -0.004]]), annotate=True)
    assert [t.get_text() for t in fig.axes[0].texts] == ["0", "-2", "0.33", "0"]
    assert fig.get_size_inches()[0] >= 2.2  # a cell wide enough for its label


def test_plot_history_groups_metrics_by_suffix_and_runs_by_name():
    history = {"train_loss": [1.0, 0.5], "test_loss": [1.1, 0.7], "test_acc": [0.5, 0.8]}
    fig = plot_history({"with BN": history, "without BN": history})
    assert [ax.get_ylabel() for ax in fig.axes] == ["loss", "accuracy"]
    assert len(fig.axes[0].lines) == 4 and len(fig.axes[1].lines) == 2
    np.testing.assert_allclose(fig.axes[1].lines[0].get_ydata(), [0.5, 0.8])


def test_plot_history_marks_whole_epochs_only():
    fig = plot_history({"train_loss": [1.0, 0.8, 0.6, 0.5]})
    fig.canvas.draw()
    ticks = [tick for tick in fig.axes[0].get_xticks() if 1 <= tick <= 4]
    assert ticks and all(float(tick).is_integer() for tick in ticks)


def test_plot_history_needs_values():
    with pytest.raises(ValueError, match="no metric"):
        plot_history({"train_loss": []})
