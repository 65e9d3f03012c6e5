"""course_utils.data: the classification data sets of both profiles, offline."""

import struct

import numpy as np
import pytest
import torch

from course_utils.data import (
    DataUnavailableError,
    classification_loaders,
    digits,
    fashion_mnist,
    to_uint8,
)


def test_digits_are_scaled_split_and_reproducible():
    X_train, y_train, X_test, y_test = digits(seed=3)
    assert X_train.shape[1:] == (1, 8, 8) and X_train.dtype == torch.float32
    assert len(X_train) + len(X_test) == 1797 and len(X_test) == 449
    assert 0.0 <= float(X_train.min()) and float(X_train.max()) <= 1.0
    assert set(y_test.tolist()) == set(range(10))
    again = digits(seed=3)
    assert torch.equal(again[0], X_train) and torch.equal(again[3], y_test)
    assert not torch.equal(digits(seed=4)[1], y_train)


def test_digits_resize():
    X_train, _, _, _ = digits(resize=32)
    assert X_train.shape[1:] == (1, 32, 32)


def _write_idx(path, array, magic):
    path.parent.mkdir(parents=True, exist_ok=True)
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


@pytest.fixture
def tiny_fashion_mnist(clean_course_env, tmp_path):
    """Fashion-MNIST's four files, in the real format, with 6 and 4 random images."""
    raw = tmp_path / "FashionMNIST" / "raw"
    rng = np.random.default_rng(0)
    for prefix, count in (("train", 6), ("t10k", 4)):
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (count, 28, 28)), 2051)
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", rng.integers(0, 10, (count,)), 2049)
    clean_course_env.setenv("COURSE_DATA", str(tmp_path))
    return tmp_path


def test_fashion_mnist_loads_from_the_data_cache(tiny_fashion_mnist):
    X, y = fashion_mnist(train=True)
    assert X.shape == (6, 1, 28, 28) and X.dtype == torch.float32 and y.dtype == torch.int64
    assert 0.0 <= float(X.min()) and float(X.max()) <= 1.0
    X_test, _ = fashion_mnist(train=False, resize=56)
    assert X_test.shape == (4, 1, 56, 56)


def test_full_profile_loaders_use_fashion_mnist(tiny_fashion_mnist):
    train, test, name = classification_loaders(batch_size=4, which="fashion_mnist")
    assert name == "fashion_mnist"
    X, y = next(iter(train))
    assert X.shape == (4, 1, 28, 28) and len(test.dataset) == 4
    train, test, _ = classification_loaders(batch_size=4, which="fashion_mnist", resize=96)
    X, y = next(iter(train))
    assert X.shape == (4, 1, 96, 96) and y.shape == (4,) and y.dtype == torch.int64
    assert next(iter(test))[0].shape == (4, 1, 96, 96)
    assert train.dataset.tensors[0].shape[-1] == 28, "resized lazily, batch by batch"


def test_missing_fashion_mnist_offline_is_one_clear_error(clean_course_env, tmp_path):
    from torchvision import datasets

    def no_network(self):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz")

    clean_course_env.setenv("COURSE_DATA", str(tmp_path))
    clean_course_env.setattr(datasets.FashionMNIST, "download", no_network)
    with pytest.raises(DataUnavailableError, match="COURSE_PROFILE=quick"):
        fashion_mnist()


def test_quick_profile_loaders_use_digits(clean_course_env):
    clean_course_env.setenv("COURSE_PROFILE", "quick")
    train, test, name = classification_loaders(batch_size=16)
    assert name == "digits"
    X, y = next(iter(train))
    assert X.shape == (16, 1, 8, 8) and y.shape == (16,)


def test_unknown_data_set_is_rejected():
    with pytest.raises(ValueError, match="unknown data set"):
        classification_loaders(which="imagenet")


def test_to_uint8_stretches_to_the_full_range():
    out = to_uint8(np.array([[-2.0, 0.0], [1.0, 2.0]]))
    assert out.dtype == np.uint8 and out.min() == 0 and out.max() == 255
    assert to_uint8(np.ones((2, 2))).max() == 0


def test_course_utils_data_re_exports_both_modules_unchanged():
    import course_utils.data as data
    import course_utils.datasets as datasets
    import course_utils.micrographs as simulator

    for module in (datasets, simulator):
        public = [
            name
            for name in vars(module)
            if not name.startswith("_")
            and getattr(getattr(module, name), "__module__", None) == module.__name__
        ]
        assert public, f"{module.__name__} defines no public name"
        for name in public:
            assert getattr(data, name) is getattr(module, name), name
    assert data.MICROGRAPH_SHAPES is simulator.MICROGRAPH_SHAPES
    assert set(data.__all__) <= set(vars(data))
