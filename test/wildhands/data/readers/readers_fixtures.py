"""Ground truth for the reader tests: known hands in our order, a known K, and small image files."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from wildhands.geometry.camera import CameraModel


def known_hand(rng: np.random.Generator, wrist_m=(0.05, 0.03, 0.45)) -> np.ndarray:
    """(21, 3) keypoints in OUR order, metres, camera frame: a wrist and 5 fingers fanning out in +y/-x."""
    wrist = np.asarray(wrist_m, dtype=np.float64)
    pts = [wrist]
    for f in range(5):
        direction = np.array([-0.3 + 0.15 * f, -1.0, 0.1 * (f - 2)])
        direction /= np.linalg.norm(direction)
        for j in range(4):
            pts.append(wrist + direction * (0.03 + 0.025 * j) + rng.normal(0, 0.002, 3))
    return np.array(pts)


def to_dataset_order(ours: np.ndarray, to_ours: tuple[int, ...]) -> np.ndarray:
    """Inverse of ``ours = dataset[to_ours]``."""
    out = np.empty_like(ours)
    out[list(to_ours)] = ours
    return out


def write_image(path: Path, width: int, height: int, ext_ok: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = np.zeros((height, width, 3), dtype=np.uint8)
    img[:, :, 1] = 80
    assert cv2.imwrite(str(path), img)
    return path


def pinhole(width: int = 640, height: int = 480, f: float = 500.0) -> CameraModel:
    return CameraModel.from_K(
        [[f, 0, (width - 1) / 2], [0, f * 1.01, (height - 1) / 2], [0, 0, 1]], width, height
    )


def project(K: np.ndarray, pts: np.ndarray) -> np.ndarray:
    uvw = pts @ np.asarray(K).T
    return uvw[:, :2] / uvw[:, 2:]


def assert_box_contains(box: np.ndarray, uv: np.ndarray) -> None:
    assert np.all(uv[:, 0] >= box[0]) and np.all(uv[:, 0] <= box[2]), (box, uv)
    assert np.all(uv[:, 1] >= box[1]) and np.all(uv[:, 1] <= box[3]), (box, uv)
