"""The ``cnnkit`` command line (``python -m cnnkit``).

    cnnkit info | config       the build configuration (compiler, SIMD, OpenMP, CUDA)
    cnnkit bench ...           the benchmark suite (cnnkit bench --help)
    cnnkit train ...           train a zoo model on a dataset (cnnkit train --help)
    cnnkit eval ...            evaluate a checkpoint written by cnnkit train
    cnnkit summary ...         per-layer table of a zoo model (cnnkit.utils.summary)

``train`` records in its checkpoints the model name, dataset, number of classes, input channels
and image size, so ``eval --checkpoint F`` rebuilds the model and the test split on its own.
Argument problems (unknown model, bad sizes, a dataset that is not where --data-dir says) end with
a one-line ``cnnkit <command>: error: ...`` on stderr and exit status 2.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys

__all__ = ["main", "build_parser"]

DATASETS = ("digits", "mnist", "fashionmnist", "cifar10", "cifar100", "imagefolder", "fake")
# (channels, native size, mean, std, flips make sense) per dataset; imagefolder/fake use ImageNet's statistics.
_DATA = {
    "digits": (1, 8, (0.3056,), (0.3763,), False),
    "mnist": (1, 28, (0.1307,), (0.3081,), False),
    "fashionmnist": (1, 28, (0.2860,), (0.3530,), True),
    "cifar10": (3, 32, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616), True),
    "cifar100": (3, 32, (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762), True),
    "imagefolder": (3, 224, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), True),
    "fake": (3, 32, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), True),
}
# Smallest input side a model family accepts (its downsampling must not reach zero); LeNet-5 needs 32.
_MIN_SIZE = {"alexnet": 64, "vgg": 32, "resnet": 32}


class UsageError(Exception):
    """A bad command-line argument: reported as ``cnnkit <cmd>: error: ...`` with exit status 2."""


class _Channels:
    """Repeats a 1-channel image tensor to ``n`` channels (grey datasets on RGB models); picklable."""

    def __init__(self, n):
        self.n = n

    def __call__(self, t):
        return t if t.shape[0] == self.n else t.expand(self.n, *t.shape[1:]).contiguous()

    def __repr__(self):
        return f"{type(self).__name__}(n={self.n})"


# ---------------------------------------------------------------------------------------------- parser

def _input_size(text):
    try:
        dims = tuple(int(v) for v in text.replace("x", ",").split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated ints such as 1,3,224,224, got {text!r}") from None
    if not dims or min(dims) < 1:
        raise argparse.ArgumentTypeError(f"expected positive sizes such as 1,3,224,224, got {text!r}")
    return dims


def _positive(kind):
    def parse(text):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a positive {kind.__name__}, got {text!r}") from None
        if v <= 0:
            raise argparse.ArgumentTypeError(f"expected a positive {kind.__name__}, got {text!r}")
        return v

    return parse


def _non_negative_int(text):
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative int, got {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative int, got {text!r}")
    return v


def _add_data_args(p, required_dataset):
    p.add_argument("--dataset", choices=DATASETS, default=None if not required_dataset else "digits",
                   help="dataset (torchvision's class of that name; digits ships with cnnkit)")
    p.add_argument("--data-dir", default=None, help="dataset root (default ./data; digits needs none)")
    p.add_argument("--batch-size", type=_positive(int), default=None, help="batch size (train: 64, eval: 256)")
    p.add_argument("--workers", type=_non_negative_int, default=0, help="DataLoader worker processes")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda when available)")
    p.add_argument("--download", action="store_true", help="download the dataset if missing")
    p.add_argument("--limit", type=_positive(int), default=None, help="use only the first N samples of each split")


def build_parser():
    p = argparse.ArgumentParser(prog="cnnkit", description="cnnkit command-line tools")
    sub = p.add_subparsers(dest="cmd", metavar="{info,config,bench,train,eval,summary}")
    sub.add_parser("info", help="print the build configuration")
    sub.add_parser("config", help="print the build configuration (same as info)")
    sub.add_parser("bench", help="run the benchmark suite (cnnkit bench --help)")

    t = sub.add_parser("train", help="train a zoo model on a dataset",
                       description="Train cnnkit.vision.models.get_model(MODEL) on a dataset with cnnkit.train.fit.")
    t.add_argument("--model", default="lenet5", help="a name from cnnkit.vision.models.list_models() (lenet5)")
    _add_data_args(t, True)
    t.add_argument("--epochs", type=_non_negative_int, default=10)
    t.add_argument("--lr", type=_positive(float), default=None, help="learning rate (sgd 0.05, adam 0.001)")
    t.add_argument("--momentum", type=float, default=0.9, help="SGD momentum")
    t.add_argument("--weight-decay", type=float, default=0.0)
    t.add_argument("--optimizer", choices=("sgd", "adam"), default="sgd")
    t.add_argument("--schedule", choices=("cosine", "step", "none"), default="none",
                   help="cosine: CosineAnnealingLR over the epochs; step: x0.1 every third of them")
    t.add_argument("--augment", action="store_true", help="random crops (and flips where they make sense)")
    t.add_argument("--image-size", type=_positive(int), default=None, help="input side (default: the dataset's, "
                   "or the model's minimum; LeNet-5 uses 32)")
    t.add_argument("--num-classes", type=_positive(int), default=None, help="classes of the fake dataset (10)")
    t.add_argument("--fake-size", type=_positive(int), default=512, help="training images of the fake dataset")
    t.add_argument("--checkpoint", default=None, metavar="DIR",
                   help="checkpoint directory: last.ckpt every epoch, best.ckpt, history.json")
    t.add_argument("--resume", action="store_true", help="continue from --checkpoint DIR's last.ckpt")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--log-every", type=_positive(int), default=None, help="a progress line every N batches")
    t.add_argument("--quiet", action="store_true", help="no progress output")

    e = sub.add_parser("eval", help="evaluate a checkpoint written by cnnkit train")
    e.add_argument("--checkpoint", required=True, help="a checkpoint file, or a directory (its last.ckpt)")
    _add_data_args(e, False)
    e.add_argument("--split", choices=("test", "train"), default="test")
    e.add_argument("--json", default=None, metavar="PATH", help="also write the results as JSON")

    s = sub.add_parser("summary", help="per-layer shapes, parameters and multiply-adds of a zoo model")
    s.add_argument("--model", required=True)
    s.add_argument("--input", type=_input_size, default=(1, 3, 224, 224), help="input size with the batch dim")
    s.add_argument("--num-classes", type=_positive(int), default=None)
    s.add_argument("--timing", action="store_true", help="also measure forward/backward time per layer")
    s.add_argument("--device", default=None)
    return p


# ---------------------------------------------------------------------------------------------- helpers

def _device(name):
    import cnnkit

    if name is None:
        return "cuda" if cnnkit.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not cnnkit.cuda.is_available():
        raise UsageError(f"--device {name}: CUDA is not available on this machine (cnnkit.cuda.is_available() "
                         "is False); use --device cpu")
    try:
        cnnkit.device(name)
    except (ValueError, RuntimeError, TypeError) as err:
        raise UsageError(f"--device {name!r}: {err}") from None
    return name


def _family(model_name):
    for prefix in ("alexnet", "vgg", "resnet"):
        if model_name.startswith(prefix):
            return prefix
    return None


def _image_size(model_name, dataset, requested):
    native = _DATA[dataset][1]
    if model_name == "lenet5":
        if requested not in (None, 32):
            raise UsageError(f"--image-size {requested}: lenet5 takes 32x32 inputs")
        return 32
    size = requested or native
    need = _MIN_SIZE.get(_family(model_name), 1)
    if requested is None:
        size = max(size, need)
    elif size < need:
        raise UsageError(f"--image-size {size}: {model_name} needs inputs of at least {need}x{need}")
    return size


def _build_model(name, num_classes, in_channels):
    from cnnkit.vision import models

    if name not in models.list_models():
        raise UsageError(f"unknown --model {name!r}; choose from: {', '.join(models.list_models())}")
    kwargs = {"num_classes": num_classes}
    if name == "lenet5":
        kwargs["in_channels"] = in_channels
    return models.get_model(name, **kwargs)


def _model_channels(name, data_channels):
    return data_channels if name == "lenet5" else 3


def _transform(dataset, size, channels, train, augment):
    from cnnkit.vision import transforms as T

    data_channels, native, mean, std, flips = _DATA[dataset]
    steps = []
    if dataset == "imagefolder":
        if train and augment:
            steps += [T.RandomResizedCrop(size), T.RandomHorizontalFlip()]
        else:
            steps += [T.Resize(int(round(size * 256 / 224))), T.CenterCrop(size)]
    elif size != native:  # digits are tensors: upscaling them needs no antialiasing (nor does cnnkit have it)
        steps.append(T.Resize((size, size), antialias=dataset != "digits"))
    if train and augment and dataset != "imagefolder":
        steps.append(T.RandomCrop(size, padding=max(1, size // 8)))
        if flips:
            steps.append(T.RandomHorizontalFlip())
    if dataset != "digits":  # digits' items are already float tensors
        steps.append(T.ToTensor())
    if channels != data_channels:
        steps.append(_Channels(channels))
        mean, std = mean * channels, std * channels
    steps.append(T.Normalize(mean, std))
    return T.Compose(steps)


def _dataset(name, root, train, transform, args, num_classes=None):
    """The dataset split (``train``) and its number of classes."""
    from cnnkit.vision import datasets as D

    root = root or "./data"
    try:
        if name == "digits":
            ds = D.Digits(train=train, transform=transform)
        elif name in ("mnist", "fashionmnist", "cifar10", "cifar100"):
            cls = {"mnist": D.MNIST, "fashionmnist": D.FashionMNIST, "cifar10": D.CIFAR10, "cifar100": D.CIFAR100}[name]
            ds = cls(root, train=train, transform=transform, download=getattr(args, "download", False))
        elif name == "imagefolder":
            sub = [d for d in (("train",) if train else ("val", "test")) if os.path.isdir(os.path.join(root, d))]
            if train:
                folder = os.path.join(root, sub[0]) if sub else root
            elif sub:
                folder = os.path.join(root, sub[0])
            else:
                return None, None
            ds = D.ImageFolder(folder, transform=transform)
        else:  # fake
            n = getattr(args, "fake_size", 512) or 512
            c = num_classes or 10
            size = getattr(args, "_size", 32)
            ds = D.FakeData(size=n if train else max(1, n // 4), image_size=(3, size, size), num_classes=c,
                            transform=transform, random_offset=0 if train else 10_000_000)
            return _limit(ds, args), c
    except (RuntimeError, FileNotFoundError, ValueError) as err:
        raise UsageError(f"--dataset {name} --data-dir {root}: {err}") from None
    classes = getattr(ds, "classes", None)
    return _limit(ds, args), (len(classes) if classes else num_classes)


def _limit(ds, args):
    from cnnkit.utils.data import Subset

    n = getattr(args, "limit", None)
    return ds if n is None or n >= len(ds) else Subset(ds, list(range(n)))


def _seed_everything(seed):
    import numpy as np

    import cnnkit

    cnnkit.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)


# ---------------------------------------------------------------------------------------------- commands

def _cmd_train(args):
    import cnnkit
    from cnnkit import nn, optim
    from cnnkit.train import ModelCheckpoint, fit
    from cnnkit.utils.data import DataLoader

    if args.resume and args.checkpoint is None:
        raise UsageError("--resume needs --checkpoint DIR (the directory of the run to continue)")
    device = _device(args.device)
    _seed_everything(args.seed)
    size = _image_size(args.model, args.dataset, args.image_size)
    args._size = size
    data_channels = _DATA[args.dataset][0]
    channels = _model_channels(args.model, data_channels)
    train_set, num_classes = _dataset(args.dataset, args.data_dir, True,
                                      _transform(args.dataset, size, channels, True, args.augment), args,
                                      args.num_classes)
    val_set, _ = _dataset(args.dataset, args.data_dir, False, _transform(args.dataset, size, channels, False, False),
                          args, num_classes)
    model = _build_model(args.model, num_classes, channels).to(device)

    batch = args.batch_size or 64
    pin = str(device).startswith("cuda")
    g = cnnkit.Generator().manual_seed(args.seed)
    train_loader = DataLoader(train_set, batch_size=batch, shuffle=True, generator=g, num_workers=args.workers,
                              pin_memory=pin)
    val_loader = None if val_set is None else DataLoader(val_set, batch_size=max(batch, 256),
                                                         num_workers=args.workers, pin_memory=pin)
    if args.optimizer == "sgd":
        opt = optim.SGD(model.parameters(), lr=args.lr or 0.05, momentum=args.momentum, weight_decay=args.weight_decay)
    else:
        opt = optim.Adam(model.parameters(), lr=args.lr or 1e-3, weight_decay=args.weight_decay)
    sched = None
    if args.schedule == "cosine":
        sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, args.epochs))
    elif args.schedule == "step":
        sched = optim.lr_scheduler.StepLR(opt, step_size=max(1, args.epochs // 3), gamma=0.1)

    meta = {"model": args.model, "dataset": args.dataset, "num_classes": num_classes, "in_channels": channels,
            "image_size": size, "data_dir": args.data_dir, "seed": args.seed, "augment": bool(args.augment),
            "optimizer": args.optimizer, "schedule": args.schedule, "batch_size": batch}
    callbacks = []
    if args.checkpoint and val_loader is not None:
        callbacks.append(ModelCheckpoint(args.checkpoint, monitor="val_accuracy", save_best_only=True,
                                         filename="best.ckpt"))
    params = sum(p.numel() for p in model.parameters())
    if not args.quiet:
        print(f"cnnkit train: {args.model} ({params:,} parameters) on {args.dataset} ({len(train_set)} train"
              f"{'' if val_set is None else f' / {len(val_set)} test'} images, {num_classes} classes, "
              f"{channels}x{size}x{size}), {args.optimizer} lr {opt.param_groups[0]['lr']:g}, batch {batch}, "
              f"device {device}, {cnnkit.get_num_threads()} threads", flush=True)
    history = fit(model, train_loader, nn.CrossEntropyLoss(), opt, args.epochs, val_loader=val_loader, scheduler=sched,
                  device=device, callbacks=callbacks, metrics=("accuracy",), resume=True if args.resume else None,
                  checkpoint_dir=args.checkpoint, verbose=0 if args.quiet else 1, log_every=args.log_every, meta=meta)
    if args.checkpoint:
        history.save(os.path.join(args.checkpoint, "history.json"))
    if not args.quiet and history.epoch:
        last = {k: v[-1] for k, v in history.history.items()}
        acc = last.get("val_accuracy", last.get("accuracy"))
        which = "test" if "val_accuracy" in last else "train"
        n = len(history.epoch)
        print(f"final {which} accuracy: {acc:.2%} after {n} epoch{'s' if n != 1 else ''} "
              f"({sum(t for t in history.history['time'] if t):.1f} s)"
              + (f"; checkpoints in {args.checkpoint}" if args.checkpoint else ""))
    return 0


def _cmd_eval(args):
    from cnnkit import nn
    from cnnkit.train import evaluate, load_checkpoint
    from cnnkit.utils.data import DataLoader

    try:
        ckpt = load_checkpoint(args.checkpoint)
    except (FileNotFoundError, ValueError, RuntimeError) as err:
        raise UsageError(f"--checkpoint {args.checkpoint}: {err}") from None
    meta = ckpt.get("meta") or {}
    missing = [k for k in ("model", "dataset", "num_classes") if k not in meta]
    if missing:
        raise UsageError(f"--checkpoint {ckpt['path']}: it records no {', '.join(missing)} (not written by "
                         "cnnkit train)")
    dataset = args.dataset or meta["dataset"]
    data_dir = args.data_dir if args.data_dir is not None else meta.get("data_dir")
    device = _device(args.device)
    channels = meta.get("in_channels", 3)
    size = meta.get("image_size", _DATA[dataset][1])
    args._size = size
    tf = _transform(dataset, size, channels, False, False)
    split_set, _ = _dataset(dataset, data_dir, args.split == "train", tf, args, meta["num_classes"])
    if split_set is None:
        raise UsageError(f"--dataset imagefolder --data-dir {data_dir}: no val/ or test/ folder to evaluate")
    model = _build_model(meta["model"], meta["num_classes"], channels)
    model.load_state_dict(ckpt["model"])
    model.to(device)
    loader = DataLoader(split_set, batch_size=args.batch_size or 256, num_workers=args.workers)
    res = evaluate(model, loader, nn.CrossEntropyLoss(), device=device, topk=(1, 5), num_classes=meta["num_classes"])
    print(f"cnnkit eval: {meta['model']} from {ckpt['path']} (epoch {ckpt['epoch']}) on {dataset} {args.split} split")
    print(res.summary())
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(dict(res.to_dict(), checkpoint=ckpt["path"], epoch=ckpt["epoch"], meta=meta), fh, indent=1)
    return 0


def _cmd_summary(args):
    from cnnkit.utils import summary

    device = _device(args.device) if args.device else "cpu"
    kwargs = {}
    if args.num_classes:
        kwargs["num_classes"] = args.num_classes
    from cnnkit.vision import models

    if args.model not in models.list_models():
        raise UsageError(f"unknown --model {args.model!r}; choose from: {', '.join(models.list_models())}")
    model = models.get_model(args.model, **kwargs).to(device)
    try:
        summary(model, tuple(args.input), device=device, timing=args.timing, file=sys.stdout)
    except (RuntimeError, ValueError) as err:
        raise UsageError(f"--input {','.join(map(str, args.input))} does not fit {args.model}: {err}") from None
    return 0


def main(argv=None):
    """Runs the command line ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "bench":  # everything after 'bench' belongs to the suite's own parser
        from cnnkit.bench import main as bench_main

        return bench_main(argv[1:])
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse: --help (0) or a usage error (2, message already printed)
        return e.code
    if args.cmd in (None, "info", "config"):
        import cnnkit

        cnnkit.show_config()
        return 0
    command = {"train": _cmd_train, "eval": _cmd_eval, "summary": _cmd_summary}[args.cmd]
    try:
        return command(args)
    except UsageError as err:
        print(f"cnnkit {args.cmd}: error: {err}", file=sys.stderr)
        return 2
