"""Helpers shared by the example scripts: the command-line options every example accepts, the device
choice, and ``--limit`` (train/test on at most N images, which the smoke tests use).

Only names that exist in PyTorch are used (``torch.device``, ``torch.cuda.is_available``,
``torch.utils.data.Subset``), so with ``import torch`` in place of ``import cnnkit as torch`` these helpers
work unchanged.
"""
import argparse

import cnnkit as torch
from cnnkit.utils.data import Subset


def positive_int(text):
    """argparse type: an integer >= 1 (a clear message instead of a crash later on)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def positive_float(text):
    """argparse type: a finite float > 0 (learning rates)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not (value > 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"expected a positive finite number, got {text!r}")
    return value



def make_parser(doc, *, data_dir="./data", epochs=10, batch_size=64):
    """An ArgumentParser whose description is the script's docstring, with the options all examples share:
    --data-dir, --epochs, --batch-size, --device, --limit, --seed and --threads."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default=data_dir, help=f"dataset root directory (default: {data_dir})")
    def default(value):
        return "see above" if value is None else value  # None: the script picks one per mode

    p.add_argument("--epochs", type=positive_int, default=epochs,
                   help=f"training epochs (default: {default(epochs)})")
    p.add_argument("--batch-size", type=positive_int, default=batch_size,
                   help=f"training mini-batch size (default: {default(batch_size)})")
    p.add_argument("--device", default=None,
                   help="cpu, cuda or cuda:N (default: cuda when available, else cpu)")
    p.add_argument("--limit", type=positive_int, default=None, metavar="N",
                   help="use at most N training and N test images (quick runs and smoke tests)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--threads", type=positive_int, default=None, help="CPU threads (default: all cores)")
    return p


def setup(parser, argv):
    """Parse ``argv``, seed the generators, set the thread count and resolve ``--device``.

    Returns ``(args, device)``. A malformed or unavailable device is reported through ``parser.error``
    (exit status 2 and a one-line message), like any other bad option."""
    args = parser.parse_args(argv)
    try:
        device = torch.device(args.device) if args.device is not None else None
    except (RuntimeError, ValueError, TypeError) as exc:
        parser.error(f"--device: {exc}")
    if device is None:
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    elif device.type == "cuda" and not torch.cuda.is_available():
        parser.error(f"--device {args.device}: CUDA is not available on this machine")
    elif device.type not in ("cpu", "cuda"):
        parser.error(f"--device: expected cpu, cuda or cuda:N, got {args.device!r}")
    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    return args, device


def limit(dataset, n):
    """The first ``n`` items of ``dataset`` (all of it when ``n`` is None or not smaller)."""
    if n is None or n >= len(dataset):
        return dataset
    return Subset(dataset, range(n))


def count_parameters(model, trainable_only=False):
    """Number of scalar parameters (only those with requires_grad when ``trainable_only``)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def train_one_epoch(model, loader, optimizer, device, loss_fn=None):
    """One pass over ``loader`` (cross-entropy unless ``loss_fn`` is given); returns (mean loss, accuracy)
    over the images seen, measured on the fly in training mode."""
    import cnnkit.nn.functional as F

    loss_fn = loss_fn or F.cross_entropy
    model.train()
    total_loss, correct, seen = 0.0, 0, 0
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
        optimizer.zero_grad()
        outputs = model(images)
        loss = loss_fn(outputs, labels)
        loss.backward()
        optimizer.step()
        total_loss += loss.item() * labels.numel()
        correct += (outputs.argmax(1) == labels).sum().item()
        seen += labels.numel()
    return total_loss / seen, correct / seen


def evaluate_accuracy(model, loader, device):
    """Top-1 accuracy of ``model`` (in eval mode, without gradients) over ``loader``."""
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for images, labels in loader:
            correct += (model(images.to(device)).argmax(1) == labels.to(device)).sum().item()
            total += labels.numel()
    return correct / total
