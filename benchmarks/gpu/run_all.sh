#!/usr/bin/env bash
# One go on a machine with an NVIDIA GPU: build with CUDA, run the whole test suite, run
# compute-sanitizer (memcheck on every CUDA test, racecheck on reductions and GEMM), run the GPU
# benchmarks, and leave everything under benchmarks/results/<gpu>-<date>/ (or $OUT if set).
#
#   bash benchmarks/gpu/run_all.sh            # from the repository root
set -uo pipefail
cd "$(dirname "$0")/../.."
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 | tr ' ' '-' | tr -cd '[:alnum:]-')
dest="${OUT:-benchmarks/results/${gpu:-unknown-gpu}-$(date +%Y-%m-%d)}"
mkdir -p "$dest"
echo "results -> $dest"
{
  nvidia-smi
  nvcc --version
  python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)" 2>&1
} > "$dest/environment.txt" 2>&1

CNNKIT_CUDA=ON python3 -m pip install --no-build-isolation . > "$dest/build.log" 2>&1 || { tail -50 "$dest/build.log"; exit 1; }
python3 -c "import cnnkit; cnnkit.show_config()" | tee "$dest/show_config.txt"

python3 -m pytest -q -p no:cacheprovider -rs > "$dest/pytest.log" 2>&1
echo "pytest: $(tail -1 "$dest/pytest.log")"

if command -v compute-sanitizer > /dev/null; then
  compute-sanitizer --tool memcheck --error-exitcode 1 python3 -m pytest -q -p no:cacheprovider -x tests/test_cuda*.py \
    > "$dest/memcheck.log" 2>&1
  echo "memcheck: rc=$? $(grep -E 'ERROR SUMMARY' "$dest/memcheck.log" | tail -1)"
  compute-sanitizer --tool racecheck --error-exitcode 1 python3 -m pytest -q -p no:cacheprovider -x \
    tests/test_cuda_reduce.py tests/test_cuda_gemm.py tests/test_cuda_softmax_loss.py tests/test_cuda_batchnorm.py > "$dest/racecheck.log" 2>&1
  echo "racecheck: rc=$? $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$dest/racecheck.log" | tail -1)"
else
  echo "compute-sanitizer not found" | tee "$dest/memcheck.log"
fi

# The whole suite on the GPU (GEMM vs cuBLAS, conv vs cuDNN, pooling/ReLU vs device copy bandwidth,
# softmax+CE, batch norm, LeNet-5 and ResNet-18 training steps vs PyTorch, allocator steady state).
python3 -m cnnkit.bench --device cuda --json "$dest/suite.json" 2>&1 | tee "$dest/suite.txt"

for b in benchmarks/gpu/bench_*.py; do
  [ -f "$b" ] || continue
  name=$(basename "$b" .py)
  python3 "$b" --json "$dest/$name.json" 2>&1 | tee "$dest/$name.txt"
done
echo "done: $dest"
