import io
import os

import numpy as np
import pytest
from PIL import Image

from ppcls_lite.data import (DATASETS, ImageFolder, ImageNetDataset, Sample, SkippedSample, build_transforms,
                             check_same_classes, decode_image)
from ppcls_lite.errors import ConfigError, DataError

from .conftest import CIFAR_CLASSES, EVAL_OPS, gradient, jpeg_bytes, png_bytes, write


# -- both dataset forms on the vendored data ----------------------------------------------------------------------

def test_list_dataset_on_vendored_cifar(cifar):
    ds = ImageNetDataset(cifar, os.path.join(cifar, "train_list.txt"), transform_ops=EVAL_OPS)
    assert len(ds) == 5000 and ds.num_classes == 10
    assert ds.class_names == CIFAR_CLASSES  # from label_list.txt next to the list file
    assert ds.samples[0] == (os.path.join(cifar, "train/airplane/0000.jpg"), 0)
    s = ds[4999]
    assert isinstance(s, Sample) and s.label == 9 and s.index == 4999
    assert s.image.shape == (3, 32, 32) and s.image.dtype == np.float32


def test_image_folder_matches_list_file(cifar):
    tree = ImageFolder(os.path.join(cifar, "val"))
    lst = ImageNetDataset(cifar, os.path.join(cifar, "val_list.txt"))
    assert tree.class_names == CIFAR_CLASSES == lst.class_names
    assert len(tree) == 1000 and tree.num_classes == 10
    rel = lambda samples, base: sorted((os.path.relpath(p, base), lab) for p, lab in samples)  # noqa: E731
    assert rel(tree.samples, cifar + "/val") == rel(lst.samples, cifar + "/val")
    check_same_classes(ImageFolder(os.path.join(cifar, "train")), tree)


def test_class_names_given_order_and_registry(cifar):
    ds = ImageFolder(os.path.join(cifar, "val"), class_names=["truck", "airplane"])
    assert ds.class_names == ["truck", "airplane"] and len(ds) == 200
    assert {lab for p, lab in ds.samples if "/truck/" in p} == {0}
    assert set(DATASETS) == {"ImageNetDataset", "ImageFolder", "MultiLabelDataset"}
    with pytest.raises(DataError, match="nope: class folder not found"):
        ImageFolder(os.path.join(cifar, "val"), class_names=["truck", "nope"])


def test_folder_order_is_sorted_and_non_images_ignored(tmp_path):
    for c in ("b", "a", "C"):
        write(str(tmp_path / c / "x.JPG"), jpeg_bytes(gradient()))
    write(str(tmp_path / "a" / "notes.txt"), b"hello")
    write(str(tmp_path / "a" / ".hidden.jpg"), b"")
    ds = ImageFolder(str(tmp_path))
    assert ds.class_names == ["C", "a", "b"] and len(ds) == 3


def test_names_without_label_list(tmp_path):
    write(str(tmp_path / "a.jpg"), jpeg_bytes(gradient()))
    write(str(tmp_path / "b.jpg"), jpeg_bytes(gradient()))
    lst = write(str(tmp_path / "l.txt"), b"a.jpg 0\n\nb.jpg 3\n")
    ds = ImageNetDataset(str(tmp_path), lst)
    assert ds.class_names == ["0", "1", "2", "3"] and ds.labels == [0, 3]
    ds = ImageNetDataset(str(tmp_path), lst, relabel=True)
    assert ds.labels == [0, 1] and ds.class_names == ["0", "3"]


# -- every DataError names its file (and line) -----------------------------------------------------------------

