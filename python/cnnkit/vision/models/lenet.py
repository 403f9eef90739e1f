"""LeNet-5 (LeCun, Bottou, Bengio & Haffner, "Gradient-based learning applied to document
recognition", Proc. IEEE 1998), in the form CNN courses use."""
from ... import nn
from ._api import _load_weights, register_model

__all__ = ["LeNet5", "lenet5"]


class LeNet5(nn.Module):
    """LeNet-5 on 1x32x32 inputs (MNIST digits padded by 2 pixels, as in the paper).

    Layer by layer (names are the paper's; shapes for one 32x32 image)::

        C1  Conv2d(1, 6, 5)            -> 6x28x28,  tanh
        S2  AvgPool2d(2, 2)            -> 6x14x14
        C3  Conv2d(6, 16, 5)           -> 16x10x10, tanh
        S4  AvgPool2d(2, 2)            -> 16x5x5
        C5  Conv2d(16, 120, 5)         -> 120x1x1,  tanh
        F6  Linear(120, 84)            -> 84,       tanh
        out Linear(84, num_classes)    -> 10 logits

    Choices versus the 1998 paper, as most re-implementations make them:
      * activation: plain ``tanh`` (the paper uses the scaled ``1.7159 * tanh(2x/3)``);
      * S2/S4: average pooling without the paper's trainable per-map coefficient and bias
        (the paper's subsampling then applies a sigmoid; here no activation follows pooling);
      * C3: full connectivity, every C3 map sees all 6 S2 maps (the paper's sparse 60-of-96 table
        was an engineering economy);
      * output: a linear layer giving logits for ``nn.CrossEntropyLoss`` (the paper uses Euclidean
        RBF units with hand-designed targets).
    Parameter count for 10 classes: 61,706.

    Modules: ``features`` (C1..C5 with their activations and pools, an ``nn.Sequential``) and
    ``classifier`` (flatten, F6, tanh, output)."""

    def __init__(self, num_classes=10, in_channels=1):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, kernel_size=5),
            nn.Tanh(),
            nn.AvgPool2d(kernel_size=2, stride=2),
            nn.Conv2d(6, 16, kernel_size=5),
            nn.Tanh(),
            nn.AvgPool2d(kernel_size=2, stride=2),
            nn.Conv2d(16, 120, kernel_size=5),
            nn.Tanh(),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(120, 84),
            nn.Tanh(),
            nn.Linear(84, num_classes),
        )

    def forward(self, x):
        return self.classifier(self.features(x))


@register_model()
def lenet5(*, weights=None, progress=True, **kwargs):
    """LeNet-5 (see ``LeNet5``). ``weights``: None or a local checkpoint path; ``kwargs``:
    ``num_classes`` (10), ``in_channels`` (1)."""
    import os

    path = None
    if weights is not None:
        if not ((isinstance(weights, str) or hasattr(weights, "__fspath__")) and os.path.isfile(os.fspath(weights))):
            raise ValueError(f"lenet5: weights must be None or a path to an existing checkpoint file, got {weights!r}")
        path = weights
    return _load_weights(LeNet5(**kwargs), None, path, progress)
