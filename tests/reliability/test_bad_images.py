"""Bad and unusual images. Decodable ones (grayscale, CMYK, palette with and without transparency, RGBA, 16-bit,
10,000 x 10,000 px, EXIF-rotated) come out as 8-bit RGB with the right pixels; undecodable ones (truncated JPEG,
truncated PNG, zero bytes, a text file named .jpg) either stop the run naming the file (on_bad_image: error) or
are dropped, counted and listed at the end of every epoch (on_bad_image: skip) -- never silently replaced."""
import io
import os

import numpy as np
import pytest
import yaml
from PIL import Image

from ppcls_lite.data import build_dataloader
from ppcls_lite.data.datasets import ImageNetDataset, Sample, SkippedSample
from ppcls_lite.errors import DataError
from tests.engine.conftest import DATA, _subset_list

from .conftest import output_of, run_train, small_config

RED, BLUE = (255, 0, 0), (0, 0, 255)


def _jpeg(img, **kw):
    buf = io.BytesIO()
    img.save(buf, "JPEG", **kw)
    return buf.getvalue()


def _png(img, **kw):
    buf = io.BytesIO()
    img.save(buf, "PNG", **kw)
    return buf.getvalue()


def _noise(w, h, seed=0):
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8))


def _exif_rotated():
    """Stored 40 wide x 20 high, left half red, right half blue, EXIF orientation 6 (display: rotate 90 deg CW)."""
    arr = np.zeros((20, 40, 3), np.uint8)
    arr[:, :20] = RED
    arr[:, 20:] = BLUE
    exif = Image.Exif()
    exif[0x0112] = 6
    return _jpeg(Image.fromarray(arr), quality=95, exif=exif.tobytes())


def _palette(transparent):
    img = Image.new("P", (12, 10), 0)
    img.putpalette([10, 200, 30] + [0, 0, 0] * 255)
    return _png(img, transparency=0) if transparent else _png(img)


# name -> (bytes, check of the decoded HWC uint8 RGB array)
DECODABLE = {
    "gray.png": (lambda: _png(Image.new("L", (9, 7), 77)), lambda a: a.shape == (7, 9, 3) and (a == 77).all()),
    "cmyk.jpg": (lambda: _jpeg(Image.new("CMYK", (16, 16), (0, 255, 255, 0)), quality=95),
                 lambda a: a.shape == (16, 16, 3) and a[..., 0].min() > 200 and a[..., 1:].max() < 60),
    "palette.png": (lambda: _palette(False), lambda a: a.shape == (10, 12, 3) and (a == (10, 200, 30)).all()),
    "palette_transparent.png": (lambda: _palette(True), lambda a: a.shape == (10, 12, 3)
                                and (a == (10, 200, 30)).all()),
    "rgba.png": (lambda: _png(Image.new("RGBA", (8, 8), (200, 100, 50, 0))),
                 lambda a: a.shape == (8, 8, 3) and (a == (200, 100, 50)).all()),
    "16bit.png": (lambda: _png(Image.fromarray(np.array([[0, 32896, 65535]] * 4, np.uint16))),
                  lambda a: a.shape == (4, 3, 3) and a[0, :, 0].tolist() == [0, 128, 255]),
    "huge_10000px.jpg": (lambda: _jpeg(Image.new("RGB", (10000, 10000), (40, 120, 200)), quality=50),
                         lambda a: a.shape == (10000, 10000, 3) and abs(int(a[5000, 5000, 2]) - 200) <= 3),
    "exif_rotated.jpg": (_exif_rotated, lambda a: a.shape == (40, 20, 3) and a[5, 10, 0] > 200 and a[5, 10, 2] < 60
                         and a[35, 10, 2] > 200 and a[35, 10, 0] < 60),
}
UNDECODABLE = {
    "truncated.jpg": (lambda: _jpeg(_noise(64, 64), quality=90)[:1500], "cannot decode image"),
    "truncated.png": (lambda: _png(_noise(64, 64))[:2000], "cannot decode image"),
    "zero_bytes.jpg": (lambda: b"", "empty file (0 bytes)"),
    "text.jpg": (lambda: b"<html>404 Not Found</html>\n", "cannot decode image"),
}


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("images")
    for name, (make, _) in {**DECODABLE, **UNDECODABLE}.items():
        (d / name).write_bytes(make())
    Image.fromarray(np.full((24, 24, 3), 99, np.uint8)).save(d / "good.jpg", quality=95)
    return d


def _dataset(image_dir, names, on_bad_image, ops=None):
    lst = image_dir / f"list_{on_bad_image}.txt"
    lst.write_text("".join(f"{n} {i % 3}\n" for i, n in enumerate(names)))
    ops = ops or [{"DecodeImage": {"to_rgb": True, "channel_first": False}}]
    return ImageNetDataset(str(image_dir), str(lst), transform_ops=ops, on_bad_image=on_bad_image)


