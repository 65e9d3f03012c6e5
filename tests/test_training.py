"""The course's training loop: its history, its evaluation, and a run whose loss falls."""

import warnings

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course_utils.training import (
    count_parameters,
    evaluate,
    fit,
    progress,
    train_on_random_batches,
)


def blobs(n=256, seed=0):
    """Two classes of 1x4x4 'images' whose means differ: a small CNN separates them."""
    generator = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=generator)
    X = torch.randn(n, 1, 4, 4, generator=generator) + (2.0 * y - 1.0).reshape(-1, 1, 1, 1)
    return X, y


def small_cnn():
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, 2),
    )


def test_a_tiny_run_learns_and_reports_its_history():
    torch.manual_seed(0)
    X, y = blobs()
    train = DataLoader(TensorDataset(X, y), batch_size=32, shuffle=True)
    test = DataLoader(TensorDataset(*blobs(128, seed=1)), batch_size=64)
    model = small_cnn()
    untrained_loss, _ = evaluate(model, test, device=torch.device("cpu"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the book shows stderr: fit must stay silent
        history = fit(
            model, train, test, epochs=6, lr=0.5, device=torch.device("cpu"), show_progress=False
        )
    assert set(history) == {"train_loss", "train_acc", "epoch_seconds", "test_loss", "test_acc"}
    assert all(len(values) == 6 for values in history.values())
    assert history["train_loss"][-1] < 0.5 * history["train_loss"][0]
    assert history["test_loss"][-1] < untrained_loss
    assert history["test_acc"][-1] > 0.9
    assert all(seconds > 0 for seconds in history["epoch_seconds"])


def test_fit_without_test_loader_and_with_its_own_optimizer():
    torch.manual_seed(0)
    model = small_cnn()
    train = DataLoader(TensorDataset(*blobs(64)), batch_size=16)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    before = [p.detach().clone() for p in model.parameters()]
    history = fit(model, train, epochs=2, optimizer=optimizer, device=torch.device("cpu"))
    assert set(history) == {"train_loss", "train_acc", "epoch_seconds"}
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_evaluate_counts_correct_predictions_and_sets_eval_mode():
    class Oracle(nn.Module):
        """Predicts class 1 exactly when the image's mean is positive."""

        def __init__(self):
            super().__init__()
            self.dropout = nn.Dropout(0.5)

        def forward(self, X):
            score = self.dropout(X).mean(dim=(1, 2, 3))
            return torch.stack([-score, score], dim=1)

    X, y = blobs(200)
    expected = float(((X.mean(dim=(1, 2, 3)) > 0).long() == y).float().mean())
    model = Oracle().train()
    loss, accuracy = evaluate(
        model, DataLoader(TensorDataset(X, y), batch_size=64), device=torch.device("cpu")
    )
    assert not model.training  # dropout off: the result is deterministic
    assert accuracy == pytest.approx(expected)
    assert loss > 0
    with pytest.raises(ValueError, match="empty"):
        evaluate(model, DataLoader(TensorDataset(X[:0], y[:0])), device=torch.device("cpu"))


def test_count_parameters_and_quiet_progress():
    model = nn.Linear(3, 2)
    assert count_parameters(model) == 8
    model.bias.requires_grad_(False)
    assert count_parameters(model, trainable_only=True) == 6
    items = [1, 2, 3]
    assert progress(items, enabled=False) is items


def test_train_on_random_batches_sums_named_losses_on_seeded_batches():
    torch.manual_seed(0)
    X = torch.randn(32, 3)
    y = X @ torch.tensor([1.0, -2.0, 0.5]) + 0.3
    seen = []

    def run(seed):
        model = nn.Linear(3, 1)
        with torch.no_grad():
            model.weight.zero_()
            model.bias.zero_()

        def batch_losses(batch):
            seen.append(batch.tolist())
            error = model(X[batch])[:, 0] - y[batch]
            return {"squared": (error**2).mean(), "absolute": error.abs().mean()}

        return train_on_random_batches(model, batch_losses, len(X), 40, 8, lr=0.1, seed=seed)

    history = run(seed=3)
    assert list(history) == ["loss", "squared", "absolute", "seconds"]
    assert len(history["loss"]) == len(history["squared"]) == 40 and len(history["seconds"]) == 1
    for total, squared, absolute in zip(
        history["loss"], history["squared"], history["absolute"], strict=True
    ):
        assert total == pytest.approx(squared + absolute, rel=1e-6)
    assert history["loss"][-1] < 0.2 * history["loss"][0]
    first = seen[:40]
    assert all(len(b) == 8 and all(0 <= i < 32 for i in b) for b in first)
    seen.clear()
    run(seed=3)
    assert seen == first  # the same seed draws the same batches
