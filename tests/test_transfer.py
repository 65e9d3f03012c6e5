"""Unit tests of course_utils.transfer against torchvision, timm and PyTorch's own loading."""

from __future__ import annotations

import pytest
import timm
import torch
from torch import nn
from torchvision import models

from course_utils import transfer
from course_utils.transfer import (
    ConvBNNet,
    WeightsUnavailableError,
    download_weights,
    faces,
    freeze_backbone,
    head_name,
    load_matching,
    parameter_counts,
    parameter_groups,
    replace_head,
    torchvision_pretrained,
)


@pytest.mark.parametrize(
    ("name", "attribute"),
    [
        ("resnet18", "fc"),
        ("shufflenet_v2_x0_5", "fc"),
        ("mobilenet_v3_small", "classifier"),
        ("efficientnet_b0", "classifier"),
    ],
)
def test_replace_head_matches_building_with_num_classes(name, attribute):
    """A replaced head has the shapes torchvision gives a model built for that many classes."""
    model = models.get_model(name, weights=None)
    assert head_name(model) == attribute
    replace_head(model, 7)
    reference = models.get_model(name, weights=None, num_classes=7)
    assert {k: v.shape for k, v in model.state_dict().items()} == {
        k: v.shape for k, v in reference.state_dict().items()
    }
    model.eval()
    assert model(torch.randn(2, 3, 64, 64)).shape == (2, 7)


def test_replace_head_keeps_backbone_and_matches_timm():
    torch.manual_seed(0)
    model = models.resnet18(weights=None)
    before = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("fc.")}
    replace_head(model, 5)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert model.fc.in_features == 512 and model.fc.out_features == 5
    timm_model = timm.create_model("resnet18", pretrained=False, num_classes=5)
    assert parameter_counts(model)["total"] == sum(p.numel() for p in timm_model.parameters())


def test_replace_head_rejects_bad_input():
    with pytest.raises(ValueError, match="positive int"):
        replace_head(ConvBNNet(), 0)
    with pytest.raises(ValueError, match="head attributes"):
        replace_head(nn.Sequential(nn.Linear(3, 2)), 4)


def test_freeze_backbone_counts_and_gradients():
    model = models.resnet18(weights=None, num_classes=3)
    freeze_backbone(model)
    counts = parameter_counts(model)
    assert counts["trainable"] == 512 * 3 + 3
    assert counts["total"] == models.ResNet18_Weights.IMAGENET1K_V1.meta["num_params"] - 997 * 513
    model(torch.randn(2, 3, 32, 32)).sum().backward()
    assert model.conv1.weight.grad is None and model.fc.weight.grad is not None


def test_parameter_groups_partition_the_trainable_parameters():
    model = ConvBNNet(num_classes=4)
    groups = parameter_groups(model, backbone_lr=1e-4, head_lr=1e-2)
    assert [g["lr"] for g in groups] == [1e-4, 1e-2]
    ids = [id(p) for g in groups for p in g["params"]]
    assert sorted(ids) == sorted(id(p) for p in model.parameters())
    assert {id(p) for p in groups[1]["params"]} == {id(model.fc.weight), id(model.fc.bias)}
    # one SGD step moves each parameter by its own group's learning rate times its gradient
    optimizer = torch.optim.SGD(groups, lr=0.5)
    model(torch.randn(3, 1, 16, 16)).sum().backward()
    old_conv, old_fc = model.features[0][0].weight.clone(), model.fc.weight.clone()
    conv_grad, fc_grad = model.features[0][0].weight.grad.clone(), model.fc.weight.grad.clone()
    optimizer.step()
    torch.testing.assert_close(model.features[0][0].weight, old_conv - 1e-4 * conv_grad)
    torch.testing.assert_close(model.fc.weight, old_fc - 1e-2 * fc_grad)
    freeze_backbone(model)
    assert [g["name"] for g in parameter_groups(model, 1e-4, 1e-2)] == ["head"]