@pytest.mark.parametrize("text,pattern", [
    ("a.jpg 0\nmissing.jpg 1\n", r"l\.txt:2: image file not found: .*missing\.jpg"),
    ("a.jpg 0\nb.jpg one\n", r"l\.txt:2: label 'one' is not an integer"),
    ("a.jpg 0\nb.jpg -1\n", r"l\.txt:2: negative label -1"),
    ("a.jpg 0\nb.jpg\n", r"l\.txt:2: malformed line 'b\.jpg'"),
    ("a.jpg 0\nb.jpg 1\na.jpg 0\n", r"l\.txt:3: duplicate entry 'a\.jpg' \(first on line 1\)"),
    ("\n\n", r"l\.txt: empty dataset"),
    ("a.jpg 0\nb.jpg x\nc.jpg y\n", r"l\.txt:2: .*\(and 1 more problem"),
])
def test_list_file_errors(tmp_path, text, pattern):
    write(str(tmp_path / "a.jpg"), jpeg_bytes(gradient()))
    write(str(tmp_path / "b.jpg"), jpeg_bytes(gradient()))
    lst = write(str(tmp_path / "l.txt"), text.encode())
    with pytest.raises(DataError, match=pattern):
        ImageNetDataset(str(tmp_path), lst)


def test_label_list_errors(tmp_path):
    write(str(tmp_path / "a.jpg"), jpeg_bytes(gradient()))
    lst = write(str(tmp_path / "l.txt"), b"a.jpg 2\n")
    write(str(tmp_path / "label_list.txt"), b"0 cat\n1 dog\n")
    with pytest.raises(DataError, match=r"l\.txt:1: label 2 is out of range: .*label_list\.txt lists 2 classes"):
        ImageNetDataset(str(tmp_path), lst)
    write(str(tmp_path / "label_list.txt"), b"0 cat\ndog\n")
    with pytest.raises(DataError, match=r"label_list\.txt:2: malformed line"):
        ImageNetDataset(str(tmp_path), lst)


def test_missing_paths_and_empty_folders(tmp_path):
    with pytest.raises(DataError, match=r"nolist\.txt: list file not found"):
        ImageNetDataset(str(tmp_path), str(tmp_path / "nolist.txt"))
    lst = write(str(tmp_path / "l.txt"), b"a.jpg 0\n")
    with pytest.raises(DataError, match=r"noroot: image_root is not a directory"):
        ImageNetDataset(str(tmp_path / "noroot"), lst)
    with pytest.raises(DataError, match=r"empty: dataset folder not found"):
        ImageFolder(str(tmp_path / "empty"))
    os.makedirs(tmp_path / "tree0")
    with pytest.raises(DataError, match=r"tree0: empty dataset \(no class folders\)"):
        ImageFolder(str(tmp_path / "tree0"))
    write(str(tmp_path / "tree" / "cat" / "0.jpg"), jpeg_bytes(gradient()))
    write(str(tmp_path / "tree" / "dog" / "readme.txt"), b"no images here")
    with pytest.raises(DataError, match=r"tree/dog: class folder has no images"):
        ImageFolder(str(tmp_path / "tree"))
    with pytest.raises(ConfigError, match="on_bad_image"):
        ImageFolder(str(tmp_path / "tree"), on_bad_image="ignore")


def test_check_same_classes_names_folders(small_tree, tmp_path):
    other = str(tmp_path / "val")
    write(os.path.join(other, "cat", "0.jpg"), jpeg_bytes(gradient()))
    write(os.path.join(other, "cow", "0.jpg"), jpeg_bytes(gradient()))
    with pytest.raises(DataError, match=r"only in .*tree: dog; only in .*val: cow"):
        check_same_classes(ImageFolder(small_tree), ImageFolder(other))


# -- decoding: odd formats and bad files ---------------------------------------------------------------------------

def test_decode_odd_formats():
    rgb = gradient()
    gray = rgb[:, :, 0]
    out = decode_image(png_bytes(Image.fromarray(gray)))
    assert out.shape == (24, 32, 3) and out.dtype == np.uint8
    assert (out == gray[:, :, None]).all()
    out = decode_image(jpeg_bytes(gray))  # grayscale JPEG
    assert out.shape == (24, 32, 3) and (out[:, :, 0] == out[:, :, 2]).all()
    # CMYK JPEG -> RGB close to the source colours
    buf = io.BytesIO()
    Image.fromarray(rgb).convert("CMYK").save(buf, "JPEG", quality=100)
    out = decode_image(buf.getvalue())
    assert out.shape == (24, 32, 3) and np.abs(out.astype(int) - rgb).mean() < 6
    # palette PNG: exact palette colours
    pal = Image.fromarray(rgb).quantize(colors=16)
    assert np.array_equal(decode_image(png_bytes(pal)), np.array(pal.convert("RGB")))
    # RGBA PNG: colour channels kept, alpha dropped
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 7, np.uint8)])
    assert np.array_equal(decode_image(png_bytes(Image.fromarray(rgba))), rgb)
    # 16-bit grayscale PNG: 0..65535 onto 0..255
    g16 = (np.arange(24 * 32, dtype=np.uint16).reshape(24, 32) * 85)
    out = decode_image(png_bytes(Image.fromarray(g16)))
    assert np.array_equal(out[:, :, 1], np.rint(g16 / 257.0).astype(np.uint8))


