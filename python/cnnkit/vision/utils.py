"""cnnkit.vision.utils: ``make_grid`` and ``save_image`` as in torchvision.utils.

Both compose existing cnnkit tensor operations (stack/cat, clamp_/sub_/div_, full, narrow + copy_),
so they run on the tensor's own device and give torchvision's numbers.
"""
import math

from ..autograd import no_grad

__all__ = ["make_grid", "save_image"]


def make_grid(tensor, nrow=8, padding=2, normalize=False, value_range=None, scale_each=False, pad_value=0.0):
    """Tiles a batch (B, C, H, W) -- or a list of same-sized (C, H, W) images -- into one (C, H', W')
    image: ``min(nrow, B)`` images per row, ``padding`` pixels of ``pad_value`` around each.

    Single-channel inputs are repeated to three channels. ``normalize=True`` maps ``value_range``
    (default: the tensor's min and max; per image with ``scale_each``) to [0, 1], clamping first.
    A batch of one image is returned without padding (torchvision's behaviour)."""
    from ..tensor import Tensor, cat, full, stack

    if not isinstance(tensor, Tensor):
        if isinstance(tensor, list):
            for t in tensor:
                if not isinstance(t, Tensor):
                    raise TypeError(f"tensor or list of tensors expected, got a list containing {type(t)}")
        else:
            raise TypeError(f"tensor or list of tensors expected, got {type(tensor)}")
    with no_grad():
        if isinstance(tensor, list):
            tensor = stack(tensor, dim=0)
        if tensor.dim() == 2:
            tensor = tensor.unsqueeze(0)
        if tensor.dim() == 3:
            if tensor.size(0) == 1:
                tensor = cat((tensor, tensor, tensor), 0)
            tensor = tensor.unsqueeze(0)
        if tensor.dim() != 4:
            raise ValueError(f"make_grid: expected a 2-D, 3-D or 4-D tensor (or a list of images), got "
                             f"{tensor.dim()}-D of shape {tuple(tensor.shape)}")
        if tensor.size(1) == 1:
            tensor = cat((tensor, tensor, tensor), 1)

        if normalize is True:
            tensor = tensor.clone()
            if value_range is not None and not isinstance(value_range, tuple):
                raise TypeError("value_range has to be a tuple (min, max) if specified. min and max are numbers")

            def norm_ip(img, low, high):
                img.clamp_(min=low, max=high)
                img.sub_(low).div_(max(high - low, 1e-5))

            def norm_range(t):
                if value_range is not None:
                    norm_ip(t, value_range[0], value_range[1])
                else:
                    norm_ip(t, float(t.min()), float(t.max()))

            if scale_each is True:
                for i in range(tensor.size(0)):
                    norm_range(tensor[i])
            else:
                norm_range(tensor)

        if tensor.size(0) == 1:
            return tensor.squeeze(0)

        nmaps = tensor.size(0)
        xmaps = min(nrow, nmaps)
        ymaps = int(math.ceil(float(nmaps) / xmaps))
        height, width = int(tensor.size(2) + padding), int(tensor.size(3) + padding)
        num_channels = tensor.size(1)
        grid = full((num_channels, height * ymaps + padding, width * xmaps + padding), pad_value,
                    dtype=tensor.dtype, device=tensor.device)
        k = 0
        for y in range(ymaps):
            for x in range(xmaps):
                if k >= nmaps:
                    break
                grid.narrow(1, y * height + padding, height - padding).narrow(
                    2, x * width + padding, width - padding).copy_(tensor[k])
                k += 1
        return grid


def save_image(tensor, fp, format=None, **kwargs):
    """Writes ``make_grid(tensor, **kwargs)`` as an 8-bit image file (PNG, JPEG, ... by ``fp``'s
    extension or ``format``); values in [0, 1] map to 0..255 rounding to nearest. Needs Pillow."""
    try:
        from PIL import Image
    except ImportError:
        raise ImportError('save_image needs Pillow; install it with: pip install "cnnkit[vision]"') from None
    import numpy as np

    grid = make_grid(tensor, **kwargs)
    arr = grid.detach().cpu().numpy()
    # torchvision's mul(255).add_(0.5).clamp_(0, 255) in the grid's dtype, then truncation to uint8
    arr = np.clip(arr * arr.dtype.type(255) + arr.dtype.type(0.5), 0, 255).astype(np.uint8)
    Image.fromarray(np.ascontiguousarray(arr.transpose(1, 2, 0))).save(fp, format=format)