def test_load_matching_into_a_changed_head():
    torch.manual_seed(0)
    source = ConvBNNet(num_classes=10)
    target = ConvBNNet(num_classes=2)
    with pytest.raises(RuntimeError, match="size mismatch"):
        target.load_state_dict(source.state_dict(), strict=False)
    fresh_head = target.fc.weight.clone()
    report = load_matching(target, source.state_dict())
    assert report.mismatched_keys == ["fc.weight", "fc.bias"]
    assert report.missing_keys == ["fc.weight", "fc.bias"]
    assert report.unexpected_keys == []
    assert torch.equal(target.fc.weight, fresh_head)
    X = torch.randn(4, 1, 16, 16)
    source.eval()
    target.eval()
    torch.testing.assert_close(target.forward_features(X), source.forward_features(X))
    # a renamed head shows up as unexpected (old name) and missing (new name)
    renamed = {
        ("head." + k[3:] if k.startswith("fc.") else k): v for k, v in source.state_dict().items()
    }
    report = load_matching(ConvBNNet(num_classes=10), renamed)
    assert report.unexpected_keys == ["head.weight", "head.bias"]
    assert report.missing_keys == ["fc.weight", "fc.bias"]


def test_small_convnet_matches_timm_style_split():
    model = ConvBNNet(num_classes=3).eval()
    X = torch.randn(2, 1, 25, 25)
    features = model.forward_features(X)
    assert features.shape == (2, 32, 7, 7)
    expected = nn.functional.linear(features.mean(dim=(2, 3)), model.fc.weight, model.fc.bias)
    torch.testing.assert_close(model(X), expected)


