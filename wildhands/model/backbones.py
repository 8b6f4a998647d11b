"""The network's backbones: ``build_backbone(name)`` maps ``images (B, 3, S, S)`` (RGB normalised with
ImageNet mean/std, ``preprocess_crops``) to the last feature map ``(B, C, S/32, S/32)``; C per name in
``config.BACKBONE_CHANNELS``.

* ``resnet18`` / ``resnet34`` / ``resnet50``: :mod:`wildhands.model.resnet`, trained here (the paper:
  ResNet-50, ImageNet-pretrained; no pretrained weights can be downloaded in this workplace).
* ``mediapipe_hand``: the convolutional trunk of MediaPipe's hand-landmark network (Google, Apache-2.0;
  trained on real photos of hands), 224 px crops only, (B, 1152, 7, 7). Its weights are read from the checked
  ``hand_landmark_full.tflite`` of the detector-model cache whenever the network is built
  (``python scripts/fetch_detector_models.py``; a missing file raises ``DetectorModelsMissing`` naming that
  command). By default it is **frozen**: never trained and never saved -- a checkpoint holds only the layers
  after it (KPE fusion, regressor, grasp head). With ``ModelConfig.trunk_trainable`` the file is only its
  initial value: it is trained with the rest and saved (``backbone.trunk.*``). It is the one backbone here
  that has seen real hands: KPE is backbone-agnostic, so the rest of the network is the paper's. See
  docs/weights.md.
"""

from __future__ import annotations

import torch
from torch import nn

from wildhands.model.config import BACKBONE_CHANNELS, BACKBONE_IMAGE_SIZE, BACKBONE_STRIDE
from wildhands.model.preprocess import IMAGENET_MEAN, IMAGENET_STD
from wildhands.model.resnet import resnet_trunk

#: (H, W, C) of the landmark trunk's last feature map (:func:`load_landmark_trunk`) for a 224 px crop.
LANDMARK_TRUNK_SHAPE = (
    BACKBONE_IMAGE_SIZE["mediapipe_hand"] // BACKBONE_STRIDE,
    BACKBONE_IMAGE_SIZE["mediapipe_hand"] // BACKBONE_STRIDE,
    BACKBONE_CHANNELS["mediapipe_hand"],
)


def load_landmark_trunk(model_dir: str | None = None):
    """The convolutional trunk of MediaPipe's hand-landmark network, without its four heads: a
    ``TFLiteModule`` (float32, eval mode, CPU) built from the checked ``hand_landmark_full.tflite`` of the
    detector-model cache (``runtime.detection.landmark_net`` builds the whole network from the same file).

    ``forward(crops)``: crops (N, 224, 224, 3) float32 RGB in [0, 1] -> a 1-tuple of the last feature map
    (N, 7, 7, 1152) (NHWC, after ReLU6): the tensor the heads' global average pool reads (the graph's only
    ``MEAN`` operator).
    """
    from wildhands.runtime.detection.models import LANDMARK_MODEL, model_paths
    from wildhands.runtime.detection.tflite_torch import TFLiteModule, parse_tflite, truncate_graph

    path = model_paths(model_dir)[LANDMARK_MODEL]
    graph = parse_tflite(path)
    means = [op for op in graph.operators if op.kind == "MEAN"]
    if len(means) != 1:
        raise ValueError(f"{path}: expected one MEAN operator (the heads' pooling), found {len(means)}")
    net = TFLiteModule(truncate_graph(graph, means[0].inputs[0]))
    if tuple(net.output_shapes[0][1:]) != LANDMARK_TRUNK_SHAPE:
        raise ValueError(f"{path}: trunk output {net.output_shapes[0]} is not (1, *{LANDMARK_TRUNK_SHAPE})")
    return net


class MediaPipeHandTrunk(nn.Module):
    """MediaPipe's hand-landmark trunk as a backbone: ``(B, 3, 224, 224)`` ImageNet-normalised RGB ->
    ``(B, 1152, 7, 7)`` (after ReLU6, so in [0, 6]).

    Frozen (``trainable=False``, the default), the TFLite network is held outside the module tree on purpose:
    its parameters are not returned by ``parameters()`` (no optimiser trains them) nor by ``state_dict()``
    (checkpoints do not carry Google's weights); ``.to()`` / ``.half()`` still move it (``_apply``).
    Trainable, it is the registered sub-module ``trunk``: trained, and saved as ``trunk.*`` (the file gives
    the initial value). The graph has no batch norm or dropout, so train and eval mode compute the same.
    """

    def __init__(self, model_dir: str | None = None, trainable: bool = False) -> None:
        super().__init__()
        net = load_landmark_trunk(model_dir)
        if trainable:
            self.trunk = net
            object.__setattr__(self, "_trunk", net)
        else:
            for p in net.parameters():
                p.requires_grad_(False)
            object.__setattr__(self, "_trunk", net)  # not a registered sub-module (see the class docstring)
        self.trainable = trainable
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def _apply(self, fn, *args, **kwargs):
        if not self.trainable:  # a registered trunk is moved by nn.Module itself
            self._trunk._apply(fn, *args, **kwargs)
        return super()._apply(fn, *args, **kwargs)

    def forward(self, images):
        rgb01 = images * self.std.to(images.dtype) + self.mean.to(images.dtype)  # back to [0, 1]
        (feats,) = self._trunk(rgb01.permute(0, 2, 3, 1))  # NHWC in, NHWC out
        return feats.permute(0, 3, 1, 2)

    def train(self, mode: bool = True):  # frozen: always in evaluation mode
        return super().train(mode and self.trainable)


def build_backbone(name: str, trunk_trainable: bool = False) -> nn.Module:
    """The backbone ``name`` (a key of ``BACKBONE_CHANNELS``): a ResNet freshly initialised, or a trunk of
    ``FROZEN_BACKBONES`` loaded from its file (trained with the rest if ``trunk_trainable``)."""
    if name not in BACKBONE_CHANNELS:
        raise ValueError(f"backbone={name!r} not in {set(BACKBONE_CHANNELS)}")
    if name == "mediapipe_hand":
        return MediaPipeHandTrunk(trainable=trunk_trainable)
    return resnet_trunk(name)
