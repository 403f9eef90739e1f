#!/usr/bin/env bash
# The GPU runbook in phases that fit a short device lease (benchmarks/gpu/README.md has the plan and budget).
#
#   bash benchmarks/gpu/run.sh quick    [OUTDIR]   build for the GPU present, CUDA tests, LeNet acceptance (<= 5 min)
#   bash benchmarks/gpu/run.sh sanitize [OUTDIR]   compute-sanitizer memcheck / racecheck / synccheck (<= 4 min)
#   bash benchmarks/gpu/run.sh bench    [OUTDIR]   GEMM, conv, memory-bound kernels, training vs PyTorch (<= 3 min)
#   bash benchmarks/gpu/run.sh check               the environment checks only (no GPU work)
#
# OUTDIR defaults to $OUT when set (the device tool's output folder), else benchmarks/results/<gpu>-<date>/.
# Every phase writes <phase>.log and <phase>.json there and prints one summary line last; its exit status
# is non-zero when anything failed -- a build error, a failed or *skipped-for-no-GPU* test, a missing tool.
# Phases after `quick` reuse its build when the installed cnnkit matches this checkout (else they rebuild).
set -uo pipefail
cd "$(dirname "$0")/../.."
phase="${1:-}"
case "$phase" in quick|sanitize|bench|check) ;; *) sed -n 2,12p "$0"; exit 2 ;; esac

gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 | tr ' ' '-' | tr -cd '[:alnum:]-')
dest="${2:-${OUT:-benchmarks/results/${gpu:-unknown-gpu}-$(date +%Y-%m-%d)}}"
mkdir -p "$dest"
log="$dest/$phase.log"
: > "$log"
t_start=$(date +%s)
say() { echo "$*" | tee -a "$log"; }
fail() { say "FAIL ($phase): $*"; summary "fail" "$*"; exit 1; }
summary() {  # status, note -> <phase>.json and the last line of output
  local secs=$(( $(date +%s) - t_start )) extra="${extra_json:-}"
  [ -n "$extra" ] || extra='{}'
  python3 - "$dest/$phase.json" "$phase" "$1" "$2" "$secs" "$extra" <<'EOF'
import json, sys
path, phase, status, note, secs, extra = sys.argv[1:7]
d = {"phase": phase, "status": status, "note": note, "seconds": int(secs)}
d.update(json.loads(extra))
json.dump(d, open(path, "w"), indent=1)
EOF
  echo "summary ($phase): $1 in ${secs}s: $2"
}

# ---- environment: everything the phases need, checked before any work -----------------------------------
check_env() {
  command -v nvidia-smi > /dev/null || fail "nvidia-smi not found: no NVIDIA driver on this machine"
  nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total --format=csv >> "$log" 2>&1 \
    || fail "nvidia-smi cannot query the GPU"
  command -v nvcc > /dev/null || fail "nvcc not found (the CUDA toolkit is needed to build)"
  nvcc --version | tail -2 >> "$log"
  local missing
  # pip install --no-build-isolation uses the build requirements already installed: check them.
  missing=$(python3 - <<'EOF'
import importlib.util
need = ["scikit_build_core", "pybind11", "numpy", "pytest"]
print(" ".join(m for m in need if importlib.util.find_spec(m) is None))
EOF
)
  [ -z "$missing" ] || fail "python modules missing for --no-build-isolation: $missing"
  command -v cmake > /dev/null || python3 -c "import cmake" 2>/dev/null || fail "cmake not found"
  say "cmake $(cmake --version | head -1 | awk '{print $3}'); torch: $(python3 -c 'import torch; print(torch.__version__, "cuda", torch.version.cuda, torch.cuda.is_available())' 2>&1 | tail -1)"
  say "pytest-xdist: $(python3 -c 'import xdist; print("yes")' 2>/dev/null || echo 'no (tests run in one process)')"
}

cap=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' .')
stamp="$(git rev-parse HEAD 2>/dev/null)-$(git status --porcelain 2>/dev/null | md5sum | cut -c1-8)"

build() {  # build only for this GPU, with every core; skip when the installed build matches this checkout
  if [ "$(python3 -c 'import cnnkit, os; print(open(os.path.join(os.path.dirname(cnnkit.__file__), "BUILD_STAMP")).read().strip())' 2>/dev/null)" = "$stamp" ]; then
    say "build: installed cnnkit matches $stamp; not rebuilt"
    return
  fi
  local t0; t0=$(date +%s)
  CNNKIT_CUDA=ON CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" CMAKE_ARGS="-DCMAKE_CUDA_ARCHITECTURES=${cap}-real" \
    python3 -m pip install --no-build-isolation --no-deps . > "$dest/build.log" 2>&1 \
    || { tail -40 "$dest/build.log" | tee -a "$log"; fail "build failed (see build.log)"; }
  python3 -c "import cnnkit, os; open(os.path.join(os.path.dirname(cnnkit.__file__), 'BUILD_STAMP'), 'w').write('$stamp')" \
    2>> "$log" || true
  say "build: $(( $(date +%s) - t0 ))s for sm_${cap} with $(nproc) jobs"
}

require_gpu() {  # a run in which every GPU test skips must not look green
  python3 -c "import cnnkit; cnnkit.show_config()" 2>&1 | tee "$dest/show_config.txt" >> "$log"
  python3 -c "import sys, cnnkit; sys.exit(0 if cnnkit.cuda.is_available() else 1)" \
    || fail "cnnkit.cuda.is_available() is False (show_config.txt says why)"
}