def test_pretrained_small_convnet_caches(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA", str(tmp_path))
    settings = {"epochs": 1, "size": 8}
    model, info = transfer.pretrained_small_convnet(settings, device=torch.device("cpu"))
    assert info["cached"] is False and info["test_accuracy"] > 0.3  # above chance (0.1)
    files = list((tmp_path / "weights").glob("smallconvnet-digits-*.pt"))
    assert len(files) == 1
    again, info2 = transfer.pretrained_small_convnet(settings, device=torch.device("cpu"))
    assert info2["cached"] is True and info2["test_accuracy"] == info["test_accuracy"]
    for a, b in zip(model.state_dict().values(), again.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_pretraining_never_sees_the_digits_an_exercise_is_graded_on(monkeypatch):
    """The backbone's pretraining data holds none of ex04's 300 held-out digits."""
    from course_utils import datasets, digits_backbone

    X_all, _ = datasets._all_digits()
    held_out = {tuple(x.flatten().tolist()) for x in X_all[datasets.held_out_digit_indices()]}
    assert len(held_out) > 250  # a few digits repeat, not hundreds
    seen = []

    def record(model, X, y, *args):
        seen.append(X)

    monkeypatch.setattr(digits_backbone, "_train_epochs", record)
    digits_backbone.pretrain_small_convnet({"size": 8}, device=torch.device("cpu"))
    (X_train,) = seen
    assert len(X_train) > 1000
    assert not held_out & {tuple(x.flatten().tolist()) for x in X_train}


def test_download_weights_offline_error(tmp_path):
    url = (tmp_path / "nowhere" / "resnet18-f37072fd.pth").as_uri()
    with pytest.raises(WeightsUnavailableError) as error:
        download_weights(url, folder=tmp_path / "cache")
    message = str(error.value)
    assert "could not be downloaded" in message and "COURSE_PROFILE=quick" in message
    assert message.count("\n") == 0
    assert not (tmp_path / "cache" / "resnet18-f37072fd.pth").exists()


def test_download_weights_copies_once_and_checks_hash(tmp_path):
    import hashlib

    state = ConvBNNet(num_classes=2).state_dict()
    source = tmp_path / "served" / "weights.pth"
    source.parent.mkdir()
    torch.save(state, source)
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    good = source.with_name(f"small-{digest[:8]}.pth")
    source.rename(good)
    path = download_weights(good.as_uri(), folder=tmp_path / "cache")
    loaded = torch.load(path, weights_only=True)
    assert all(torch.equal(loaded[k], v) for k, v in state.items())
    good.unlink()  # the second call must not need the source any more
    assert download_weights(good.as_uri(), folder=tmp_path / "cache") == path
    bad = tmp_path / "served" / "small-00000000.pth"
    torch.save(state, bad)
    with pytest.raises(WeightsUnavailableError):
        download_weights(bad.as_uri(), folder=tmp_path / "cache")


def test_torchvision_pretrained_loads_from_the_cache(tmp_path, monkeypatch):
    """The full-profile loader reads a cached file without network (here: random weights)."""
    monkeypatch.setenv("COURSE_DATA", str(tmp_path))
    weights = models.MobileNet_V3_Small_Weights.IMAGENET1K_V1
    torch.manual_seed(1)
    state = models.mobilenet_v3_small(weights=None).state_dict()
    (tmp_path / "weights").mkdir()
    torch.save(state, tmp_path / "weights" / weights.url.rsplit("/", 1)[-1])
    model = torchvision_pretrained("mobilenet_v3_small", "IMAGENET1K_V1", num_classes=2)
    assert torch.equal(model.features[0][0].weight, state["features.0.0.weight"])
    assert model.classifier[-1].out_features == 2


def test_torchvision_pretrained_offline_names_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA", str(tmp_path))

    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(WeightsUnavailableError, match=r"resnet18-f37072fd\.pth .*unreachable"):
        torchvision_pretrained("resnet18")


def test_faces_split_is_balanced_and_seeded():
    X_train, y_train, X_test, y_test = faces(size=16, test_size=80, seed=3)
    assert X_train.shape == (120, 1, 16, 16) and X_test.shape == (80, 1, 16, 16)
    assert int(y_test.sum()) == 40 and int(y_train.sum()) == 60
    assert X_train.dtype == torch.float32 and 0 <= float(X_train.min()) <= float(X_train.max()) <= 1
    again = faces(size=16, test_size=80, seed=3)
    assert torch.equal(again[0], X_train) and torch.equal(again[3], y_test)
    # no image is in both parts
    flat_train, flat_test = X_train.flatten(1), X_test.flatten(1)
    assert torch.cdist(flat_test, flat_train).min() > 0
    with pytest.raises(ValueError, match="even number"):
        faces(test_size=79)


def test_embed_is_the_head_input_for_torchvision_and_course_models():
    torch.manual_seed(0)
    X = torch.randn(3, 3, 32, 32)
    resnet = models.resnet18(weights=None, num_classes=4).eval()
    backbone = nn.Sequential(*list(resnet.children())[:-1])
    torch.testing.assert_close(transfer.embed(resnet, X), backbone(X).flatten(1))
    assert isinstance(resnet.fc, nn.Linear)  # the head is put back
    small = ConvBNNet(num_classes=3, in_channels=3).eval()
    torch.testing.assert_close(
        transfer.embed(small, X, batch_size=2), small.forward_features(X).mean(dim=(2, 3))
    )


@pytest.mark.parametrize("strategy", transfer.STRATEGIES)
def test_train_strategy_trains_what_it_says(strategy):
    torch.manual_seed(0)
    X = torch.rand(24, 1, 16, 16)
    y = (X.mean(dim=(1, 2, 3)) > X.mean()).long()
    model = ConvBNNet(num_classes=2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = transfer.train_strategy(
        strategy, model, (X, y), (X, y), steps=5, device=torch.device("cpu")
    )
    assert set(result) == {"strategy", "n_train", "test_acc", "trainable", "seconds"}
    assert result["n_train"] == 24 and 0 <= result["test_acc"] <= 1
    after = model.state_dict()
    backbone_same = all(torch.equal(before[k], after[k]) for k in before if not k.startswith("fc."))
    assert backbone_same == (strategy == "frozen")
    assert not torch.equal(before["fc.weight"], after["fc.weight"])
    assert result["trainable"] == (66 if strategy == "frozen" else parameter_counts(model)["total"])
    with pytest.raises(ValueError, match="unknown strategy"):
        transfer.train_strategy("linear-probe", model, (X, y), (X, y))


def test_transfer_keeps_every_name_importable_from_one_module():
    """Chapters and ex07 import from course_utils.transfer: the split modules stay behind it."""
    from course_utils import (
        checkpoints,
        digits_backbone,
        freezing,
        heads,
        imagenet_weights,
        transfer_strategies,
    )
    from course_utils import (
        faces as faces_module,
    )

    modules = (
        checkpoints,
        digits_backbone,
        faces_module,
        freezing,
        heads,
        imagenet_weights,
        transfer_strategies,
    )
    public = {
        name
        for module in modules
        for name in vars(module)
        if not name.startswith("_")
        and getattr(vars(module)[name], "__module__", "") == module.__name__
    }
    assert public and public <= set(transfer.__all__)
    assert all(getattr(transfer, name) is not None for name in transfer.__all__)
    assert transfer.SmallConvNet is transfer.ConvBNNet  # the name ex07 imports
