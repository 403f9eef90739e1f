"""The CPU caching allocator (csrc/core/cpu_allocator.*) and cnnkit.cpu's memory API.

Large blocks (>= 64 KiB) are cached and reused by size class, small ones come from malloc; a
training loop's steady state asks the operating system for no new memory."""
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import cnnkit as ck
import cnnkit.cpu
import cnnkit.nn as nn
import cnnkit.nn.functional as F
import cnnkit.optim as optim
from cnnkit import _C

stats = cnnkit.cpu.memory_stats
# The in-process checks expect the default (caching on); the environment variable tests start their
# own interpreters.
pytestmark = pytest.mark.skipif(not stats()["caching_enabled"], reason="CNNKIT_CPU_CACHING=0 in this process")
LARGE = 1 << 20  # float32 elements: a 4 MiB block, on the cached path
SMALL = 100      # 400 bytes: the malloc path


def _run(code, **env):
    """Runs `code` in a fresh interpreter (the environment variables are read once per process)."""
    e = dict(os.environ, **env)
    out = subprocess.run([sys.executable, "-c", code], env=e, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_stats_keys_and_types():
    s = stats()
    for key in ("num_system_allocs", "num_system_frees", "num_cache_hits", "num_small_allocs", "allocated",
                "peak_allocated", "cached", "reserved", "peak_reserved", "num_alloc_retries", "num_ooms",
                "cache_limit", "small_threshold", "allocated_bytes.all.current", "allocated_bytes.all.peak",
                "reserved_bytes.all.current", "reserved_bytes.all.peak"):
        assert isinstance(s[key], int), key
    assert s["caching_enabled"] is True
    assert s["reserved"] == s["allocated"] + s["cached"]
    assert s["small_threshold"] == 64 * 1024
    assert cnnkit.cpu.is_available() and cnnkit.cpu.device_count() == 1
    cnnkit.cpu.synchronize()


def test_large_block_is_reused():
    x = ck.empty(LARGE)
    del x
    before = stats()
    assert before["cached"] >= 4 * LARGE
    for _ in range(5):
        y = ck.ones(LARGE)
        assert float(y.sum()) == LARGE
        del y
    after = stats()
    assert after["num_system_allocs"] == before["num_system_allocs"]
    assert after["num_cache_hits"] >= before["num_cache_hits"] + 5


@pytest.mark.parametrize("n", [0, 1, 7, 33, SMALL, 16000])
def test_small_blocks_use_malloc(n):
    before = stats()
    x = ck.empty(n)
    mid = stats()
    assert mid["num_small_allocs"] == before["num_small_allocs"] + 1
    assert mid["num_system_allocs"] == before["num_system_allocs"]
    assert mid["allocated"] == before["allocated"] + max(64, (4 * n + 63) // 64 * 64)
    assert x.numel() == n
    del x
    assert stats()["allocated"] == before["allocated"]


@pytest.mark.parametrize("dtype", [ck.float32, ck.float64])
@pytest.mark.parametrize("n", [16384, 16385, 70001, 3 * LARGE + 7])
def test_reused_blocks_hold_correct_values(dtype, n):
    # A reused block holds the previous tensor's bytes: every op must write its whole output.
    junk = ck.full((n,), 7.0, dtype=dtype)
    del junk
    z = ck.zeros(n, dtype=dtype)
    assert float(z.abs().sum()) == 0.0
    assert z.numpy().ctypes.data % 64 == 0
    del z
    r = np.random.default_rng(n).standard_normal(n).astype(np.float32 if dtype == ck.float32 else np.float64)
    t = ck.from_numpy(r) * 1.0  # an op output: allocated here, on a reused block
    assert t.numpy().ctypes.data % 64 == 0
    np.testing.assert_array_equal(t.numpy(), r)


def test_allocated_peak_and_reset():
    cnnkit.cpu.reset_peak_memory_stats()
    base = cnnkit.cpu.memory_allocated()
    assert cnnkit.cpu.max_memory_allocated() == base
    x = ck.empty(LARGE)
    y = ck.empty(LARGE)
    assert cnnkit.cpu.memory_allocated() >= base + 8 * LARGE
    del x, y
    assert cnnkit.cpu.memory_allocated() == base
    assert cnnkit.cpu.max_memory_allocated() >= base + 8 * LARGE
    assert cnnkit.cpu.max_memory_reserved() >= cnnkit.cpu.max_memory_allocated()
    cnnkit.cpu.reset_peak_memory_stats()
    assert cnnkit.cpu.max_memory_allocated() == base
    assert cnnkit.cpu.max_memory_reserved() == cnnkit.cpu.memory_reserved()


def test_empty_cache_returns_blocks():
    x = ck.empty(LARGE)
    del x
    before = stats()
    assert before["cached"] > 0
    cnnkit.cpu.empty_cache()
    after = stats()
    assert after["cached"] == 0
    assert after["reserved"] == after["allocated"]
    assert after["num_system_frees"] > before["num_system_frees"]
    x = ck.empty(LARGE)  # the next large request goes to the system again
    assert stats()["num_system_allocs"] == after["num_system_allocs"] + 1


def test_from_numpy_bypasses_allocator():
    a = np.ones(LARGE, dtype=np.float32)
    before = stats()
    t = ck.from_numpy(a)
    assert t.numpy().ctypes.data == a.ctypes.data
    del t
    after = stats()
    for key in ("allocated", "num_system_allocs", "num_cache_hits", "num_small_allocs", "num_system_frees"):
        assert after[key] == before[key], key
    assert a.sum() == LARGE


def test_out_of_memory_raises_memory_error_and_recovers():
    x = ck.empty(LARGE)
    del x
    before = stats()
    with pytest.raises(MemoryError, match="out of memory"):
        ck.empty(1 << 46)  # 256 TiB of float32: refused by the system
    after = stats()
    assert after["num_ooms"] == before["num_ooms"] + 1
    assert after["num_alloc_retries"] == before["num_alloc_retries"] + 1
    assert after["cached"] == 0  # the cache was emptied before the retry
    y = ck.ones(LARGE)
    assert float(y.sum()) == LARGE


def test_native_threads_stress():
    # 4 C++ threads allocate, fill, check and free mixed small and large blocks concurrently.
    assert _C._cpu_allocator_stress(4, 3000) == 0
    s = stats()
    assert s["reserved"] == s["allocated"] + s["cached"]
    with pytest.raises(ValueError, match="_cpu_allocator_stress"):
        _C._cpu_allocator_stress(0, 10)


def test_python_threads():
    errors = []

    def work(k):
        try:
            for i in range(30):
                n = (k + 1) * 20000 + i
                t = ck.full((n,), float(k))
                if float(t.sum()) != float(k) * n:
                    errors.append((k, i))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    # Under no_grad: cnnkit's grad mode is one global flag (PyTorch's is per thread), and ops that
    # toggle it from several threads at once could leave it off for the tests that follow.
    with ck.no_grad():
        threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    assert errors == []
    assert ck.is_grad_enabled()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_fork_child_can_allocate():
    # The child only allocates and checks through NumPy: libgomp's thread pool does not survive
    # fork (a known GNU OpenMP limitation), so the child runs no cnnkit kernel.
    x = ck.ones(LARGE)
    del x  # leaves a cached block for the child to reuse
    pid = os.fork()
    if pid == 0:  # child: the allocator's mutex must not be inherited locked
        try:
            y = ck.empty(LARGE)
            z = ck.empty(3 * LARGE)
            a = y.numpy()
            a[:] = 2.0
            os._exit(0 if float(a.sum()) == 2 * LARGE and z.numel() == 3 * LARGE else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def _cnn():
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(8 * 4 * 4, 10))


def test_training_steady_state_takes_no_system_memory():
    # Counts the allocator's blocks: tensors and the kernels' scratch buffers (ScratchBuffer in
    # ops/gemm.cpp takes its memory from cpu_alloc too).
    ck.manual_seed(0)
    model = _cnn()
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 3, 16, 16)).astype(np.float32)  # conv1 output: 128 KiB (cached path)
    y = rng.integers(0, 10, 16)

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(model(ck.tensor(x)), ck.tensor(y))
        loss.backward()
        opt.step()
        return float(loss)

    losses = [step() for _ in range(3)]
    before = stats()
    losses += [step() for _ in range(10)]
    after = stats()
    assert after["num_system_allocs"] == before["num_system_allocs"]
    assert after["num_system_frees"] == before["num_system_frees"]
    assert after["num_cache_hits"] > before["num_cache_hits"]  # the large path was exercised
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]


