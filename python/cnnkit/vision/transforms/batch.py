"""cnnkit.vision.transforms.batch — a cnnkit extension: augmentations of a whole ``(N, C, H, W)``
batch with INDEPENDENT random parameters per sample, vectorised with tensor ops (no Python loop
over samples) and device-agnostic, so they run after the DataLoader on the model's device::

    augment = batch.Compose([batch.RandomCrop(32, padding=4), batch.RandomHorizontalFlip(),
                             batch.Normalize((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))])
    for images, labels in loader:
        images = augment(images.to(device))

Each transform draws its parameters from cnnkit's default generator (``cnnkit.manual_seed``
reproduces them) in ``get_params(batch)``, applies them in ``apply(batch, params)``, and keeps the
last draw in ``last_params`` (a dict of ``N``-element tensors; ``Compose.last_params`` is the list of
its children's). ``out[n]`` equals the per-sample functional op with ``params[n]``: for RandomCrop
``F.crop(F.pad(x[n], padding), top[n], left[n], h, w)``, for the flips ``F.hflip(x[n])`` where
``flip[n]``, for RandomErasing ``F.erase(x[n], top[n], left[n], height[n], width[n], value)`` where
``erase[n]``.
"""
import math
import numbers
from collections.abc import Sequence

from ...nn.module import Module
from . import _functional_tensor as F_t
from .transforms import RandomCrop as _PerImageRandomCrop
from .transforms import _setup_size

__all__ = ["Compose", "RandomCrop", "RandomHorizontalFlip", "RandomVerticalFlip", "Normalize", "RandomErasing"]


def _torch():
    import cnnkit

    return cnnkit


def _check_batch(x, name):
    from ...tensor import Tensor

    if not isinstance(x, Tensor):
        raise TypeError(f"batch.{name}: expected a Tensor batch (N, C, H, W), got {type(x).__name__}")
    if x.ndim != 4:
        raise ValueError(f"batch.{name}: expected a 4-D batch (N, C, H, W), got shape {tuple(x.shape)}")


class _BatchTransform(Module):
    """get_params(batch) -> dict of per-sample tensors; apply(batch, params) -> batch."""

    last_params = None

    def forward(self, x):
        _check_batch(x, type(self).__name__)
        params = self.get_params(x)
        self.last_params = params
        return self.apply(x, params)


class Compose:
    """Applies batch transforms in order; ``last_params`` lists each one's last draw."""

    def __init__(self, transforms):
        self.transforms = transforms
        self.last_params = None

    def __call__(self, x):
        for t in self.transforms:
            x = t(x)
        self.last_params = [getattr(t, "last_params", None) for t in self.transforms]
        return x

    def __repr__(self):
        s = self.__class__.__name__ + "("
        for t in self.transforms:
            s += f"\n    {t}"
        return s + "\n)"


class RandomCrop(_BatchTransform):
    """A ``size`` window at a random position per sample, after optional padding of the batch.

    The crop is one gather over the flattened (H*W) planes with per-sample index tensors."""

    def __init__(self, size, padding=None, pad_if_needed=False, fill=0, padding_mode="constant"):
        super().__init__()
        self.size = tuple(_setup_size(size, error_msg="Please provide only two dimensions (h, w) for size."))
        self.padding = padding
        self.pad_if_needed = pad_if_needed
        self.fill = fill
        self.padding_mode = padding_mode

    # the per-image RandomCrop's padding (padding, then pad_if_needed to size) works on (N, C, H, W) as is
    _pad = _PerImageRandomCrop._pad

    def get_params(self, x):
        """{'top', 'left'}: int64 (N,) corners in the padded batch, uniform as RandomCrop.get_params."""
        torch = _torch()
        n = x.shape[0]
        h, w = self._padded_size(x)
        th, tw = self.size
        if h < th or w < tw:
            raise ValueError(f"Required crop size {(th, tw)} is larger than input image size {(h, w)}")
        top = torch.randint(0, h - th + 1, (n,))
        left = torch.randint(0, w - tw + 1, (n,))
        return {"top": top, "left": left}

    def _padded_size(self, x):
        h, w = x.shape[-2], x.shape[-1]
        if self.padding is not None:
            lft, rgt, top, bot = F_t._parse_pad_padding(
                [self.padding] if isinstance(self.padding, int) else list(self.padding))
            h, w = h + top + bot, w + lft + rgt
        th, tw = self.size
        if self.pad_if_needed:
            w = w + 2 * (tw - w) if w < tw else w
            h = h + 2 * (th - h) if h < th else h
        return h, w

    def apply(self, x, params):
        torch = _torch()
        x = self._pad(x)
        n, c, h, w = x.shape
        th, tw = self.size
        top = params["top"].to(x.device).view(n, 1)
        left = params["left"].to(x.device).view(n, 1)
        rows = top + torch.arange(th, device=x.device).view(1, th)  # (N, th)
        cols = left + torch.arange(tw, device=x.device).view(1, tw)  # (N, tw)
        # one gather over the flattened plane: index = row * W + col for each output pixel
        flat = (rows.view(n, th, 1) * w + cols.view(n, 1, tw)).view(n, 1, th * tw).expand(n, c, th * tw)
        return x.reshape(n, c, h * w).gather(2, flat).view(n, c, th, tw)

    def __repr__(self):
        return f"{self.__class__.__name__}(size={self.size}, padding={self.padding})"


