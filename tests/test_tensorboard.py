"""cnnkit.utils.tensorboard.SummaryWriter: what it writes is read back with TensorBoard's own
EventAccumulator (values, steps, image pixels, histogram statistics, text, hparams), checked against
NumPy references, and compared with torch.utils.tensorboard's writer when torch is installed."""
import io
import os
import subprocess
import sys
import wave

import numpy as np
import pytest

import cnnkit
from cnnkit.utils.tensorboard import SummaryWriter

pytest.importorskip("tensorboard")
Image = pytest.importorskip("PIL.Image")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader  # noqa: E402
from tensorboard.util import tensor_util  # noqa: E402



def _acc(logdir):
    ea = EventAccumulator(str(logdir), size_guidance={"scalars": 0, "images": 0, "histograms": 0,
                                                      "tensors": 0, "audio": 0})
    ea.Reload()
    return ea


def _event_files(d):
    return sorted(f for f in os.listdir(d) if f.startswith("events.out.tfevents."))


def _events(d):
    out = []
    for f in _event_files(d):
        out += list(EventFileLoader(os.path.join(d, f)).Load())
    return out


def _pixels(image_event):
    with Image.open(io.BytesIO(image_event.encoded_image_string)) as im:
        assert im.format == "PNG"
        return np.asarray(im)


