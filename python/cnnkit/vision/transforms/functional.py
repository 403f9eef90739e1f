"""cnnkit.vision.transforms.functional: torchvision.transforms.functional's names and semantics.

Each function takes a PIL image (Pillow does the work), a cnnkit tensor image ``(..., C, H, W)``
(cnnkit tensor ops do the work, on the tensor's device) or — a cnnkit extension — a NumPy image
``(H, W, C)`` / ``(H, W)``, which goes through the tensor path and comes back as an ndarray of the
same layout and dtype (torchvision's v1 functions reject ndarrays except in ``to_tensor`` and
``to_pil_image``).
"""
import math
import numbers
import sys
import warnings
from enum import Enum

import numpy as np

from ... import _dtype as D
from . import _functional_pil as F_pil
from . import _functional_tensor as F_t

__all__ = [
    "InterpolationMode", "get_dimensions", "get_image_size", "get_image_num_channels", "to_tensor",
    "pil_to_tensor", "convert_image_dtype", "to_pil_image", "normalize", "resize", "pad", "crop",
    "center_crop", "resized_crop", "hflip", "vflip", "five_crop", "ten_crop", "adjust_brightness",
    "adjust_contrast", "adjust_saturation", "adjust_hue", "adjust_gamma", "rotate", "affine",
    "to_grayscale", "rgb_to_grayscale", "erase", "gaussian_blur", "invert", "posterize", "solarize",
    "adjust_sharpness", "autocontrast", "equalize", "perspective", "elastic_transform",
]


class InterpolationMode(Enum):
    """Interpolation modes (torchvision's names and values)."""

    NEAREST = "nearest"
    NEAREST_EXACT = "nearest-exact"
    BILINEAR = "bilinear"
    BICUBIC = "bicubic"
    BOX = "box"
    HAMMING = "hamming"
    LANCZOS = "lanczos"


def _interpolation_modes_from_int(i):
    """Pillow's integer constants (Image.NEAREST = 0, LANCZOS = 1, BILINEAR = 2, ...) to the enum."""
    modes = {0: InterpolationMode.NEAREST, 2: InterpolationMode.BILINEAR, 3: InterpolationMode.BICUBIC,
             4: InterpolationMode.BOX, 5: InterpolationMode.HAMMING, 1: InterpolationMode.LANCZOS}
    if i not in modes:
        raise ValueError(f"interpolation: expected a Pillow resampling constant {sorted(modes)}, got {i}")
    return modes[i]


pil_modes_mapping = {
    InterpolationMode.NEAREST: 0, InterpolationMode.BILINEAR: 2, InterpolationMode.BICUBIC: 3,
    InterpolationMode.NEAREST_EXACT: 0, InterpolationMode.BOX: 4, InterpolationMode.HAMMING: 5,
    InterpolationMode.LANCZOS: 1,
}

_is_pil_image = F_pil._is_pil_image


def _parse_interpolation(interpolation):
    if isinstance(interpolation, bool):
        raise TypeError("Argument interpolation should be a InterpolationMode or a corresponding Pillow integer constant")
    if isinstance(interpolation, int):
        return _interpolation_modes_from_int(interpolation)
    if not isinstance(interpolation, InterpolationMode):
        raise TypeError("Argument interpolation should be a InterpolationMode or a corresponding Pillow integer constant")
    return interpolation


def _is_tensor(img):
    from ...tensor import Tensor

    return isinstance(img, Tensor)


def _np_to_tensor(arr):
    """HWC / HW ndarray -> CHW tensor of the same dtype (a copy)."""
    from ... import from_numpy

    if arr.ndim not in (2, 3):
        raise ValueError(f"ndarray image should be (H, W) or (H, W, C). Got shape {arr.shape}")
    chw = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
    return from_numpy(np.ascontiguousarray(chw))


def _tensor_to_np(t, like):
    out = t.numpy()
    out = out[0] if like.ndim == 2 and out.ndim == 3 and out.shape[0] == 1 else out.transpose(1, 2, 0)
    return np.ascontiguousarray(out)


def _via_tensor(fn, img, *args, **kwargs):
    """Runs tensor op ``fn`` on an ndarray image and returns an ndarray of the same layout."""
    return _tensor_to_np(fn(_np_to_tensor(img), *args, **kwargs), img)


