"""Transfer learning: keep a trained convolutional backbone frozen and train only a new head.

Two modes.

With --weights FILE (a torchvision resnet18 checkpoint, e.g. resnet18-f37072fd.pth) on an ImageFolder tree
DATA_DIR/train/<class>/*.png|jpg and DATA_DIR/val/<class>/... (the layout of PyTorch's transfer-learning
tutorial): loads the ImageNet weights into vision.models.resnet18, freezes every parameter, replaces ``fc``
by a new Linear(512, number of classes) and trains only that layer (SGD momentum, StepLR), printing the
loss and the train/val accuracy per epoch. As in PyTorch's tutorial the model is in train mode while
the head learns, so the backbone's BatchNorm running statistics adapt to the new images (its weights
do not change). --image-size smaller than 224 (e.g. 32) makes quick trial runs:

    python examples/transfer_learning.py --weights resnet18-f37072fd.pth --data-dir hymenoptera_data

Not measured here (no ImageNet checkpoint and no internet on this machine).

Without --weights, a demo that needs no download and runs in seconds on the embedded 8x8 digits: pretrain
the digits CNN on the digits 0-4, freeze its convolutional features, and train only a new classifier head
on the digits 5-9 from a few labelled images per class (--shots); then train the same network from scratch
on the same few images and compare the test accuracy of both on all test images of 5-9:

    python examples/transfer_learning.py [--shots 5] [--repeats 5] [--pretrain-epochs 10] [--epochs 40]

Result measured here (defaults, CPU AMD EPYC 2 cores AVX2, machine shared with other jobs, load ~12):
pretrained on 0-4 to 98.34% test accuracy; on 5-9 with 5 images per class (5 draws) the frozen features +
new head reach 84.36% +- 7.75% and the network trained from scratch 84.58% +- 5.64% (57 s; 72 s wall).
With 1, 2 and 10 images per class: 69.61/72.40%, 78.99/82.79%, 88.72/89.39% (transfer/scratch).
So on these 8x8 digits the features learnt on 0-4 do not beat training the small CNN from scratch: the
differences are within the spread between draws. The demo measures this; it does not promise a gain.
"""
import os
import statistics
import time

import cnnkit as torch
import cnnkit.nn as nn
import cnnkit.optim as optim
from cnnkit.utils.data import DataLoader, Dataset, Subset
from cnnkit.vision import datasets

from common import (count_parameters, evaluate_accuracy, limit, make_parser, positive_float,  # examples/
                    positive_int, setup, train_one_epoch)
from train_digits import SmallCNN  # the README's digits CNN: features (2 conv blocks) + classifier


# ---------------------------------------------------------------------------------------------------------
# demo: digits 0-4 -> digits 5-9


class Relabel(Dataset):
    """Dataset view keeping the items whose label is in ``classes``, relabelled 0..len(classes)-1."""

    def __init__(self, dataset, classes, indices=None):
        self.dataset = dataset
        mapping = {c: i for i, c in enumerate(classes)}
        targets = [int(t) for t in dataset.targets] if hasattr(dataset, "targets") else \
            [dataset[i][1] for i in range(len(dataset))]
        pool = range(len(dataset)) if indices is None else indices
        self.indices = [i for i in pool if targets[i] in mapping]
        self.mapping = mapping

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, i):
        image, label = self.dataset[self.indices[i]]
        return image, self.mapping[label]


def few_shot_indices(dataset, pool, classes, shots, generator):
    """``shots`` random indices from ``pool`` of each class in ``classes`` (all of a class when it has fewer)."""
    targets = [int(t) for t in dataset.targets]
    chosen = []
    for c in classes:
        members = [i for i in pool if targets[i] == c]
        order = torch.randperm(len(members), generator=generator).tolist()
        chosen += [members[j] for j in order[:shots]]
    return sorted(chosen)


def new_head(num_classes):
    """A freshly initialised classifier with the digits CNN's layout (128 features -> 64 -> classes)."""
    return nn.Sequential(nn.Flatten(), nn.Linear(32 * 2 * 2, 64), nn.ReLU(), nn.Linear(64, num_classes))


