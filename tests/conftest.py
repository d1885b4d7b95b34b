import os
import sys

import paddle
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
paddle.set_device("cpu")


@pytest.fixture(autouse=True)
def _seed():
    paddle.seed(0)
    yield


@pytest.fixture(autouse=True)
def _restore_package_logger():
    """A test that trains in-process calls setup_logger, which stops the 'ppcls_lite' logger propagating;
    put it back so a later test's caplog sees the package's warnings whatever ran before it."""
    import logging

    logger = logging.getLogger("ppcls_lite")
    saved = (list(logger.handlers), logger.propagate, logger.level)
    yield
    for h in logger.handlers:
        if h not in saved[0]:
            h.close()
    logger.handlers[:] = saved[0]
    logger.propagate, logger.level = saved[1], saved[2]