def test_decode_exif_rotation():
    img = np.zeros((20, 40, 3), np.uint8)  # stored 40 wide: left half red, right half blue
    img[:, :20, 0] = 255
    img[:, 20:, 2] = 255
    exif = Image.Exif()
    exif[0x0112] = 6  # display = stored rotated 90 degrees clockwise
    out = decode_image(jpeg_bytes(img, exif=exif.tobytes()))
    assert out.shape == (40, 20, 3)  # portrait once rotated
    top, bottom = out[:18].reshape(-1, 3).mean(0), out[22:].reshape(-1, 3).mean(0)
    assert top[0] > 200 and top[2] < 50 and bottom[2] > 200 and bottom[0] < 50


def _bad_files(root):
    good = jpeg_bytes(gradient())
    return {
        "truncated.jpg": good[: len(good) // 2],
        "empty.jpg": b"",
        "text.jpg": b"this is not an image\n",
    }


def test_bad_images_error_and_skip(small_tree):
    bad = _bad_files(small_tree)
    for name, data in bad.items():
        write(os.path.join(small_tree, "cat", name), data)
    ds = ImageFolder(small_tree, transform_ops=EVAL_OPS)
    bad_idx = [i for i, (p, _) in enumerate(ds.samples) if os.path.basename(p) in bad]
    assert len(bad_idx) == 3
    for i in bad_idx:
        with pytest.raises(DataError, match=os.path.basename(ds.samples[i][0]) + ": (empty file|cannot decode)"):
            ds[i]
    ds = ImageFolder(small_tree, transform_ops=EVAL_OPS, on_bad_image="skip")
    outs = [ds[i] for i in range(len(ds))]
    skipped = [o for o in outs if isinstance(o, SkippedSample)]
    assert sorted(o.index for o in skipped) == bad_idx
    assert sorted(ds.skipped) == sorted(ds.samples[i][0] for i in bad_idx)
    assert all(o.image.shape == (3, 32, 32) for o in outs if isinstance(o, Sample))


def test_transform_failure_names_file(small_tree):
    ds = ImageFolder(small_tree, transform_ops=[{"DecodeImage": None}, {"CropImage": {"size": 64}}])
    with pytest.raises(DataError, match=r"0\.jpg: transform failed .*smaller than the crop"):
        ds[0]


def test_imagenet_sample_decodes_like_paddleclas(imagenet_sample):
    import cv2

    ops = [{"DecodeImage": None}, {"ResizeImage": {"resize_short": 256}}, {"CropImage": {"size": 224}}]
    ds = ImageNetDataset(imagenet_sample, os.path.join(imagenet_sample, "val_list.txt"), transform_ops=ops)
    assert len(ds) == 100 and ds.num_classes == 1000
    pipe = build_transforms(ops)
    for i in range(0, 100, 9):
        data = open(ds.samples[i][0], "rb").read()
        ours = pipe(data)
        ref = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1]  # PaddleClas: cv2 decode
        h, w = ref.shape[:2]
        p = 256.0 / min(w, h)
        ref = cv2.resize(ref, (int(round(w * p)), int(round(h * p))))
        y, x = (ref.shape[0] - 224) // 2, (ref.shape[1] - 224) // 2
        ref = ref[y:y + 224, x:x + 224]
        assert ours.shape == (224, 224, 3)
        assert np.abs(ours.astype(int) - ref).mean() < 0.5
    assert all(ds[i].image.shape == (3, 224, 224) for i in range(len(ds)))
