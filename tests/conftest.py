"""Shared fixtures. The CPU is split into 2 logical devices before TensorFlow
initialises, so MirroredStrategy can be exercised without GPUs."""

import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Embedded synthetic data and caches of the tests go to a folder of their own,
# not to the user's cache.
os.environ["MEMOTION_TF_HOME"] = tempfile.mkdtemp(prefix="memotion-tf-home-")

import pytest  # noqa: E402

from memotion_tf.training.strategy import split_cpu  # noqa: E402

split_cpu(2)


# Markers whose tests run only when their option is given (registered in setup.cfg).
OPT_IN = {"large": "--run-large", "notebooks": "--run-notebooks"}


def pytest_addoption(parser):
    parser.addoption("--run-large", action="store_true", help="run tests marked large")
    parser.addoption("--run-notebooks", action="store_true",
                     help="run tests marked notebooks (execute notebooks/*.ipynb; make test-notebooks)")

def pytest_collection_modifyitems(config, items):
    for marker, option in OPT_IN.items():
        if config.getoption(option):
            continue
        skip = pytest.mark.skip(reason=f"{marker} test: pass {option} to run it")
        for item in items:
            if item.get_closest_marker(marker):
                item.add_marker(skip)

@pytest.fixture(scope="session")
def memotion_dir():
    from tests import fixtures

    return fixtures.memotion_dir()

@pytest.fixture(scope="session")
def memotion_data():
    from tests import fixtures

    return fixtures.memotion_data()
