"""validate_component: generic checks of a named component against a registry's signatures."""
import pytest

from ppcls_lite.config import validate_component
from ppcls_lite.errors import ConfigError


class Resize:
    def __init__(self, size, interpolation="bilinear", scale=(0.08, 1.0), ratio=0.75, flip=False, extra=None):
        pass


def open_op(alpha=1.0, **kwargs):
    pass


REGISTRY = {"Resize": Resize, "OpenOp": open_op}


def test_accepts_and_coerces():
    out = validate_component("T.0.Resize", "Resize", {"size": 32, "scale": [0.5, 1], "ratio": 1, "extra": "1/4"},
                             REGISTRY)
    assert out == {"size": 32, "scale": [0.5, 1], "ratio": 1, "extra": 0.25}
    assert validate_component(("T", 0, "Resize"), "Resize", {"size": 3, "ratio": "1.0/3.0"},
                              REGISTRY)["ratio"] == pytest.approx(1 / 3)
    assert validate_component("T", "Resize", {"size": 3, "scale": 0.5}, REGISTRY)["scale"] == 0.5  # number for list


@pytest.mark.parametrize("name, kwargs, message", [
    ("Resise", {}, "T: unknown component 'Resise'; did you mean 'Resize'?"),
    ("Resize", {"size": 1, "interpolaton": "x"}, "T.interpolaton: unknown key; did you mean 'interpolation'?"),
    ("Resize", {"size": 1, "flip": "no"}, "T.flip: expected bool, got str 'no'"),
    ("Resize", {"size": 1, "ratio": True}, "T.ratio: expected float, got bool True"),
    ("Resize", {"size": 1, "interpolation": 3}, "T.interpolation: expected str, got int 3"),
    ("Resize", {}, "T.size: required parameter of Resize missing"),
    ("Resize", [1], "T: expected a mapping of parameters for component 'Resize', got [1]"),
])
def test_errors(name, kwargs, message):
    with pytest.raises(ConfigError) as info:
        validate_component("T", name, kwargs, REGISTRY)
    assert str(info.value) == message
    assert info.value.key_path[0] == "T"


def test_open_ended_component():
    assert validate_component("T", "OpenOp", {"anything": [1]}, REGISTRY) == {"anything": [1]}
    with pytest.raises(ConfigError, match=r"^T.anythin: unknown key; valid: alpha$"):
        validate_component("T", "OpenOp", {"anythin": 1}, REGISTRY, created={("T", "anythin")})


def test_extra_and_injected_keys():
    out = validate_component("L", "Resize", {"size": 1, "weight": 2}, REGISTRY, extra={"weight": "float"})
    assert out["weight"] == 2
    assert validate_component("L", "Resize", {}, REGISTRY, injected=("size",)) == {}
