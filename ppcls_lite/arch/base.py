"""The contract every backbone follows (see docs/models.md)."""
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

    def adapt_state_dict(self, state):
        """Adapt a loaded numpy state dict to this model (e.g. other resolution); default: unchanged."""
        return state

    def forward(self, x):
        return self.forward_head(self.forward_features(x))
