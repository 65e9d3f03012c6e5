"""Stand-in runs: the full profile's download-and-cache code on generated files, marked as such."""

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from course_utils.runtime import ConfigurationError, capped, data_dir, describe_runtime, standin
from coursekit.preflight import cache_key
from coursekit.standin import clothing_like, make_standin, write_idx


@pytest.fixture
def standin_folder(tmp_path, monkeypatch):
    """A small stand-in folder that COURSE_DATA points at, in a COURSE_STANDIN=1 run."""
    folder = tmp_path / "standin"
    make_standin(folder, n_train=40, n_test=20)
    monkeypatch.setenv("COURSE_DATA", str(folder))
    monkeypatch.setenv("COURSE_STANDIN", "1")
    return folder


def test_capped_caps_only_stand_in_runs(monkeypatch):
    monkeypatch.delenv("COURSE_STANDIN", raising=False)
    assert not standin() and capped(50_000, 100) == 50_000
    monkeypatch.setenv("COURSE_STANDIN", "1")
    assert standin() and capped(50_000, 100) == 100 and capped(3, 100) == 3
    monkeypatch.setenv("COURSE_STANDIN", "maybe")
    with pytest.raises(ConfigurationError, match="COURSE_STANDIN"):
        standin()


def test_idx_files_read_back_with_torchvision(tmp_path):
    from torchvision.datasets.mnist import read_image_file, read_label_file

    images, labels = clothing_like(7, seed=1)
    write_idx(tmp_path / "images", images)
    write_idx(tmp_path / "labels", labels)
    assert torch.equal(read_image_file(str(tmp_path / "images")), torch.from_numpy(images))
    assert torch.equal(read_label_file(str(tmp_path / "labels")), torch.from_numpy(labels).long())
    assert images.shape == (7, 28, 28) and images.dtype == np.uint8


def test_fashion_mnist_loads_the_stand_in_files_at_full_resolution(standin_folder, monkeypatch):
    from course_utils.data import classification_loaders, fashion_mnist

    def no_download(*args, **kwargs):
        raise AssertionError("a stand-in run must not download")

    monkeypatch.setattr("torchvision.datasets.mnist.download_and_extract_archive", no_download)
    X, y = fashion_mnist(train=True)
    assert X.shape == (40, 1, 28, 28) and X.dtype == torch.float32
    assert 0 <= float(X.min()) and float(X.max()) <= 1 and y.dtype == torch.int64
    assert set(y.tolist()) <= set(range(10)) and len(set(y.tolist())) > 3
    monkeypatch.setenv("COURSE_PROFILE", "full")
    train, test, name = classification_loaders(batch_size=8, resize=224)
    images, labels = next(iter(train))
    assert name == "fashion_mnist" and images.shape == (8, 1, 224, 224)
    assert len(test.dataset) == 20


def test_pretrained_weights_are_random_ones_in_the_real_file(standin_folder, monkeypatch):
    from torchvision import models

    from course_utils.transfer import torchvision_pretrained

    def no_download(*args, **kwargs):
        raise AssertionError("a stand-in run must not download")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_download)
    url = models.ResNet18_Weights.IMAGENET1K_V1.url
    assert (standin_folder / "weights" / url.rsplit("/", 1)[-1]).is_file()
    model = torchvision_pretrained("resnet18", "IMAGENET1K_V1", num_classes=2)
    assert model.fc.out_features == 2
    torch.manual_seed(0)
    fresh = models.resnet18(weights=None)
    assert torch.equal(model.conv1.weight, fresh.conv1.weight)


def test_missing_stand_in_weights_are_an_error_not_a_download(standin_folder):
    from course_utils.transfer import WeightsUnavailableError, torchvision_pretrained

    with pytest.raises(WeightsUnavailableError, match="stand-in folder"):
        torchvision_pretrained("resnet34", "IMAGENET1K_V1")


def test_stand_in_data_never_passes_for_real_data(standin_folder, tmp_path, monkeypatch):
    assert data_dir() == standin_folder
    monkeypatch.delenv("COURSE_STANDIN")
    with pytest.raises(ConfigurationError, match="stand-ins"):
        data_dir()
    monkeypatch.setenv("COURSE_STANDIN", "1")
    monkeypatch.setenv("COURSE_DATA", str(tmp_path / "real"))
    with pytest.raises(ConfigurationError, match="not a stand-in folder"):
        data_dir()


def test_make_standin_refuses_a_folder_of_real_files(tmp_path):
    (tmp_path / "FashionMNIST").mkdir()
    with pytest.raises(SystemExit, match="not a stand-in folder"):
        make_standin(tmp_path)


def test_runtime_facts_and_cache_key_name_the_stand_in(standin_folder, monkeypatch):
    facts = describe_runtime()
    assert "stand-in" in facts["data"]
    assert "standin" in cache_key(facts)
    monkeypatch.delenv("COURSE_STANDIN")
    real = describe_runtime()
    assert "data" not in real and "standin" not in cache_key(real)


def test_importing_course_utils_announces_a_stand_in_run():
    environment = {**os.environ, "COURSE_STANDIN": "1"}
    out = subprocess.run(
        [sys.executable, "-c", "import course_utils"],
        capture_output=True,
        text=True,
        env=environment,
        check=True,
    ).stdout
    assert "Stand-in run" in out and "no number on this page is a result" in out
    environment.pop("COURSE_STANDIN")
    quiet = subprocess.run(
        [sys.executable, "-c", "import course_utils"],
        capture_output=True,
        text=True,
        env=environment,
        check=True,
    ).stdout
    assert quiet == ""
