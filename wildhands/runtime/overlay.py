"""Draw hands over the source image: shaded mesh, skeleton, crop box and a label (RGB uint8 in, out)."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from wildhands.geometry.camera import CameraModel
from wildhands.handmodel.keypoints import FINGER_KEYPOINTS, FINGER_NAMES, SKELETON_EDGES
from wildhands.render.shaded import ShadingStyle, render_mesh
from wildhands.runtime.hands import HandEstimate

#: RGB colour per finger (thumb..pinky); the wrist edges take the finger's colour.
FINGER_COLORS_RGB: dict[str, tuple[int, int, int]] = {
    "thumb": (230, 60, 60),
    "index": (240, 180, 30),
    "middle": (60, 200, 80),
    "ring": (40, 140, 240),
    "pinky": (190, 70, 220),
}
SIDE_COLORS_RGB = {"left": (255, 120, 40), "right": (40, 200, 255)}
MESH_STYLES = {
    "left": ShadingStyle(color_rgb=(250, 190, 150)),
    "right": ShadingStyle(color_rgb=(160, 200, 250)),
}


def _finger_of(keypoint: int) -> str:
    for name in FINGER_NAMES:
        if keypoint in FINGER_KEYPOINTS[name]:
            return name
    return "thumb"


def draw_hands(
    image_rgb: np.ndarray,
    hands: Sequence[HandEstimate],
    camera: CameraModel,
    draw_mesh: bool = True,
    mesh_alpha: float = 0.55,
    title: str | None = None,
) -> np.ndarray:
    """Return a copy of ``image_rgb`` with every hand drawn on it."""
    out = image_rgb.copy()
    if draw_mesh:
        for hand in hands:
            if len(hand.vertices_cam_m) and np.all(hand.vertices_cam_m[:, 2] > 1e-3):
                rendered, mask = render_mesh(
                    out, hand.vertices_cam_m, hand.faces, camera, MESH_STYLES[hand.side]
                )
                m = mask > 0
                out[m] = (mesh_alpha * rendered[m] + (1 - mesh_alpha) * out[m]).astype(np.uint8)
    scale = max(out.shape[:2]) / 640.0
    thick = max(1, round(2 * scale))
    for hand in hands:
        box = hand.crop_box
        color = SIDE_COLORS_RGB[hand.side]
        cv2.rectangle(out, (round(box.x0), round(box.y0)), (round(box.x1), round(box.y1)), color, thick)
        uv = hand.keypoints_px
        if np.all(np.isfinite(uv)):
            for a, b in SKELETON_EDGES:
                pa, pb = tuple(np.round(uv[a]).astype(int)), tuple(np.round(uv[b]).astype(int))
                cv2.line(out, pa, pb, FINGER_COLORS_RGB[_finger_of(b)], thick, cv2.LINE_AA)
            for k, p in enumerate(uv):
                cv2.circle(
                    out, tuple(np.round(p).astype(int)), thick + 1, FINGER_COLORS_RGB[_finger_of(k)], -1
                )
        z = hand.keypoints_cam_m[0, 2]
        label = f"{hand.side} {hand.grasp_label} z={z:.2f}m"
        org = (round(box.x0), max(12, round(box.y0) - 6))
        cv2.putText(
            out, label, org, cv2.FONT_HERSHEY_SIMPLEX, 0.45 * scale, (0, 0, 0), thick + 2, cv2.LINE_AA
        )
        cv2.putText(out, label, org, cv2.FONT_HERSHEY_SIMPLEX, 0.45 * scale, color, thick, cv2.LINE_AA)
    if title:
        cv2.putText(
            out, title, (8, round(20 * scale)), cv2.FONT_HERSHEY_SIMPLEX, 0.5 * scale, (0, 0, 0), thick + 2
        )
        cv2.putText(
            out, title, (8, round(20 * scale)), cv2.FONT_HERSHEY_SIMPLEX, 0.5 * scale, (255, 255, 255), thick
        )
    return out
