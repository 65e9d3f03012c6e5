"""Batch and layer normalization from scratch against PyTorch's layers."""

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from course_utils.normalization import BatchNorm, LayerNorm, batch_norm, layer_norm


def randomize_affine(ours, reference, seed):
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name in ("weight", "bias"):
            values = torch.randn(getattr(ours, name).shape, generator=generator)
            getattr(ours, name).copy_(values)
            getattr(reference, name).copy_(values)


@pytest.mark.parametrize(
    ("reference_cls", "shape"), [(nn.BatchNorm2d, (8, 3, 5, 4)), (nn.BatchNorm1d, (16, 6))]
)
def test_batch_norm_matches_pytorch_in_training_and_evaluation(reference_cls, shape):
    channels = shape[1]
    ours, reference = BatchNorm(channels, momentum=0.2), reference_cls(channels, momentum=0.2)
    randomize_affine(ours, reference, seed=1)
    generator = torch.Generator().manual_seed(2)
    for step in range(4):  # several batches: the running statistics must follow PyTorch's
        X = 3 * torch.randn(shape, generator=generator) + step
        X_ours, X_ref = X.clone().requires_grad_(), X.clone().requires_grad_()
        Y_ours, Y_ref = ours(X_ours), reference(X_ref)
        torch.testing.assert_close(Y_ours, Y_ref)
        (Y_ours * Y_ours.detach().sin()).sum().backward()
        (Y_ref * Y_ref.detach().sin()).sum().backward()
        torch.testing.assert_close(X_ours.grad, X_ref.grad)
        torch.testing.assert_close(ours.running_mean, reference.running_mean)
        torch.testing.assert_close(ours.running_var, reference.running_var)
    torch.testing.assert_close(ours.weight.grad, reference.weight.grad)
    torch.testing.assert_close(ours.bias.grad, reference.bias.grad)

    ours.eval()
    reference.eval()
    X = torch.randn(shape, generator=generator) * 5
    torch.testing.assert_close(ours(X), reference(X))
    # In evaluation one sample's output does not depend on the rest of the batch.
    torch.testing.assert_close(ours(X[:1]), ours(X)[:1])


def test_batch_norm_state_dict_moves_to_pytorch():
    ours = BatchNorm(4)
    ours(torch.randn(6, 4, 3, 3) + 2)
    reference = nn.BatchNorm2d(4)
    reference.load_state_dict(ours.state_dict())  # strict: every name and shape must match
    torch.testing.assert_close(reference.running_mean, ours.running_mean)


def test_batch_norm_training_output_is_standardized():
    X = torch.randn(32, 3, 4, 4) * torch.tensor([1.0, 5.0, 0.5]).reshape(1, 3, 1, 1) + 7
    Y = BatchNorm(3)(X)
    torch.testing.assert_close(Y.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(
        Y.var(dim=(0, 2, 3), unbiased=False), torch.ones(3), atol=1e-3, rtol=0
    )


def test_batch_norm_refuses_bad_inputs():
    with pytest.raises(ValueError, match="more than one value"):
        BatchNorm(3)(torch.randn(1, 3))
    with pytest.raises(ValueError, match=r"\(N, C\) or \(N, C, \*\)"):
        BatchNorm(3)(torch.randn(6))
    with pytest.raises(ValueError, match="got 4 channels"):
        BatchNorm(3)(torch.randn(2, 4, 5, 5))
    running_mean, running_var = torch.zeros(2), torch.ones(2)
    with pytest.raises(ValueError):
        batch_norm(torch.randn(5), torch.ones(2), torch.zeros(2), running_mean, running_var, True)


def test_batch_norm_of_sequences_matches_batchnorm1d():
    """``(N, C, L)`` is what ``nn.BatchNorm1d`` takes after a 1-D convolution."""
    generator = torch.Generator().manual_seed(5)
    X = torch.randn(4, 3, 7, generator=generator) * 2 + 1
    ours, theirs = BatchNorm(3), nn.BatchNorm1d(3)
    torch.testing.assert_close(ours(X), theirs(X))
    torch.testing.assert_close(ours.running_var, theirs.running_var)
    ours.eval(), theirs.eval()
    torch.testing.assert_close(ours(X), theirs(X))


@pytest.mark.parametrize(
    "name, bad",
    [
        ("gamma", torch.ones(2)),
        ("beta", torch.zeros(1, 3)),
        ("running_mean", torch.zeros(5)),
        ("running_var", torch.ones(1)),
    ],
)
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_refuses_statistics_of_the_wrong_shape_before_any_arithmetic(
    name, bad, training
):
    statistics = {
        "gamma": torch.ones(3),
        "beta": torch.zeros(3),
        "running_mean": torch.zeros(3),
        "running_var": torch.ones(3),
    }
    statistics[name] = bad
    before = {key: value.clone() for key, value in statistics.items()}
    with pytest.raises(ValueError, match=rf"{name} must have shape \(3,\), one value per channel"):
        batch_norm(torch.randn(4, 3), training=training, **statistics)
    for key, value in statistics.items():  # nothing was updated in place before the refusal
        assert torch.equal(value, before[key])


def test_batch_norm_refuses_integer_statistics_and_accepts_no_scale_or_shift():
    X = torch.randn(4, 3)
    with pytest.raises(TypeError, match="running_var must be a float tensor"):
        batch_norm(X, None, None, torch.zeros(3), torch.ones(3, dtype=torch.long), False)
    expected = F.batch_norm(X, torch.zeros(3), torch.ones(3), None, None, False)
    torch.testing.assert_close(
        batch_norm(X, None, None, torch.zeros(3), torch.ones(3), False), expected
    )


def test_layer_norm_matches_pytorch():
    generator = torch.Generator().manual_seed(3)
    X = torch.randn(4, 3, 5, 6, generator=generator) * 4 + 1
    torch.testing.assert_close(layer_norm(X, 3), F.layer_norm(X, (3, 5, 6)))
    ours, reference = LayerNorm((5, 6)), nn.LayerNorm((5, 6))
    randomize_affine(ours, reference, seed=4)
    torch.testing.assert_close(ours(X), reference(X))
    vector_ours, vector_ref = LayerNorm(6), nn.LayerNorm(6)
    randomize_affine(vector_ours, vector_ref, seed=5)
    torch.testing.assert_close(vector_ours(X), vector_ref(X))


def test_layer_norm_does_not_depend_on_the_batch():
    X = torch.randn(8, 2, 3, 3)
    norm = LayerNorm((2, 3, 3))
    torch.testing.assert_close(norm(X[:1]), norm(X)[:1])
    norm.eval()
    torch.testing.assert_close(norm(X[:1]), norm.train()(X[:1]))
    with pytest.raises(ValueError, match="must match"):
        norm(torch.randn(2, 3, 3, 2))
    with pytest.raises(ValueError, match="cannot normalize"):
        layer_norm(X, 5)
