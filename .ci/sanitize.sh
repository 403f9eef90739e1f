#!/usr/bin/env bash
# CI's sanitizer job: builds cnnkit._C with AddressSanitizer + UndefinedBehaviorSanitizer (CUDA off) into
# build-asan/ (cmake + ninja directly, not pip) and runs the kernel and binding tests against that build.
#
# usage: .ci/sanitize.sh [extra pytest args...]   (test set: EXCLUDE below, or CNNKIT_SANITIZE_TESTS)
#
# - Python itself is not sanitizer-built, so the runtime is preloaded: LD_PRELOAD=libasan.so (it must come
#   before every other library) plus libubsan.so, both from the compiler that built the module.
# - CNNKIT_CPU_CACHING=0: every tensor is its own malloc'd block, so ASan's redzones sit right after it
#   and an overrun is seen (inside a cached, size-class-rounded block it would not be).
# - Any report fails the job: ASan aborts on its first error (halt_on_error), UBSan likewise
#   (-fno-sanitize-recover=undefined at build time, halt_on_error here); the aborted pytest exits non-zero,
#   and the log is also scanned for "ERROR: AddressSanitizer" / "runtime error:" in case a report came
#   from a child process whose exit status a test ignored.
# - Leak detection is off: CPython's interned objects and arenas at exit are not leaks of cnnkit's.
# - The package under test is a copy of python/cnnkit in build-asan/pkg with the ASan module linked in,
#   first on PYTHONPATH; the check below makes sure that is what gets imported (not an installed wheel).
# - PyTorch is imported as usual: libtorch (not instrumented) runs under the preloaded runtime without
#   reports or crashes (checked: the whole suite, torch comparisons included, ran clean), so the torch
#   comparisons feed their inputs to the sanitized kernels too.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${CNNKIT_ASAN_BUILD_DIR:-$ROOT/build-asan}
PY=${PYTHON:-python3}
CXX=${CXX:-g++}
t0=$(date +%s)

