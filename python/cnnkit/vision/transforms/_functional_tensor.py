"""Tensor image ops behind ``cnnkit.vision.transforms.functional`` (torchvision's ``_functional_tensor``).

Images are ``(..., C, H, W)`` (or ``(H, W)``) cnnkit tensors on any device; every op is written with
cnnkit tensor ops (slicing, ``flip``, ``F.pad``, ``F.interpolate``, ``F.conv2d``, ``F.grid_sample``,
elementwise math), so the result stays on the input's device. Integer images are handled as
torchvision does: computed in float32, then rounded (resampling ops) or truncated (colour blends)
and clamped back into the dtype's range.
"""
import math

from ... import _dtype as D

__all__ = []  # private module: the public names are in functional.py


def _torch():
    import cnnkit

    return cnnkit


def _nnf():
    import cnnkit.nn.functional as F

    return F


def _is_tensor_a_torch_image(x):
    return x.ndim >= 2


def _assert_image_tensor(img):
    if not _is_tensor_a_torch_image(img):
        raise TypeError("Tensor is not a torch image.")


def get_dimensions(img):
    _assert_image_tensor(img)
    channels = 1 if img.ndim == 2 else img.shape[-3]
    height, width = img.shape[-2:]
    return [channels, height, width]


def get_image_size(img):
    _assert_image_tensor(img)
    return [img.shape[-1], img.shape[-2]]


def get_image_num_channels(img):
    _assert_image_tensor(img)
    return 1 if img.ndim == 2 else img.shape[-3]


_MAX = {"uint8": 255, "int8": 127, "int16": 32767, "int32": 2147483647, "int64": 9223372036854775807}


def _max_value(dtype):
    """The value of 'full intensity' for an image dtype: 1 for floats, the maximum for integers."""
    return _MAX.get(dtype.name, 1)


def _assert_channels(img, permitted):
    c = get_dimensions(img)[0]
    if c not in permitted:
        raise TypeError(f"Input image tensor permitted channel values are {permitted}, but found {c}")