def _dispatch(name, img, *args):
    """Runs op ``name`` from the tensor, ndarray (through the tensor op) or PIL implementation."""
    if _is_tensor(img):
        return getattr(F_t, name)(img, *args)
    if isinstance(img, np.ndarray):
        return _via_tensor(getattr(F_t, name), img, *args)
    return getattr(F_pil, name)(img, *args)


def get_dimensions(img):
    """[channels, height, width]."""
    if _is_tensor(img):
        return F_t.get_dimensions(img)
    if isinstance(img, np.ndarray) and img.ndim in (2, 3):
        return [1 if img.ndim == 2 else img.shape[2], img.shape[0], img.shape[1]]
    return F_pil.get_dimensions(img)


def get_image_size(img):
    """[width, height]."""
    if _is_tensor(img):
        return F_t.get_image_size(img)
    if isinstance(img, np.ndarray) and img.ndim in (2, 3):
        return [img.shape[1], img.shape[0]]
    return F_pil.get_image_size(img)


def get_image_num_channels(img):
    return get_dimensions(img)[0]


def to_tensor(pic):
    """PIL image or HWC ndarray -> CHW tensor; uint8 data becomes default-float in [0, 1], other
    dtypes keep their values (torchvision's ``to_tensor``)."""
    from ... import from_numpy, get_default_dtype

    if not (_is_pil_image(pic) or isinstance(pic, np.ndarray)):
        raise TypeError(f"pic should be PIL Image or ndarray. Got {type(pic)}")
    if isinstance(pic, np.ndarray) and pic.ndim not in (2, 3):
        raise ValueError(f"pic should be 2/3 dimensional. Got {pic.ndim} dimensions.")
    if isinstance(pic, np.ndarray):
        arr = pic[:, :, None] if pic.ndim == 2 else pic
    else:
        mode_to_nptype = {"I": np.int32, "I;16" if sys.byteorder == "little" else "I;16B": np.int16, "F": np.float32}
        arr = np.array(pic, mode_to_nptype.get(pic.mode, np.uint8), copy=True)
        if pic.mode == "1":
            arr = 255 * arr
        arr = arr.reshape(pic.size[1], pic.size[0], F_pil.get_image_num_channels(pic))
    chw = np.ascontiguousarray(arr.transpose(2, 0, 1))
    if chw.dtype == np.uint8:
        # one exact conversion while copying the array (data preparation, not model compute)
        dt = get_default_dtype()
        return from_numpy(chw.astype(dt.numpy) / dt.numpy.type(255.0))
    return from_numpy(chw)


def pil_to_tensor(pic):
    """PIL image -> CHW tensor keeping the pixel dtype (uint8 for 'L'/'RGB'...)."""
    from ... import from_numpy

    if not _is_pil_image(pic):
        raise TypeError(f"pic should be PIL Image. Got {type(pic)}")
    arr = np.array(pic, copy=True)
    arr = arr.reshape(pic.size[1], pic.size[0], F_pil.get_image_num_channels(pic))
    return from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))


def convert_image_dtype(image, dtype=D.float32):
    if not _is_tensor(image):
        raise TypeError("Input img should be Tensor Image")
    return F_t.convert_image_dtype(image, dtype)


