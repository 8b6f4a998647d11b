"""Hand models with MANO's parameter interface: our open model (default) and MANO via smplx.

``build_hand_model('open')`` needs no files; ``build_hand_model('mano', model_path=...)`` needs the
licence-restricted MANO files (https://mano.is.tue.mpg.de). Both return ``HandModelOutput`` with 16 MANO-order
joints and 21 keypoints in our order (``keypoints.KEYPOINT_NAMES``).
"""

from __future__ import annotations

import os

import torch

from wildhands.handmodel._pose import mirror_pose_axis_angle, mirror_pose_rotmat
from wildhands.handmodel.keypoints import (
    KEYPOINT_NAMES,
    MANO_FINGERTIP_VERTEX_IDS,
    MANO_JOINT_NAMES,
    MANO_JOINT_TO_KEYPOINT,
    NUM_KEYPOINTS,
    SKELETON_EDGES,
    TO_MEDIAPIPE,
    TO_OPENPOSE,
)
from wildhands.handmodel.mano import ManoHandModel
from wildhands.handmodel.open_hand import SHAPE_DESCRIPTIONS, OpenHandModel
from wildhands.handmodel.output import HandModelOutput

HAND_MODEL_NAMES = ("open", "mano")

__all__ = [
    "HAND_MODEL_NAMES",
    "KEYPOINT_NAMES",
    "MANO_FINGERTIP_VERTEX_IDS",
    "MANO_JOINT_NAMES",
    "MANO_JOINT_TO_KEYPOINT",
    "NUM_KEYPOINTS",
    "SHAPE_DESCRIPTIONS",
    "SKELETON_EDGES",
    "TO_MEDIAPIPE",
    "TO_OPENPOSE",
    "HandModelOutput",
    "ManoHandModel",
    "OpenHandModel",
    "build_hand_model",
    "mirror_pose_axis_angle",
    "mirror_pose_rotmat",
]


def build_hand_model(
    name: str = "open",
    side: str = "right",
    model_path: str | os.PathLike | None = None,
) -> torch.nn.Module:
    """Build a hand model by name.

    Args:
        name: ``'open'`` (``OpenHandModel``, also accepted as ``'open_hand_v1'``) or ``'mano'``
            (``ManoHandModel``, needs ``model_path``).
        side: ``'right'`` or ``'left'``.
        model_path: MANO pickle or folder (``'mano'`` only).

    Raises:
        ValueError: unknown name or side, or a model_path given for the open model.
        FileNotFoundError: ``'mano'`` without its files.
    """
    if name in ("open", OpenHandModel.name):
        if model_path is not None:
            raise ValueError(f"model_path: {str(model_path)!r} given, but the open hand model reads no files")
        return OpenHandModel(side=side)
    if name == "mano":
        return ManoHandModel(model_path, side=side)
    raise ValueError(f"name: {name!r} not in {{'open', 'mano'}}")
