"""ResNet-18 for 32x32 images (vision.models.resnet18_cifar: 3x3 stem, no max-pool) on CIFAR-10.

    python examples/cifar10_resnet18.py [--data-dir ./data] [--epochs 30] [--batch-size 128] [--lr 0.1]
                                        [--weight-decay 5e-4] [--workers 2]

The usual CIFAR recipe: training images augmented with RandomCrop(32, padding=4) and RandomHorizontalFlip,
all images normalised with CIFAR-10's per-channel mean/std; SGD with momentum 0.9 and weight decay,
CosineAnnealingLR over the run (stepped once per epoch); DataLoader with --workers processes.
datasets.CIFAR10(root, download=True) fetches and extracts cifar-10-python.tar.gz into DATA_DIR on first
use. Prints loss, train accuracy, test accuracy and learning rate per epoch; --save FILE keeps the weights.

Result: not measured here (no CIFAR-10 files and no internet on this machine).
"""
import time

import cnnkit as torch
import cnnkit.nn as nn
import cnnkit.optim as optim
import cnnkit.vision as torchvision
from cnnkit.optim.lr_scheduler import CosineAnnealingLR
from cnnkit.utils.data import DataLoader
from cnnkit.vision import transforms

from common import (count_parameters, evaluate_accuracy, limit, make_parser, positive_float, setup,  # examples/
                    train_one_epoch)

CIFAR10_MEAN, CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)


def main(argv=None):
    parser = make_parser(__doc__, epochs=30, batch_size=128)
    parser.add_argument("--lr", type=positive_float, default=0.1, help="initial SGD learning rate (default: 0.1)")
    parser.add_argument("--momentum", type=float, default=0.9, help="SGD momentum (default: 0.9)")
    parser.add_argument("--weight-decay", type=float, default=5e-4, help="SGD weight decay (default: 5e-4)")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader num_workers (default: 2)")
    parser.add_argument("--save", default=None, metavar="FILE", help="save the trained state_dict to FILE")
    args, device = setup(parser, argv)

    train_transform = transforms.Compose([
        transforms.RandomCrop(32, padding=4),
        transforms.RandomHorizontalFlip(),
        transforms.ToTensor(),
        transforms.Normalize(CIFAR10_MEAN, CIFAR10_STD),
    ])
    test_transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize(CIFAR10_MEAN, CIFAR10_STD)])
    train_set = torchvision.datasets.CIFAR10(args.data_dir, train=True, download=True, transform=train_transform)
    test_set = torchvision.datasets.CIFAR10(args.data_dir, train=False, download=True, transform=test_transform)
    classes = train_set.classes
    train_set, test_set = limit(train_set, args.limit), limit(test_set, args.limit)
    g = torch.Generator().manual_seed(args.seed)
    train_loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True, generator=g,
                              num_workers=args.workers, persistent_workers=args.workers > 0)
    test_loader = DataLoader(test_set, batch_size=256, num_workers=args.workers)

    model = torchvision.models.resnet18_cifar(num_classes=len(classes)).to(device)
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay)
    scheduler = CosineAnnealingLR(optimizer, T_max=args.epochs)
    print(f"CIFAR-10: {len(train_set)} train / {len(test_set)} test images, classes {classes}, "
          f"resnet18_cifar with {count_parameters(model)} parameters, device {device}, {args.workers} workers")

    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        t0 = time.perf_counter()
        lr = optimizer.param_groups[0]["lr"]
        loss, acc = train_one_epoch(model, train_loader, optimizer, device, criterion)
        scheduler.step()
        test_acc = evaluate_accuracy(model, test_loader, device)
        print(f"epoch {epoch:3d}/{args.epochs}  lr {lr:.4f}  loss {loss:.4f}  train acc {acc:6.2%}  "
              f"test acc {test_acc:6.2%}  ({time.perf_counter() - t0:.1f} s)")
    print(f"final test accuracy: {test_acc:.2%}  "  # the last epoch's evaluation: the model has not changed
          f"({time.perf_counter() - start:.1f} s)")
    if args.save:
        torch.save(model.state_dict(), args.save)
        print(f"saved {args.save}")
    return model


if __name__ == "__main__":
    main()
