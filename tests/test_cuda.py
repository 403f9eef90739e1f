"""CUDA device infrastructure: device moves, copies, the caching allocator, cnnkit.cuda's API, and
end-to-end training on the GPU against the CPU. GPU cases skip without a usable GPU; the first
block checks what a CPU-only machine must answer."""
import io
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import cnnkit as ck
import cnnkit.nn as nn
import cnnkit.nn.functional as F
import cnnkit.optim as optim

gpu = pytest.mark.skipif(not ck.cuda.is_available(), reason="needs an NVIDIA GPU")
caching = pytest.mark.skipif(os.environ.get("CNNKIT_CUDA_CACHING") == "0",
                             reason="checks the caching allocator; CNNKIT_CUDA_CACHING=0 turns it off")


# ---------------------------------------------------------------------------------------------
# everywhere
# ---------------------------------------------------------------------------------------------
def test_cuda_api_answers_without_a_gpu():
    assert isinstance(ck.cuda.is_available(), bool)
    assert ck.cuda.is_built() in (True, False)
    assert issubclass(ck.cuda.OutOfMemoryError, RuntimeError)
    if not ck.cuda.is_available():
        assert ck.cuda.device_count() == 0
        assert ck.cuda.memory_allocated() == 0 and ck.cuda.max_memory_allocated() == 0
        ck.cuda.synchronize()
        ck.cuda.empty_cache()
        ck.cuda.reset_peak_memory_stats()


@pytest.mark.skipif(ck.cuda.is_available(), reason="checks the message on machines without a GPU")
@pytest.mark.parametrize("make", [lambda: ck.ones(2).cuda(), lambda: ck.ones(2, device="cuda"),
                                  lambda: ck.ones(2).to("cuda:0"), lambda: ck.randn(2, device="cuda"),
                                  lambda: nn.Linear(2, 2).to("cuda")])
def test_cuda_request_without_gpu_is_a_clear_error(make):
    with pytest.raises(RuntimeError, match="(no NVIDIA driver|without CUDA)"):
        make()


@pytest.mark.skipif(ck.cuda.is_available() or not ck.cuda.is_built(),
                    reason="a CUDA build on a machine without a usable GPU")
def test_show_config_says_why_no_gpu_is_usable():
    # "no driver" and "driver older than the runtime" both read as 0 devices; show_config names the error
    # so that a GPU run in which every test skipped is seen for what it is.
    out = io.StringIO()
    ck.show_config(file=out)
    assert "cudaGetDeviceCount failed: cudaError" in out.getvalue()
    with pytest.raises(RuntimeError, match="cudaGetDeviceCount failed"):
        ck.ones(1, device="cuda")


def test_device_objects():
    assert str(ck.device("cuda", 1)) == "cuda:1" and ck.device("cuda:1") == ck.device("cuda", 1)
    assert ck.ones(1).device == ck.device("cpu") and ck.ones(1).to("cpu").device.type == "cpu"
    with pytest.raises(RuntimeError, match="Expected one of cpu, cuda"):
        ck.device("tpu")


# ---------------------------------------------------------------------------------------------
# with a GPU
# ---------------------------------------------------------------------------------------------
DTYPES = [ck.float32, ck.float64, ck.int64, ck.bool, ck.uint8]


@gpu
@pytest.mark.parametrize("dt", DTYPES, ids=lambda d: d.name)
def test_round_trip_every_dtype(dt):
    a = (np.random.default_rng(0).standard_normal((3, 7, 33)) * 10).astype(dt.numpy)
    t = ck.tensor(a).cuda()
    assert t.is_cuda and t.device == ck.device("cuda", 0) and t.dtype is dt
    np.testing.assert_array_equal(t.cpu().numpy(), a)
    np.testing.assert_array_equal(t.permute(2, 0, 1).cpu().numpy(), a.transpose(2, 0, 1))  # strided D2H
    np.testing.assert_array_equal(ck.tensor(a).permute(1, 2, 0).cuda().cpu().numpy(), a.transpose(1, 2, 0))


@gpu
def test_copies_on_device():
    a = np.random.default_rng(1).standard_normal((5, 6)).astype(np.float32)
    t = ck.tensor(a).cuda()
    assert t.t().contiguous().cpu().tolist() == a.T.tolist()
    assert t.double().cpu().numpy().dtype == np.float64
    d = ck.zeros(5, 6, device="cuda")
    d[:, 1:3] = t[:, :2]  # strided device-to-device
    assert d.cpu().numpy()[:, 1:3].tolist() == a[:, :2].tolist()
    d.copy_(ck.arange(6.0))  # broadcast host -> device
    assert d.cpu().numpy().tolist() == [list(range(6))] * 5
    d.fill_(2.5)
    assert d.sum().item() == 75.0
    assert ck.full((3,), 7, device="cuda").tolist() == [7, 7, 7]
    assert "device='cuda:0'" in repr(t)


