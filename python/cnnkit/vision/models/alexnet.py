"""AlexNet, torchvision's layout (the "one weird trick" single-tower variant, arXiv:1404.5997)."""
from ... import nn
from ._api import Weights, WeightsEnum, _imagenet_meta, _legacy_pretrained, _load_weights, _num_classes
from ._api import _overwrite_named_param, _resolve_weights, register_model

__all__ = ["AlexNet", "AlexNet_Weights", "alexnet"]


class AlexNet(nn.Module):
    """Five convolutions (64, 192, 384, 256, 256 channels) with three 3x3/2 max-pools, a 6x6 adaptive
    average pool, and three fully connected layers with dropout. Input 3x(>=63)x(>=63)."""

    def __init__(self, num_classes=1000, dropout=0.5):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout),
            nn.Linear(256 * 6 * 6, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x):
        x = self.features(x)
        x = self.avgpool(x)
        x = x.flatten(1)
        return self.classifier(x)


class AlexNet_Weights(WeightsEnum):
    IMAGENET1K_V1 = Weights(
        url="https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
        meta=_imagenet_meta(61100840, 56.522, 79.066, (63, 63)),
    )
    DEFAULT = IMAGENET1K_V1


@register_model()
@_legacy_pretrained(AlexNet_Weights)
def alexnet(*, weights=None, progress=True, **kwargs):
    """AlexNet (torchvision's variant). ``weights``: None, an ``AlexNet_Weights`` member or its name,
    or a local checkpoint path; ``kwargs``: ``num_classes``, ``dropout``."""
    weights, path = _resolve_weights(AlexNet_Weights, weights)
    if weights is not None:
        _overwrite_named_param(kwargs, "num_classes", _num_classes(weights))
    return _load_weights(AlexNet(**kwargs), weights, path, progress)