_TRAIN = """
import numpy as np, cnnkit as ck, cnnkit.cpu, cnnkit.nn as nn, cnnkit.nn.functional as F, cnnkit.optim as optim
ck.manual_seed(0)
m = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8 * 8 * 8, 10))
o = optim.SGD(m.parameters(), lr=0.05, momentum=0.9)
r = np.random.default_rng(0)
x = ck.tensor(r.standard_normal((16, 3, 16, 16)).astype(np.float32)); y = ck.tensor(r.integers(0, 10, 16))
for _ in range(4):
    o.zero_grad(); l = F.cross_entropy(m(x), y); l.backward(); o.step(); print(repr(float(l)))
s = cnnkit.cpu.memory_stats()
print(s["caching_enabled"], s["cached"], s["cache_limit"], s["num_cache_hits"])
"""


def test_caching_disabled_gives_identical_training():
    on = _run(_TRAIN).split("\n")
    off = _run(_TRAIN, CNNKIT_CPU_CACHING="0").split("\n")
    assert on[:4] == off[:4]  # bit-identical losses
    assert on[4].split()[0] == "True" and int(on[4].split()[3]) > 0
    flag, cached, limit, hits = off[4].split()
    assert (flag, cached, limit, hits) == ("False", "0", "0", "0")


def test_cache_limit_env():
    out = _run("""
import cnnkit as ck, cnnkit.cpu
s = cnnkit.cpu.memory_stats(); assert s["cache_limit"] == 1 << 20, s
x = ck.empty(1 << 20); del x            # a 4 MiB block: over the limit, unmapped at once
s1 = cnnkit.cpu.memory_stats(); assert s1["cached"] == 0 and s1["num_system_frees"] == 1, s1
x = ck.empty(1 << 16); del x            # a 256 KiB block: kept
s2 = cnnkit.cpu.memory_stats(); assert 0 < s2["cached"] <= 1 << 20, s2
for n in range(70000, 170000, 4000):    # ever-new sizes: the cache stays under the limit
    x = ck.empty(n); del x
s3 = cnnkit.cpu.memory_stats(); assert s3["cached"] <= 1 << 20, s3
print("ok")
""", CNNKIT_CPU_CACHE_LIMIT_MB="1")
    assert out.strip() == "ok"


