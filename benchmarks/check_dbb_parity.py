"""ResNet18 with DiverseBranchBlock against PaddleClas 2.6.0's: the same state-dict keys, the same logits from
the same weights (random BN statistics), before and after both sides re-parameterise.

    PADDLECLAS_ROOT=/path/to/site-packages/paddleclas python benchmarks/check_dbb_parity.py

PaddleClas's IdentityBasedConv1x1 keeps its identity in float64, which Paddle 3.3.1's conv2d refuses next to
float32 weights; the reference's identities are cast to float32 before it runs (values unchanged: 0 and 1).
Exits 1 when a relative logit difference exceeds --tol.
"""
import argparse
import sys

import numpy as np


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--img-size", type=int, default=64)
    ap.add_argument("--tol", type=float, default=1e-5, help="max |ours - theirs| / max |theirs|")
    args = ap.parse_args(argv)
    import paddle

    import ppcls_lite
    from paddleclas_ref import paddleclas_module

    paddle.set_device("cpu")
    paddle.seed(1)
    kwargs = dict(layer_type="DiverseBranchBlock", use_first_short_conv=False, class_num=10)
    ref = paddleclas_module("legendary_models.resnet").ResNet18(**kwargs)
    for layer in ref.sublayers():
        if hasattr(layer, "id_tensor"):
            layer.id_tensor = layer.id_tensor.astype("float32")
    ours = ppcls_lite.build_model("ResNet18", **kwargs)
    if list(ref.state_dict()) != list(ours.state_dict()):
        print("state-dict keys differ:", sorted(set(ref.state_dict()) ^ set(ours.state_dict()))[:10])
        return 1
    rng = np.random.default_rng(0)
    state = {}
    for key, value in ref.state_dict().items():
        value = value.numpy()
        if key.endswith("_mean"):
            value = rng.normal(0, 0.1, value.shape).astype("float32")
        elif key.endswith("_variance"):
            value = rng.uniform(0.5, 1.5, value.shape).astype("float32")
        state[key] = value
    ref.set_state_dict(state)
    ours.set_state_dict(state)
    ref.eval()
    ours.eval()
    x = paddle.to_tensor(rng.standard_normal((2, 3, args.img_size, args.img_size)).astype("float32"))
    rows = []
    theirs, mine = ref(x).numpy(), ours(x).numpy()
    rows.append(("branches", theirs, mine))
    for model in (ref, ours):
        for layer in model.sublayers():
            if hasattr(layer, "re_parameterize"):
                layer.re_parameterize()
    rows.append(("re-parameterised", ref(x).numpy(), ours(x).numpy()))
    rows.append(("ours: branches vs re-parameterised", mine, rows[1][2]))
    worst = 0.0
    print(f"{len(state)} state-dict keys, equal in name and order")
    for label, a, b in rows:
        rel = float(np.abs(a - b).max() / np.abs(a).max())
        worst = max(worst, rel)
        print(f"{label:36s} max |diff| / max |logit| = {rel:.2e}")
    return 0 if worst <= args.tol else 1


if __name__ == "__main__":
    sys.exit(main())
