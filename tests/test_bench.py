"""The installed benchmark suite (cnnkit bench / python -m cnnkit.bench): it runs, checks correctness
before timing, and writes JSON / Markdown. Timings are never asserted."""
import json
import os
import subprocess
import sys

import pytest

from cnnkit.bench.layers import LAYERS, lenet_flops, make_lenet, make_resnet, resnet_flops


def run_bench(args, tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "cnnkit.bench", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)


def test_bench_quick_subset_writes_json_and_markdown(tmp_path):
    out = run_bench(["--quick", "--only", "pool,softmax", "--json", "r.json", "--markdown", "r.md"], tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["machine"]["threads"] == 1 and data["machine"]["quick"] is True
    cases = {r["case"] for r in data["rows"]}
    assert {"maxpool 2x2 fwd", "maxpool 2x2 bwd", "maxpool 2x2 fwd+bwd", "softmax+xent fwd"} <= cases
    for r in data["rows"]:
        assert r["ours_ms"] > 0 and r["max_rel_err"] is not None and r["max_rel_err"] < 1e-5
    md = (tmp_path / "r.md").read_text()
    assert md.count("\n| maxpool 2x2") == 3 and "| case | shape |" in md
    # --compare against the run just saved adds a 'vs saved' column
    out = run_bench(["--quick", "--only", "softmax", "--compare", "r.json"], tmp_path)
    assert out.returncode == 0 and "vs saved" in out.stdout


def test_bench_rejects_unknown_group(tmp_path):
    out = run_bench(["--only", "nonsense"], tmp_path)
    assert out.returncode != 0 and "unknown group" in out.stdout + out.stderr


def test_cli_entry_point_forwards_to_the_suite():
    from cnnkit.__main__ import main

    with pytest.raises(SystemExit) as e:
        main(["bench", "--help"])
    assert e.value.code == 0


def test_shared_networks_build_in_cnnkit_and_count_flops():
    import cnnkit

    lenet = make_lenet(cnnkit.nn)
    assert lenet(cnnkit.zeros(2, 1, 28, 28)).shape == (2, 10)
    net = make_resnet(cnnkit.nn, cnnkit.nn.functional, (1, 1, 1, 1),
                      batch_norm=hasattr(cnnkit.nn, "BatchNorm2d"))
    assert net(cnnkit.zeros(2, 3, 32, 32)).shape == (2, 10)
    assert lenet_flops(1) == 2.0 * (6 * 784 * 25 + 16 * 100 * 150 + 400 * 120 + 120 * 84 + 840)
    # ResNet-18 at batch 1: ~0.56 GFLOPs forward (the usual CIFAR figure)
    assert 0.5e9 < resnet_flops(1) / 2 < 0.6e9
    assert len(LAYERS) == 11


def test_cnnkit_bench_defaults_to_quick_and_run_py_to_full():
    from cnnkit.bench.suite import parse_args

    assert parse_args([]).quick is True
    assert parse_args(["--full"]).quick is False
    assert parse_args([], default_quick=False).quick is False
    assert parse_args(["--quick"], default_quick=False).quick is True


def test_paired_rounds_give_the_median_ratio():
    """GEMM and conv rows: libraries timed in alternating rounds, ratio = median of per-round ratios."""
    import time
    from types import SimpleNamespace

    from cnnkit.bench.suite import Suite

    fake = SimpleNamespace(dev="cpu", quick=True, repeats=3)
    fns = {"ours": (lambda: time.sleep(0.002), None), "ref": (lambda: time.sleep(0.004), None)}
    t, ratio = Suite.t_rounds(fake, fns, rounds=(3, 2))
    assert set(t) == set(ratio) == {"ours", "ref"}
    assert ratio["ours"] == 1.0
    assert 0.0019 < t["ours"] < 0.004 and 0.0039 < t["ref"] < 0.007
    assert 1.3 < ratio["ref"] < 2.5


def test_summarize_reports_the_spread_over_runs(tmp_path):
    """benchmarks/summarize.py: per-row median / min / max ratio over saved runs (rows in every run only)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "benchmarks" / "summarize.py"
    if not path.exists():
        pytest.skip("benchmarks/ not next to tests/")
    spec = importlib.util.spec_from_file_location("summarize", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    row = lambda case, ratio, ms: {"case": case, "shape": "s", "ref": "numpy", "ratio": ratio,  # noqa: E731
                                   "ours_ms": ms}
    runs = [[row("a", 0.9, 1.0), row("b", 2.0, 5.0), row("mem", None, 1.0)],
            [row("a", 1.1, 3.0), row("b", 1.0, 4.0)],
            [row("a", 1.0, 2.0)]]
    files = []
    for i, rows in enumerate(runs):
        files.append(str(tmp_path / f"r{i}.json"))
        with open(files[-1], "w") as f:
            json.dump({"machine": {}, "rows": rows}, f)
    out = mod.summarize([mod.load(p) for p in files])
    assert out == [(("a", "s", "numpy"), 1.0, 0.9, 1.1, 2.0)]
    assert mod.main([*files, "--markdown", str(tmp_path / "s.md")]) == 0
    assert "| a | s | numpy | 2.000 | 1.00 | 0.90 | 1.10 |" in (tmp_path / "s.md").read_text()
