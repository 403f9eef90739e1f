"""VGG 11/13/16/19 (configurations A, B, D, E of Simonyan & Zisserman 2014), with and without
batch normalisation, in torchvision's layout and initialisation."""
from ... import nn
from ._api import Weights, WeightsEnum, _imagenet_meta, _legacy_pretrained, _load_weights, _num_classes
from ._api import _overwrite_named_param, _resolve_weights, register_model

__all__ = [
    "VGG", "VGG11_Weights", "VGG11_BN_Weights", "VGG13_Weights", "VGG13_BN_Weights", "VGG16_Weights",
    "VGG16_BN_Weights", "VGG19_Weights", "VGG19_BN_Weights",
    "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn",
]


class VGG(nn.Module):
    """``features`` (from ``make_layers``), a 7x7 adaptive average pool and a 4096-4096-classes head.

    Initialisation (``init_weights=True``): convolutions kaiming-normal (fan_out, relu) with zero
    bias, batch norms weight 1 / bias 0, linear layers N(0, 0.01) with zero bias."""

    def __init__(self, features, num_classes=1000, init_weights=True, dropout=0.5):
        super().__init__()
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096),
            nn.ReLU(True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, num_classes),
        )
        if init_weights:
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                    if m.bias is not None:
                        nn.init.constant_(m.bias, 0)
                elif isinstance(m, nn.BatchNorm2d):
                    nn.init.constant_(m.weight, 1)
                    nn.init.constant_(m.bias, 0)
                elif isinstance(m, nn.Linear):
                    nn.init.normal_(m.weight, 0, 0.01)
                    nn.init.constant_(m.bias, 0)

    def forward(self, x):
        x = self.features(x)
        x = self.avgpool(x)
        x = x.flatten(1)
        return self.classifier(x)


def make_layers(cfg, batch_norm=False):
    """3x3 padding-1 convolutions (+ BatchNorm2d) + ReLU per number in ``cfg``, 2x2 max-pool per "M"."""
    layers = []
    in_channels = 3
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers.append(nn.Conv2d(in_channels, v, kernel_size=3, padding=1))
            if batch_norm:
                layers.append(nn.BatchNorm2d(v))
            layers.append(nn.ReLU(inplace=True))
            in_channels = v
    return nn.Sequential(*layers)


cfgs = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}


def _vgg(cfg, batch_norm, enum_cls, weights, progress, kwargs):
    weights, path = _resolve_weights(enum_cls, weights)
    if weights is not None or path is not None:
        kwargs["init_weights"] = False
    if weights is not None and _num_classes(weights) is not None:
        _overwrite_named_param(kwargs, "num_classes", _num_classes(weights))
    model = VGG(make_layers(cfgs[cfg], batch_norm=batch_norm), **kwargs)
    return _load_weights(model, weights, path, progress)


def _w(url, num_params, acc1, acc5, **meta):
    return Weights(url=f"https://download.pytorch.org/models/{url}",
                   meta=_imagenet_meta(num_params, acc1, acc5, (32, 32), **meta))


class VGG11_Weights(WeightsEnum):
    IMAGENET1K_V1 = _w("vgg11-8a719046.pth", 132863336, 69.020, 88.628)
    DEFAULT = IMAGENET1K_V1


class VGG11_BN_Weights(WeightsEnum):
    IMAGENET1K_V1 = _w("vgg11_bn-6002323d.pth", 132868840, 70.370, 89.810)
    DEFAULT = IMAGENET1K_V1


class VGG13_Weights(WeightsEnum):
    IMAGENET1K_V1 = _w("vgg13-19584684.pth", 133047848, 69.928, 89.246)
    DEFAULT = IMAGENET1K_V1


class VGG13_BN_Weights(WeightsEnum):
    IMAGENET1K_V1 = _w("vgg13_bn-abd245e5.pth", 133053736, 71.586, 90.374)
    DEFAULT = IMAGENET1K_V1


class VGG16_Weights(WeightsEnum):
    IMAGENET1K_V1 = _w("vgg16-397923af.pth", 138357544, 71.592, 90.382)
    # Features-only weights ported from the original SSD repository: the classifier is untrained
    # (num_classes None: the builder does not force 1000); inputs in [0, 255] minus the channel means.
    IMAGENET1K_FEATURES = _w("vgg16_features-amdegroot-88682ab5.pth", 138357544, float("nan"), float("nan"),
                             num_classes=None, mean=(0.48235, 0.45882, 0.40784),
                             std=(1.0 / 255.0, 1.0 / 255.0, 1.0 / 255.0))
    DEFAULT = IMAGENET1K_V1


class VGG16_BN_Weights(WeightsEnum):
    IMAGENET1K_V1 = _w("vgg16_bn-6c64b313.pth", 138365992, 73.360, 91.516)
    DEFAULT = IMAGENET1K_V1


class VGG19_Weights(WeightsEnum):
    IMAGENET1K_V1 = _w("vgg19-dcbb9e9d.pth", 143667240, 72.376, 90.876)
    DEFAULT = IMAGENET1K_V1


class VGG19_BN_Weights(WeightsEnum):
    IMAGENET1K_V1 = _w("vgg19_bn-c79401a0.pth", 143678248, 74.218, 91.842)
    DEFAULT = IMAGENET1K_V1


_DOC = """VGG-{n}{bn} (configuration {cfg}). ``weights``: None, a ``{enum}`` member or its name, or a
    local checkpoint path; ``kwargs``: ``num_classes``, ``init_weights``, ``dropout``."""


def _builder(name, cfg, batch_norm, enum_cls):
    @register_model(name)
    @_legacy_pretrained(enum_cls)
    def build(*, weights=None, progress=True, **kwargs):
        return _vgg(cfg, batch_norm, enum_cls, weights, progress, kwargs)

    build.__name__ = build.__qualname__ = name
    build.__doc__ = _DOC.format(n=name[3:5], bn=" with batch norm" if batch_norm else "", cfg=cfg,
                                enum=enum_cls.__name__)
    return build


vgg11 = _builder("vgg11", "A", False, VGG11_Weights)
vgg11_bn = _builder("vgg11_bn", "A", True, VGG11_BN_Weights)
vgg13 = _builder("vgg13", "B", False, VGG13_Weights)
vgg13_bn = _builder("vgg13_bn", "B", True, VGG13_BN_Weights)
vgg16 = _builder("vgg16", "D", False, VGG16_Weights)
vgg16_bn = _builder("vgg16_bn", "D", True, VGG16_BN_Weights)
vgg19 = _builder("vgg19", "E", False, VGG19_Weights)
vgg19_bn = _builder("vgg19_bn", "E", True, VGG19_BN_Weights)