def to_pil_image(pic, mode=None):
    """CHW tensor or HWC ndarray -> PIL image (float data is scaled by 255 unless ``mode='F'``)."""
    if _is_tensor(pic):
        if pic.ndim == 3:
            pic = pic.permute((1, 2, 0))
        pic = pic.detach().cpu().numpy()  # torch: numpy(force=True), which also copies off the GPU
    elif not isinstance(pic, np.ndarray):
        raise TypeError(f"pic should be Tensor or ndarray. Got {type(pic)}.")
    if pic.ndim == 2:
        pic = np.expand_dims(pic, 2)
    if pic.ndim != 3:
        raise ValueError(f"pic should be 2/3 dimensional. Got {pic.ndim} dimensions.")
    if pic.shape[-1] > 4:
        raise ValueError(f"pic should not have > 4 channels. Got {pic.shape[-1]} channels.")
    npimg = pic
    if np.issubdtype(npimg.dtype, np.floating) and mode != "F":
        npimg = (npimg * 255).astype(np.uint8)
    if npimg.shape[2] == 1:
        expected_mode = None
        npimg = npimg[:, :, 0]
        if npimg.dtype == np.uint8:
            expected_mode = "L"
        elif npimg.dtype == np.int16:
            expected_mode = "I;16" if sys.byteorder == "little" else "I;16B"
        elif npimg.dtype == np.int32:
            expected_mode = "I"
        elif npimg.dtype == np.float32:
            expected_mode = "F"
        if mode is not None and mode != expected_mode:
            raise ValueError(f"Incorrect mode ({mode}) supplied for input type {np.dtype}. Should be {expected_mode}")
        mode = expected_mode
    elif npimg.shape[2] == 2:
        if mode is not None and mode not in ["LA"]:
            raise ValueError("Only modes ['LA'] are supported for 2D inputs")
        if mode is None and npimg.dtype == np.uint8:
            mode = "LA"
    elif npimg.shape[2] == 4:
        permitted = ["RGBA", "CMYK", "RGBX"]
        if mode is not None and mode not in permitted:
            raise ValueError(f"Only modes {permitted} are supported for 4D inputs")
        if mode is None and npimg.dtype == np.uint8:
            mode = "RGBA"
    else:
        permitted = ["RGB", "YCbCr", "HSV"]
        if mode is not None and mode not in permitted:
            raise ValueError(f"Only modes {permitted} are supported for 3D inputs")
        if mode is None and npimg.dtype == np.uint8:
            mode = "RGB"
    if mode is None:
        raise TypeError(f"Input type {npimg.dtype} is not supported")
    return F_pil.fromarray(npimg, mode)


def normalize(tensor, mean, std, inplace=False):
    """(x - mean[c]) / std[c] per channel of a float (..., C, H, W) tensor."""
    if not _is_tensor(tensor):
        raise TypeError(f"img should be Tensor Image. Got {type(tensor)}")
    return F_t.normalize(tensor, mean=mean, std=std, inplace=inplace)


def _compute_resized_output_size(image_size, size, max_size=None):
    h, w = image_size
    short, long = (w, h) if w <= h else (h, w)
    if len(size) == 1:  # the smaller edge
        requested_new_short = size if isinstance(size, int) else size[0]
        new_short, new_long = requested_new_short, int(requested_new_short * long / short)
        if max_size is not None:
            if max_size <= requested_new_short:
                raise ValueError(f"max_size = {max_size} must be strictly greater than the requested "
                                 f"size for the smaller edge size = {size}")
            if new_long > max_size:
                new_short, new_long = int(max_size * new_short / new_long), max_size
        new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
    else:
        new_w, new_h = size[1], size[0]
    return [new_h, new_w]


def resize(img, size, interpolation=InterpolationMode.BILINEAR, max_size=None, antialias=True):
    """Resizes to ``size`` (h, w), or the smaller edge to ``size`` (int / [int]) keeping the aspect."""
    interpolation = _parse_interpolation(interpolation)
    if isinstance(size, (list, tuple)):
        if len(size) not in (1, 2):
            raise ValueError(f"Size must be an int or a 1 or 2 element tuple/list, not a {len(size)} element tuple/list")
        if max_size is not None and len(size) != 1:
            raise ValueError("max_size should only be passed if size specifies the length of the smaller edge, "
                             "i.e. size should be an int or a sequence of length 1 in torchscript mode.")
    elif not isinstance(size, int) or isinstance(size, bool):
        raise TypeError(f"resize: size should be an int or a sequence, got {type(size).__name__}")
    _, image_height, image_width = get_dimensions(img)
    if isinstance(size, int):
        size = [size]
    output_size = _compute_resized_output_size((image_height, image_width), size, max_size)
    if [image_height, image_width] == output_size:
        return img
    if isinstance(img, np.ndarray):
        return _via_tensor(resize, img, output_size, interpolation, None, antialias)
    if not _is_tensor(img):
        if antialias is False:
            warnings.warn("Anti-alias option is always applied for PIL Image input. Argument antialias is ignored.")
        return F_pil.resize(img, size=output_size, interpolation=pil_modes_mapping[interpolation])
    return F_t.resize(img, size=output_size, interpolation=interpolation.value, antialias=antialias)


