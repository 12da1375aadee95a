"""Shared fixtures. The CPU is split into 2 logical devices before TensorFlow
initialises, so MirroredStrategy can be exercised without GPUs."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

from memotion_tf.training.strategy import split_cpu  # noqa: E402

split_cpu(2)


def pytest_addoption(parser):
    parser.addoption("--run-large", action="store_true", help="run tests marked large")

def pytest_collection_modifyitems(config, items):
    if config.getoption("--run-large"):
        return
    skip = pytest.mark.skip(reason="large test: pass --run-large to run it")
    for item in items:
        if "large" in item.keywords:
            item.add_marker(skip)

@pytest.fixture(scope="session")
def memotion_dir():
    from tests import fixtures

    return fixtures.memotion_dir()

@pytest.fixture(scope="session")
def memotion_data():
    from tests import fixtures

    return fixtures.memotion_data()