def convert_image_dtype(image, dtype=D.float32):
    """Converts values and dtype: float images live in [0, 1], integer ones in [0, max]."""
    if image.dtype == dtype:
        return image
    if image.is_floating_point():
        if dtype.is_floating_point:
            return image.to(dtype)
        if (image.dtype == D.float32 and dtype in (D.int32, D.int64)) or (
                image.dtype == D.float64 and dtype == D.int64):
            raise RuntimeError(f"The cast from {image.dtype} to {dtype} cannot be performed safely.")
        # Scale by max+1-eps so that every integer bucket is the same width and 1.0 lands on max.
        eps = 1e-3
        return image.mul(float(_max_value(dtype)) + 1.0 - eps).to(dtype)
    input_max = float(_max_value(image.dtype))
    if dtype.is_floating_point:
        return image.to(dtype) / input_max
    output_max = float(_max_value(dtype))
    if input_max > output_max:
        factor = int((input_max + 1) // (output_max + 1))
        return _torch().div(image, factor, rounding_mode="floor").to(dtype)
    factor = int((output_max + 1) // (input_max + 1))
    return image.to(dtype) * factor


def vflip(img):
    _assert_image_tensor(img)
    return img.flip(-2)


def hflip(img):
    _assert_image_tensor(img)
    return img.flip(-1)


def crop(img, top, left, height, width):
    """Slices the window; parts outside the image are zero-padded (as torchvision does)."""
    _assert_image_tensor(img)
    _, h, w = get_dimensions(img)
    right, bottom = left + width, top + height
    if left < 0 or top < 0 or right > w or bottom > h:
        padding_ltrb = [max(-left + min(0, right), 0), max(-top + min(0, bottom), 0),
                        max(right - max(w, left), 0), max(bottom - max(h, top), 0)]
        return pad(img[..., max(top, 0):bottom, max(left, 0):right], padding_ltrb, fill=0)
    return img[..., top:bottom, left:right]


def rgb_to_grayscale(img, num_output_channels=1):
    if img.ndim < 3:
        raise TypeError(f"Input image tensor should have at least 3 dimensions, but found {img.ndim}")
    _assert_channels(img, [1, 3])
    if num_output_channels not in (1, 3):
        raise ValueError("num_output_channels should be either 1 or 3")
    if img.shape[-3] == 3:
        r, g, b = img.unbind(dim=-3)
        # ITU-R 601-2 luma, the weights PIL's convert("L") uses
        l_img = (0.2989 * r + 0.587 * g + 0.114 * b).to(img.dtype).unsqueeze(dim=-3)
    else:
        l_img = img.clone()
    if num_output_channels == 3:
        return l_img.expand(img.shape)
    return l_img


def _blend(img1, img2, ratio):
    ratio = float(ratio)
    bound = _max_value(img1.dtype)
    return (ratio * img1 + (1.0 - ratio) * img2).clamp(0, bound).to(img1.dtype)


def adjust_brightness(img, brightness_factor):
    if brightness_factor < 0:
        raise ValueError(f"brightness_factor ({brightness_factor}) is not non-negative.")
    _assert_image_tensor(img)
    _assert_channels(img, [1, 3])
    return _blend(img, _torch().zeros_like(img), brightness_factor)


def adjust_contrast(img, contrast_factor):
    if contrast_factor < 0:
        raise ValueError(f"contrast_factor ({contrast_factor}) is not non-negative.")
    _assert_image_tensor(img)
    _assert_channels(img, [3, 1])
    c = get_dimensions(img)[0]
    dtype = img.dtype if img.is_floating_point() else D.float32
    gray = rgb_to_grayscale(img) if c == 3 else img
    mean = gray.to(dtype).mean(dim=(-3, -2, -1), keepdim=True)
    return _blend(img, mean, contrast_factor)


def adjust_saturation(img, saturation_factor):
    if saturation_factor < 0:
        raise ValueError(f"saturation_factor ({saturation_factor}) is not non-negative.")
    _assert_image_tensor(img)
    _assert_channels(img, [1, 3])
    if get_dimensions(img)[0] == 1:  # as PIL: a one-channel image has no saturation
        return img
    return _blend(img, rgb_to_grayscale(img), saturation_factor)


def _rgb2hsv(img):
    torch = _torch()
    r, g, b = img.unbind(dim=-3)
    maxc = img.amax(dim=-3)
    minc = img.amin(dim=-3)
    eqc = maxc == minc  # grey pixels: hue and saturation 0 (guard the divisions below)
    cr = maxc - minc
    ones = torch.ones_like(maxc)
    s = cr / torch.where(eqc, ones, maxc)
    cr_divisor = torch.where(eqc, ones, cr)
    rc = (maxc - r) / cr_divisor
    gc = (maxc - g) / cr_divisor
    bc = (maxc - b) / cr_divisor
    hr = (maxc == r) * (bc - gc)
    hg = ((maxc == g) & (maxc != r)) * (2.0 + rc - bc)
    hb = ((maxc != g) & (maxc != r)) * (4.0 + gc - rc)
    h = hr + hg + hb
    h = (h / 6.0 + 1.0) % 1.0  # h / 6 + 1 > 0, so remainder == fmod here
    return torch.stack((h, s, maxc), dim=-3)


def _hsv2rgb(img):
    torch = _torch()
    h, s, v = img.unbind(dim=-3)
    i = torch.floor(h * 6.0)
    f = (h * 6.0) - i
    i = i.to(D.int32) % 6
    p = (v * (1.0 - s)).clamp(0.0, 1.0)
    q = (v * (1.0 - s * f)).clamp(0.0, 1.0)
    t = (v * (1.0 - s * (1.0 - f))).clamp(0.0, 1.0)
    # One-hot over the six hue sectors selects each output channel's formula.
    mask = (i.unsqueeze(dim=-3) == torch.arange(6, device=i.device).view(-1, 1, 1)).to(img.dtype)
    a1 = torch.stack((v, q, p, p, t, v), dim=-3)
    a2 = torch.stack((t, v, v, q, p, p), dim=-3)
    a3 = torch.stack((p, p, t, v, v, q), dim=-3)
    a4 = torch.stack((a1, a2, a3), dim=-4)  # (..., 3, 6, H, W)
    return (mask.unsqueeze(-4) * a4).sum(dim=-3)


def adjust_hue(img, hue_factor):
    if not (-0.5 <= hue_factor <= 0.5):
        raise ValueError(f"hue_factor ({hue_factor}) is not in [-0.5, 0.5].")
    _assert_image_tensor(img)
    _assert_channels(img, [1, 3])
    if get_dimensions(img)[0] == 1:  # as PIL
        return img
    orig_dtype = img.dtype
    img = convert_image_dtype(img, D.float32)
    h, s, v = _rgb2hsv(img).unbind(dim=-3)
    h = (h + hue_factor) % 1.0
    out = _hsv2rgb(_torch().stack((h, s, v), dim=-3))
    return convert_image_dtype(out, orig_dtype)


def adjust_gamma(img, gamma, gain=1):
    _assert_channels(img, [1, 3])
    if gamma < 0:
        raise ValueError("Gamma should be a non-negative real number")
    dtype = img.dtype
    result = img if img.is_floating_point() else convert_image_dtype(img, D.float32)
    result = (gain * result.pow(gamma)).clamp(0, 1)
    return convert_image_dtype(result, dtype)


def _parse_pad_padding(padding):
    """int / [all] / [left-right, top-bottom] / [l, t, r, b] -> [left, right, top, bottom]."""
    if isinstance(padding, int):
        return [padding] * 4
    if len(padding) == 1:
        return [padding[0]] * 4
    if len(padding) == 2:
        return [padding[0], padding[0], padding[1], padding[1]]
    return [padding[0], padding[2], padding[1], padding[3]]


def _pad_symmetric(img, padding):
    """'symmetric' padding (the edge pixel repeated: ``d c b a | a b c d | d c``) by index gathering."""
    torch = _torch()
    if min(padding) < 0:  # negative pads crop first
        cl, cr, ct, cb = [-min(x, 0) for x in padding]
        img = img[..., ct:img.shape[-2] - cb, cl:img.shape[-1] - cr]
        padding = [max(x, 0) for x in padding]
    h, w = img.shape[-2], img.shape[-1]
    left, right, top, bottom = padding
    if left > w or right > w or top > h or bottom > h:
        raise ValueError(f"pad: symmetric padding {padding} must not exceed the image size {(h, w)} "
                         "on any side")
    x_idx = list(range(left - 1, -1, -1)) + list(range(w)) + [w - 1 - i for i in range(right)]
    y_idx = list(range(top - 1, -1, -1)) + list(range(h)) + [h - 1 - i for i in range(bottom)]
    xi = torch.tensor(x_idx, dtype=D.int64, device=img.device)
    yi = torch.tensor(y_idx, dtype=D.int64, device=img.device)
    lead = img.shape[:-2]
    flat = img.reshape(-1, h, w)
    out = flat.index_select(1, yi).index_select(2, xi)
    return out.reshape(*lead, len(y_idx), len(x_idx))


def pad(img, padding, fill=0, padding_mode="constant"):
    _assert_image_tensor(img)
    if fill is None:
        fill = 0
    if not isinstance(padding, (int, tuple, list)):
        raise TypeError("Got inappropriate padding arg")
    if not isinstance(fill, (int, float)):
        raise TypeError("Got inappropriate fill arg")
    if not isinstance(padding_mode, str):
        raise TypeError("Got inappropriate padding_mode arg")
    if isinstance(padding, (list, tuple)) and len(padding) not in (1, 2, 4):
        raise ValueError(f"Padding must be an int or a 1, 2, or 4 element tuple, not a {len(padding)} element tuple")
    if padding_mode not in ("constant", "edge", "reflect", "symmetric"):
        raise ValueError("Padding mode should be either constant, edge, reflect or symmetric")
    p = [int(v) for v in _parse_pad_padding(padding)]
    if padding_mode == "symmetric":
        return _pad_symmetric(img, p)
    mode = "replicate" if padding_mode == "edge" else padding_mode
    # F.pad's reflect/replicate want a (C, H, W) or (N, C, H, W) float tensor: fold the rest.
    shape = img.shape
    x = img.reshape(1, *shape) if img.ndim == 2 else img
    x = x.reshape(-1, *x.shape[-3:]) if x.ndim > 4 else x
    out_dtype = img.dtype
    need_cast = mode != "constant" and out_dtype not in (D.float32, D.float64)
    if need_cast:
        x = x.to(D.float32)
    if mode == "constant":
        x = _nnf().pad(x, p, mode="constant", value=float(fill))
    else:
        x = _nnf().pad(x, p, mode=mode)
    x = x.reshape(*shape[:-2], x.shape[-2], x.shape[-1])
    return x.to(out_dtype) if need_cast else x


def _cast_squeeze_in(img, req_dtypes):
    """To a 4-D batch of a dtype the kernels take; returns what _cast_squeeze_out needs to undo it."""
    lead = img.shape[:-3] if img.ndim >= 3 else None
    if img.ndim == 2:
        x = img.reshape(1, 1, *img.shape)
    elif img.ndim == 3:
        x = img.unsqueeze(0)
    else:
        x = img.reshape(-1, *img.shape[-3:])
    out_dtype = img.dtype
    need_cast = out_dtype not in req_dtypes
    if need_cast:
        x = x.to(req_dtypes[0])
    return x, need_cast, (img.ndim, lead), out_dtype


def _cast_squeeze_out(img, need_cast, squeeze, out_dtype):
    ndim, lead = squeeze
    if ndim == 2:
        img = img.reshape(img.shape[-2], img.shape[-1])
    elif ndim == 3:
        img = img.squeeze(0)
    elif ndim > 4:
        img = img.reshape(*lead, *img.shape[-3:])
    if need_cast:
        if not out_dtype.is_floating_point:
            img = img.round()
        img = img.to(out_dtype)
    return img


def resize(img, size, interpolation="bilinear", antialias=True):
    _assert_image_tensor(img)
    size = list(size)
    if antialias is None:
        antialias = False
    if antialias and interpolation not in ("bilinear", "bicubic"):
        antialias = False
    if antialias and interpolation == "bilinear" and size[0] >= img.shape[-2] and size[1] >= img.shape[-1]:
        # the antialiased bilinear filter widens only when shrinking: enlarging is plain bilinear
        antialias = False
    x, need_cast, squeeze, out_dtype = _cast_squeeze_in(img, [D.float32, D.float64])
    align_corners = False if interpolation in ("bilinear", "bicubic") else None
    x = _nnf().interpolate(x, size=size, mode=interpolation, align_corners=align_corners, antialias=antialias)
    if interpolation == "bicubic" and out_dtype == D.uint8:
        x = x.clamp(min=0, max=255)
    return _cast_squeeze_out(x, need_cast, squeeze, out_dtype)


def _assert_grid_transform_inputs(img, matrix, interpolation, fill, supported_interpolation_modes):
    from ...tensor import Tensor

    if not isinstance(img, Tensor):
        raise TypeError("Input img should be Tensor")
    _assert_image_tensor(img)
    if matrix is not None and not isinstance(matrix, list):
        raise TypeError("Argument matrix should be a list")
    if matrix is not None and len(matrix) != 6:
        raise ValueError("Argument matrix should have 6 float values")
    if fill is not None and not isinstance(fill, (int, float, tuple, list)):
        raise TypeError(f"Argument fill should be either int, float, tuple or list, got {type(fill).__name__}")
    num_channels = get_dimensions(img)[0]
    if isinstance(fill, (tuple, list)) and len(fill) > 1 and len(fill) != num_channels:
        raise ValueError("The number of elements in 'fill' cannot broadcast to match the number of "
                         f"channels of the image ({len(fill)} != {num_channels})")
    if interpolation not in supported_interpolation_modes:
        raise ValueError(f"Interpolation mode '{interpolation}' is unsupported with Tensor input")


def _apply_grid_transform(img, grid, mode, fill):
    """grid_sample with zeros padding; ``fill`` enters through an all-ones mask channel sampled
    with the image: where the mask is < 1 the output leans towards ``fill``."""
    torch = _torch()
    x, need_cast, squeeze, out_dtype = _cast_squeeze_in(img, [grid.dtype])
    if x.shape[0] > 1:
        grid = grid.expand(x.shape[0], grid.shape[1], grid.shape[2], grid.shape[3])
    if fill is not None:
        ones = torch.ones((x.shape[0], 1, x.shape[2], x.shape[3]), dtype=x.dtype, device=x.device)
        x = torch.cat((x, ones), dim=1)
    x = _nnf().grid_sample(x, grid, mode=mode, padding_mode="zeros", align_corners=False)
    if fill is not None:
        mask = x[:, -1:, :, :]
        x = x[:, :-1, :, :]
        mask = mask.expand_as(x)
        fill_list = list(fill) if isinstance(fill, (tuple, list)) else [float(fill)]
        fill_img = torch.tensor(fill_list, dtype=x.dtype, device=x.device).view(1, len(fill_list), 1, 1).expand_as(x)
        if mode == "nearest":
            x = torch.where(mask < 0.5, fill_img, x)
        else:
            x = x * mask + (1.0 - mask) * fill_img
    return _cast_squeeze_out(x, need_cast, squeeze, out_dtype)


def _gen_affine_grid(theta, w, h, ow, oh):
    """Sampling grid (1, oh, ow, 2) in grid_sample's [-1, 1] units for an inverse affine ``theta``
    (1, 2, 3) given in pixel units about the image centre (pixel centres at +0.5)."""
    torch = _torch()
    d = 0.5
    xs = torch.linspace(-ow * 0.5 + d, ow * 0.5 + d - 1, steps=ow, dtype=theta.dtype, device=theta.device)
    ys = torch.linspace(-oh * 0.5 + d, oh * 0.5 + d - 1, steps=oh, dtype=theta.dtype, device=theta.device)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    base = torch.stack((gx, gy, torch.ones_like(gx)), dim=-1)  # (oh, ow, 3)
    scale = torch.tensor([0.5 * w, 0.5 * h], dtype=theta.dtype, device=theta.device)
    rescaled = theta[0].transpose(0, 1) / scale  # (3, 2)
    return base.reshape(oh * ow, 3).matmul(rescaled).reshape(1, oh, ow, 2)


def affine(img, matrix, interpolation="nearest", fill=None):
    _assert_grid_transform_inputs(img, matrix, interpolation, fill, ["nearest", "bilinear"])
    dtype = img.dtype if img.is_floating_point() else D.float32
    theta = _torch().tensor(matrix, dtype=dtype, device=img.device).reshape(1, 2, 3)
    h, w = img.shape[-2], img.shape[-1]
    grid = _gen_affine_grid(theta, w=w, h=h, ow=w, oh=h)
    return _apply_grid_transform(img, grid, interpolation, fill=fill)


def _compute_affine_output_size(matrix, w, h):
    """Bounding box (w, h) of the image's corners under ``matrix``, in float32 as torchvision
    computes it (so that both agree on the rounding)."""
    import numpy as np

    f = np.float32
    pts = np.array([[-0.5 * w, -0.5 * h, 1.0], [-0.5 * w, 0.5 * h, 1.0], [0.5 * w, 0.5 * h, 1.0],
                    [0.5 * w, -0.5 * h, 1.0]], dtype=f)
    theta = np.array(matrix, dtype=f).reshape(2, 3)
    new_pts = pts @ theta.T
    half = np.array([w * 0.5, h * 0.5], dtype=f)
    min_vals, max_vals = new_pts.min(axis=0) + half, new_pts.max(axis=0) + half
    tol = f(1e-4)  # trims float noise so that 90-degree turns give exact sizes
    cmax = np.ceil(np.trunc(max_vals / tol) * tol)
    cmin = np.floor(np.trunc(min_vals / tol) * tol)
    size = cmax - cmin
    return int(size[0]), int(size[1])


def rotate(img, matrix, interpolation="nearest", expand=False, fill=None):
    _assert_grid_transform_inputs(img, matrix, interpolation, fill, ["nearest", "bilinear"])
    w, h = img.shape[-1], img.shape[-2]
    ow, oh = _compute_affine_output_size(matrix, w, h) if expand else (w, h)
    dtype = img.dtype if img.is_floating_point() else D.float32
    theta = _torch().tensor(matrix, dtype=dtype, device=img.device).reshape(1, 2, 3)
    grid = _gen_affine_grid(theta, w=w, h=h, ow=ow, oh=oh)
    return _apply_grid_transform(img, grid, interpolation, fill=fill)


def _get_gaussian_kernel1d(kernel_size, sigma, dtype, device):
    torch = _torch()
    half = (kernel_size - 1) * 0.5
    x = torch.linspace(-half, half, steps=kernel_size, dtype=dtype, device=device)
    pdf = (-0.5 * (x / sigma).pow(2)).exp()
    return pdf / pdf.sum()


def _get_gaussian_kernel2d(kernel_size, sigma, dtype, device):
    kx = _get_gaussian_kernel1d(kernel_size[0], sigma[0], dtype, device)
    ky = _get_gaussian_kernel1d(kernel_size[1], sigma[1], dtype, device)
    return ky[:, None] * kx[None, :]  # outer product: (ksize_y, ksize_x)


def gaussian_blur(img, kernel_size, sigma):
    """Depthwise conv2d with a separable Gaussian kernel over a reflect-padded image."""
    from ...tensor import Tensor

    if not isinstance(img, Tensor):
        raise TypeError(f"img should be Tensor. Got {type(img)}")
    _assert_image_tensor(img)
    dtype = img.dtype if img.is_floating_point() else D.float32
    kernel = _get_gaussian_kernel2d(kernel_size, sigma, dtype=dtype, device=img.device)
    c = get_dimensions(img)[0]
    kernel = kernel.expand(c, 1, kernel.shape[0], kernel.shape[1]).contiguous()
    x, need_cast, squeeze, out_dtype = _cast_squeeze_in(img, [kernel.dtype])
    padding = [kernel_size[0] // 2, kernel_size[0] // 2, kernel_size[1] // 2, kernel_size[1] // 2]
    x = _nnf().pad(x, padding, mode="reflect")
    x = _nnf().conv2d(x, kernel, groups=c)
    return _cast_squeeze_out(x, need_cast, squeeze, out_dtype)


def normalize(tensor, mean, std, inplace=False):
    _assert_image_tensor(tensor)
    if not tensor.is_floating_point():
        raise TypeError(f"Input tensor should be a float tensor. Got {tensor.dtype}.")
    if tensor.ndim < 3:
        raise ValueError("Expected tensor to be a tensor image of size (..., C, H, W). Got "
                         f"tensor.size() = {tensor.size()}")
    torch = _torch()
    if not inplace:
        tensor = tensor.clone()
    dtype = tensor.dtype
    mean = torch.as_tensor(mean, dtype=dtype, device=tensor.device)
    std = torch.as_tensor(std, dtype=dtype, device=tensor.device)
    if bool((std == 0).any()):
        raise ValueError(f"std evaluated to zero after conversion to {dtype}, leading to division by zero.")
    if mean.ndim == 1:
        mean = mean.view(-1, 1, 1)
    if std.ndim == 1:
        std = std.view(-1, 1, 1)
    return tensor.sub_(mean).div_(std)


def erase(img, i, j, h, w, v, inplace=False):
    _assert_image_tensor(img)
    if not inplace:
        img = img.clone()
    img[..., i:i + h, j:j + w] = v
    return img


def invert(img):
    _assert_image_tensor(img)
    if img.ndim < 3:
        raise TypeError(f"Input image tensor should have at least 3 dimensions, but found {img.ndim}")
    _assert_channels(img, [1, 3])
    return _max_value(img.dtype) - img


def posterize(img, bits):
    """Keeps the top ``bits`` bits of each uint8 value (floor to a multiple of 2**(8 - bits))."""
    _assert_image_tensor(img)
    if img.ndim < 3:
        raise TypeError(f"Input image tensor should have at least 3 dimensions, but found {img.ndim}")
    if img.dtype != D.uint8:
        raise TypeError(f"Only torch.uint8 image tensors are supported, but found {img.dtype}")
    _assert_channels(img, [1, 3])
    step = 2 ** (8 - bits)
    if step == 256:  # bits == 0: everything to 0, as the bit mask does
        return _torch().zeros_like(img)
    return _torch().div(img, step, rounding_mode="floor") * step


def solarize(img, threshold):
    """Inverts the values at or above ``threshold``."""
    _assert_image_tensor(img)
    if img.ndim < 3:
        raise TypeError(f"Input image tensor should have at least 3 dimensions, but found {img.ndim}")
    _assert_channels(img, [1, 3])
    if threshold > _max_value(img.dtype):
        raise TypeError("Threshold should be less than bound of img.")
    return _torch().where(img >= threshold, invert(img), img)


def _blurred_degenerate_image(img):
    """PIL's SMOOTH filter (3x3, centre weight 5, total 13) on the interior; the border is kept."""
    torch = _torch()
    dtype = img.dtype if img.is_floating_point() else D.float32
    kernel = torch.ones((3, 3), dtype=dtype, device=img.device)
    kernel[1, 1] = 5.0
    kernel = kernel / kernel.sum()
    c = img.shape[-3]
    kernel = kernel.expand(c, 1, 3, 3).contiguous()
    x, need_cast, squeeze, out_dtype = _cast_squeeze_in(img, [kernel.dtype])
    x = _nnf().conv2d(x, kernel, groups=c)
    x = _cast_squeeze_out(x, need_cast, squeeze, out_dtype)
    result = img.clone()
    result[..., 1:-1, 1:-1] = x
    return result


def adjust_sharpness(img, sharpness_factor):
    if sharpness_factor < 0:
        raise ValueError(f"sharpness_factor ({sharpness_factor}) is not non-negative.")
    _assert_image_tensor(img)
    _assert_channels(img, [1, 3])
    if img.shape[-1] <= 2 or img.shape[-2] <= 2:
        return img
    return _blend(img, _blurred_degenerate_image(img), sharpness_factor)


def autocontrast(img):
    """Stretches each channel's [min, max] to the full range (constant channels unchanged)."""
    torch = _torch()
    _assert_image_tensor(img)
    if img.ndim < 3:
        raise TypeError(f"Input image tensor should have at least 3 dimensions, but found {img.ndim}")
    _assert_channels(img, [1, 3])
    bound = _max_value(img.dtype)
    dtype = img.dtype if img.is_floating_point() else D.float32
    minimum = img.amin(dim=(-2, -1), keepdim=True).to(dtype)
    maximum = img.amax(dim=(-2, -1), keepdim=True).to(dtype)
    flat = maximum == minimum
    scale = bound / torch.where(flat, torch.ones_like(maximum), maximum - minimum)
    minimum = torch.where(flat, torch.zeros_like(minimum), minimum)
    scale = torch.where(flat, torch.ones_like(scale), scale)
    return ((img - minimum) * scale).clamp(0, bound).to(img.dtype)


def equalize(img):
    """Histogram equalisation of each uint8 channel (PIL's ImageOps.equalize algorithm), with the
    256-bin histograms of all planes from one scatter_add."""
    torch = _torch()
    _assert_image_tensor(img)
    if not (3 <= img.ndim <= 4):
        raise TypeError(f"Input image tensor should have 3 or 4 dimensions, but found {img.ndim}")
    if img.dtype != D.uint8:
        raise TypeError(f"Only torch.uint8 image tensors are supported, but found {img.dtype}")
    _assert_channels(img, [1, 3])
    planes = img.reshape(-1, img.shape[-2] * img.shape[-1]).long()  # (P, H*W)
    p = planes.shape[0]
    hist = torch.zeros(p, 256, dtype=D.int64, device=img.device)
    hist.scatter_add_(1, planes, torch.ones_like(planes))
    # step = (pixels not in the last non-empty bin) // 255
    idx = torch.arange(256, device=img.device).view(1, 256)
    last = torch.where(hist > 0, idx.expand(p, 256), torch.zeros_like(hist)).amax(dim=1, keepdim=True)
    step = torch.div(hist.sum(dim=1, keepdim=True) - hist.gather(1, last), 255, rounding_mode="floor")
    safe = torch.where(step == 0, torch.ones_like(step), step)
    lut = torch.div(hist.cumsum(dim=1) + torch.div(safe, 2, rounding_mode="floor"), safe, rounding_mode="floor")
    lut = torch.cat([torch.zeros_like(lut[:, :1]), lut[:, :-1]], dim=1).clamp(0, 255)  # shift right by one
    out = lut.gather(1, planes)
    out = torch.where(step == 0, planes, out)  # a flat histogram: unchanged
    return out.to(D.uint8).reshape(img.shape)


def _perspective_grid(coeffs, ow, oh, dtype, device):
    """Grid for the projective map (a x + b y + c) / (g x + h y + 1), (d x + e y + f) / (...)."""
    torch = _torch()
    d = 0.5
    xs = torch.linspace(d, ow * 1.0 + d - 1.0, steps=ow, dtype=dtype, device=device)
    ys = torch.linspace(d, oh * 1.0 + d - 1.0, steps=oh, dtype=dtype, device=device)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    base = torch.stack((gx, gy, torch.ones_like(gx)), dim=-1).reshape(oh * ow, 3)
    theta1 = torch.tensor([[coeffs[0], coeffs[1], coeffs[2]], [coeffs[3], coeffs[4], coeffs[5]]], dtype=dtype,
                          device=device)
    theta2 = torch.tensor([[coeffs[6], coeffs[7], 1.0], [coeffs[6], coeffs[7], 1.0]], dtype=dtype, device=device)
    scale = torch.tensor([0.5 * ow, 0.5 * oh], dtype=dtype, device=device)
    num = base.matmul(theta1.transpose(0, 1) / scale)
    den = base.matmul(theta2.transpose(0, 1))
    return (num / den - 1.0).reshape(1, oh, ow, 2)


def perspective(img, perspective_coeffs, interpolation="bilinear", fill=None):
    _assert_grid_transform_inputs(img, None, interpolation, fill, ["nearest", "bilinear"])
    if len(perspective_coeffs) != 8:
        raise ValueError("Argument coeffs should have 8 float values")
    dtype = img.dtype if img.is_floating_point() else D.float32
    grid = _perspective_grid(perspective_coeffs, ow=img.shape[-1], oh=img.shape[-2], dtype=dtype, device=img.device)
    return _apply_grid_transform(img, grid, interpolation, fill=fill)


def elastic_transform(img, displacement, interpolation="bilinear", fill=None):
    """Samples at the identity grid plus ``displacement`` (1, H, W, 2) in grid units."""
    torch = _torch()
    h, w = img.shape[-2], img.shape[-1]
    dtype = img.dtype if img.is_floating_point() else D.float32
    xs = torch.linspace((-w + 1) / w, (w - 1) / w, w, dtype=dtype, device=img.device)
    ys = torch.linspace((-h + 1) / h, (h - 1) / h, h, dtype=dtype, device=img.device)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    grid = torch.stack([gx, gy], -1).unsqueeze(0) + displacement.to(img.device).to(dtype)
    return _apply_grid_transform(img, grid, interpolation, fill)
