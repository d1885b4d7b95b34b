"""The base class of every per-image transform op (its own module, so op families can live in files of their
own without importing each other)."""


class TransformOp:
    """Base: `__call__(img, rng)`; `out_layout(layout)` says what the op accepts and produces."""

    random = False  # True when the op draws from rng

    def out_layout(self, layout):
        if layout == "bytes":
            raise ValueError("needs a decoded image: DecodeImage must come first")
        if layout != "hwc":
            raise ValueError(f"expects an HWC image, but the image is {layout.upper()} here")
        return layout

    def __call__(self, img, rng=None):  # pragma: no cover - interface
        raise NotImplementedError

    def __repr__(self):
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({fields})"
