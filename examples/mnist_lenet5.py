"""LeNet-5 (vision.models.lenet5, the 1998 layout) on MNIST.

    python examples/mnist_lenet5.py [--data-dir ./data] [--epochs 10] [--batch-size 64] [--lr 0.001] [--resize]

LeNet-5 takes 1x32x32 images: the 28x28 MNIST digits are padded by 2 pixels on each side, as in the paper
(transforms.Pad(2)); --resize scales them to 32x32 instead (transforms.Resize(32)). Then ToTensor and
Normalize with MNIST's mean/std. datasets.MNIST(root, download=True) fetches the four IDX files into
DATA_DIR/MNIST/raw on first use (or reads them there, .gz or extracted). Adam, cross-entropy; prints the
training loss and accuracy and the test accuracy per epoch, and saves the weights with --save FILE.

Result: not measured here (no MNIST files and no internet on this machine).
"""
import time

import cnnkit as torch
import cnnkit.optim as optim
import cnnkit.vision as torchvision
from cnnkit.utils.data import DataLoader
from cnnkit.vision import transforms

from common import (count_parameters, evaluate_accuracy, limit, make_parser, positive_float, setup,  # examples/
                    train_one_epoch)

MNIST_MEAN, MNIST_STD = (0.1307,), (0.3081,)


def main(argv=None):
    parser = make_parser(__doc__, epochs=10, batch_size=64)
    parser.add_argument("--lr", type=positive_float, default=0.001, help="Adam learning rate (default: 0.001)")
    parser.add_argument("--resize", action="store_true", help="Resize(32) instead of Pad(2) to reach 32x32")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader num_workers (default: 0)")
    parser.add_argument("--save", default=None, metavar="FILE", help="save the trained state_dict to FILE")
    args, device = setup(parser, argv)

    to_32 = transforms.Resize(32) if args.resize else transforms.Pad(2)
    transform = transforms.Compose([to_32, transforms.ToTensor(), transforms.Normalize(MNIST_MEAN, MNIST_STD)])
    train_set = torchvision.datasets.MNIST(args.data_dir, train=True, download=True, transform=transform)
    test_set = torchvision.datasets.MNIST(args.data_dir, train=False, download=True, transform=transform)
    train_set, test_set = limit(train_set, args.limit), limit(test_set, args.limit)
    g = torch.Generator().manual_seed(args.seed)
    train_loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True, generator=g,
                              num_workers=args.workers)
    test_loader = DataLoader(test_set, batch_size=1000, num_workers=args.workers)

    model = torchvision.models.lenet5().to(device)
    optimizer = optim.Adam(model.parameters(), lr=args.lr)
    print(model)
    print(f"MNIST: {len(train_set)} train / {len(test_set)} test images, input {tuple(train_set[0][0].shape)}, "
          f"{count_parameters(model)} parameters, device {device}")

    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        t0 = time.perf_counter()
        loss, acc = train_one_epoch(model, train_loader, optimizer, device)
        test_acc = evaluate_accuracy(model, test_loader, device)
        print(f"epoch {epoch:2d}/{args.epochs}  loss {loss:.4f}  train acc {acc:6.2%}  test acc {test_acc:6.2%}  "
              f"({time.perf_counter() - t0:.1f} s)")
    print(f"final test accuracy: {test_acc:.2%}  "  # the last epoch's evaluation: the model has not changed
          f"({time.perf_counter() - start:.1f} s)")
    if args.save:
        torch.save(model.state_dict(), args.save)
        print(f"saved {args.save}")
    return model


if __name__ == "__main__":
    main()
