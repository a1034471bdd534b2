"""Writes the small NumPy and image files the FileFormats tests read, with the real producers
(NumPy, Pillow), so Prune's readers are checked against them rather than against Prune's own
writers. Dev tooling only: the product has no Python.

    /work/venv-tools/bin/pip install numpy pillow
    /work/venv-tools/bin/python tools/data-fixtures/make_fixtures.py

Writes Tests/FileFormatsTests/Fixtures/{numpy,images}/ and expected.json (the values the
tests compare against). Deterministic: re-running gives the same arrays and pixels.
"""
import json
import os
import shutil

import numpy as np
from PIL import Image

ROOT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "FileFormatsTests", "Fixtures")
NUMPY = os.path.join(ROOT, "numpy")
IMAGES = os.path.join(ROOT, "images")


def numpy_files():
    os.makedirs(NUMPY, exist_ok=True)
    a = (np.arange(6, dtype=np.float32).reshape(2, 3) - 2.5) / 4     # [[-0.625, -0.375, ...]]
    np.save(os.path.join(NUMPY, "f4.npy"), a)
    np.save(os.path.join(NUMPY, "f4_big_endian.npy"), a.astype(">f4"))
    np.save(os.path.join(NUMPY, "f4_fortran.npy"), np.asfortranarray(a))
    np.save(os.path.join(NUMPY, "f8_3d_fortran.npy"), np.asfortranarray(np.arange(24, dtype=np.float64).reshape(2, 3, 4)))
    np.save(os.path.join(NUMPY, "f2.npy"), a.astype(np.float16))
    np.save(os.path.join(NUMPY, "u1.npy"), np.array([[0, 1, 128], [254, 255, 7]], dtype=np.uint8))
    np.save(os.path.join(NUMPY, "i8.npy"), np.array([3, 0, -2, 9_000_000_000], dtype=np.int64))
    np.save(os.path.join(NUMPY, "i4_big_endian.npy"), np.array([1, -1, 65536], dtype=">i4"))
    np.save(os.path.join(NUMPY, "bool.npy"), np.array([True, False, True]))
    np.save(os.path.join(NUMPY, "scalar.npy"), np.float32(1.5))
    np.save(os.path.join(NUMPY, "object.npy"), np.array([1, "a"], dtype=object), allow_pickle=True)

    # A tiny two-class dataset: class = whether the first feature is positive.
    rng = np.random.default_rng(12)
    x = rng.normal(size=(40, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    np.savez(os.path.join(NUMPY, "dataset.npz"), x_train=x[:30], y_train=y[:30], x_test=x[30:], y_test=y[30:].astype(np.uint8))
    np.savez_compressed(os.path.join(NUMPY, "dataset_compressed.npz"), x=x, y=y.astype(np.int32))
    images = rng.integers(0, 256, size=(6, 5, 4), dtype=np.uint8)          # [N, H, W] grayscale
    np.savez_compressed(os.path.join(NUMPY, "images_u1.npz"), x_train=images, y_train=np.arange(6) % 3,
                        x_test=images[:2], y_test=np.array([0, 2]))
    nhwc = rng.integers(0, 256, size=(5, 4, 5, 3), dtype=np.uint8)        # Keras-style channels-last
    np.savez(os.path.join(NUMPY, "images_nhwc.npz"), x=nhwc, y=np.array([[1], [0], [1], [0], [1]]))
    np.savez(os.path.join(NUMPY, "extra_array.npz"), x=x, y=y, z=y)
    return {
        "f4": a.flatten().tolist(),
        "f8_3d": np.arange(24, dtype=np.float64).flatten().tolist(),
        "dataset_x": x.flatten().tolist(), "dataset_y": y.tolist(),
        "images_u1": images.flatten().tolist(),
        "nhwc_chw": nhwc.transpose(0, 3, 1, 2).flatten().tolist(),
    }


def image_files():
    if os.path.exists(IMAGES):
        shutil.rmtree(IMAGES)
    single = os.path.join(IMAGES, "single")
    os.makedirs(single)
    gray = (np.arange(20, dtype=np.uint8).reshape(4, 5) * 12)
    rgb = np.stack([gray, 255 - gray, np.full_like(gray, 77)], axis=-1)
    Image.fromarray(gray, "L").save(os.path.join(single, "gray.png"))
    Image.fromarray(rgb, "RGB").save(os.path.join(single, "rgb.png"))
    Image.fromarray(np.dstack([rgb, np.full_like(gray, 200)]), "RGBA").save(os.path.join(single, "rgba.png"))
    Image.fromarray(gray.astype(np.uint16) * 257).save(os.path.join(single, "gray16.png"))
    Image.fromarray(rgb, "RGB").convert("P", palette=Image.ADAPTIVE, colors=16).save(os.path.join(single, "palette.png"))
    Image.fromarray(gray, "L").save(os.path.join(single, "gray.jpg"), quality=95)
    Image.fromarray(rgb, "RGB").save(os.path.join(single, "rgb.jpg"), quality=95)
    with open(os.path.join(single, "rgb.png"), "rb") as f:
        data = f.read()
    with open(os.path.join(single, "truncated.png"), "wb") as f:
        f.write(data[: len(data) // 2])
    with open(os.path.join(single, "rgb.jpg"), "rb") as f:
        data = f.read()
    with open(os.path.join(single, "truncated.jpg"), "wb") as f:
        f.write(data[: len(data) // 2])

    # A two-class RGB dataset of 32×32 images: bright top half (class "top") or bottom half.
    rng = np.random.default_rng(7)
    for split, count in (("train", 8), ("test", 3)):
        for label in ("bottom", "top"):
            folder = os.path.join(IMAGES, "shapes", split, label)
            os.makedirs(folder)
            for i in range(count):
                pixels = rng.integers(0, 60, size=(32, 32, 3), dtype=np.uint8)
                rows = slice(0, 16) if label == "top" else slice(16, 32)
                pixels[rows] += 150
                Image.fromarray(pixels, "RGB").save(os.path.join(folder, f"{i:02d}.png"))
    decoded = {name: np.asarray(Image.open(os.path.join(single, name + ".jpg"))).flatten().tolist() for name in ("gray", "rgb")}
    return {"gray": gray.flatten().tolist(), "rgb_hwc": rgb.flatten().tolist(),
            "gray_jpg_pillow": decoded["gray"], "rgb_jpg_pillow": decoded["rgb"]}


if __name__ == "__main__":
    expected = {"numpy": numpy_files(), "images": image_files()}
    with open(os.path.join(ROOT, "expected.json"), "w") as f:
        json.dump(expected, f, indent=0)
    print("wrote", ROOT)


def fuzz_seeds():
    """Seeds for `make fuzz` (Tests/FuzzCorpus): one valid file per new reader and a few hostile ones."""
    corpus = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "FuzzCorpus")
    for src, dst in (("numpy/f4_fortran.npy", "fortran.npy"), ("numpy/i4_big_endian.npy", "big_endian.npy"),
                     ("numpy/dataset_compressed.npz", "dataset_compressed.npz"), ("numpy/images_u1.npz", "images.npz"),
                     ("images/single/palette.png", "palette.png"), ("images/single/gray16.png", "gray16.png"),
                     ("images/single/rgb.jpg", "rgb.jpg"), ("images/single/gray.jpg", "gray.jpg")):
        shutil.copyfile(os.path.join(ROOT, src), os.path.join(corpus, dst))
    with open(os.path.join(corpus, "data.csv"), "w") as f:
        f.write('label,a,"b"\n1,0.5,-2\n0,"3",4e-2\n')
    header = b"{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }"
    with open(os.path.join(corpus, "huge_shape.npy"), "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header)
    import io, zipfile
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:   # 4 MiB of zeros: a small bomb
        z.writestr("x.npy", b"\x93NUMPY\x01\x00" + (118).to_bytes(2, "little") + b"{'descr': '|u1', 'fortran_order': False, 'shape': (4194304,), }".ljust(117) + b"\n" + bytes(4194304))
        z.writestr("x.npy", b"duplicate")
    with open(os.path.join(corpus, "bomb_duplicate.npz"), "wb") as f:
        f.write(buffer.getvalue())


if __name__ == "__main__":
    fuzz_seeds()
