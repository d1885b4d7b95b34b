import inspect

import paddle
import pytest

from ppcls_lite.engine.amp import amp_options, autocast_works, resolve_amp
from ppcls_lite.errors import ConfigError


def _fake(*working):
    return lambda device, dtype: dtype in working


def test_off_when_absent_or_switched_off():
    for cfg in (None, {"use_amp": False, "level": "O2"}):
        d = resolve_amp(cfg, "gpu", supports=_fake("float16", "bfloat16"))
        assert tuple(d) == (False, "O0", "float32", "")
        assert d.make_scaler() is None


def test_requested_dtype_when_supported():
    cfg = {"use_amp": True, "level": "o2", "dtype": "bf16", "scale_loss": 128.0}
    enabled, level, dtype, message = resolve_amp(cfg, "gpu:0", supports=_fake("float16", "bfloat16"))
    assert (enabled, level, dtype, message) == (True, "O2", "bfloat16", "")
    d = resolve_amp({"scale_loss": 128.0, "use_dynamic_loss_scaling": True}, "gpu", supports=_fake("float16"))
    assert tuple(d) == (True, "O1", "float16", "")  # section present: on by default, O1 fp16


def test_falls_back_to_the_other_half_type_then_to_float32():
    d = resolve_amp({"dtype": "fp16"}, "cpu", supports=_fake("bfloat16"))
    assert d.enabled and d.dtype == "bfloat16" and "float16" in d.message and "bfloat16" in d.message
    d = resolve_amp({"dtype": "bfloat16"}, "gpu", supports=_fake("float16"))
    assert d.enabled and d.dtype == "float16" and d.message
    d = resolve_amp({"level": "O2"}, "cpu", supports=_fake())
    assert tuple(d)[:3] == (False, "O0", "float32")
    assert "float32" in d.message and "\n" not in d.message
    assert d.make_scaler() is None


def test_real_cpu_decision_is_consistent_with_paddle():
    d = resolve_amp({"use_amp": True, "dtype": "bf16"}, "cpu")
    works = autocast_works("cpu", "bfloat16") or autocast_works("cpu", "float16")
    assert d.enabled == works
    if not works:  # Paddle 3.3.1: autocast is a no-op on CPU
        assert d.dtype == "float32" and d.message.startswith("AMP:")
    else:
        with paddle.amp.auto_cast(level=d.level, dtype=d.dtype):
            out = paddle.matmul(paddle.ones([2, 2]), paddle.ones([2, 2]))
        assert out.dtype != paddle.float32


def test_grad_scaler_from_scale_loss_and_dynamic_flag(monkeypatch):
    # On CPU Paddle's GradScaler disables itself and forgets its settings, so record the construction instead.
    made = []
    monkeypatch.setattr(paddle.amp, "GradScaler", lambda **kw: made.append(kw) or kw)
    d = resolve_amp({"scale_loss": 128.0, "use_dynamic_loss_scaling": True}, "gpu", supports=_fake("float16"))
    assert d.make_scaler() == {"init_loss_scaling": 128.0, "use_dynamic_loss_scaling": True}
    d = resolve_amp({"scale_loss": 64}, "gpu", supports=_fake("float16"))
    assert d.make_scaler() == {"init_loss_scaling": 64.0, "use_dynamic_loss_scaling": False}
    bf = resolve_amp({"dtype": "bf16", "scale_loss": 128.0}, "gpu", supports=_fake("bfloat16"))
    assert bf.make_scaler() is None  # bfloat16 needs no loss scaling
    assert len(made) == 2


def test_grad_scaler_is_a_paddle_scaler():
    d = resolve_amp({"scale_loss": 8.0}, "gpu", supports=_fake("float16"))
    assert isinstance(d.make_scaler(), paddle.amp.GradScaler)


@pytest.mark.parametrize("cfg, fragment", [
    ({"level": "O3"}, "AMP.level"),
    ({"dtype": "fp8"}, "AMP.dtype"),
    ({"scale_loss": 0}, "AMP.scale_loss"),
    ({"scale_loss": "big"}, "AMP.scale_loss"),
    ({"use_amp": "yes"}, "AMP.use_amp"),
    ({"use_fp32": True}, "use_fp32"),
    (["O1"], "AMP"),
])
def test_bad_config_raises(cfg, fragment):
    with pytest.raises(ConfigError) as e:
        resolve_amp(cfg, "cpu", supports=_fake("float16"))
    assert fragment in str(e.value)


def test_accepted_keys():
    assert set(inspect.signature(amp_options).parameters) == {
        "use_amp", "scale_loss", "use_dynamic_loss_scaling", "level", "dtype", "use_fp16_test", "use_promote"}
    assert amp_options(dtype="bfloat16", level="o1")["dtype"] == "bfloat16"
