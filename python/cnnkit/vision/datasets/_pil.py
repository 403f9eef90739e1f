"""Lazy Pillow access for the datasets: Pillow is the optional ``vision`` extra.

Datasets construct without Pillow (their files are parsed with NumPy); only turning a sample into
a PIL image -- what torchvision returns -- needs it, and raises this ImportError then.
"""

_HINT = "cnnkit.vision.datasets needs Pillow to return PIL images: pip install 'cnnkit[vision]'"


def pil_image():
    """The ``PIL.Image`` module, or ImportError naming the extra."""
    try:
        from PIL import Image
    except ImportError as e:
        raise ImportError(_HINT) from e
    return Image


def fromarray(array, mode=None):
    """``PIL.Image.fromarray`` of a uint8 array; ``mode`` "L" for (H, W) grey images."""
    Image = pil_image()
    img = Image.fromarray(array)
    if mode is not None and img.mode != mode:
        img = img.convert(mode)
    return img
