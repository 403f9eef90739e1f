"""vision.transforms: the image transforms course code composes (torchvision.transforms' names).

ToTensor turns an H x W x C uint8 image (NumPy array or PIL image) into a C x H x W float32 tensor
in [0, 1]; Normalize standardises each channel; Compose chains transforms; Lambda wraps a function.
"""
import numpy as np

__all__ = ["Compose", "ToTensor", "Normalize", "Lambda"]


class Compose:
    """Apply several transforms in order."""

    def __init__(self, transforms):
        self.transforms = transforms

    def __call__(self, img):
        for t in self.transforms:
            img = t(img)
        return img

    def __repr__(self):
        s = self.__class__.__name__ + "("
        for t in self.transforms:
            s += "\n"
            s += f"    {t}"
        s += "\n)"
        return s


class ToTensor:
    """H x W x C (or H x W) image -> C x H x W tensor; uint8 values are scaled to [0, 1] float32.

    Arrays of other dtypes keep their values and dtype (as torchvision does). PIL images are read
    through ``numpy.asarray``; mode "1" (bilevel) images become uint8 0/255 first.
    """

    def __call__(self, pic):
        from .. import from_numpy
        from ..tensor import Tensor

        if isinstance(pic, Tensor):
            raise TypeError(f"pic should be PIL Image or ndarray. Got {type(pic)}")
        if not isinstance(pic, np.ndarray):
            if getattr(pic, "mode", None) == "1":
                pic = pic.convert("L")
            pic = np.asarray(pic)
        if pic.ndim not in (2, 3):
            raise ValueError(f"pic should be 2/3 dimensional. Got {pic.ndim} dimensions.")
        if pic.ndim == 2:
            pic = pic[:, :, None]
        chw = np.ascontiguousarray(pic.transpose(2, 0, 1))
        if chw.dtype == np.uint8:
            # Data preparation, not model compute: one exact conversion while copying the array.
            return from_numpy(chw.astype(np.float32) / np.float32(255.0))
        return from_numpy(chw)

    def __repr__(self):
        return f"{self.__class__.__name__}()"


class Normalize:
    """output[c] = (input[c] - mean[c]) / std[c] for a (..., C, H, W) float tensor."""

    def __init__(self, mean, std, inplace=False):
        self.mean = mean
        self.std = std
        self.inplace = inplace

    def __call__(self, tensor):
        from .. import as_tensor
        from ..tensor import Tensor

        if not isinstance(tensor, Tensor):
            raise TypeError(f"Input tensor should be a cnnkit tensor. Got {type(tensor)}.")
        if not tensor.is_floating_point():
            raise TypeError(f"Input tensor should be a float tensor. Got {tensor.dtype}.")
        if tensor.dim() < 3:
            raise ValueError(
                f"Expected tensor to be a tensor image of size (..., C, H, W). Got tensor.size() = {tensor.size()}"
            )
        mean = as_tensor(np.asarray(self.mean, dtype=tensor.dtype.numpy)).reshape(-1, 1, 1)
        std = as_tensor(np.asarray(self.std, dtype=tensor.dtype.numpy)).reshape(-1, 1, 1)
        if bool((std == 0).any()):
            raise ValueError(f"std evaluated to zero after conversion to {tensor.dtype}, leading to division by zero.")
        if self.inplace:
            return tensor.sub_(mean).div_(std)
        return (tensor - mean) / std

    def __repr__(self):
        return f"{self.__class__.__name__}(mean={self.mean}, std={self.std})"


class Lambda:
    """Apply a user-defined function as a transform."""

    def __init__(self, lambd):
        if not callable(lambd):
            raise TypeError(f"Argument lambd should be callable, got {repr(type(lambd).__name__)}")
        self.lambd = lambd

    def __call__(self, img):
        return self.lambd(img)

    def __repr__(self):
        return f"{self.__class__.__name__}()"
