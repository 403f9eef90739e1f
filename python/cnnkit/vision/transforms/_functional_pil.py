"""PIL image ops behind ``cnnkit.vision.transforms.functional`` (torchvision's ``_functional_pil``).

Pillow is the ``vision`` extra: it is imported inside each function, never at ``import cnnkit``.
"""
import numbers
import sys

import numpy as np

__all__ = []  # private module: the public names are in functional.py


def _pil():
    """(Image, ImageEnhance, ImageOps), or ImportError naming the extra."""
    try:
        from PIL import Image, ImageEnhance, ImageOps
    except ImportError as e:
        raise ImportError("cnnkit.vision.transforms needs Pillow for PIL images: pip install 'cnnkit[vision]'") from e
    return Image, ImageEnhance, ImageOps


def _is_pil_image(img):
    """True for a PIL image; never imports Pillow (an object of a module not loaded is not one)."""
    mod = sys.modules.get("PIL.Image")
    return mod is not None and isinstance(img, mod.Image)


def _check(img):
    if not _is_pil_image(img):
        raise TypeError(f"img should be PIL Image. Got {type(img)}")


def fromarray(arr, mode):
    """``Image.fromarray(arr, mode)`` with Pillow's pre-11.3 meaning (read the bytes *as* ``mode``),
    through ``frombuffer`` so that no deprecated argument is used."""
    Image = _pil()[0]
    arr = np.ascontiguousarray(arr)
    h, w = arr.shape[:2]
    return Image.frombuffer(mode, (w, h), arr.tobytes(), "raw", mode, 0, 1)


def get_dimensions(img):
    if _is_pil_image(img):
        width, height = img.size
        return [len(img.getbands()), height, width]
    raise TypeError(f"Unexpected type {type(img)}")


def get_image_size(img):
    if _is_pil_image(img):
        return list(img.size)
    raise TypeError(f"Unexpected type {type(img)}")


def get_image_num_channels(img):
    if _is_pil_image(img):
        return len(img.getbands())
    raise TypeError(f"Unexpected type {type(img)}")


def hflip(img):
    _check(img)
    return img.transpose(_pil()[0].Transpose.FLIP_LEFT_RIGHT)


def vflip(img):
    _check(img)
    return img.transpose(_pil()[0].Transpose.FLIP_TOP_BOTTOM)


def adjust_brightness(img, brightness_factor):
    _check(img)
    return _pil()[1].Brightness(img).enhance(brightness_factor)


def adjust_contrast(img, contrast_factor):
    _check(img)
    return _pil()[1].Contrast(img).enhance(contrast_factor)


def adjust_saturation(img, saturation_factor):
    _check(img)
    return _pil()[1].Color(img).enhance(saturation_factor)


def adjust_hue(img, hue_factor):
    if not (-0.5 <= hue_factor <= 0.5):
        raise ValueError(f"hue_factor ({hue_factor}) is not in [-0.5, 0.5].")
    _check(img)
    Image = _pil()[0]
    input_mode = img.mode
    if input_mode in {"L", "1", "I", "F"}:
        return img
    h, s, v = img.convert("HSV").split()
    np_h = np.array(h, dtype=np.uint8)
    # uint8 arithmetic wraps around: a hue shift on the 0..255 circle
    np_h += np.int32(hue_factor * 255).astype(np.uint8)
    h = fromarray(np_h, "L")
    return Image.merge("HSV", (h, s, v)).convert(input_mode)


def adjust_gamma(img, gamma, gain=1.0):
    _check(img)
    if gamma < 0:
        raise ValueError("Gamma should be a non-negative real number")
    input_mode = img.mode
    img = img.convert("RGB")
    gamma_map = [int((255 + 1 - 1e-3) * gain * pow(ele / 255.0, gamma)) for ele in range(256)] * 3
    return img.point(gamma_map).convert(input_mode)


def _parse_fill(fill, img, name="fillcolor"):
    """``fill`` as Pillow wants it for ``img``: one value per band, ints unless mode 'F'."""
    num_channels = get_image_num_channels(img)
    if fill is None:
        fill = 0
    if isinstance(fill, (int, float)) and num_channels > 1:
        fill = tuple([fill] * num_channels)
    if isinstance(fill, (list, tuple)):
        if len(fill) == 1:
            fill = tuple(fill) * num_channels
        elif len(fill) != num_channels:
            raise ValueError("The number of elements in 'fill' does not match the number of channels of the "
                             f"image ({len(fill)} != {num_channels})")
        fill = tuple(fill)
    if img.mode != "F":
        fill = tuple(int(x) for x in fill) if isinstance(fill, tuple) else int(fill)
    return {name: fill}