_DROP = """
import gc, numpy as np, cnnkit as ck, cnnkit.cpu, cnnkit.nn as nn, cnnkit.nn.functional as F, cnnkit.optim as optim

def rss():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmRSS:"))

base = cnnkit.cpu.memory_allocated()
ck.manual_seed(0)
m = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                  nn.Linear(16 * 32 * 32, 10))
o = optim.SGD(m.parameters(), lr=0.01, momentum=0.9)
r = np.random.default_rng(0)
x = ck.tensor(r.standard_normal((16, 3, 64, 64)).astype(np.float32)); y = ck.tensor(r.integers(0, 10, 16))
for _ in range(2):
    o.zero_grad(); l = F.cross_entropy(m(x), y); l.backward(); o.step()
del m, o, x, y, l
gc.collect()
s1, r1 = cnnkit.cpu.memory_stats(), rss()
cnnkit.cpu.empty_cache()
s2, r2 = cnnkit.cpu.memory_stats(), rss()
print(s1["cached"], s1["reserved"], s2["cached"], s2["reserved"], s2["allocated"], base, r1, r2)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads VmRSS from /proc/self/status")
def test_empty_cache_after_training_returns_memory_to_the_os():
    # A dropped model's activations and gradients sit in the cache (reserved); empty_cache unmaps them:
    # reserved falls to what live tensors hold and the process's resident set falls by about as much.
    # A fresh interpreter, so that RSS is this workload's alone.
    cached1, reserved1, cached2, reserved2, allocated2, base, rss1, rss2 = map(int, _run(_DROP).split())
    assert cached1 > 12 << 20  # the 16x16x64x64 activations and their gradients (4 MiB each) were cached
    assert cached2 == 0 and reserved2 == allocated2
    # What stays allocated: the kernels' per-thread GEMM packing buffers (kept for the next product).
    assert allocated2 - base < 4 << 20
    assert rss1 - rss2 >= 0.8 * (reserved1 - reserved2), (rss1, rss2, reserved1, reserved2)


def test_empty_cache_returns_reserved_to_allocated_in_process():
    before = stats()
    xs = [ck.ones(LARGE) for _ in range(4)]  # 16 MiB on the cached path, touched
    del xs
    mid = stats()
    assert mid["cached"] >= 16 * LARGE  # the four 4 MiB blocks
    cnnkit.cpu.empty_cache()
    after = stats()
    assert after["cached"] == 0 and after["reserved"] == after["allocated"] == before["allocated"]
