"""Benchmark shapes and networks shared by ``cnnkit bench`` and the scripts in benchmarks/.

LAYERS: the CIFAR ResNet-18 convolutions as (name, C, H(=W), OC, kernel, stride); padding 1 for 3x3, 0 for
1x1: the stem 3->64 at 32x32, the 3x3 convolutions of the four stages (64 @ 32x32, 128 @ 16x16,
256 @ 8x8, 512 @ 4x4, with the stride-2 first convolution of stages 2-4) and the three 1x1 stride-2
shortcuts. QUICK: one layer per stage plus one shortcut.

The networks are written once against a library's ``nn`` / ``nn.functional`` modules, so cnnkit and
torch get exactly the same architecture and parameter order (for copying the weights across).
No kernel code here: backward semantics (= or +=) do not apply to this file.
"""
from __future__ import annotations

LAYERS = [
    ("conv1 3->64 32x32", 3, 32, 64, 3, 1),
    ("layer1 64->64 32x32", 64, 32, 64, 3, 1),
    ("layer2.0 64->128 s2", 64, 32, 128, 3, 2),
    ("layer2 128->128 16x16", 128, 16, 128, 3, 1),
    ("layer3.0 128->256 s2", 128, 16, 256, 3, 2),
    ("layer3 256->256 8x8", 256, 8, 256, 3, 1),
    ("layer4.0 256->512 s2", 256, 8, 512, 3, 2),
    ("layer4 512->512 4x4", 512, 4, 512, 3, 1),
    ("short2 1x1 64->128 s2", 64, 32, 128, 1, 2),
    ("short3 1x1 128->256 s2", 128, 16, 256, 1, 2),
    ("short4 1x1 256->512 s2", 256, 8, 512, 1, 2),
]
QUICK = {"conv1 3->64 32x32", "layer1 64->64 32x32", "layer2 128->128 16x16", "layer3 256->256 8x8",
         "layer4 512->512 4x4", "short3 1x1 128->256 s2"}


def make_lenet(nn):
    """LeNet-5 for 1x28x28 inputs (padding 2 on the first convolution), ReLU and max-pooling."""
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))


def lenet_flops(N):
    """Forward FLOPs of make_lenet's convolutions and linear layers for a batch of N."""
    return 2.0 * N * (6 * 28 * 28 * 25 + 16 * 10 * 10 * 6 * 25 + 400 * 120 + 120 * 84 + 84 * 10)


def make_resnet(nn, F, blocks=(2, 2, 2, 2), batch_norm=True, num_classes=10):
    """CIFAR ResNet (3x3 stem, 4 stages of BasicBlocks, 1x1 stride-2 shortcuts); blocks=(2, 2, 2, 2) is
    ResNet-18. batch_norm=False drops every BatchNorm2d (the convolutions then carry no bias either)."""
    bn = (lambda c: nn.BatchNorm2d(c)) if batch_norm else (lambda c: nn.Identity())

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = bn(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = bn(cout)
            if stride != 1 or cin != cout:
                self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), bn(cout))
            else:
                self.short = nn.Identity()

        def forward(self, x):
            out = F.relu(self.bn1(self.conv1(x)))
            return F.relu(self.bn2(self.conv2(out)) + self.short(x))

    class ResNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
            self.bn = bn(64)
            layers, cin = [], 64
            for i, (cout, nb) in enumerate(zip((64, 128, 256, 512), blocks)):
                for j in range(nb):
                    layers.append(Block(cin, cout, 2 if i > 0 and j == 0 else 1))
                    cin = cout
            self.layers = nn.Sequential(*layers)
            self.fc = nn.Linear(512, num_classes)

        def forward(self, x):
            x = self.layers(F.relu(self.bn(self.stem(x))))
            return self.fc(F.avg_pool2d(x, 4).flatten(1))

    return ResNet()


def resnet_flops(N, blocks=(2, 2, 2, 2)):
    """Forward FLOPs of make_resnet's convolutions and classifier (BatchNorm not counted)."""
    conv = lambda c, oc, hw, k: 2.0 * N * oc * hw * hw * c * k * k  # noqa: E731 (hw = output size)
    f, cin, hw = conv(3, 64, 32, 3), 64, 32
    for i, (cout, nb) in enumerate(zip((64, 128, 256, 512), blocks)):
        for j in range(nb):
            s = 2 if i > 0 and j == 0 else 1
            hw //= s
            f += conv(cin, cout, hw, 3) + conv(cout, cout, hw, 3) + (conv(cin, cout, hw, 1) if s != 1 else 0)
            cin = cout
    return f + 2.0 * N * 512 * 10
