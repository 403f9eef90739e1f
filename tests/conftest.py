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


# The `device` fixture: a test that takes it runs once per device, "cpu" and "cuda". The cuda case carries the
# `cuda` marker (`-m cuda` selects every GPU case; the test_cuda*.py files are marked whole, below) and is
# skipped with "needs an NVIDIA GPU" where cnnkit.cuda.is_available() is False (benchmarks/gpu/run.sh fails
# on that reason on a GPU machine). CNNKIT_CUDA_TESTS_ON_CPU=1 runs the cuda case with the CPU standing in
# (its value is then "cpu"), which exercises the test code of the cuda half on a machine without a GPU.
CUDA_ON_CPU = os.environ.get("CNNKIT_CUDA_TESTS_ON_CPU") == "1"


@pytest.fixture(params=["cpu", pytest.param("cuda", marks=pytest.mark.cuda)])
def device(request):
    if request.param == "cpu":
        return "cpu"
    if CUDA_ON_CPU:
        return "cpu"
    if not cnnkit.cuda.is_available():
        pytest.skip("needs an NVIDIA GPU")
    return "cuda:0"


# A case of a device-parametrised table that only the CUDA run needs (a size past a grid limit, a case the CUDA
# twin test had that the CPU test did not) is wrapped as pytest.param(..., marks=pytest.mark.cuda_only): its
# [cpu] half is deselected, so the CPU run costs what it did before the tables were merged.


def pytest_collection_modifyitems(config, items):
    """Every test in a test_cuda*.py file is a GPU case too, and so is any test skipped elsewhere for want of
    a GPU (a skipif whose reason names a GPU): mark it `cuda` so `-m cuda` finds it. Drop the [cpu] half of
    cases marked `cuda_only`."""
    keep, dropped = [], []
    for item in items:
        gpu_skip = any("GPU" in str(m.kwargs.get("reason", "")) for m in item.iter_markers("skipif"))
        if os.path.basename(str(item.fspath)).startswith("test_cuda") or gpu_skip:
            item.add_marker(pytest.mark.cuda)
        callspec = getattr(item, "callspec", None)
        if (callspec is not None and callspec.params.get("device") == "cpu"
                and item.get_closest_marker("cuda_only") is not None):
            dropped.append(item)
        else:
            keep.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep
