import os
import signal
import threading

import numpy as np
import pytest

import cnnkit


@pytest.fixture(autouse=True)
def _seed():
    cnnkit.manual_seed(0)
    np.random.seed(0)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


# CNNKIT_TEST_TIMEOUT=N fails any test that runs longer than N seconds (SIGALRM in the main thread), so a
# hang under compute-sanitizer or on a GPU fails that one test instead of eating the whole device lease
# (benchmarks/gpu/run.sh sets it). pytest-timeout is not needed. Off by default.
_TIMEOUT = int(os.environ.get("CNNKIT_TEST_TIMEOUT", "0") or 0)


@pytest.fixture(autouse=True)
def _per_test_timeout(request):
    if _TIMEOUT <= 0 or threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGALRM"):
        yield
        return

    def on_alarm(signum, frame):
        raise TimeoutError(f"{request.node.nodeid} ran longer than CNNKIT_TEST_TIMEOUT={_TIMEOUT} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(_TIMEOUT)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
