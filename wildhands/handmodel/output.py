"""What every hand model returns."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class HandModelOutput:
    """Posed hand from a hand model (``OpenHandModel`` or ``ManoHandModel``).

    Points are in the hand model's frame plus the ``transl`` given to ``forward`` (metres). The model frame
    is MANO's: see ``wildhands.handmodel.open_hand`` for its axes.

    Attributes:
        vertices: (B, V, 3) m, mesh vertices.
        joints: (B, 16, 3) m, the 16 joints in MANO's joint order (``keypoints.MANO_JOINT_NAMES``).
        keypoints: (B, 21, 3) m, the 21 keypoints in our order (``keypoints.KEYPOINT_NAMES``): joints plus
            fingertip vertices.
        faces: (F, 3) long, triangle vertex indices, counter-clockwise seen from outside (outward normals).
        model_name: which hand model produced this output (e.g. ``'open_hand_v1'``, ``'mano'``).
        side: ``'right'`` or ``'left'``.
    """

    vertices: torch.Tensor
    joints: torch.Tensor
    keypoints: torch.Tensor
    faces: torch.Tensor
    model_name: str
    side: str
