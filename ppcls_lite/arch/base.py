"""The contract every backbone follows (see docs/models.md)."""
import fnmatch

import paddle.nn as nn


class ClassifierBase(nn.Layer):
    """forward = forward_head(forward_features(x)); stage maps, head reset and weight adaptation hooks.

    Subclasses set `head_prefixes` (state-dict key prefixes of the classifier head, skipped on a shape
    mismatch when loading pretrained weights) and implement the three feature methods.
    """

    head_prefixes = ("fc.",)

    def forward_features(self, x):
        """Pooled (pre-head) feature vector, shape [N, num_features]."""
        raise NotImplementedError

    def forward_head(self, feats):
        """Logits from the pooled features."""
        raise NotImplementedError

    def forward_stages(self, x):
        """Multi-scale feature maps (NCHW for CNNs and Swin; chosen blocks' tokens for ViT)."""
        raise NotImplementedError

    def reset_classifier(self, class_num):
        """Replace the head by a freshly initialised one with `class_num` outputs (0: identity)."""
        raise NotImplementedError

    def stage_groups(self):
        """[stem, stage 1, ..., stage n], each a list of Layers and Parameters: what `freeze(stages=N)` counts."""
        raise NotImplementedError

    def layer_groups(self):
        """[embedding, layer 1, ..., layer n] in input-to-output order, for layer-wise learning-rate decay
        (AdamWDL's layerwise_decay); parameters in none of them (final norm, head) are the top. Default: the
        stages of stage_groups(); ViT's are its blocks, Swin and ConvNeXt override it with theirs."""
        return self.stage_groups()

    def layerwise_lr_ratios(self, decay):
        """{structured name: decay ** (n + 1 - layer)} over layer_groups() (embedding 0, layers 1..n, the rest
        n + 1): for a ViT of depth n, PaddleClas's AdamWDL rule, decay ** (n - i) for blocks.i and
        decay ** (n + 1) for the embeddings and tokens."""
        groups = self.layer_groups()
        layer_of = {}
        for index, group in enumerate(groups):
            for item in group:
                for param in item.parameters() if isinstance(item, nn.Layer) else [item]:
                    layer_of[id(param)] = index
        top = len(groups)
        return {name: float(decay) ** (top - layer_of.get(id(param), top))
                for name, param in self.named_parameters()}

    def freeze(self, stages=0, patterns=()):
        """Fine-tuning: the stem and the first `stages` stages, and every parameter whose structured name matches
        one of `patterns` (fnmatch, e.g. "blocks.0.*"), take no gradient (so no optimizer state), and the
        BatchNorm layers whose weights are frozen keep their running statistics (they run in eval mode).
        Returns the names of the frozen parameters."""
        groups = self.stage_groups() if stages else []
        if stages and stages > len(groups) - 1:
            raise ValueError(f"frozen_stages: {stages}, but {type(self).__name__} has {len(groups) - 1} stages")
        chosen = set()
        for group in groups[:stages + 1] if stages else []:
            for item in group:
                chosen.update(id(p) for p in (item.parameters() if isinstance(item, nn.Layer) else [item]))
        frozen, matched = [], set()
        for name, param in self.named_parameters():
            hits = {pat for pat in patterns if fnmatch.fnmatchcase(name, pat)}
            matched |= hits
            if id(param) in chosen or hits:
                param.stop_gradient = True
                frozen.append(name)
        unmatched = [pat for pat in patterns if pat not in matched]
        if unmatched:
            raise ValueError(f"frozen_params: {unmatched[0]!r} matches no parameter of {type(self).__name__} "
                             f"(names look like {next(iter(self.state_dict()))!r})")
        self.frozen_names = frozenset(getattr(self, "frozen_names", ())) | set(frozen)
        for layer in self.sublayers():
            if isinstance(layer, nn.layer.norm._BatchNormBase) and layer.weight is not None \
                    and layer.weight.stop_gradient:
                layer.register_forward_pre_hook(_keep_statistics)
        return frozen

    def scale_learning_rates(self, stage_mults=None, head_mult=None):
        """Per-parameter learning-rate multipliers (Paddle's optimize_attr, which every optimizer applies to its
        base rate): `stage_mults` [stem, stage 1, ...] over stage_groups() (PaddleClas's lr_mult_list), and
        `head_mult` for the head (the parameters under head_prefixes)."""
        if stage_mults is not None:
            groups = self.stage_groups()
            if len(stage_mults) != len(groups):
                raise ValueError(f"lr_mult_list: {len(groups)} values (the stem and {len(groups) - 1} stages) for "
                                 f"{type(self).__name__}, got {len(stage_mults)}")
            for mult, group in zip(stage_mults, groups):
                for item in group:
                    for param in item.parameters() if isinstance(item, nn.Layer) else [item]:
                        param.optimize_attr["learning_rate"] = float(mult)
        if head_mult is not None:
            for name, param in self.named_parameters():
                if name.startswith(tuple(self.head_prefixes)):
                    param.optimize_attr["learning_rate"] = float(head_mult)

    def adapt_state_dict(self, state):
        """Adapt a loaded numpy state dict to this model (e.g. other resolution); default: unchanged."""
        return state

    def forward(self, x):
        return self.forward_head(self.forward_features(x))


def _keep_statistics(layer, inputs):
    """A frozen BatchNorm normalises with its running statistics and never updates them, whatever mode the
    model is in (a forward pre-hook, so neither model.train() nor DataParallel can switch it back)."""
    layer.training = False