# ----------------------------------------------------------------------------- packaging
def test_missing_tensorboard_names_the_extra():
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(cnnkit.__file__)))
    code = ("import sys; sys.modules['tensorboard'] = None\n"
            "from cnnkit.utils.tensorboard import SummaryWriter\n"
            "try:\n    SummaryWriter('unused')\nexcept ImportError as e:\n    print('ERR', e)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "ERR cnnkit.utils.tensorboard needs tensorboard: pip install 'cnnkit[tensorboard]'" in r.stdout


def test_default_logdir_comment_suffix_and_context_manager(tmp_path, monkeypatch):
    import socket

    monkeypatch.chdir(tmp_path)
    with SummaryWriter(comment="_lr0.1", filename_suffix=".exp") as w:
        w.add_scalar("x", 1.0, 0)
        d = w.get_logdir()
    parent, name = os.path.split(d)
    assert parent == "runs" and name.endswith("_" + socket.gethostname() + "_lr0.1")
    files = _event_files(d)
    assert len(files) == 1 and files[0].endswith(".exp")
    assert w.all_writers is None
    w.close()  # closing twice is fine


# ----------------------------------------------------------------------------- scalars
def test_scalars_values_steps_walltime(tmp_path):
    w = SummaryWriter(tmp_path)
    vals = [0.5, cnnkit.tensor(1.25), cnnkit.tensor([2.5]), np.float32(3.75), 5]
    for i, v in enumerate(vals):
        w.add_scalar("loss/train", v, i * 10, walltime=1000.0 + i)
    w.add_scalar("new", 0.1, 3, new_style=True)
    w.add_scalar("new64", 0.1, 4, new_style=True, double_precision=True)
    w.close()
    ea = _acc(tmp_path)
    got = ea.Scalars("loss/train")
    assert [e.step for e in got] == [0, 10, 20, 30, 40]
    np.testing.assert_allclose([e.value for e in got], [0.5, 1.25, 2.5, 3.75, 5.0])
    assert [e.wall_time for e in got] == [1000.0 + i for i in range(5)]
    t32 = ea.Tensors("new")[0]
    assert t32.step == 3 and tensor_util.make_ndarray(t32.tensor_proto).dtype == np.float32
    t64 = tensor_util.make_ndarray(ea.Tensors("new64")[0].tensor_proto)
    assert t64.dtype == np.float64 and t64 == 0.1


def test_scalar_errors(tmp_path):
    with SummaryWriter(tmp_path) as w:
        with pytest.raises(ValueError, match="add_scalar: the value must hold one element, got 3"):
            w.add_scalar("x", np.arange(3.0))
        with pytest.raises(TypeError, match="expected a tensor, NumPy array or number"):
            w.add_scalar("x", "1.0")


def test_add_scalars_sub_writers(tmp_path):
    with SummaryWriter(tmp_path) as w:
        for i in range(3):
            w.add_scalars("acc/run", {"train": 0.1 * i, "val": 0.2 * i}, i)
    subs = sorted(p for p in os.listdir(tmp_path) if os.path.isdir(tmp_path / p))
    assert subs == ["acc_run_train", "acc_run_val"]
    for sub, k in (("acc_run_train", 0.1), ("acc_run_val", 0.2)):
        got = _acc(tmp_path / sub).Scalars("acc/run")
        assert [e.step for e in got] == [0, 1, 2]
        np.testing.assert_allclose([e.value for e in got], [k * i for i in range(3)], rtol=1e-6)


def test_purge_step_and_reopen_after_close(tmp_path):
    w = SummaryWriter(tmp_path, purge_step=7)
    w.add_scalar("x", 1.0, 7)
    w.close()
    ev = _events(tmp_path)
    assert ev[0].file_version == "brain.Event:2"
    purge = [e for e in ev if e.HasField("session_log")]
    assert len(purge) == 1 and purge[0].step == 7 and purge[0].session_log.status == purge[0].session_log.START
    w.add_scalar("x", 2.0, 8)  # after close: a new event file in the same directory
    w.flush()
    w.close()
    assert len(_event_files(tmp_path)) == 2
    assert [e.step for e in _acc(tmp_path).Scalars("x")] == [7, 8]


# ----------------------------------------------------------------------------- images
def test_add_image_formats_and_pixels(tmp_path):
    rng = np.random.default_rng(0)
    chw = rng.random((3, 5, 7)).astype(np.float32)
    hwc_u8 = rng.integers(0, 256, (4, 6, 3), dtype=np.uint8)
    hw = rng.random((3, 4))
    with SummaryWriter(tmp_path) as w:
        w.add_image("chw", cnnkit.from_numpy(chw), 0)
        w.add_image("hwc", hwc_u8, 0, dataformats="HWC")
        w.add_image("hw", hw, 1, dataformats="HW")
        w.add_image("grey", chw[:1] * 2 - 0.5, 2)  # out of range: clipped
    ea = _acc(tmp_path)
    im = ea.Images("chw")[0]
    assert (im.width, im.height) == (7, 5)
    np.testing.assert_array_equal(_pixels(im), np.clip(chw * 255, 0, 255).astype(np.uint8).transpose(1, 2, 0))
    np.testing.assert_array_equal(_pixels(ea.Images("hwc")[0]), hwc_u8)
    ref = (hw.astype(np.float32) * 255).astype(np.uint8)
    np.testing.assert_array_equal(_pixels(ea.Images("hw")[0]), np.stack([ref] * 3, 2))
    g = np.clip((chw[0] * 2 - 0.5) * 255, 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(_pixels(ea.Images("grey")[0]), np.stack([g] * 3, 2))
    assert ea.Images("grey")[0].step == 2


def test_add_images_grid_against_loops(tmp_path):
    rng = np.random.default_rng(1)
    batch = rng.random((11, 1, 3, 4)).astype(np.float32)
    nhwc = rng.integers(0, 256, (3, 2, 5, 3), dtype=np.uint8)
    with SummaryWriter(tmp_path) as w:
        w.add_images("b", cnnkit.from_numpy(batch), 0)
        w.add_images("nhwc", nhwc, 0, dataformats="NHWC")
    ea = _acc(tmp_path)
    im = ea.Images("b")[0]
    assert (im.width, im.height) == (8 * 4, 2 * 3)  # 8 per row, no padding
    ref = np.zeros((6, 32, 3), np.uint8)
    for k in range(11):
        r, c = divmod(k, 8)
        for y in range(3):
            for x in range(4):
                ref[r * 3 + y, c * 4 + x, :] = np.uint8(min(255.0, batch[k, 0, y, x] * 255))
    np.testing.assert_array_equal(_pixels(im), ref)
    np.testing.assert_array_equal(_pixels(ea.Images("nhwc")[0]), np.concatenate(list(nhwc), axis=1))


def test_image_errors(tmp_path):
    with SummaryWriter(tmp_path) as w:
        with pytest.raises(ValueError, match="does not match dataformats 'CHW'"):
            w.add_image("x", np.zeros((4, 4)))
        with pytest.raises(ValueError, match="at most once"):
            w.add_image("x", np.zeros((3, 4, 4)), dataformats="CCH")
        with pytest.raises(ValueError, match="needs 1, 3 or 4 channels, got 2"):
            w.add_image("x", np.zeros((2, 4, 4)))
        with pytest.raises(ValueError, match="a batch of images needs 1, 3 or 4 channels"):
            w.add_images("x", np.zeros((2, 5, 4, 4)))


def test_add_figure_and_image_with_boxes(tmp_path):
    pytest.importorskip("matplotlib")
    os.environ.setdefault("MPLBACKEND", "Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(2, 1.5), dpi=40)
    fig.gca().plot([0, 1], [1, 0])
    figs = [plt.figure(figsize=(1, 1), dpi=30) for _ in range(3)]
    with SummaryWriter(tmp_path) as w:
        w.add_figure("fig", fig, 0)
        w.add_figure("figs", figs, 0, close=False)
        w.add_image_with_boxes("boxes", np.zeros((3, 20, 30)), np.array([[2, 3, 15, 12]]), 0, labels=["cat"])
    assert not plt.fignum_exists(fig.number)
    assert all(plt.fignum_exists(f.number) for f in figs)
    plt.close("all")
    ea = _acc(tmp_path)
    assert (ea.Images("fig")[0].width, ea.Images("fig")[0].height) == (80, 60)
    assert (ea.Images("figs")[0].width, ea.Images("figs")[0].height) == (90, 30)
    px = _pixels(ea.Images("boxes")[0])
    assert px.shape == (20, 30, 3) and px[3, 8].tolist() == [255, 0, 0] and px[0, 0].tolist() == [0, 0, 0]


# ----------------------------------------------------------------------------- histograms
def _trimmed_reference(values, edges):
    """Independent loop version of TensorBoard's stored histogram: right edges and counts from the
    first to the last non-empty bin, plus the empty bucket left of it."""
    counts = [0] * (len(edges) - 1)
    for v in values:
        for b in range(len(edges) - 1):
            last = b == len(edges) - 2
            if edges[b] <= v < edges[b + 1] or (last and v == edges[-1]):
                counts[b] += 1
                break
    nz = [b for b, c in enumerate(counts) if c]
    lo, hi = nz[0], nz[-1]
    if lo > 0:
        limits = [edges[b + 1] for b in range(lo - 1, hi + 1)]
    else:
        limits = [edges[0]] + [edges[b + 1] for b in range(hi + 1)]
    cnt = [counts[b] for b in range(lo - 1, hi + 1)] if lo > 0 else [0] + counts[:hi + 1]
    return limits, cnt


def test_histograms_statistics_and_buckets(tmp_path):
    rng = np.random.default_rng(2)
    vals = rng.standard_normal(500).astype(np.float32)
    edges = np.linspace(-6, 6, 25)
    with SummaryWriter(tmp_path) as w:
        w.add_histogram("w/tf", cnnkit.from_numpy(vals), 3)
        w.add_histogram("w/edges", vals, 4, bins=edges)
        w.add_histogram("w/auto", vals, 5, bins="auto", max_bins=7)
        w.add_histogram_raw("raw", min=0, max=3, num=6, sum=9, sum_squares=19, bucket_limits=[1, 2, 3],
                            bucket_counts=[1, 2, 3], global_step=6)
    ea = _acc(tmp_path)
    v64 = vals.astype(np.float64)
    for tag, step in (("w/tf", 3), ("w/edges", 4), ("w/auto", 5)):
        ev = ea.Histograms(tag)[0]
        h = ev.histogram_value
        assert ev.step == step
        assert sum(h.bucket) == 500 == h.num
        assert h.min == v64.min() and h.max == v64.max()
        np.testing.assert_allclose([h.sum, h.sum_squares], [v64.sum(), v64.dot(v64)], rtol=1e-12)
    n_auto = len(np.histogram(v64, bins="auto")[0])
    group = n_auto // 7  # torch's max_bins rule: merge groups of n // max_bins neighbours
    assert n_auto > 7 and len(ea.Histograms("w/auto")[0].histogram_value.bucket) <= -(-n_auto // group) + 1
    limits, counts = _trimmed_reference(v64, edges)
    h = ea.Histograms("w/edges")[0].histogram_value
    np.testing.assert_allclose(h.bucket_limit, limits)
    assert list(h.bucket) == counts
    r = ea.Histograms("raw")[0].histogram_value
    assert list(r.bucket) == [1, 2, 3] and r.num == 6 and r.sum_squares == 19


def test_histogram_errors(tmp_path):
    with SummaryWriter(tmp_path) as w:
        with pytest.raises(ValueError, match="add_histogram: the input has no element"):
            w.add_histogram("h", np.array([]))
        with pytest.raises(ValueError, match="finite"):
            w.add_histogram("h", np.array([1.0, np.nan]))
        with pytest.raises(ValueError, match="len\\(bucket_limits\\) != len\\(bucket_counts\\)"):
            w.add_histogram_raw("h", 0, 1, 1, 1, 1, [1, 2], [1])


# ----------------------------------------------------------------------------- text, tensors, hparams, ...
def test_text_tensor_audio(tmp_path):
    with SummaryWriter(tmp_path) as w:
        w.add_text("notes", "**bold** é", 2)
        w.add_tensor("i64", cnnkit.arange(6).reshape(2, 3), 0)
        w.add_tensor("f16", cnnkit.tensor([0.5, -2.0]).to(cnnkit.float16), 0)
        w.add_tensor("bf16", cnnkit.tensor([1.5, -3.0]).to(cnnkit.bfloat16), 0)
        w.add_audio("snd", np.sin(np.arange(200) / 5.0), 1, sample_rate=8000)
        with pytest.raises(TypeError, match="add_text: text_string must be a str"):
            w.add_text("bad", 3)
    ea = _acc(tmp_path)
    t = ea.Tensors("notes/text_summary")[0]
    assert t.step == 2 and t.tensor_proto.string_val[0].decode() == "**bold** é"
    i64 = tensor_util.make_ndarray(ea.Tensors("i64")[0].tensor_proto)
    np.testing.assert_array_equal(i64, np.arange(6).reshape(2, 3))
    np.testing.assert_array_equal(tensor_util.make_ndarray(ea.Tensors("f16")[0].tensor_proto),
                                  np.array([0.5, -2.0], np.float16))
    bf = ea.Tensors("bf16")[0].tensor_proto
    assert bf.dtype == 14  # DT_BFLOAT16: the upper 16 bits of each float32
    assert list(bf.half_val) == [int(np.float32(v).view(np.uint32) >> 16) for v in (1.5, -3.0)]
    a = ea.Audio("snd")[0]
    assert a.sample_rate == 8000 and a.length_frames == 200
    with wave.open(io.BytesIO(a.encoded_audio_string)) as wf:
        pcm = np.frombuffer(wf.readframes(200), "<i2")
    np.testing.assert_array_equal(pcm, (np.sin(np.arange(200) / 5.0) * 32767).astype("<i2"))


def test_hparams_run(tmp_path):
    from tensorboard.plugins.hparams import plugin_data_pb2

    with SummaryWriter(tmp_path) as w:
        w.add_hparams({"lr": 0.1, "bs": 32, "opt": "sgd", "nesterov": True, "none": None},
                      {"hp/acc": 0.9}, run_name="trial1", global_step=5)
        with pytest.raises(TypeError, match="hparam_dict and metric_dict should be dictionary"):
            w.add_hparams([], {})
        with pytest.raises(ValueError, match="hparam 'f' must be an int"):
            w.add_hparams({"f": [1]}, {})
    run = tmp_path / "trial1"
    ea = _acc(run)
    assert [(e.step, e.value) for e in ea.Scalars("hp/acc")] == [(5, pytest.approx(0.9))]
    start = [e for e in _events(run) if e.HasField("summary") and
             e.summary.value[0].tag == "_hparams_/session_start_info"][0]
    data = plugin_data_pb2.HParamsPluginData.FromString(start.summary.value[0].metadata.plugin_data.content)
    hp = data.session_start_info.hparams
    assert hp["lr"].number_value == 0.1 and hp["bs"].number_value == 32
    assert hp["opt"].string_value == "sgd" and hp["nesterov"].bool_value is True and "none" not in hp


def test_pr_curve_against_threshold_loop(tmp_path):
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 60)
    preds = rng.random(60)
    T = 11
    with SummaryWriter(tmp_path) as w:
        w.add_pr_curve("pr", cnnkit.from_numpy(labels), preds, 0, num_thresholds=T)
        w.add_custom_scalars_marginchart(["a", "lo", "hi"])
        with pytest.raises(ValueError, match="expected 3 tags"):
            w.add_custom_scalars_marginchart(["a"])
    data = tensor_util.make_ndarray(_acc(tmp_path).Tensors("pr")[0].tensor_proto)
    assert data.shape == (6, T)
    for i in range(T):
        thr = i / (T - 1)
        pos = np.array([p * (T - 1) >= i for p in preds])
        tp, fp = labels[pos].sum(), (1 - labels[pos]).sum()
        fn, tn = labels[~pos].sum(), (1 - labels[~pos]).sum()
        np.testing.assert_allclose(data[:4, i], [tp, fp, tn, fn], err_msg=f"threshold {thr}")
        np.testing.assert_allclose(data[4, i], tp / max(tp + fp, 1e-7), rtol=1e-6)
        np.testing.assert_allclose(data[5, i], tp / max(tp + fn, 1e-7), rtol=1e-6)
    assert "custom_scalars__config__" in _acc(tmp_path).Tags()["tensors"]


def test_add_graph_is_not_supported(tmp_path):
    with SummaryWriter(tmp_path) as w:
        with pytest.raises(RuntimeError, match="add_graph is not supported by cnnkit"):
            w.add_graph(cnnkit.nn.Linear(2, 2))


# ----------------------------------------------------------------------------- against torch
def test_same_events_as_torch_summary_writer(tmp_path):
    torch = pytest.importorskip("torch")
    try:
        from torch.utils.tensorboard import SummaryWriter as TorchWriter
    except Exception as e:  # torch without its tensorboard glue
        pytest.skip(f"torch.utils.tensorboard unusable: {e}")
    rng = np.random.default_rng(4)
    vals = rng.standard_normal(300).astype(np.float32)
    img = rng.random((3, 6, 9)).astype(np.float32)
    batch = rng.random((5, 3, 4, 4)).astype(np.float32)

    def log(w, tensor):
        for i in range(4):
            w.add_scalar("loss", 1.0 / (i + 1), i, walltime=100.0 + i)
        w.add_scalars("m/x", {"a": 1.0, "b": 2.0}, 1, walltime=50.0)
        w.add_histogram("h", tensor(vals), 2, walltime=60.0)
        w.add_histogram("h10", tensor(vals), 2, bins=10, walltime=60.0)
        w.add_histogram("hmax", tensor(vals), 2, bins=23, max_bins=4, walltime=60.0)
        w.add_image("img", tensor(img), 3, walltime=70.0)
        w.add_images("batch", tensor(batch), 3, walltime=70.0)
        w.add_text("t", "hello", 4, walltime=80.0)

    with SummaryWriter(tmp_path / "ours") as w:
        log(w, cnnkit.from_numpy)
    with TorchWriter(tmp_path / "torch") as w:
        log(w, torch.from_numpy)
        torch_bins = w.default_bins
    assert SummaryWriter(tmp_path / "bins").default_bins == torch_bins
    # the main event files hold the same Events, byte for byte, after the file_version header
    ev_ours, ev_theirs = _events(tmp_path / "ours"), _events(tmp_path / "torch")
    assert ev_ours[0].file_version == ev_theirs[0].file_version == "brain.Event:2"
    assert [e.SerializeToString() for e in ev_ours[1:]] == [e.SerializeToString() for e in ev_theirs[1:]]
    ours, theirs = _acc(tmp_path / "ours"), _acc(tmp_path / "torch")
    for kind in ("scalars", "images", "histograms", "tensors"):
        assert ours.Tags()[kind] == theirs.Tags()[kind]
    assert [(e.wall_time, e.step, e.value) for e in ours.Scalars("loss")] == \
           [(e.wall_time, e.step, e.value) for e in theirs.Scalars("loss")]
    def subdirs(d):
        return sorted(p for p in os.listdir(d) if os.path.isdir(d / p))

    assert subdirs(tmp_path / "ours") == subdirs(tmp_path / "torch") == ["m_x_a", "m_x_b"]
    for sub in ("m_x_a", "m_x_b"):
        a, b = _acc(tmp_path / "ours" / sub), _acc(tmp_path / "torch" / sub)
        assert [(e.step, e.value) for e in a.Scalars("m/x")] == [(e.step, e.value) for e in b.Scalars("m/x")]
    for tag in ("h", "h10", "hmax"):
        assert ours.Histograms(tag)[0].histogram_value == theirs.Histograms(tag)[0].histogram_value
    for tag in ("img", "batch"):
        a, b = ours.Images(tag)[0], theirs.Images(tag)[0]
        assert (a.width, a.height, a.step) == (b.width, b.height, b.step)
        np.testing.assert_array_equal(_pixels(a), _pixels(b))
    assert ours.Tensors("t/text_summary")[0].tensor_proto == theirs.Tensors("t/text_summary")[0].tensor_proto


# ----------------------------------------------------------------------------- embeddings
def _read(p):
    with open(p, "rb") as f:
        return f.read()


def test_add_embedding_files(tmp_path):
    rng = np.random.default_rng(6)
    mat = rng.standard_normal((5, 3)).astype(np.float32)
    thumbs = rng.random((5, 3, 4, 4)).astype(np.float32)
    with SummaryWriter(tmp_path) as w:
        w.add_embedding(cnnkit.from_numpy(mat), metadata=list("abcde"), label_img=cnnkit.from_numpy(thumbs),
                        global_step=3, tag="feat/x")
        w.add_embedding(mat, metadata=[[1, "a"], [2, "b"], [3, "c"], [4, "d"], [5, "e"]],
                        metadata_header=["id", "name"])
        with pytest.raises(ValueError, match="mat must be 2-D"):
            w.add_embedding(mat[0])
        with pytest.raises(ValueError, match="4 metadata entries for 5 points"):
            w.add_embedding(mat, metadata=list("abcd"), tag="bad")
    d = tmp_path / "00003" / "feat%2fx"
    rows = [[float(v) for v in ln.split("\t")] for ln in _read(d / "tensors.tsv").decode().splitlines()]
    np.testing.assert_array_equal(np.array(rows, np.float32), mat)
    assert _read(d / "metadata.tsv") == b"a\nb\nc\nd\ne\n"
    assert _read(tmp_path / "00000" / "default" / "metadata.tsv") == b"id\tname\n1\ta\n2\tb\n3\tc\n4\td\n5\te\n"
    with Image.open(d / "sprite.png") as im:
        sprite = np.asarray(im)
    assert sprite.shape == (12, 12, 3)  # 3 x 3 thumbnails of 4 x 4
    np.testing.assert_array_equal(sprite[4:8, 0:4], np.uint8(thumbs[3].transpose(1, 2, 0) * 255))
    assert not sprite[8:, 8:].any()
    from google.protobuf import text_format
    from tensorboard.plugins.projector.projector_config_pb2 import ProjectorConfig

    cfg = text_format.Parse(_read(tmp_path / "projector_config.pbtxt").decode(), ProjectorConfig())
    assert [e.tensor_name for e in cfg.embeddings] == ["feat/x:00003", "default:00000"]
    assert cfg.embeddings[0].sprite.image_path == "00003/feat%2fx/sprite.png"
    assert list(cfg.embeddings[0].sprite.single_image_dim) == [4, 4]


def test_add_embedding_same_files_as_torch(tmp_path):
    torch = pytest.importorskip("torch")
    try:
        from torch.utils.tensorboard import SummaryWriter as TorchWriter
    except Exception as e:
        pytest.skip(f"torch.utils.tensorboard unusable: {e}")
    rng = np.random.default_rng(7)
    mat = rng.standard_normal((7, 4)).astype(np.float32)
    thumbs = rng.random((7, 3, 5, 5)).astype(np.float32)
    meta = [f"p{i}" for i in range(7)]
    with SummaryWriter(tmp_path / "ours") as w:
        w.add_embedding(cnnkit.from_numpy(mat), metadata=meta, label_img=cnnkit.from_numpy(thumbs), tag="e")
    with TorchWriter(tmp_path / "torch") as w:
        w.add_embedding(torch.from_numpy(mat), metadata=meta, label_img=torch.from_numpy(thumbs), tag="e")
    for rel in ("projector_config.pbtxt", "00000/e/tensors.tsv", "00000/e/metadata.tsv"):
        assert _read(tmp_path / "ours" / rel) == _read(tmp_path / "torch" / rel), rel
    with Image.open(tmp_path / "ours/00000/e/sprite.png") as a, Image.open(tmp_path / "torch/00000/e/sprite.png") as b:
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.skipif(not cnnkit.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_tensors_are_logged(tmp_path):
    x = cnnkit.rand(3, 4, 5).to("cuda")
    with SummaryWriter(tmp_path) as w:
        w.add_scalar("s", x.sum(), 0)
        w.add_image("i", x, 0)
        w.add_histogram("h", x, 0)
    ea = _acc(tmp_path)
    assert ea.Scalars("s")[0].value == pytest.approx(float(x.sum().item()), rel=1e-6)
    np.testing.assert_array_equal(_pixels(ea.Images("i")[0]),
                                  np.clip(x.cpu().numpy() * 255, 0, 255).astype(np.uint8).transpose(1, 2, 0))
    assert ea.Histograms("h")[0].histogram_value.num == 60
