"""A stand-in data folder for the full profile: ``python -m coursekit.standin FOLDER``.

The full profile downloads Fashion-MNIST and pretrained ImageNet weights, which a CPU machine
offline cannot. This writes, into ``FOLDER`` (what ``COURSE_DATA`` then points at), files in the
formats and at the places those downloads leave, so that the course's own download-and-cache code
(``course_utils.datasets.fashion_mnist``, ``course_utils.transfer.download_weights``) runs on them
exactly as on the real ones:

* ``FashionMNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte``: IDX files of 28x28 ``uint8``
  images and ``uint8`` labels 0-9, as torchvision extracts them, but only ``--train`` and
  ``--test`` images (generated shapes, one kind per class, with noise);
* ``weights/<torchvision's file name>``: a randomly initialised ``state_dict`` of each model in
  ``WEIGHTS``, saved with ``torch.save`` under the file name of its published weights;
* ``STANDIN``: the marker that lets only a ``COURSE_STANDIN=1`` run use the folder (and makes
  such a run refuse any other folder), so generated files never pass for downloaded ones.
"""

from __future__ import annotations

import argparse
import struct
import sys
from pathlib import Path

import numpy as np

#: (torchvision model, weights enum member) of every pretrained model the full profile loads.
WEIGHTS = (("resnet18", "IMAGENET1K_V1"),)
MARKER_TEXT = (
    "Generated stand-ins (python -m coursekit.standin), not downloaded data: "
    "use only with COURSE_STANDIN=1.\n"
)


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write a ``uint8`` array as an IDX file (the format of MNIST and Fashion-MNIST)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    magic = 0x0800 + array.ndim  # 0x08: unsigned byte
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header + array.tobytes())


def clothing_like(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` 28x28 ``uint8`` images and their labels 0-9: one ellipse of a class's own shape and
    brightness per image, jittered, on a dark background with noise (learnable, and plainly not
    Fashion-MNIST)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, size=n).astype(np.uint8)
    rows, cols = np.mgrid[0:28, 0:28] + 0.5
    half_height = 4 + labels[:, None, None] * 0.9 + rng.uniform(-1, 1, (n, 1, 1))
    half_width = 12 - labels[:, None, None] * 0.8 + rng.uniform(-1, 1, (n, 1, 1))
    centre = 14 + rng.uniform(-2, 2, (n, 2, 1, 1))
    inside = (
        ((rows - centre[:, 0]) / half_height) ** 2 + ((cols - centre[:, 1]) / half_width) ** 2
    ) <= 1
    brightness = 120 + 12 * labels[:, None, None]
    images = inside * brightness + rng.normal(0, 20, (n, 28, 28))
    return np.clip(images, 0, 255).astype(np.uint8), labels


def write_fashion_mnist(folder: Path, n_train: int, n_test: int, seed: int = 0) -> None:
    raw = folder / "FashionMNIST" / "raw"
    for split, n, split_seed in (("train", n_train, seed), ("t10k", n_test, seed + 1)):
        images, labels = clothing_like(n, split_seed)
        write_idx(raw / f"{split}-images-idx3-ubyte", images)
        write_idx(raw / f"{split}-labels-idx1-ubyte", labels)


def write_weights(folder: Path, seed: int = 0) -> list[Path]:
    """Randomly initialised weights of every model in ``WEIGHTS``, named as the published ones."""
    import torch
    from torchvision import models

    written = []
    for name, member in WEIGHTS:
        url = models.get_model_weights(name)[member].url
        torch.manual_seed(seed)
        model = models.get_model(name, weights=None)
        path = folder / "weights" / url.rstrip("/").rsplit("/", 1)[-1]
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(model.state_dict(), path)
        written.append(path)
    return written


def make_standin(folder: Path, n_train: int = 128, n_test: int = 64, seed: int = 0) -> None:
    """Fill ``folder`` with stand-ins and mark it (see the module's docstring)."""
    folder.mkdir(parents=True, exist_ok=True)
    real = [p for p in folder.iterdir() if p.name != "STANDIN"]
    if real and not (folder / "STANDIN").is_file():
        raise SystemExit(
            f"error: {folder} already holds files and is not a stand-in folder: "
            "pick an empty or new folder, so no real download is mixed with "
            "stand-ins."
        )
    (folder / "STANDIN").write_text(MARKER_TEXT)
    write_fashion_mnist(folder, n_train, n_test, seed)
    write_weights(folder, seed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m coursekit.standin", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("folder", type=Path, help="where to write (then COURSE_DATA=FOLDER)")
    parser.add_argument("--train", type=int, default=128, help="training images (128)")
    parser.add_argument("--test", type=int, default=64, help="test images (64)")
    args = parser.parse_args(argv)
    if args.train < 10 or args.test < 10:
        parser.error("--train and --test must be at least 10 images")
    make_standin(args.folder, args.train, args.test)
    print(
        f"Stand-in data in {args.folder}: Fashion-MNIST files with {args.train} training and "
        f"{args.test} test images, random weights for "
        f"{', '.join(f'{n} ({m})' for n, m in WEIGHTS)}. Use COURSE_DATA={args.folder} "
        "COURSE_STANDIN=1."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