# Build tools: cmake, ninja and pybind11's CMake files (pip installs them when missing).
need=()
command -v cmake >/dev/null || need+=(cmake)
command -v ninja >/dev/null || need+=(ninja)
"$PY" -c "import pybind11" 2>/dev/null || need+=(pybind11)
if [ ${#need[@]} -gt 0 ]; then "$PY" -m pip install "${need[@]}"; fi

launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
if [ ! -f "$BUILD/build.ninja" ]; then
  cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCNNKIT_CUDA=OFF -DCNNKIT_SANITIZE=ON \
    -DCMAKE_CXX_COMPILER="$CXX" "${launcher[@]}" \
    -DPython_EXECUTABLE="$(command -v "$PY")" -Dpybind11_DIR="$("$PY" -c 'import pybind11; print(pybind11.get_cmake_dir())')"
fi
ninja -C "$BUILD" -j"${CNNKIT_ASAN_JOBS:-$(nproc)}"
t1=$(date +%s)
echo "sanitize: build took $((t1 - t0)) s"

# The package under test: python/cnnkit copied fresh (no stale files), the ASan module linked in.
PKG=$BUILD/pkg
rm -rf "$PKG"
mkdir -p "$PKG"
cp -r "$ROOT/python/cnnkit" "$PKG/cnnkit"
find "$PKG/cnnkit" -name '_C*.so' -delete
SO=$(ls "$BUILD"/_C*.so | head -1)
ln -s "$SO" "$PKG/cnnkit/$(basename "$SO")"

LIBASAN=$("$CXX" -print-file-name=libasan.so)
LIBUBSAN=$("$CXX" -print-file-name=libubsan.so)
for lib in "$LIBASAN" "$LIBUBSAN"; do
  [ -f "$lib" ] || { echo "sanitize: $lib not found (compiler $CXX)"; exit 1; }
done
export LD_PRELOAD="$LIBASAN:$LIBUBSAN"
export ASAN_OPTIONS=detect_leaks=0:halt_on_error=1:abort_on_error=1:detect_stack_use_after_return=0:allocator_may_return_null=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export CNNKIT_CPU_CACHING=0
export PYTHONPATH="$PKG${PYTHONPATH:+:$PYTHONPATH}"
# OpenMP's pool over 2 cores under ASan: 2 threads keeps the parallel paths tested without oversubscription.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}

# Which module gets imported, and that it is the sanitizer build.
"$PY" - "$PKG" <<'PYEOF'
import os, sys
import cnnkit, cnnkit._C
pkg = os.path.realpath(sys.argv[1])
assert os.path.realpath(cnnkit.__file__).startswith(pkg), f"sanitize: imported {cnnkit.__file__}, not {pkg}"
print("sanitize: testing", os.path.realpath(cnnkit._C.__file__))
assert not cnnkit.cpu.memory_stats()["caching_enabled"], "sanitize: CNNKIT_CPU_CACHING=0 not honoured"
PYEOF

# The kernel and binding tests: every tests/test_*.py except the files below, which test other layers
# (data sets and loaders, training loops, schedulers, plots, TensorBoard, CLI, hub, the benchmark
# harness, checkpoint files, transforms) or only the GPU (test_cuda*.py skip without one). New kernel
# test files are included without editing this list.
EXCLUDE=(
  test_bench.py test_cli.py test_hub.py test_plot.py test_tensorboard.py
  test_data.py test_dataloader.py test_dataloader_samplers.py test_datasets.py test_datasets_download.py
  test_datasets_folder.py test_digits.py
  test_train.py test_train_callbacks.py test_train_eval.py test_train_resume.py test_training.py
  test_lr_scheduler.py test_torch_checkpoint.py test_lazy_serialization_summary.py
  test_transforms_batch.py test_transforms_classes.py test_transforms_functional.py test_transforms_more.py
  test_vision_utils.py
)
ignore=()
for f in "${EXCLUDE[@]}"; do ignore+=("--ignore=tests/$f"); done
for f in tests/test_cuda*.py; do ignore+=("--ignore=$f"); done

# ASan reports go to files (one per process, children of tests included), so a report from a subprocess
# whose exit status a test does not check still fails the job. UBSan (in the same process as ASan) writes
# to stderr and exits with status 1: --capture=sys leaves fd 2 uncaptured so its report is in the log
# (pytest's fd capture would drop it when the process exits), and the log is scanned too.
REPORTS=$BUILD/reports
rm -rf "$REPORTS"
mkdir -p "$REPORTS"
export ASAN_OPTIONS="$ASAN_OPTIONS:log_path=$REPORTS/asan"
export UBSAN_OPTIONS="$UBSAN_OPTIONS:log_path=$REPORTS/ubsan"

set +e
# Arguments are extra pytest options (e.g. -x); CNNKIT_SANITIZE_TESTS="tests/test_conv.py ..." replaces the
# test set.
if [ -n "${CNNKIT_SANITIZE_TESTS:-}" ]; then
  read -r -a chosen <<<"$CNNKIT_SANITIZE_TESTS"
  "$PY" -m pytest -q -p no:cacheprovider --capture=sys -m "not cuda" "$@" "${chosen[@]}" 2>&1 | tee "$BUILD/pytest.log"
else
  "$PY" -m pytest -q -p no:cacheprovider --capture=sys -m "not cuda" "$@" "${ignore[@]}" tests 2>&1 | tee "$BUILD/pytest.log"
fi
rc=${PIPESTATUS[0]}
set -e
t2=$(date +%s)
echo "sanitize: tests took $((t2 - t1)) s (build $((t1 - t0)) s, total $((t2 - t0)) s)"
# A report is an ERROR (ASan, LeakSanitizer) or a UBSan "runtime error:". Other lines are warnings: e.g.
# "AddressSanitizer failed to allocate 0x... bytes" when a test asks for an impossible size on purpose
# (allocator_may_return_null=1 turns that into a null, which cnnkit raises as MemoryError).
bad=0
if compgen -G "$REPORTS/*" >/dev/null; then
  for f in "$REPORTS"/*; do
    echo "==== $f"; cat "$f"
    if grep -qE "ERROR: (Address|Leak)Sanitizer|runtime error:|SUMMARY: (Address|UndefinedBehavior)Sanitizer" "$f"; then
      bad=1
    fi
  done
fi
if grep -qE "runtime error:|ERROR: AddressSanitizer" "$BUILD/pytest.log"; then bad=1; fi
if [ $bad -ne 0 ]; then
  echo "sanitize: FAILED: sanitizer reports above"
  exit 1
fi
if [ $rc -ne 0 ]; then
  echo "sanitize: FAILED: pytest exited with status $rc"
  exit "$rc"
fi
echo "sanitize: OK (no sanitizer reports)"
