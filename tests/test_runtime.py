"""course_utils.runtime: device, profile, seeds and the data folder, and their bad inputs."""

import random

import numpy as np
import pytest
import torch

import course_utils
from course_utils.runtime import ConfigurationError, data_dir, get_device, profile, seed_everything


def test_lazy_exports_resolve_to_runtime_functions():
    assert course_utils.get_device is get_device
    assert course_utils.profile is profile
    with pytest.raises(AttributeError):
        course_utils.no_such_name  # noqa: B018


def test_default_device_is_cpu_without_accelerators(clean_course_env):
    clean_course_env.setattr(torch.cuda, "is_available", lambda: False)
    clean_course_env.setattr("course_utils.runtime._mps_available", lambda: False)
    assert get_device() == torch.device("cpu")


def test_default_device_prefers_cuda(clean_course_env):
    clean_course_env.setattr(torch.cuda, "is_available", lambda: True)
    assert get_device() == torch.device("cuda")


def test_course_device_cpu_is_honoured(clean_course_env):
    clean_course_env.setenv("COURSE_DEVICE", "CPU")
    assert get_device() == torch.device("cpu")


def test_cuda_without_gpu_is_one_clear_error(clean_course_env):
    clean_course_env.setenv("COURSE_DEVICE", "cuda")
    clean_course_env.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigurationError, match="sees no CUDA GPU.*COURSE_DEVICE=cpu"):
        get_device()


def test_unknown_device_name_is_rejected(clean_course_env):
    clean_course_env.setenv("COURSE_DEVICE", "tpu-please")
    with pytest.raises(ConfigurationError, match="not a device name"):
        get_device()


def test_profile_defaults_follow_cuda(clean_course_env):
    clean_course_env.setattr(torch.cuda, "is_available", lambda: False)
    assert profile() == "quick"
    clean_course_env.setattr(torch.cuda, "is_available", lambda: True)
    assert profile() == "full"


@pytest.mark.parametrize("value", ["quick", "full", " FULL "])
def test_profile_from_environment(clean_course_env, value):
    clean_course_env.setenv("COURSE_PROFILE", value)
    assert profile() == value.strip().lower()


def test_unknown_profile_names_the_fix(clean_course_env):
    clean_course_env.setenv("COURSE_PROFILE", "fast")
    with pytest.raises(ConfigurationError, match="'quick' or 'full'"):
        profile()


def test_seed_everything_repeats_every_generator():
    def draw():
        return random.random(), np.random.rand(), torch.rand(3)  # noqa: NPY002

    seed_everything(123)
    first = draw()
    seed_everything(123)
    second = draw()
    assert first[0] == second[0] and first[1] == second[1]
    assert torch.equal(first[2], second[2])
    assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
    seed_everything(124)
    assert not torch.equal(draw()[2], first[2])


@pytest.mark.parametrize("bad", [-1, 1.5, "3", True])
def test_seed_everything_rejects_non_integers(bad):
    with pytest.raises(ValueError):
        seed_everything(bad)


def test_data_dir_honours_course_data(clean_course_env, tmp_path):
    target = tmp_path / "cache" / "nested"
    clean_course_env.setenv("COURSE_DATA", str(target))
    assert data_dir() == target and target.is_dir()


def test_data_dir_default_is_under_the_user_cache(clean_course_env, tmp_path):
    clean_course_env.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert data_dir() == tmp_path / "cnn-course"


def test_unwritable_data_dir_is_one_clear_error(clean_course_env, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    clean_course_env.setenv("COURSE_DATA", str(blocker / "sub"))
    with pytest.raises(ConfigurationError, match="point COURSE_DATA at a writable folder"):
        data_dir()
