"""Train a small CNN on the embedded 8x8 handwritten digits (1,437 train / 360 test images).

    python examples/train_digits.py [--epochs 15] [--batch-size 32] [--lr 0.05] [--threads N]

Written exactly as PyTorch course code; swap the imports for torch/torchvision and it runs there too.
"""
import argparse
import time

import cnnkit as torch
import cnnkit.nn as nn
import cnnkit.nn.functional as F
import cnnkit.optim as optim
from cnnkit.utils.data import DataLoader
from cnnkit.vision import datasets


class SmallCNN(nn.Module):
    """conv-relu-pool x2, then two linear layers: 1x8x8 -> 16x4x4 -> 32x2x2 -> 64 -> 10."""

    def __init__(self, num_classes=10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(32 * 2 * 2, 64), nn.ReLU(), nn.Linear(64, num_classes))

    def forward(self, x):
        return self.classifier(self.features(x))


def evaluate(model, loader):
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for images, labels in loader:
            correct += (model(images).argmax(1) == labels).sum().item()
            total += labels.numel()
    return correct / total


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args()

    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    train_set = datasets.Digits(train=True)
    test_set = datasets.Digits(train=False)
    g = torch.Generator().manual_seed(args.seed)
    train_loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True, generator=g)
    train_eval_loader = DataLoader(train_set, batch_size=256)
    test_loader = DataLoader(test_set, batch_size=256)

    model = SmallCNN()
    optimizer = optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)
    print(model)
    print(f"digits: {len(train_set)} train / {len(test_set)} test images, "
          f"{sum(p.numel() for p in model.parameters())} parameters, {torch.get_num_threads()} threads")

    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        model.train()
        t0 = time.perf_counter()
        running, seen = 0.0, 0
        for images, labels in train_loader:
            optimizer.zero_grad()
            loss = F.cross_entropy(model(images), labels)
            loss.backward()
            optimizer.step()
            running += loss.item() * labels.numel()
            seen += labels.numel()
        dt = time.perf_counter() - t0
        train_acc, test_acc = evaluate(model, train_eval_loader), evaluate(model, test_loader)
        print(f"epoch {epoch:2d}/{args.epochs}  loss {running / seen:.4f}  train acc {train_acc:6.2%}  "
              f"test acc {test_acc:6.2%}  {seen / dt:7.0f} images/s")
    total = time.perf_counter() - start
    print(f"final test accuracy: {evaluate(model, test_loader):.2%}  ({total:.1f} s)")


if __name__ == "__main__":
    main()