# Runs pytest from outside the repository so the installed package (not python/) is imported.
run_pytest() {  # run_pytest <log> <args...>
  local out="$1"; shift
  CNNKIT_TEST_TIMEOUT="${CNNKIT_TEST_TIMEOUT:-120}" python3 -m pytest -q -p no:cacheprovider -rs "$@" > "$out" 2>&1
  local rc=$?
  tail -1 "$out" | tee -a "$log"
  # a CUDA test skipped for want of a GPU on a GPU machine is a failure of the run, not a pass
  if grep -qE "needs (an NVIDIA|a CUDA|a) GPU|needs CUDA" "$out"; then
    say "tests skipped for lack of a GPU on a GPU machine"; return 1
  fi
  return $rc
}

check_env
[ "$phase" = check ] && { summary ok "environment complete"; exit 0; }

case "$phase" in
quick)
  build
  require_gpu
  xd=""
  python3 -c "import xdist" 2>/dev/null && xd="-n 8"
  # The GPU cases only (-m cuda): the tests/test_cuda*.py files (conftest marks them whole) and the cuda half
  # of the device-parametrised tests; the CPU suite is CI's job. test_cuda.py holds the end-to-end acceptance
  # (LeNet trained on CUDA gives the CPU's losses; no memory growth over training steps).
  run_pytest "$dest/quick-pytest.log" $xd --junitxml="$dest/quick-junit.xml" -m cuda tests; rc=$?
  extra_json=$(python3 - "$dest/quick-junit.xml" <<'EOF'
import json, sys, xml.etree.ElementTree as ET
try:
    s = ET.parse(sys.argv[1]).getroot()
    s = s if s.tag == "testsuite" else s[0]
    print(json.dumps({k: int(s.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}))
except Exception as e:
    print(json.dumps({"junit": f"unreadable: {e}"}))
EOF
)
  [ $rc -eq 0 ] || fail "CUDA tests failed (quick-pytest.log): $(tail -1 "$dest/quick-pytest.log")"
  summary ok "$(tail -1 "$dest/quick-pytest.log")"
  ;;
sanitize)
  san=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null | head -1)
  [ -n "$san" ] || fail "compute-sanitizer not found: the sanitize phase cannot run"
  build
  require_gpu
  # Caching off: memcheck sees one-past-the-end accesses inside what would be a rounded cached block.
  # Sync after each launch: an error names its kernel.
  export CNNKIT_CUDA_CACHING=0 CNNKIT_CUDA_SYNC=1 CNNKIT_TEST_TIMEOUT=60
  python3 benchmarks/gpu/pick_cases.py memcheck > "$dest/memcheck-cases.txt" || fail "collecting the cases failed"
  python3 benchmarks/gpu/pick_cases.py race > "$dest/race-cases.txt" || fail "collecting the cases failed"
  say "memcheck: $(wc -l < "$dest/memcheck-cases.txt") cases (one per CUDA test function); race/sync: $(wc -l < "$dest/race-cases.txt")"
  bad=0
  # The out-of-memory test makes cudaMalloc fail on purpose; the sanitizer would count that API error.
  timeout 60 "$san" --tool memcheck --report-api-errors no --error-exitcode 9 \
    python3 -m pytest -q -p no:cacheprovider "tests/test_cuda.py::test_oom_is_a_clear_error_and_recovers" \
    > "$dest/memcheck-oom.log" 2>&1 || { bad=1; say "memcheck (OOM case): failed, see memcheck-oom.log"; }
  for tool in memcheck racecheck synccheck; do
    cases="$dest/memcheck-cases.txt"; [ $tool = memcheck ] || cases="$dest/race-cases.txt"
    budget=150; [ $tool = memcheck ] || budget=45
    timeout $budget "$san" --tool $tool --error-exitcode 9 --print-limit 20 \
      python3 -m pytest -q -p no:cacheprovider -x $(cat "$cases") > "$dest/$tool.log" 2>&1
    rc=$?
    line="$(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$dest/$tool.log" | tail -1) / $(grep -E 'passed|failed' "$dest/$tool.log" | tail -1)"
    say "$tool: rc=$rc $line"
    [ $rc -eq 124 ] && say "$tool: ran out of its ${budget}s budget (partial)"
    [ $rc -eq 0 ] || bad=1
  done
  [ $bad -eq 0 ] || fail "sanitizer reports or failures (memcheck.log, racecheck.log, synccheck.log)"
  summary ok "memcheck, racecheck and synccheck clean"
  ;;
bench)
  build
  require_gpu
  # Each group writes its own JSON under its own time limit, so a slow group cannot lose the others.
  bad=0
  for spec in "gemm,conv:80" "pool,eltwise,softmax,batchnorm:35" "train:60"; do
    groups=${spec%%:*}; secs=${spec##*:}; name=$(echo "$groups" | tr ',' '-')
    timeout "$secs" python3 -m cnnkit.bench --device cuda --full --only "$groups" --json "$dest/bench-$name.json" \
      > "$dest/bench-$name.txt" 2>&1 || { bad=1; say "bench $groups: rc=$? (see bench-$name.txt)"; }
    tail -n +1 "$dest/bench-$name.txt" | grep -E '^\|' >> "$log" || true
  done
  [ $bad -eq 0 ] || fail "a benchmark group failed or timed out"
  summary ok "bench-*.json written"
  ;;
esac
