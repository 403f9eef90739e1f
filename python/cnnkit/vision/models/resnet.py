"""ResNet 18/34/50/101/152 (He et al. 2015) in torchvision's layout: Bottleneck puts the stride on its
3x3 convolution ("ResNet v1.5"). Also ``resnet18_cifar``: the CIFAR-10 variant for 32x32 inputs."""
from ... import nn
from ._api import Weights, WeightsEnum, _imagenet_meta, _legacy_pretrained, _load_weights, _num_classes
from ._api import _overwrite_named_param, _resolve_weights, register_model

__all__ = [
    "ResNet", "BasicBlock", "Bottleneck", "ResNet18_Weights", "ResNet34_Weights", "ResNet50_Weights",
    "ResNet101_Weights", "ResNet152_Weights", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
    "resnet18_cifar",
]


def conv3x3(in_planes, out_planes, stride=1, groups=1, dilation=1):
    """3x3 convolution, padding = dilation, no bias (a batch norm follows)."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=dilation, groups=groups,
                     bias=False, dilation=dilation)


def conv1x1(in_planes, out_planes, stride=1):
    """1x1 convolution, no bias."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norms; the first carries the stride. ``out = relu(F(x) + x)``."""

    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None, groups=1, base_width=64, dilation=1,
                 norm_layer=None):
        super().__init__()
        if norm_layer is None:
            norm_layer = nn.BatchNorm2d
        if groups != 1 or base_width != 64:
            raise ValueError("BasicBlock only supports groups=1 and base_width=64")
        if dilation > 1:
            raise ValueError("BasicBlock: dilation > 1 is not supported (torchvision raises too)")
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = norm_layer(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = norm_layer(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out = out + identity
        return self.relu(out)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (stride, groups, dilation), 1x1 expand (x4), each with a batch norm."""

    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None, groups=1, base_width=64, dilation=1,
                 norm_layer=None):
        super().__init__()
        if norm_layer is None:
            norm_layer = nn.BatchNorm2d
        width = int(planes * (base_width / 64.0)) * groups
        self.conv1 = conv1x1(inplanes, width)
        self.bn1 = norm_layer(width)
        self.conv2 = conv3x3(width, width, stride, groups, dilation)
        self.bn2 = norm_layer(width)
        self.conv3 = conv1x1(width, planes * self.expansion)
        self.bn3 = norm_layer(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        out = out + identity
        return self.relu(out)


class ResNet(nn.Module):
    """Stem (7x7/2 conv, BN, ReLU, 3x3/2 max-pool), four stages of ``block`` (64, 128, 256, 512
    planes; stages 2-4 halve the resolution or, with ``replace_stride_with_dilation``, dilate),
    global average pool, ``fc``.

    Initialisation: convolutions kaiming-normal (fan_out, relu), norm layers weight 1 / bias 0,
    ``fc`` keeps Linear's default; ``zero_init_residual`` zeroes each block's last BN weight.

    ``cifar_stem=True`` (cnnkit addition, used by ``resnet18_cifar``) replaces the stem with a
    3x3 stride-1 convolution and drops the max-pool (``self.maxpool`` is ``nn.Identity()``), so
    32x32 inputs reach the last stage at 4x4; parameter names are unchanged.
    """

    def __init__(self, block, layers, num_classes=1000, zero_init_residual=False, groups=1, width_per_group=64,
                 replace_stride_with_dilation=None, norm_layer=None, cifar_stem=False):
        super().__init__()
        if norm_layer is None:
            norm_layer = nn.BatchNorm2d
        self._norm_layer = norm_layer
        self.inplanes = 64
        self.dilation = 1
        if replace_stride_with_dilation is None:
            replace_stride_with_dilation = [False, False, False]
        if len(replace_stride_with_dilation) != 3:
            raise ValueError("replace_stride_with_dilation should be None "
                             f"or a 3-element tuple, got {replace_stride_with_dilation}")
        self.groups = groups
        self.base_width = width_per_group
        if cifar_stem:
            self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=3, stride=1, padding=1, bias=False)
        else:
            self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = norm_layer(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.Identity() if cifar_stem else nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2, dilate=replace_stride_with_dilation[0])
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2, dilate=replace_stride_with_dilation[1])
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2, dilate=replace_stride_with_dilation[2])
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)

        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d) or type(m).__name__ == "GroupNorm":
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, Bottleneck) and m.bn3.weight is not None:
                    nn.init.constant_(m.bn3.weight, 0)
                elif isinstance(m, BasicBlock) and m.bn2.weight is not None:
                    nn.init.constant_(m.bn2.weight, 0)

    def _make_layer(self, block, planes, blocks, stride=1, dilate=False):
        norm_layer = self._norm_layer
        downsample = None
        previous_dilation = self.dilation
        if dilate:
            self.dilation *= stride
            stride = 1
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                conv1x1(self.inplanes, planes * block.expansion, stride),
                norm_layer(planes * block.expansion),
            )
        layers = [block(self.inplanes, planes, stride, downsample, self.groups, self.base_width, previous_dilation,
                        norm_layer)]
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            layers.append(block(self.inplanes, planes, groups=self.groups, base_width=self.base_width,
                                dilation=self.dilation, norm_layer=norm_layer))
        return nn.Sequential(*layers)

    def _forward_impl(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        x = self.layer4(x)
        x = self.avgpool(x)
        x = x.flatten(1)
        return self.fc(x)

    def forward(self, x):
        return self._forward_impl(x)


def _resnet(block, layers, enum_cls, weights, progress, kwargs):
    weights, path = _resolve_weights(enum_cls, weights)
    if weights is not None:
        _overwrite_named_param(kwargs, "num_classes", _num_classes(weights))
    return _load_weights(ResNet(block, layers, **kwargs), weights, path, progress)


def _w(url, num_params, acc1, acc5):
    return Weights(url=f"https://download.pytorch.org/models/{url}",
                   meta=_imagenet_meta(num_params, acc1, acc5, (1, 1)))


class ResNet18_Weights(WeightsEnum):
    IMAGENET1K_V1 = _w("resnet18-f37072fd.pth", 11689512, 69.758, 89.078)
    DEFAULT = IMAGENET1K_V1


class ResNet34_Weights(WeightsEnum):
    IMAGENET1K_V1 = _w("resnet34-b627a593.pth", 21797672, 73.314, 91.420)
    DEFAULT = IMAGENET1K_V1


class ResNet50_Weights(WeightsEnum):
    IMAGENET1K_V1 = _w("resnet50-0676ba61.pth", 25557032, 76.130, 92.862)
    IMAGENET1K_V2 = _w("resnet50-11ad3fa6.pth", 25557032, 80.858, 95.434)  # evaluated at resize 232
    DEFAULT = IMAGENET1K_V2


class ResNet101_Weights(WeightsEnum):
    IMAGENET1K_V1 = _w("resnet101-63fe2227.pth", 44549160, 77.374, 93.546)
    IMAGENET1K_V2 = _w("resnet101-cd907fc2.pth", 44549160, 81.886, 95.780)
    DEFAULT = IMAGENET1K_V2


class ResNet152_Weights(WeightsEnum):
    IMAGENET1K_V1 = _w("resnet152-394f9c45.pth", 60192808, 78.312, 94.046)
    IMAGENET1K_V2 = _w("resnet152-f82ba261.pth", 60192808, 82.284, 96.002)
    DEFAULT = IMAGENET1K_V2


_DOC = """ResNet-{n} ({block}, stages {layers}). ``weights``: None, a ``{enum}`` member or its name,
    or a local checkpoint path; ``kwargs``: ``num_classes``, ``zero_init_residual``, ``groups``,
    ``width_per_group``, ``replace_stride_with_dilation``, ``norm_layer``."""


def _builder(name, block, layers, enum_cls):
    @register_model(name)
    @_legacy_pretrained(enum_cls)
    def build(*, weights=None, progress=True, **kwargs):
        return _resnet(block, layers, enum_cls, weights, progress, kwargs)

    build.__name__ = build.__qualname__ = name
    build.__doc__ = _DOC.format(n=name[6:], block=block.__name__, layers=layers, enum=enum_cls.__name__)
    return build


resnet18 = _builder("resnet18", BasicBlock, [2, 2, 2, 2], ResNet18_Weights)
resnet34 = _builder("resnet34", BasicBlock, [3, 4, 6, 3], ResNet34_Weights)
resnet50 = _builder("resnet50", Bottleneck, [3, 4, 6, 3], ResNet50_Weights)
resnet101 = _builder("resnet101", Bottleneck, [3, 4, 23, 3], ResNet101_Weights)
resnet152 = _builder("resnet152", Bottleneck, [3, 8, 36, 3], ResNet152_Weights)


@register_model()
def resnet18_cifar(*, weights=None, progress=True, num_classes=10, **kwargs):
    """ResNet-18 for 32x32 images (CIFAR-10/100), the layout of He et al.'s ImageNet ResNet-18 with the
    stem common in CIFAR code (e.g. kuangliu/pytorch-cifar): ``conv1`` is 3x3 stride 1 padding 1
    (64 channels, no bias), no max-pool (``maxpool`` is ``nn.Identity()``); the stages, block and
    parameter names are ``resnet18``'s, so its state_dict keys are the same (``conv1.weight`` is
    64x3x3x3 instead of 64x3x7x7). 11,173,962 parameters for 10 classes.

    ``weights``: None or a local checkpoint path (there are no official pretrained files);
    ``num_classes`` defaults to 10; other ``kwargs`` as for ``ResNet``."""
    if weights is not None and not _is_existing_file(weights):
        raise ValueError(f"resnet18_cifar: weights must be None or a path to an existing checkpoint file, got "
                         f"{weights!r}")
    model = ResNet(BasicBlock, [2, 2, 2, 2], num_classes=num_classes, cifar_stem=True, **kwargs)
    return _load_weights(model, None, weights, progress)


def _is_existing_file(p):
    import os

    return (isinstance(p, str) or hasattr(p, "__fspath__")) and os.path.isfile(os.fspath(p))