def fit_few(model, params, loader, epochs, lr, device):
    """Train ``params`` of ``model`` for ``epochs`` on the few-shot loader (SGD momentum 0.9)."""
    optimizer = optim.SGD(params, lr=lr, momentum=0.9)
    for _ in range(epochs):
        train_one_epoch(model, loader, optimizer, device)
    return model


def run_demo(args, device):
    source_classes, target_classes = [0, 1, 2, 3, 4], [5, 6, 7, 8, 9]
    full_train = datasets.Digits(args.data_dir, train=True)
    full_test = datasets.Digits(args.data_dir, train=False)
    train_pool = None if args.limit is None else range(min(args.limit, len(full_train)))
    test_pool = None if args.limit is None else range(min(args.limit, len(full_test)))
    source_train = Relabel(full_train, source_classes, train_pool)
    source_test = Relabel(full_test, source_classes, test_pool)
    target_test = Relabel(full_test, target_classes, test_pool)
    if min(len(source_train), len(source_test), len(target_test)) == 0:
        raise SystemExit("transfer_learning: --limit leaves no image of some digits; use a larger --limit")

    # 1. pretrain the whole network on digits 0-4
    g = torch.Generator().manual_seed(args.seed)
    source_loader = DataLoader(source_train, batch_size=args.batch_size, shuffle=True, generator=g)
    pretrained = SmallCNN(num_classes=len(source_classes)).to(device)
    optimizer = optim.SGD(pretrained.parameters(), lr=args.lr, momentum=0.9)
    start = time.perf_counter()
    for epoch in range(1, args.pretrain_epochs + 1):
        loss, acc = train_one_epoch(pretrained, source_loader, optimizer, device)
        print(f"pretrain epoch {epoch:2d}/{args.pretrain_epochs}  loss {loss:.4f}  train acc {acc:6.2%}")
    source_acc = evaluate_accuracy(pretrained, DataLoader(source_test, batch_size=256), device)
    print(f"pretrained on digits 0-4: {len(source_train)} images, test accuracy on 0-4 {source_acc:.2%}")

    # 2. for several random draws of the few labelled images of 5-9: frozen features + new head vs scratch
    target_test_loader = DataLoader(target_test, batch_size=256)
    pool = train_pool if train_pool is not None else range(len(full_train))
    transfer_accs, scratch_accs = [], []
    for r in range(args.repeats):
        draw = torch.Generator().manual_seed(args.seed + 1 + r)
        shots = Relabel(full_train, target_classes,
                        few_shot_indices(full_train, pool, target_classes, args.shots, draw))
        loader = DataLoader(shots, batch_size=args.batch_size, shuffle=True, generator=draw)

        torch.manual_seed(args.seed + 100 + r)
        transfer = SmallCNN(num_classes=len(target_classes)).to(device)
        transfer.features.load_state_dict(pretrained.features.state_dict())
        transfer.features.requires_grad_(False)          # frozen backbone
        transfer.classifier = new_head(len(target_classes)).to(device)  # only this is trained
        fit_few(transfer, transfer.classifier.parameters(), loader, args.epochs, args.lr, device)

        torch.manual_seed(args.seed + 100 + r)
        scratch = SmallCNN(num_classes=len(target_classes)).to(device)
        fit_few(scratch, scratch.parameters(), loader, args.epochs, args.lr, device)

        transfer_accs.append(evaluate_accuracy(transfer, target_test_loader, device))
        scratch_accs.append(evaluate_accuracy(scratch, target_test_loader, device))
        print(f"draw {r + 1}/{args.repeats}: {len(shots)} labelled images of 5-9 "
              f"(trainable parameters: transfer {count_parameters(transfer, True)}, "
              f"scratch {count_parameters(scratch, True)})  test accuracy on 5-9: "
              f"transfer {transfer_accs[-1]:6.2%}  scratch {scratch_accs[-1]:6.2%}")

    def summary(values):
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        return f"{statistics.mean(values):.2%} +- {spread:.2%}"

    elapsed = time.perf_counter() - start
    print(f"few-shot digits 5-9 ({args.shots} per class, {len(target_test)} test images, {args.repeats} draws): "
          f"frozen pretrained features + new head {summary(transfer_accs)}, "
          f"from scratch {summary(scratch_accs)}  ({elapsed:.1f} s)")
    return statistics.mean(transfer_accs), statistics.mean(scratch_accs)


