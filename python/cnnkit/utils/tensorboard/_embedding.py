"""The embedding projector's files for ``SummaryWriter.add_embedding``: ``tensors.tsv`` (one row of
features per point), ``metadata.tsv`` (labels, optionally several columns under a header),
``sprite.png`` (the points' thumbnails tiled in a square grid) and ``projector_config.pbtxt`` in the
log directory, listing every embedding written so far."""
from __future__ import annotations

import io
import math
import os

import numpy as np

from ._convert import make_grid, make_np


def write_metadata(path, metadata, header=None):
    """One label per line, or a header line and tab-separated rows when ``header`` is given."""
    if header:
        rows = [list(header)] + [list(r) for r in metadata]
        if any(len(r) != len(header) for r in rows):
            raise ValueError(f"add_embedding: every metadata row must have {len(header)} columns (the header's)")
        lines = ["\t".join(str(e) for e in r) for r in rows]
    else:
        lines = [str(x) for x in metadata]
    with open(os.path.join(path, "metadata.tsv"), "wb") as f:
        f.write(("\n".join(lines) + "\n").encode("utf-8"))


def write_sprite(path, label_img):
    """Tiles (N, C, H, W) thumbnails, ceil(sqrt(N)) per row, on a black canvas of that many rows;
    float values are taken as [0, 1], uint8 as 0..255."""
    from PIL import Image

    imgs = make_np(label_img, "add_embedding")
    n, _, h, w = imgs.shape
    per_row = int(math.ceil(n ** 0.5))
    grid = make_grid(imgs, ncols=per_row).transpose(1, 2, 0)[:, :, :3]
    canvas = np.zeros((h * per_row, w * per_row, 3), dtype=np.float64)
    canvas[:grid.shape[0], :grid.shape[1]] = grid
    scale = 1.0 if imgs.dtype == np.uint8 else 255.0
    buf = io.BytesIO()
    Image.fromarray(np.uint8((canvas * scale).clip(0, 255))).save(buf, format="PNG")
    with open(os.path.join(path, "sprite.png"), "wb") as f:
        f.write(buf.getvalue())


def write_matrix(path, mat):
    with open(os.path.join(path, "tensors.tsv"), "wb") as f:
        for row in mat.tolist():
            f.write(("\t".join(str(v) for v in row) + "\n").encode("utf-8"))


def embedding_info(metadata, label_img, subdir, global_step, tag):
    from tensorboard.plugins.projector.projector_config_pb2 import EmbeddingInfo

    info = EmbeddingInfo(tensor_name=f"{tag}:{str(global_step).zfill(5)}",
                         tensor_path=os.path.join(subdir, "tensors.tsv"))
    if metadata is not None:
        info.metadata_path = os.path.join(subdir, "metadata.tsv")
    if label_img is not None:
        info.sprite.image_path = os.path.join(subdir, "sprite.png")
        info.sprite.single_image_dim.extend([int(label_img.shape[3]), int(label_img.shape[2])])
    return info


def encode_tag(tag):
    """A tag as one directory name: '%', '/' and '\\' escaped as %xx."""
    return tag.replace("%", "%25").replace("/", "%2f").replace("\\", "%5c")
