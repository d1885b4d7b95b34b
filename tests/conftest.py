import logging
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


_PACKAGE_LOGGER = logging.getLogger("ppcls_lite")
# as it is before any test: a module- or session-scoped fixture that trains runs before a test's own fixtures
_PRISTINE = (list(_PACKAGE_LOGGER.handlers), _PACKAGE_LOGGER.propagate, _PACKAGE_LOGGER.level)


@pytest.fixture(autouse=True)
def _restore_package_logger():
    """A test (or a fixture) that trains in-process calls setup_logger, which stops the 'ppcls_lite' logger
    propagating; put it back as it was before any test, so a later test's caplog sees the package's warnings
    whatever ran before it."""
    yield
    logger = _PACKAGE_LOGGER
    for h in logger.handlers:
        if h not in _PRISTINE[0]:
            h.close()
    logger.handlers[:] = _PRISTINE[0]
    logger.propagate, logger.level = _PRISTINE[1], _PRISTINE[2]