@pytest.mark.parametrize("name", list(DECODABLE))
def test_decodable_images_become_rgb(image_dir, name):
    ds = _dataset(image_dir, [name], "error")
    sample = ds.load(0)
    assert isinstance(sample, Sample) and sample.image.dtype == np.uint8
    assert DECODABLE[name][1](sample.image.transpose(1, 2, 0)), (name, sample.image.shape)


def test_huge_image_through_a_resize_is_drafted(image_dir):
    ops = [{"DecodeImage": {"to_rgb": True, "channel_first": False}}, {"ResizeImage": {"resize_short": 32}}]
    sample = _dataset(image_dir, ["huge_10000px.jpg"], "error", ops).load(0)
    assert sample.image.shape == (3, 32, 32) and abs(int(sample.image[2].mean()) - 200) <= 3


@pytest.mark.parametrize("name", list(UNDECODABLE))
def test_undecodable_image_with_error_names_the_file(image_dir, name):
    ds = _dataset(image_dir, ["good.jpg", name], "error")
    with pytest.raises(DataError) as e:
        ds.load(1)
    assert str(e.value).startswith(str(image_dir / name) + ":") and UNDECODABLE[name][1] in str(e.value)


def test_skip_drops_counts_and_lists_never_replaces(image_dir):
    names = ["good.jpg"] + [n for n in DECODABLE if not n.startswith("huge")] + list(UNDECODABLE)
    ds = _dataset(image_dir, names, "skip")
    for i, name in enumerate(names):
        got = ds.load(i)
        assert isinstance(got, SkippedSample if name in UNDECODABLE else Sample), name
    section = {"dataset": {"name": "ImageNetDataset", "image_root": str(image_dir),
                           "cls_label_path": str(image_dir / "list_skip.txt"), "on_bad_image": "skip",
                           "transform_ops": [{"DecodeImage": {"to_rgb": True, "channel_first": False}},
                                             {"ResizeImage": {"size": [8, 8]}}]},
               "sampler": {"name": "DistributedBatchSampler", "batch_size": 4, "shuffle": True},
               "loader": {"num_workers": 0, "use_shared_memory": False}}
    loader = build_dataloader(section, "Train", seed=3)
    loader.set_epoch(1)
    seen = []
    for images, labels, indices in loader:
        assert images.shape[0] == labels.shape[0] == indices.shape[0]
        seen.extend(int(i) for i in indices.numpy())
    bad = {i for i, n in enumerate(names) if n in UNDECODABLE}
    assert sorted(seen) == sorted(set(range(len(names))) - bad)  # each good sample once, no stand-ins
    assert sorted(loader.skipped_files) == sorted(str(image_dir / names[i]) for i in bad)
    assert loader.num_skipped == len(bad)


def _config_with_bad_files(tmp_path, on_bad_image):
    """The small config whose train list also holds a truncated JPEG and a text file named .jpg."""
    root = tmp_path / "root"
    (root / "bad").mkdir(parents=True)
    os.symlink(DATA, root / "cifar")
    (root / "bad" / "truncated.jpg").write_bytes(UNDECODABLE["truncated.jpg"][0]())
    (root / "bad" / "text.jpg").write_bytes(UNDECODABLE["text.jpg"][0]())
    lines = open(_subset_list(str(tmp_path / "sub.txt"), "train", 4)).read().splitlines()
    lines = [f"cifar/{line}" for line in lines]
    lines[7:7] = ["bad/truncated.jpg 3"]
    lines[23:23] = ["bad/text.jpg 5"]
    (tmp_path / "train_bad.txt").write_text("\n".join(lines) + "\n")
    cfg = small_config(str(tmp_path / "run"), epochs=2, extra_global={"latest_interval_steps": 0})
    data = yaml.safe_load(open(cfg))
    ds = data["DataLoader"]["Train"]["dataset"]
    ds.update(image_root=str(root), cls_label_path=str(tmp_path / "train_bad.txt"), on_bad_image=on_bad_image)
    yaml.safe_dump(data, open(cfg, "w"), sort_keys=False)
    return cfg, [str(root / "bad" / "truncated.jpg"), str(root / "bad" / "text.jpg")]


def test_train_skip_lists_skipped_files_every_epoch(tmp_path):
    cfg, bad = _config_with_bad_files(tmp_path, "skip")
    proc = run_train(["-c", cfg])
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = open(os.path.join(output_of(cfg), "train.log")).read()
    for epoch in (1, 2):
        line = next(x for x in log.splitlines() if f"[Train][Epoch {epoch}] skipped" in x)
        assert "skipped 2 undecodable image(s)" in line and all(p in line for p in bad), line


def test_train_error_stops_naming_the_file(tmp_path):
    cfg, bad = _config_with_bad_files(tmp_path, "error")
    proc = run_train(["-c", cfg])
    assert proc.returncode == 2, proc.stderr[-3000:]
    errors = [x for x in proc.stderr.splitlines() if x.startswith("error:")]
    assert len(errors) == 1 and any(errors[0].startswith(f"error: {p}: cannot decode image") for p in bad), errors
    assert "Traceback" not in proc.stderr