@gpu
def test_numpy_of_cuda_tensor_raises_like_torch():
    with pytest.raises(TypeError, match=r"Use Tensor.cpu\(\)"):
        ck.ones(2).cuda().numpy()


@gpu
def test_mixing_devices_names_both():
    with pytest.raises(RuntimeError, match="cuda:0.*cpu|cpu.*cuda:0"):
        ck.ones(3).cuda() + ck.ones(3)


@gpu
def test_gradients_flow_across_devices():
    x = ck.randn(4, requires_grad=True)
    y = (x.cuda() * 3).sum()
    y.backward()
    assert not x.grad.is_cuda and x.grad.tolist() == [3.0] * 4


@gpu
@caching
def test_allocator_reuses_memory():
    ck.cuda.empty_cache()
    base = ck.cuda.memory_allocated()
    for _ in range(5):
        t = ck.empty(1 << 20, device="cuda")
        del t
    assert ck.cuda.memory_allocated() == base
    stats = ck.cuda.memory_stats()
    for _ in range(20):  # steady state: the cache serves every request
        t = ck.empty(1 << 20, device="cuda")
        del t
    assert ck.cuda.memory_stats()["num_mallocs"] == stats["num_mallocs"]
    ck.cuda.reset_peak_memory_stats()
    big = ck.empty(1 << 22, device="cuda")
    assert ck.cuda.max_memory_allocated() >= 4 * (1 << 22)
    del big


# cudaMalloc fails here on purpose: compute-sanitizer counts that as an error unless it runs with
# --report-api-errors no (benchmarks/gpu/run.sh sanitize does so for this test alone).
@gpu
def test_oom_is_a_clear_error_and_recovers():
    with pytest.raises(ck.cuda.OutOfMemoryError, match="CUDA out of memory"):
        ck.empty(1 << 48, device="cuda")
    assert ck.ones(10, device="cuda").sum().item() == 10.0  # the next allocation works


@gpu
def test_caching_off_mallocs_exact_sizes_and_frees_at_once():
    # CNNKIT_CUDA_CACHING is read once per process: check it in a child.
    code = textwrap.dedent("""
        import cnnkit as ck
        base = ck.cuda.memory_stats()
        for _ in range(3):
            t = ck.empty(1000, device="cuda")
            assert ck.cuda.memory_allocated() - base["allocated_bytes"] == 4000  # exact, not a 512-byte granule
            del t
        s = ck.cuda.memory_stats()
        assert s["num_mallocs"] - base["num_mallocs"] == 3, s
        assert ck.cuda.memory_reserved() == base["reserved_bytes"]  # nothing kept
        print("ok")
    """)
    env = dict(os.environ, CNNKIT_CUDA_CACHING="0")
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "ok" in r.stdout, r.stderr


def _small_cnn():
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10),
    )


@gpu
def test_lenet_training_on_cuda_matches_cpu():
    ck.manual_seed(0)
    cpu_model = _small_cnn()
    gpu_model = _small_cnn()
    gpu_model.load_state_dict(cpu_model.state_dict())
    gpu_model.cuda()
    assert all(p.is_cuda for p in gpu_model.parameters())
    rng = np.random.default_rng(0)
    x = ck.tensor(rng.standard_normal((16, 1, 28, 28)).astype(np.float32))
    y = ck.tensor(rng.integers(0, 10, 16))
    opts = [optim.SGD(m.parameters(), lr=0.05, momentum=0.9) for m in (cpu_model, gpu_model)]
    losses = [[], []]
    for _ in range(6):
        for k, (m, o, xx, yy) in enumerate(zip((cpu_model, gpu_model), opts, (x, x.cuda()), (y, y.cuda()))):
            o.zero_grad()
            loss = F.cross_entropy(m(xx), yy)
            loss.backward()
            o.step()
            losses[k].append(loss.item())
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-4)
    assert all(s["momentum_buffer"].is_cuda for s in opts[1].state.values())


@gpu
def test_training_steps_do_not_grow_memory():
    model = _small_cnn().cuda()
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = ck.randn(8, 1, 28, 28, device="cuda")
    y = ck.randint(0, 10, (8,), device="cuda")

    def step():
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()

    for _ in range(3):
        step()
    ck.cuda.synchronize()
    after_warmup = ck.cuda.memory_allocated()
    mallocs = ck.cuda.memory_stats()["num_mallocs"]
    for _ in range(10):
        step()
    ck.cuda.synchronize()
    assert ck.cuda.memory_allocated() == after_warmup
    assert ck.cuda.memory_stats()["num_mallocs"] == mallocs