def pad(img, padding, fill=0, padding_mode="constant"):
    """Pads each side: ``padding`` int / [all] / [left-right, top-bottom] / [left, top, right, bottom];
    modes constant (``fill``), edge, reflect, symmetric."""
    if _is_tensor(img):
        return F_t.pad(img, padding=padding, fill=fill, padding_mode=padding_mode)
    if isinstance(img, np.ndarray):
        return _via_tensor(F_t.pad, img, padding=padding, fill=fill, padding_mode=padding_mode)
    return F_pil.pad(img, padding=padding, fill=fill, padding_mode=padding_mode)


def crop(img, top, left, height, width):
    """The window at (top, left) of size (height, width); outside parts are zero-filled."""
    if _is_tensor(img):
        return F_t.crop(img, top, left, height, width)
    if isinstance(img, np.ndarray):
        return _via_tensor(F_t.crop, img, top, left, height, width)
    return F_pil.crop(img, top, left, height, width)


def center_crop(img, output_size):
    if isinstance(output_size, numbers.Number):
        output_size = (int(output_size), int(output_size))
    elif isinstance(output_size, (tuple, list)) and len(output_size) == 1:
        output_size = (output_size[0], output_size[0])
    _, image_height, image_width = get_dimensions(img)
    crop_height, crop_width = output_size
    if crop_width > image_width or crop_height > image_height:
        padding_ltrb = [
            (crop_width - image_width) // 2 if crop_width > image_width else 0,
            (crop_height - image_height) // 2 if crop_height > image_height else 0,
            (crop_width - image_width + 1) // 2 if crop_width > image_width else 0,
            (crop_height - image_height + 1) // 2 if crop_height > image_height else 0,
        ]
        img = pad(img, padding_ltrb, fill=0)
        _, image_height, image_width = get_dimensions(img)
        if crop_width == image_width and crop_height == image_height:
            return img
    crop_top = int(round((image_height - crop_height) / 2.0))
    crop_left = int(round((image_width - crop_width) / 2.0))
    return crop(img, crop_top, crop_left, crop_height, crop_width)


def resized_crop(img, top, left, height, width, size, interpolation=InterpolationMode.BILINEAR, antialias=True):
    img = crop(img, top, left, height, width)
    return resize(img, size, interpolation, antialias=antialias)


def hflip(img):
    if _is_tensor(img):
        return F_t.hflip(img)
    if isinstance(img, np.ndarray):
        return _via_tensor(F_t.hflip, img)
    return F_pil.hflip(img)


def vflip(img):
    if _is_tensor(img):
        return F_t.vflip(img)
    if isinstance(img, np.ndarray):
        return _via_tensor(F_t.vflip, img)
    return F_pil.vflip(img)


def five_crop(img, size):
    """The four corner crops and the centre crop: (tl, tr, bl, br, center)."""
    if isinstance(size, numbers.Number):
        size = (int(size), int(size))
    elif isinstance(size, (tuple, list)) and len(size) == 1:
        size = (size[0], size[0])
    if len(size) != 2:
        raise ValueError("Please provide only two dimensions (h, w) for size.")
    _, image_height, image_width = get_dimensions(img)
    crop_height, crop_width = size
    if crop_width > image_width or crop_height > image_height:
        raise ValueError(f"Requested crop size {size} is bigger than input size {(image_height, image_width)}")
    tl = crop(img, 0, 0, crop_height, crop_width)
    tr = crop(img, 0, image_width - crop_width, crop_height, crop_width)
    bl = crop(img, image_height - crop_height, 0, crop_height, crop_width)
    br = crop(img, image_height - crop_height, image_width - crop_width, crop_height, crop_width)
    return tl, tr, bl, br, center_crop(img, [crop_height, crop_width])


def ten_crop(img, size, vertical_flip=False):
    if isinstance(size, numbers.Number):
        size = (int(size), int(size))
    elif isinstance(size, (tuple, list)) and len(size) == 1:
        size = (size[0], size[0])
    if len(size) != 2:
        raise ValueError("Please provide only two dimensions (h, w) for size.")
    first_five = five_crop(img, size)
    img = vflip(img) if vertical_flip else hflip(img)
    return first_five + five_crop(img, size)


def adjust_brightness(img, brightness_factor):
    """Blends with black: 0 gives black, 1 the original, 2 twice as bright (clamped)."""
    return _dispatch("adjust_brightness", img, brightness_factor)


