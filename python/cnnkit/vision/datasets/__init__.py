"""cnnkit.vision.datasets: torchvision.datasets' classes reading the real on-disk formats.

MNIST / FashionMNIST / KMNIST / EMNIST (IDX files), CIFAR10 / CIFAR100 (pickled batches, read with
a restricted unpickler), SVHN (.mat, needs scipy), DatasetFolder / ImageFolder (folder trees),
FakeData, and Digits (UCI 8x8 digits shipped with cnnkit). Download helpers are in ``.utils``.
Pillow is needed only to produce the PIL images that items are (torchvision's convention).
"""
from . import utils
from .cifar import CIFAR10, CIFAR100
from .digits import Digits
from .fakedata import FakeData
from .folder import DatasetFolder, ImageFolder
from .mnist import EMNIST, KMNIST, MNIST, FashionMNIST
from .svhn import SVHN
from .vision import VisionDataset

__all__ = ["Digits", "VisionDataset", "MNIST", "FashionMNIST", "KMNIST", "EMNIST", "CIFAR10", "CIFAR100", "SVHN",
           "DatasetFolder", "ImageFolder", "FakeData"]