class _RandomFlip(_BatchTransform):
    _dim = -1

    def __init__(self, p=0.5):
        super().__init__()
        self.p = p

    def get_params(self, x):
        """{'flip'}: bool (N,), True with probability p."""
        return {"flip": _torch().rand(x.shape[0]) < self.p}

    def apply(self, x, params):
        mask = params["flip"].to(x.device).view(-1, 1, 1, 1)
        return _torch().where(mask, x.flip(self._dim), x)

    def __repr__(self):
        return f"{self.__class__.__name__}(p={self.p})"


class RandomHorizontalFlip(_RandomFlip):
    """Mirrors each sample left-right with probability ``p``, independently."""

    _dim = -1


class RandomVerticalFlip(_RandomFlip):
    """Flips each sample top-bottom with probability ``p``, independently."""

    _dim = -2


class Normalize(_BatchTransform):
    """(x - mean[c]) / std[c] on the batch's device (no randomness; ``last_params`` is {})."""

    def __init__(self, mean, std, inplace=False):
        super().__init__()
        self.mean = mean
        self.std = std
        self.inplace = inplace

    def get_params(self, x):
        return {}

    def apply(self, x, params):
        return F_t.normalize(x, self.mean, self.std, self.inplace)

    def __repr__(self):
        return f"{self.__class__.__name__}(mean={self.mean}, std={self.std})"


class RandomErasing(_BatchTransform):
    """Erases one random rectangle per sample with probability ``p`` (torchvision's RandomErasing,
    drawn for all samples at once): ten candidate (area, aspect) pairs per sample, the first that
    fits is used, none -> no erasing. ``value``: a number, a per-channel sequence or 'random'
    (standard normal noise)."""

    def __init__(self, p=0.5, scale=(0.02, 0.33), ratio=(0.3, 3.3), value=0, inplace=False):
        super().__init__()
        if not isinstance(value, (numbers.Number, str, tuple, list)):
            raise TypeError("Argument value should be either a number or str or a sequence")
        if isinstance(value, str) and value != "random":
            raise ValueError("If value is str, it should be 'random'")
        if not isinstance(scale, Sequence) or not isinstance(ratio, Sequence):
            raise TypeError("Scale and ratio should be sequences")
        if scale[0] < 0 or scale[1] > 1:
            raise ValueError("Scale should be between 0 and 1")
        if p < 0 or p > 1:
            raise ValueError("Random erasing probability should be between 0 and 1")
        self.p = p
        self.scale = scale
        self.ratio = ratio
        self.value = value
        self.inplace = inplace

    def get_params(self, x):
        """{'erase' bool, 'top', 'left', 'height', 'width' int64}: (N,) each, on the CPU."""
        torch = _torch()
        n, _, img_h, img_w = x.shape
        tries = 10
        apply = torch.rand(n) < self.p
        area = img_h * img_w * torch.empty(n, tries, dtype=torch.float64).uniform_(self.scale[0], self.scale[1])
        log_r = torch.empty(n, tries, dtype=torch.float64).uniform_(math.log(self.ratio[0]), math.log(self.ratio[1]))
        aspect = log_r.exp()
        h = (area * aspect).sqrt().round().long()
        w = (area / aspect).sqrt().round().long()
        ok = (h < img_h) & (w < img_w)
        # the first fitting try: argmax over a 0/1 row (first maximum) once rows without any are masked
        first = ok.long().argmax(dim=1, keepdim=True)
        found = ok.any(dim=1)
        h = h.gather(1, first).view(n)
        w = w.gather(1, first).view(n)
        erase = apply & found
        h = torch.where(erase, h, torch.zeros_like(h))
        w = torch.where(erase, w, torch.zeros_like(w))
        u = torch.rand(n, 2, dtype=torch.float64)
        top = (u[:, 0] * (img_h - h + 1).double()).floor().long()
        left = (u[:, 1] * (img_w - w + 1).double()).floor().long()
        return {"erase": erase, "top": top, "left": left, "height": h, "width": w}

    def apply(self, x, params):
        torch = _torch()
        n, c, img_h, img_w = x.shape
        dev = x.device
        top, left = params["top"].to(dev).view(n, 1), params["left"].to(dev).view(n, 1)
        h, w = params["height"].to(dev).view(n, 1), params["width"].to(dev).view(n, 1)
        ys = torch.arange(img_h, device=dev).view(1, img_h)
        xs = torch.arange(img_w, device=dev).view(1, img_w)
        rows = (ys >= top) & (ys < top + h)  # (N, H)
        cols = (xs >= left) & (xs < left + w)  # (N, W)
        mask = (rows.view(n, 1, img_h, 1) & cols.view(n, 1, 1, img_w)) & params["erase"].to(dev).view(n, 1, 1, 1)
        if isinstance(self.value, str):
            v = torch.randn(n, c, img_h, img_w, dtype=x.dtype if x.is_floating_point() else torch.float32, device=dev)
        else:
            vals = [float(self.value)] if isinstance(self.value, numbers.Number) else [float(v) for v in self.value]
            if len(vals) not in (1, c):
                raise ValueError("If value is a sequence, it should have either a single value or "
                                 f"{c} (number of input channels)")
            v = torch.tensor(vals, dtype=x.dtype, device=dev).view(1, len(vals), 1, 1)
        v = v.to(x.dtype)
        if self.inplace:
            return x.copy_(torch.where(mask, v, x))
        return torch.where(mask, v, x)

    def __repr__(self):
        return (f"{self.__class__.__name__}(p={self.p}, scale={self.scale}, ratio={self.ratio}, "
                f"value={self.value}, inplace={self.inplace})")