def adjust_contrast(img, contrast_factor):
    """Blends with the mean grey level: 0 gives a solid grey image, 1 the original."""
    return _dispatch("adjust_contrast", img, contrast_factor)


def adjust_saturation(img, saturation_factor):
    """Blends with the greyscale image: 0 gives grey, 1 the original, 2 doubles saturation."""
    return _dispatch("adjust_saturation", img, saturation_factor)


def adjust_hue(img, hue_factor):
    """Shifts the hue channel (in HSV) by ``hue_factor`` in [-0.5, 0.5] of a full turn."""
    return _dispatch("adjust_hue", img, hue_factor)


def adjust_gamma(img, gamma, gain=1):
    """out = 255 * gain * (in / 255) ** gamma (clamped)."""
    return _dispatch("adjust_gamma", img, gamma, gain)


def _get_inverse_affine_matrix(center, angle, translate, scale, shear, inverted=True):
    """The 2x3 matrix (row-major list of 6) of rotation (degrees, counter-clockwise), shear
    (degrees), scale and translation about ``center``: M = T * C * R * S * Sh * C^-1, or its
    inverse (which grid sampling and PIL's transform need) when ``inverted``."""
    rot = math.radians(angle)
    sx, sy = math.radians(shear[0]), math.radians(shear[1])
    cx, cy = center
    tx, ty = translate
    # R * S * Sh without the scale
    a = math.cos(rot - sy) / math.cos(sy)
    b = -math.cos(rot - sy) * math.tan(sx) / math.cos(sy) - math.sin(rot)
    c = math.sin(rot - sy) / math.cos(sy)
    d = -math.sin(rot - sy) * math.tan(sx) / math.cos(sy) + math.cos(rot)
    if inverted:
        m = [x / scale for x in (d, -b, 0.0, -c, a, 0.0)]
        m[2] += m[0] * (-cx - tx) + m[1] * (-cy - ty)
        m[5] += m[3] * (-cx - tx) + m[4] * (-cy - ty)
        m[2] += cx
        m[5] += cy
    else:
        m = [x * scale for x in (a, b, 0.0, c, d, 0.0)]
        m[2] += m[0] * (-cx) + m[1] * (-cy)
        m[5] += m[3] * (-cx) + m[4] * (-cy)
        m[2] += cx + tx
        m[5] += cy + ty
    return m


def rotate(img, angle, interpolation=InterpolationMode.NEAREST, expand=False, center=None, fill=None):
    """Rotates counter-clockwise by ``angle`` degrees about ``center`` (default: the image centre)."""
    interpolation = _parse_interpolation(interpolation)
    if not isinstance(angle, (int, float)):
        raise TypeError("Argument angle should be int or float")
    if center is not None and not isinstance(center, (list, tuple)):
        raise TypeError("Argument center should be a sequence")
    if isinstance(img, np.ndarray):
        return _via_tensor(rotate, img, angle, interpolation, expand, center, fill)
    if not _is_tensor(img):
        return F_pil.rotate(img, angle=angle, interpolation=pil_modes_mapping[interpolation], expand=expand,
                            center=center, fill=fill)
    center_f = [0.0, 0.0]
    if center is not None:
        _, height, width = get_dimensions(img)
        center_f = [1.0 * (c - s * 0.5) for c, s in zip(center, [width, height])]
    matrix = _get_inverse_affine_matrix(center_f, -angle, [0.0, 0.0], 1.0, [0.0, 0.0])
    return F_t.rotate(img, matrix=matrix, interpolation=interpolation.value, expand=expand, fill=fill)


