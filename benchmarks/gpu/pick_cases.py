"""Pick the sanitizer's test cases: one representative parametrisation per CUDA test function.

    python benchmarks/gpu/pick_cases.py memcheck   # every GPU test function (-m cuda), one case each
    python benchmarks/gpu/pick_cases.py race       # reductions, GEMM, softmax/CE, batch norm, pooling

compute-sanitizer runs kernels 10-100x slower, so the whole CUDA suite does not fit a device lease. The GPU
cases are those `-m cuda` selects: the tests/test_cuda*.py files and the cuda half of the device-parametrised
tests (the `device` fixture). Each test function covers one kernel path; its middle parametrisation (by
collection order) is taken, which avoids the degenerate first sizes (1x1) and the largest last ones. Cases
that cannot run under the sanitizer's rules are left out here and run on their own by run.sh (the
out-of-memory test: cudaMalloc fails on purpose) or skip themselves (the caching-allocator tests skip under
CNNKIT_CUDA_CACHING=0).
Prints node ids, one per line.
"""
import glob
import os
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
# A family's CUDA file and the CPU file whose device-parametrised tests now hold its twin comparisons.
RACE_FILES = ("test_cuda_reduce.py", "test_cuda_gemm.py", "test_cuda_softmax_loss.py", "test_cuda_batchnorm.py",
              "test_cuda_pool.py", "test_reduce_kernels.py", "test_gemm.py", "test_softmax_loss.py",
              "test_batchnorm.py", "test_pool.py")
EXCLUDE = ("test_oom_is_a_clear_error_and_recovers",)
# Tests of argument checking and errors launch nothing worth sanitizing.
SKIP_WORDS = ("raise", "error", "bad_", "mixed_device")
# racecheck / synccheck look for shared-memory hazards, which the ordinary sizes show; the huge-grid cases
# (millions of rows, 65k-matrix batches) would only spend the budget.
RACE_SKIP_WORDS = ("beyond", "large")


def collect(files):
    out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "-m", "cuda",
                          *files],
                         cwd=ROOT, capture_output=True, text=True)
    ids = [line.strip() for line in out.stdout.splitlines() if "::" in line]
    if not ids:
        sys.exit(f"pick_cases: nothing collected:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    return ids


def pick(ids, skip_words=SKIP_WORDS):
    groups = {}
    for node in ids:
        groups.setdefault(node.split("[", 1)[0], []).append(node)
    chosen = []
    for func, nodes in groups.items():
        name = func.rsplit("::", 1)[-1]
        if name in EXCLUDE or any(w in name for w in skip_words):
            continue
        chosen.append(nodes[len(nodes) // 2])
    return chosen


def main(argv):
    mode = argv[0] if argv else "memcheck"
    files = sorted(os.path.relpath(f, ROOT) for f in glob.glob(os.path.join(ROOT, "tests", "test_*.py")))
    if mode == "race":
        files = [f for f in files if os.path.basename(f) in RACE_FILES]
    elif mode != "memcheck":
        sys.exit("usage: pick_cases.py memcheck|race")
    skip = SKIP_WORDS + (RACE_SKIP_WORDS if mode == "race" else ())
    print("\n".join(pick(collect(files), skip)))


if __name__ == "__main__":
    main(sys.argv[1:])