# ---------------------------------------------------------------------------------------------------------
# --weights: torchvision resnet18 checkpoint on an ImageFolder tree


IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def run_imagefolder(args, device):
    import cnnkit.vision as torchvision
    from cnnkit.vision import transforms

    size = args.image_size
    data_transforms = {
        "train": transforms.Compose([
            transforms.RandomResizedCrop(size), transforms.RandomHorizontalFlip(),
            transforms.ToTensor(), transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD)]),
        "val": transforms.Compose([
            transforms.Resize(round(size * 256 / 224)), transforms.CenterCrop(size),
            transforms.ToTensor(), transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD)]),
    }
    for split in ("train", "val"):
        if not os.path.isdir(os.path.join(args.data_dir, split)):
            raise SystemExit(f"transfer_learning: expected an ImageFolder tree {os.path.join(args.data_dir, split)}"
                             f"/<class>/<image> (the tutorial's layout), not found")
    image_datasets = {x: limit(datasets.ImageFolder(os.path.join(args.data_dir, x), data_transforms[x]), args.limit)
                      for x in ("train", "val")}
    classes = (image_datasets["train"].dataset if isinstance(image_datasets["train"], Subset)
               else image_datasets["train"]).classes
    g = torch.Generator().manual_seed(args.seed)
    loaders = {"train": DataLoader(image_datasets["train"], batch_size=args.batch_size, shuffle=True,
                                   num_workers=args.workers, generator=g),
               "val": DataLoader(image_datasets["val"], batch_size=args.batch_size, num_workers=args.workers)}

    model = torchvision.models.resnet18()
    model.load_state_dict(torch.load(args.weights, map_location="cpu", weights_only=True))
    for param in model.parameters():
        param.requires_grad = False                      # frozen backbone
    model.fc = nn.Linear(model.fc.in_features, len(classes))  # new head: requires_grad=True
    model = model.to(device)
    optimizer = optim.SGD(model.fc.parameters(), lr=args.lr, momentum=0.9)
    scheduler = optim.lr_scheduler.StepLR(optimizer, step_size=7, gamma=0.1)
    print(f"{args.weights}: resnet18, {len(classes)} classes {classes}, "
          f"{len(image_datasets['train'])} train / {len(image_datasets['val'])} val images, "
          f"{count_parameters(model, True)} of {count_parameters(model)} parameters trainable, device {device}")

    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        loss, acc = train_one_epoch(model, loaders["train"], optimizer, device)
        scheduler.step()
        val_acc = evaluate_accuracy(model, loaders["val"], device)
        print(f"epoch {epoch:2d}/{args.epochs}  loss {loss:.4f}  train acc {acc:6.2%}  val acc {val_acc:6.2%}")
    print(f"final val accuracy: {evaluate_accuracy(model, loaders['val'], device):.2%}  "
          f"({time.perf_counter() - start:.1f} s)")
    return model


def main(argv=None):
    parser = make_parser(__doc__, epochs=None, batch_size=None)
    parser.add_argument("--weights", default=None, metavar="FILE",
                        help="torchvision resnet18 checkpoint: fine-tune a new head on the ImageFolder tree "
                             "in --data-dir (default: the digits demo)")
    parser.add_argument("--image-size", type=positive_int, default=224,
                        help="--weights mode: crop size (default: 224)")
    parser.add_argument("--workers", type=int, default=0, help="--weights mode: DataLoader num_workers")
    parser.add_argument("--lr", type=positive_float, default=None,
                        help="SGD learning rate (default: 0.05 demo, 0.001 --weights)")
    parser.add_argument("--shots", type=positive_int, default=5, help="demo: labelled images per class of 5-9")
    parser.add_argument("--repeats", type=positive_int, default=5, help="demo: random draws of those images")
    parser.add_argument("--pretrain-epochs", type=positive_int, default=10, help="demo: epochs on digits 0-4")
    args, device = setup(parser, argv)
    if args.weights is not None:
        args.epochs = args.epochs or 25
        args.batch_size = args.batch_size or 4
        args.lr = args.lr or 0.001
        return run_imagefolder(args, device)
    args.epochs = args.epochs or 40
    args.batch_size = args.batch_size or 32
    args.lr = args.lr or 0.05
    return run_demo(args, device)


if __name__ == "__main__":
    main()
