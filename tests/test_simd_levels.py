"""The SIMD dispatch: the level chosen (cpuid + xgetbv, CNNKIT_SIMD), the cache sizes read and the GEMM
blocking computed from them, the self-check fallback (forced with CNNKIT_SIMD_SELFCHECK_FAIL), and GEMM /
conv2d at every SIMD level this CPU supports (tests/simd_levels.py; levels it lacks are skipped and say
why), plus "portable-12x32", the portable kernel at the AVX-512 tile shape, which runs that shape's
packing, blocking and conv packed paths on any CPU. The AVX-512 micro-kernel itself is checked on CPUs
without AVX-512 by tests/test_avx512_emulated.py (SIMDe).
"""
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import cnnkit
from cnnkit import _C
from simd_levels import LEVELS, skip_reason
from test_conv import CONFIGS, T, conv_ref, make, seed
from test_conv import tol as conv_tol


def run_python(code, **env):
    """Runs ``code`` in a fresh interpreter (the level and the self-checks are decided once per process)."""
    full = dict(os.environ)
    for k in ("CNNKIT_SIMD", "CNNKIT_GEMM_KERNEL", "CNNKIT_SIMD_SELFCHECK_FAIL", "CNNKIT_GEMM_BLOCKING"):
        full.pop(k, None)
    full.update(env)
    r = subprocess.run([sys.executable, "-c", code], env=full, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout, r.stderr


def cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return None


def best_level():
    return "avx512" if _C.gemm_avx512_available() else "avx2" if _C.gemm_avx2_available() else "portable"


# ---- level and detection ---------------------------------------------------------------------------

def test_level_matches_cpuinfo():
    """cpuid + xgetbv agree with the kernel's view in /proc/cpuinfo (which lists only OS-enabled features)."""
    flags = cpu_flags()
    if flags is None or not _C.gemm_avx2_available() and "avx2" in flags:
        pytest.skip("no /proc/cpuinfo flags line (or not an x86-64 GCC/Clang build)")
    want = "portable"
    if {"avx2", "fma"} <= flags:
        want = "avx2"
        if {"avx512f", "avx512bw", "avx512dq", "avx512vl"} <= flags:
            want = "avx512"
    assert _C.cpu_simd_level() == want
    for level in LEVELS:
        missing = _C.cpu_simd_missing(level)
        assert (missing == "") == (LEVELS.index(level) <= LEVELS.index(want)), (level, missing)
    if want != "avx512":
        assert re.search(r"lacks avx512|does not save", _C.cpu_simd_missing("avx512"))
    with pytest.raises(ValueError, match="cpu_simd_missing: expected 'avx512', 'avx2' or 'portable', got 'sse9'"):
        _C.cpu_simd_missing("sse9")


def test_simd_level_and_capability():
    level = _C.simd_level().split()[0]
    if not os.environ.get("CNNKIT_SIMD") and not os.environ.get("CNNKIT_SIMD_SELFCHECK_FAIL"):
        assert _C.simd_level() == _C.cpu_simd_level()
    cap = cnnkit.backends.cpu.get_cpu_capability()
    assert cap == {"avx512": "AVX512", "avx2": "AVX2", "portable": "DEFAULT"}[level]


def test_cpu_capability_matches_torch():
    torch = pytest.importorskip("torch")
    if os.environ.get("CNNKIT_SIMD") or os.environ.get("ATEN_CPU_CAPABILITY"):
        pytest.skip("a SIMD level is forced in the environment")
    # torch's AVX512 needs avx512f/bw/dq/vl as ours does; its AVX2 needs avx2 + fma.
    assert cnnkit.backends.cpu.get_cpu_capability() == torch.backends.cpu.get_cpu_capability()


@pytest.mark.parametrize("value", ["portable", "avx2", "avx512", "auto", "sse9"])
def test_simd_environment(value):
    out, err = run_python("from cnnkit import _C; print(_C.simd_level()); print(_C.gemm_kernel_name())",
                          CNNKIT_SIMD=value)
    level, kernel = out.splitlines()
    best = best_level()
    if value in ("auto", "sse9"):
        want = best
    elif LEVELS.index(value) <= LEVELS.index(best):
        want = value
    else:
        want = best
    assert level.split()[0] == want and kernel.split()[0] == want
    if value == "sse9":
        assert "CNNKIT_SIMD=sse9 ignored: expected avx512, avx2, portable or auto" in err
        assert err.count("\n") == 1  # one line
    elif want != value and value != "auto":
        # A level the CPU lacks: one line on stderr naming what is missing, and simd_level says so too.
        reason = _C.cpu_simd_missing(value)
        assert f"CNNKIT_SIMD={value} not available: {reason}; using {best}" in err and err.count("\n") == 1
        assert reason in level
    else:
        assert err == ""


def test_gemm_kernel_alias_wins_for_gemm_only():
    # CNNKIT_GEMM_KERNEL selects the GEMM family alone; the memory-bound kernels follow CNNKIT_SIMD.
    if not _C.gemm_avx2_available():
        pytest.skip("avx2: " + skip_reason("avx2"))
    out, _ = run_python("from cnnkit import _C; print(_C.simd_level()); print(_C.gemm_kernel_name())",
                        CNNKIT_SIMD="portable", CNNKIT_GEMM_KERNEL="avx2")
    level, kernel = out.splitlines()
    assert level == "portable" and kernel.startswith("avx2 (float 6x16, double 6x8)")


# ---- cache sizes and blocking ----------------------------------------------------------------------

def test_cache_sizes():
    c = _C.cpu_cache_sizes()
    assert set(c) == {"L1d", "L2", "L3", "L3_shared_by", "source"}
    assert c["source"] in ("cpuid", "sysconf", "sysfs", "default")
    assert 4 << 10 <= c["L1d"] <= 1 << 20 and c["L1d"] <= c["L2"] <= 1 << 30 and c["L3_shared_by"] >= 1
    assert c["L1d"] & (c["L1d"] - 1) == 0 or c["L1d"] % 1024 == 0
    # The kernel's own view of cpu0's L1d (sysfs), when it has one, agrees with cpuid.
    base = "/sys/devices/system/cpu/cpu0/cache"
    if c["source"] == "cpuid" and os.path.isdir(base):
        for idx in sorted(os.listdir(base)):
            d = os.path.join(base, idx)
            try:
                level, kind, size = (open(os.path.join(d, f)).read().strip() for f in ("level", "type", "size"))
            except OSError:
                continue
            if level == "1" and kind == "Data" and size.endswith("K"):
                assert int(size[:-1]) << 10 == c["L1d"]


def expected_blocking(shares, mr, nr, size):
    """An independent copy of gemm.cpp's formula (BlockingShares): kc, mc, nc from the cache sizes."""
    c = _C.cpu_cache_sizes()
    l1, l2, l3 = shares
    kc = min(max(int(l1 * c["L1d"] / (nr * size) / 16 + 1e-9), 4), 64) * 16
    mc = min(max(int(np.round(l2 * c["L2"] / (kc * size) / mr)), 1), 1024 // mr) * mr
    nc = min(max(int(l3 * c["L3"] / c["L3_shared_by"] / (kc * size) / nr), 16), 4096 // nr) * nr
    return kc, mc, nc


def parse_blocking(text):
    f, d = re.findall(r"kc (\d+) mc (\d+) nc (\d+)", text)
    return tuple(map(int, f)), tuple(map(int, d))


@pytest.mark.parametrize("family,shares,shapes", [
    ("portable", ((0.25, 0.1875, 0.125), (0.25, 0.375, 0.25)), ((4, 8), (4, 4))),
    ("avx2", ((0.75, 0.28, 0.5), (0.375, 0.28, 0.5)), ((6, 16), (6, 8))),
    ("avx512", ((0.75, 0.5, 0.5), (0.75, 0.5, 0.5)), ((12, 32), (12, 16))),
    ("portable-12x32", ((0.75, 0.5, 0.5), (0.75, 0.5, 0.5)), ((12, 32), (12, 16))),
])
def test_blocking_from_cache_sizes(family, shares, shapes):
    if skip_reason(family):
        pytest.skip(f"{family}: {skip_reason(family)}")
    if os.environ.get("CNNKIT_GEMM_BLOCKING"):
        pytest.skip("CNNKIT_GEMM_BLOCKING is set")
    try:
        _C.set_gemm_kernel(family)
        text = _C.gemm_blocking()
    finally:
        _C.set_gemm_kernel("auto")
    assert text.endswith("(from the cache sizes)")
    f, d = parse_blocking(text)
    assert f == expected_blocking(shares[0], *shapes[0], 4)
    assert d == expected_blocking(shares[1], *shapes[1], 8)
    c = _C.cpu_cache_sizes()
    if family == "avx2" and (c["L1d"], c["L2"]) == (32 << 10, 512 << 10):
        # The machine the avx2 blocking was measured on: the formula gives the measured constants.
        assert f[:2] == (384, 96) and d[:2] == (192, 96)


def test_blocking_override():
    out, err = run_python("from cnnkit import _C; print(_C.gemm_blocking())", CNNKIT_GEMM_BLOCKING="64,24,128")
    assert parse_blocking(out) == ((64, 24, 128), (64, 24, 128)) and "(CNNKIT_GEMM_BLOCKING)" in out
    out, err = run_python("from cnnkit import _C; print(_C.gemm_blocking())", CNNKIT_GEMM_BLOCKING="64,x")
    assert "CNNKIT_GEMM_BLOCKING=64,x ignored: expected three positive integers kc,mc,nc" in err
    assert "(from the cache sizes)" in out


def test_show_config_prints_level_and_caches():
    import io

    buf = io.StringIO()
    cnnkit.show_config(file=buf)
    out = buf.getvalue()
    c = _C.cpu_cache_sizes()
    assert f"SIMD level:      {_C.simd_level()}; best this CPU supports: {_C.cpu_simd_level()}" in out
    assert f"L1d {c['L1d'] >> 10} KiB" in out and f"(read from {c['source']})" in out
    assert _C.gemm_kernel_name() in out and _C.gemm_blocking() in out


# ---- self-check fallback ---------------------------------------------------------------------------

CHECK = """
import numpy as np
from cnnkit import _C
import cnnkit
rng = np.random.default_rng(0)
for dt in (np.float32, np.float64):
    a, b, c = rng.standard_normal((67, 301)).astype(dt), rng.standard_normal((301, 45)).astype(dt), rng.standard_normal((67, 45)).astype(dt)
    out = np.asarray(_C.gemm(_C.from_numpy(a), _C.from_numpy(b), False, False, 0.5, -1.0, _C.from_numpy(c.copy())))
    ref = 0.5 * a.astype(np.float64) @ b.astype(np.float64) - c
    assert np.allclose(out, ref, rtol=1e-4, atol=1e-4), np.abs(out - ref).max()
x = np.linspace(-20, 20, 1001, dtype=np.float32)
e = np.asarray(cnnkit.exp(cnnkit.from_numpy(x)))
assert np.allclose(e, np.exp(x.astype(np.float64)), rtol=1e-5), "exp"
r = np.asarray(cnnkit.relu(cnnkit.from_numpy(x)))
assert (r == np.maximum(x, 0)).all()
print(_C.gemm_kernel_name())
print(_C.simd_level())
print(len(_C.simd_fallbacks()))
"""


def needs_avx2():
    if not _C.gemm_avx2_available():
        pytest.skip("avx2: " + skip_reason("avx2"))


def test_selfchecks_pass_on_this_cpu():
    out, err = run_python(CHECK)
    kernel, level, nfallbacks = out.splitlines()
    assert "RuntimeWarning" not in err and nfallbacks == "0" and "self-check" not in kernel + level


def test_forced_gemm_float_failure_drops_a_level():
    needs_avx2()
    best = best_level()
    out, err = run_python(CHECK, CNNKIT_SIMD_SELFCHECK_FAIL="gemm_float:" + best)
    kernel, level, nfallbacks = out.splitlines()
    lower = {"avx512": "avx2 6x16", "avx2": "portable 4x8"}[best]
    upper = {"avx512": "avx512 12x32", "avx2": "avx2 6x16"}[best]
    # One line on stderr naming the kernel; the float GEMM drops one level, the double one does not.
    msg = (f"cnnkit: RuntimeWarning: self-check of the {upper} gemm_float kernel failed (forced by "
           f"CNNKIT_SIMD_SELFCHECK_FAIL); gemm_float uses {lower} instead")
    assert err.strip() == msg
    assert kernel.startswith(f"{lower.split()[0]} (float {lower.split()[1]}, double {best} ")
    assert kernel.endswith(f"; {best} failed its self-check")
    assert level.startswith(best) and msg.split("RuntimeWarning: ")[1] in level and nfallbacks == "1"


def test_forced_failure_at_every_level_reaches_portable():
    needs_avx2()
    out, err = run_python(CHECK, CNNKIT_SIMD_SELFCHECK_FAIL="gemm_double,gemm_float")
    kernel, level, nfallbacks = out.splitlines()
    n = LEVELS.index(best_level())  # one fallback per SIMD level, per dtype
    assert kernel.startswith("portable (float 4x8, double 4x4)") and nfallbacks == str(2 * n)
    assert err.count("RuntimeWarning: self-check of the") == 2 * n


def test_forced_vecmath_failure():
    needs_avx2()
    out, err = run_python(CHECK, CNNKIT_SIMD_SELFCHECK_FAIL="vecmath")
    kernel, level, nfallbacks = out.splitlines()
    assert "self-check of the avx2 vecmath kernels" in err and "use the portable code" in level
    assert kernel.split()[0] == best_level() and nfallbacks == "1"


# ---- GEMM and conv2d at every level ----------------------------------------------------------------

FAMILIES = LEVELS + ["portable-12x32"]


@pytest.fixture(params=FAMILIES)
def family(request):
    reason = skip_reason(request.param)
    if reason:
        pytest.skip(f"{request.param}: {reason}")
    _C.set_gemm_kernel(request.param)
    yield request.param
    _C.set_gemm_kernel("auto")


# (M, N, K): odd sizes, edges in every dimension for the 4x8 .. 12x32 tiles, K = 1, K over several kc
# blocks (kc <= 384 for every family here), few-row products (B read in place) and non-square.
SHAPES = [(1, 1, 1), (13, 33, 1), (12, 32, 7), (25, 65, 19), (11, 17, 3), (37, 70, 837), (3, 257, 100),
          (130, 31, 45), (64, 100, 576)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("M,N,K", SHAPES)
def test_gemm_against_reference(M, N, K, dtype, family):
    rng = np.random.default_rng(M * 1000 + N + K)
    for ta, tb in ((False, False), (True, False), (False, True), (True, True)):
        a = rng.standard_normal((K, M) if ta else (M, K)).astype(dtype)
        b = rng.standard_normal((N, K) if tb else (K, N)).astype(dtype)
        c = rng.standard_normal((M, N)).astype(dtype)
        for alpha, beta in ((1.0, 0.0), (-0.5, 1.0), (2.0, 0.25)):
            got = np.asarray(_C.gemm(T(a), T(b), ta, tb, alpha, beta, T(c.copy())))
            oa, ob = (a.T if ta else a).astype(np.float64), (b.T if tb else b).astype(np.float64)
            ref = alpha * oa @ ob + beta * c
            scale = np.abs(oa) @ np.abs(ob) * abs(alpha) + abs(beta) * np.abs(c) + 1
            eps = 1e-6 if dtype == np.float32 else 1e-14
            assert (np.abs(got - ref) <= eps * 4 * scale).all(), (ta, tb, alpha, beta, np.abs(got - ref).max())


def test_beta_zero_ignores_nan(family):
    a, b = np.ones((25, 9), np.float32), np.ones((9, 41), np.float32)
    c = np.full((25, 41), np.nan, np.float32)
    got = np.asarray(_C.gemm(T(a), T(b), False, False, 1.0, 0.0, T(c)))
    assert (got == 9).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv2d_packed_paths(dtype, family):
    # The batch schedule (im2col_packed, packed weights, dweight orientation) and the chunk schedule
    # follow the tile shape of the selected family.
    for cfg in (CONFIGS[1], CONFIGS[3], CONFIGS[6], CONFIGS[14], CONFIGS[16], CONFIGS[17], CONFIGS[20]):
        rng = np.random.default_rng(seed(cfg) + 5)
        x, w, b, s, p, d, g = make(rng, cfg, dtype)
        out = np.asarray(_C.conv2d_forward(T(x), T(w), T(b), s, p, d, g))
        np.testing.assert_allclose(out, conv_ref(x, w, b, s, p, d, g), **conv_tol(dtype))
        dout = rng.standard_normal(out.shape).astype(dtype)
        fast = _C.conv2d_backward(T(dout), T(x), T(w), s, p, d, g, (True, True, True))
        naive = _C.conv2d_backward_naive(T(dout), T(x), T(w), s, p, d, g, (True, True, True))
        for got, want in zip(fast, naive):
            np.testing.assert_allclose(np.asarray(got), np.asarray(want), **conv_tol(dtype))


def test_conv2d_matches_torch(family):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 6, 14, 14)).astype(np.float32)
    w = rng.standard_normal((16, 6, 5, 5)).astype(np.float32)
    b = rng.standard_normal(16).astype(np.float32)
    out = np.asarray(_C.conv2d_forward(T(x), T(w), T(b), (1, 1), (1, 1), (1, 1), 1))
    ref = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), padding=1)
    np.testing.assert_allclose(out, ref.numpy(), rtol=1e-4, atol=1e-4)
