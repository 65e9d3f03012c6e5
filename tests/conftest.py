"""Shared fixtures. Tests make their own small fixtures; nothing is downloaded."""

import matplotlib
import pytest

matplotlib.use("Agg")


@pytest.fixture
def clean_course_env(monkeypatch):
    """No COURSE_* variable from the caller's shell leaks into a test."""
    for name in ("COURSE_DEVICE", "COURSE_PROFILE", "COURSE_DATA"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch
