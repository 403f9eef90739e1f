"""The AVX-512 GEMM micro-kernels (csrc/ops/gemm_avx512_kernel.h) checked on any CPU: the header is
compiled against SIMDe's portable implementation of the AVX-512 intrinsics (simde-py, test extra)
together with tests/native/avx512_gemm_harness.cpp, which runs every (mr, nr) tile shape over several
kc, alpha/beta (beta = 0 with NaN in C), packed and in-place B, float and double, against a plain
long-double loop, with sentinels around C (nothing beyond row mr / column nr may be written).
This is how the kernel is known to be right without an AVX-512 CPU; on one, test_simd_levels.py runs
the real thing. Compiled once per session into a temporary directory.
"""
import os
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="session")
def harness(tmp_path_factory):
    simde = pytest.importorskip("simde_py", reason="needs simde-py (pip install simde-py; in the test extra)")
    cxx = os.environ.get("CXX") or shutil.which("g++") or shutil.which("clang++")
    if not cxx:
        pytest.skip("needs a C++ compiler (g++ or clang++)")
    exe = tmp_path_factory.mktemp("avx512_emulated") / "harness"
    cmd = [cxx, "-std=c++17", "-O1", "-w", "-I", simde.get_include(), "-I", os.path.join(ROOT, "csrc"),
           os.path.join(ROOT, "tests", "native", "avx512_gemm_harness.cpp"), "-o", str(exe)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-4000:]
    return exe


def test_avx512_kernels_under_simde(harness):
    r = subprocess.run([str(harness)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout[-4000:]
    ok, nfloat, ndouble = r.stdout.split()
    # 12 x 32 float and 12 x 16 double tiles, 5 kc, 3 alpha/beta pairs, 2 B layouts.
    assert ok == "ok" and int(nfloat) == 12 * 32 * 5 * 3 * 2 and int(ndouble) == 12 * 16 * 5 * 3 * 2


def test_harness_catches_a_wrong_mask(tmp_path):
    """The harness can fail: the same kernel with its edge mask one lane too wide is rejected."""
    simde = pytest.importorskip("simde_py", reason="needs simde-py (pip install simde-py; in the test extra)")
    cxx = os.environ.get("CXX") or shutil.which("g++") or shutil.which("clang++")
    if not cxx:
        pytest.skip("needs a C++ compiler (g++ or clang++)")
    src = open(os.path.join(ROOT, "csrc", "ops", "gemm_avx512_kernel.h")).read()
    bad = src.replace("const M m0 = S::mask(PART ? nr : W)", "const M m0 = S::mask(PART ? nr + 1 : W)")
    assert bad != src
    (tmp_path / "ops").mkdir()
    (tmp_path / "ops" / "gemm_avx512_kernel.h").write_text(bad)
    exe = tmp_path / "bad"
    cmd = [cxx, "-std=c++17", "-O0", "-w", "-I", simde.get_include(), "-I", str(tmp_path),
           os.path.join(ROOT, "tests", "native", "avx512_gemm_harness.cpp"), "-o", str(exe)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    r = subprocess.run([str(exe)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "MISMATCH float" in r.stdout