def affine(img, angle, translate, scale, shear, interpolation=InterpolationMode.NEAREST, fill=None, center=None):
    """Affine map keeping the image centre (or ``center``) fixed: rotation ``angle`` (degrees),
    ``translate`` (pixels), ``scale``, ``shear`` (degrees; one value or (x, y))."""
    interpolation = _parse_interpolation(interpolation)
    if not isinstance(angle, (int, float)):
        raise TypeError("Argument angle should be int or float")
    if not isinstance(translate, (list, tuple)):
        raise TypeError("Argument translate should be a sequence")
    if len(translate) != 2:
        raise ValueError("Argument translate should be a sequence of length 2")
    if scale <= 0.0:
        raise ValueError("Argument scale should be positive")
    if not isinstance(shear, (numbers.Number, list, tuple)):
        raise TypeError("Shear should be either a single value or a sequence of two values")
    angle = float(angle)
    translate = list(translate)
    if isinstance(shear, numbers.Number):
        shear = [shear, 0.0]
    shear = list(shear)
    if len(shear) == 1:
        shear = [shear[0], shear[0]]
    if len(shear) != 2:
        raise ValueError(f"Shear should be a sequence containing two values. Got {shear}")
    if center is not None and not isinstance(center, (list, tuple)):
        raise TypeError("Argument center should be a sequence")
    if isinstance(img, np.ndarray):
        return _via_tensor(affine, img, angle, translate, scale, shear, interpolation, fill, center)
    _, height, width = get_dimensions(img)
    if not _is_tensor(img):
        if center is None:
            center = [width * 0.5, height * 0.5]
        matrix = _get_inverse_affine_matrix(center, angle, translate, scale, shear)
        return F_pil.affine(img, matrix=matrix, interpolation=pil_modes_mapping[interpolation], fill=fill)
    center_f = [0.0, 0.0]
    if center is not None:
        center_f = [1.0 * (c - s * 0.5) for c, s in zip(center, [width, height])]
    translate_f = [1.0 * t for t in translate]
    matrix = _get_inverse_affine_matrix(center_f, angle, translate_f, scale, shear)
    return F_t.affine(img, matrix=matrix, interpolation=interpolation.value, fill=fill)


def to_grayscale(img, num_output_channels=1):
    """PIL image -> greyscale PIL image with 1 or 3 channels."""
    if _is_pil_image(img):
        return F_pil.to_grayscale(img, num_output_channels)
    raise TypeError("Input should be PIL Image")


def rgb_to_grayscale(img, num_output_channels=1):
    """L = 0.2989 R + 0.587 G + 0.114 B, repeated over ``num_output_channels`` (1 or 3)."""
    if _is_tensor(img):
        return F_t.rgb_to_grayscale(img, num_output_channels)
    if isinstance(img, np.ndarray):
        return _via_tensor(F_t.rgb_to_grayscale, img, num_output_channels)
    return F_pil.to_grayscale(img, num_output_channels)


def erase(img, i, j, h, w, v, inplace=False):
    """Sets ``img[..., i:i+h, j:j+w] = v`` (a tensor broadcastable to the window)."""
    if not _is_tensor(img):
        raise TypeError(f"img should be Tensor Image. Got {type(img)}")
    return F_t.erase(img, i, j, h, w, v, inplace=inplace)


def gaussian_blur(img, kernel_size, sigma=None):
    """Gaussian blur with odd ``kernel_size`` (x, y) and ``sigma`` (x, y; default from the size)."""
    if not isinstance(kernel_size, (int, list, tuple)):
        raise TypeError(f"kernel_size should be int or a sequence of integers. Got {type(kernel_size)}")
    if isinstance(kernel_size, int):
        kernel_size = [kernel_size, kernel_size]
    if len(kernel_size) != 2:
        raise ValueError(f"If kernel_size is a sequence its length should be 2. Got {len(kernel_size)}")
    for ksize in kernel_size:
        if ksize % 2 == 0 or ksize < 0:
            raise ValueError(f"kernel_size should have odd and positive integers. Got {kernel_size}")
    if sigma is None:
        sigma = [ksize * 0.15 + 0.35 for ksize in kernel_size]
    if not isinstance(sigma, (int, float, list, tuple)):
        raise TypeError(f"sigma should be either float or sequence of floats. Got {type(sigma)}")
    if isinstance(sigma, (int, float)):
        sigma = [float(sigma), float(sigma)]
    if isinstance(sigma, (list, tuple)) and len(sigma) == 1:
        sigma = [sigma[0], sigma[0]]
    if len(sigma) != 2:
        raise ValueError(f"If sigma is a sequence, its length should be 2. Got {len(sigma)}")
    for s in sigma:
        if s <= 0.0:
            raise ValueError(f"sigma should have positive values. Got {sigma}")
    if _is_tensor(img):
        return F_t.gaussian_blur(img, kernel_size, sigma)
    if isinstance(img, np.ndarray):
        return _via_tensor(F_t.gaussian_blur, img, kernel_size, sigma)
    if not _is_pil_image(img):
        raise TypeError(f"img should be PIL Image or Tensor. Got {type(img)}")
    out = F_t.gaussian_blur(pil_to_tensor(img), kernel_size, sigma)
    return to_pil_image(out, mode=img.mode)