def pad(img, padding, fill=0, padding_mode="constant"):
    _check(img)
    Image, _, ImageOps = _pil()
    if not isinstance(padding, (numbers.Number, tuple, list)):
        raise TypeError("Got inappropriate padding arg")
    if fill is not None and not isinstance(fill, (numbers.Number, tuple, list)):
        raise TypeError("Got inappropriate fill arg")
    if not isinstance(padding_mode, str):
        raise TypeError("Got inappropriate padding_mode arg")
    if isinstance(padding, list):
        padding = tuple(padding)
    if isinstance(padding, tuple) and len(padding) not in (1, 2, 4):
        raise ValueError(f"Padding must be an int or a 1, 2, or 4 element tuple, not a {len(padding)} element tuple")
    if isinstance(padding, tuple) and len(padding) == 1:
        padding = padding[0]
    if padding_mode not in ("constant", "edge", "reflect", "symmetric"):
        raise ValueError("Padding mode should be either constant, edge, reflect or symmetric")

    if padding_mode == "constant":
        opts = _parse_fill(fill, img, name="fill")
        if img.mode == "P":
            palette = img.getpalette()
            out = ImageOps.expand(img, border=padding, **opts)
            out.putpalette(palette)
            return out
        return ImageOps.expand(img, border=padding, **opts)

    if isinstance(padding, int):
        p = [padding] * 4
    elif len(padding) == 2:
        p = [padding[0], padding[1], padding[0], padding[1]]
    else:
        p = list(padding)
    # p is [left, top, right, bottom]; negative pads crop
    cl, ct, cr, cb = (-np.minimum(p, 0)).tolist()
    if cl or ct or cr or cb:
        img = img.crop((cl, ct, img.width - cr, img.height - cb))
    pl, pt, pr, pb = np.maximum(p, 0).tolist()
    arr = np.asarray(img)
    widths = ((pt, pb), (pl, pr)) + (((0, 0),) if arr.ndim == 3 else ())
    out = np.pad(arr, widths, mode=padding_mode)
    if img.mode == "P":
        res = Image.fromarray(out)
        res.putpalette(img.getpalette())
        return res
    return Image.fromarray(out)


def crop(img, top, left, height, width):
    _check(img)
    return img.crop((left, top, left + width, top + height))


def resize(img, size, interpolation=2):
    _check(img)
    if not (isinstance(size, list) and len(size) == 2):
        raise TypeError(f"Got inappropriate size arg: {size}")
    return img.resize(tuple(size[::-1]), interpolation)


def affine(img, matrix, interpolation=0, fill=None):
    _check(img)
    opts = _parse_fill(fill, img)
    return img.transform(img.size, _pil()[0].Transform.AFFINE, matrix, interpolation, **opts)


def rotate(img, angle, interpolation=0, expand=False, center=None, fill=None):
    _check(img)
    opts = _parse_fill(fill, img)
    return img.rotate(angle, interpolation, expand, center, **opts)


def to_grayscale(img, num_output_channels):
    _check(img)
    if num_output_channels == 1:
        return img.convert("L")
    if num_output_channels == 3:
        g = np.array(img.convert("L"), dtype=np.uint8)
        return fromarray(np.dstack([g, g, g]), "RGB")
    raise ValueError("num_output_channels should be either 1 or 3")


def invert(img):
    _check(img)
    return _pil()[2].invert(img)


def posterize(img, bits):
    _check(img)
    return _pil()[2].posterize(img, bits)


def solarize(img, threshold):
    _check(img)
    return _pil()[2].solarize(img, threshold)


def adjust_sharpness(img, sharpness_factor):
    _check(img)
    return _pil()[1].Sharpness(img).enhance(sharpness_factor)


def autocontrast(img):
    _check(img)
    return _pil()[2].autocontrast(img)


def equalize(img):
    _check(img)
    return _pil()[2].equalize(img)


def perspective(img, perspective_coeffs, interpolation=3, fill=None):
    _check(img)
    opts = _parse_fill(fill, img)
    return img.transform(img.size, _pil()[0].Transform.PERSPECTIVE, perspective_coeffs, interpolation, **opts)
