"""The one inference-engine interface: ``infer(images, kpe) -> EngineOutput``.

Every engine (torch, ONNX Runtime, TensorRT) runs the same network on the same inputs and returns numpy
arrays in the same layout, so the Pipeline never knows which one it is using.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from wildhands.model.network import INPUT_NAMES, OUTPUT_NAMES

__all__ = ["INPUT_NAMES", "OUTPUT_NAMES", "Engine", "EngineOutput", "check_inputs"]


@dataclass
class EngineOutput:
    """Raw network outputs for B crops (numpy, float32).

    global_orient: (B, 3, 3) rotation of the hand-model frame in the camera optical frame (for the
        network's right-hand view; the Pipeline mirrors left hands back).
    hand_pose: (B, 15, 3, 3) parent-relative finger joint rotations, MANO joint order.
    betas: (B, 10) shape coefficients.
    cam_wp: (B, 3) weak-perspective camera (s, tx, ty) of the crop, see
        :func:`wildhands.geometry.camera.weak_perspective_to_translation`.
    grasp_logits: (B, 8) unnormalised grasp-class scores.
    """

    global_orient: np.ndarray
    hand_pose: np.ndarray
    betas: np.ndarray
    cam_wp: np.ndarray
    grasp_logits: np.ndarray

    @classmethod
    def from_sequence(cls, arrays) -> EngineOutput:
        values = [np.asarray(a, dtype=np.float32) for a in arrays]
        if len(values) != len(OUTPUT_NAMES):
            raise ValueError(f"expected {len(OUTPUT_NAMES)} outputs {OUTPUT_NAMES}, got {len(values)}")
        return cls(*values)

    def is_finite(self) -> bool:
        return all(np.all(np.isfinite(getattr(self, name))) for name in OUTPUT_NAMES)


class Engine(Protocol):
    """What every engine provides."""

    name: str

    def infer(self, images: np.ndarray, kpe: np.ndarray) -> EngineOutput:
        """Run the network.

        Args:
            images: (B, 3, 224, 224) float32, RGB normalised with the ImageNet mean/std.
            kpe: (B, P, 2) float32 KPE inputs from :func:`wildhands.geometry.crop.kpe_inputs`.
        """
        ...


def check_inputs(images: np.ndarray, kpe: np.ndarray, image_size: int, num_points: int) -> None:
    """Raise ValueError on inputs an engine cannot take (shape, dtype, non-finite values)."""
    if images.ndim != 4 or images.shape[1:] != (3, image_size, image_size):
        raise ValueError(f"images must be (B, 3, {image_size}, {image_size}), got {images.shape}")
    if kpe.shape != (images.shape[0], num_points, 2):
        raise ValueError(f"kpe must be ({images.shape[0]}, {num_points}, 2), got {kpe.shape}")
    if not (np.all(np.isfinite(images)) and np.all(np.isfinite(kpe))):
        raise ValueError("images and kpe must be finite (found NaN or inf)")