def invert(img):
    """max - img (255 - x for uint8, 1 - x for floats)."""
    return _dispatch("invert", img)


def posterize(img, bits):
    """Keeps the ``bits`` (0..8) most significant bits of each channel (uint8 images)."""
    if not (0 <= bits <= 8):
        raise ValueError(f"The number if bits should be between 0 and 8. Got {bits}")
    return _dispatch("posterize", img, bits)


def solarize(img, threshold):
    """Inverts every value at or above ``threshold``."""
    return _dispatch("solarize", img, threshold)


def adjust_sharpness(img, sharpness_factor):
    """Blends with a smoothed copy: 0 gives the blurred image, 1 the original, 2 doubles sharpness."""
    return _dispatch("adjust_sharpness", img, sharpness_factor)


def autocontrast(img):
    """Maps each channel's darkest value to black and lightest to white."""
    return _dispatch("autocontrast", img)


def equalize(img):
    """Histogram equalisation of each channel (uint8 images)."""
    return _dispatch("equalize", img)


def _get_perspective_coeffs(startpoints, endpoints):
    """The 8 coefficients of the projective map taking ``endpoints`` to ``startpoints`` (what
    grid sampling and PIL's PERSPECTIVE transform want): a least-squares solve of the 8x8 system,
    in float64 like torchvision, rounded to float32."""
    if len(startpoints) != 4 or len(endpoints) != 4:
        raise ValueError(f"Please provide exactly four corners, got {len(startpoints)} startpoints and "
                         f"{len(endpoints)} endpoints.")
    a = np.zeros((8, 8), dtype=np.float64)
    for i, (p1, p2) in enumerate(zip(endpoints, startpoints)):
        a[2 * i] = [p1[0], p1[1], 1, 0, 0, 0, -p2[0] * p1[0], -p2[0] * p1[1]]
        a[2 * i + 1] = [0, 0, 0, p1[0], p1[1], 1, -p2[1] * p1[0], -p2[1] * p1[1]]
    b = np.asarray(startpoints, dtype=np.float64).reshape(8)
    res = np.linalg.lstsq(a, b, rcond=None)[0].astype(np.float32)
    return [float(v) for v in res]


def perspective(img, startpoints, endpoints, interpolation=InterpolationMode.BILINEAR, fill=None):
    """Projective warp moving the four ``startpoints`` corners to ``endpoints`` ([x, y] each)."""
    coeffs = _get_perspective_coeffs(startpoints, endpoints)
    interpolation = _parse_interpolation(interpolation)
    if isinstance(img, np.ndarray):
        return _via_tensor(perspective, img, startpoints, endpoints, interpolation, fill)
    if not _is_tensor(img):
        return F_pil.perspective(img, coeffs, interpolation=pil_modes_mapping[interpolation], fill=fill)
    return F_t.perspective(img, coeffs, interpolation=interpolation.value, fill=fill)


def elastic_transform(img, displacement, interpolation=InterpolationMode.BILINEAR, fill=None):
    """Moves each pixel by ``displacement`` (1, H, W, 2), given in [-1, 1] grid units."""
    interpolation = _parse_interpolation(interpolation)
    if not _is_tensor(displacement):
        raise TypeError("Argument displacement should be a Tensor")
    if isinstance(img, np.ndarray):
        return _via_tensor(elastic_transform, img, displacement, interpolation, fill)
    t_img = img
    if not _is_tensor(img):
        if not _is_pil_image(img):
            raise TypeError(f"img should be PIL Image or Tensor. Got {type(img)}")
        t_img = pil_to_tensor(img)
    shape = (1,) + tuple(t_img.shape[-2:]) + (2,)
    if shape != tuple(displacement.shape):
        raise ValueError(f"Argument displacement shape should be {shape}, but given {tuple(displacement.shape)}")
    out = F_t.elastic_transform(t_img, displacement, interpolation=interpolation.value, fill=fill)
    return out if _is_tensor(img) else to_pil_image(out, mode=img.mode)
