"""Read and write camera intrinsics in the ROS ``camera_calibration`` YAML format.

This is the file ``camera_calibration`` writes and ``camera_info_manager`` reads (``image_width``,
``image_height``, ``camera_name``, ``camera_matrix``, ``distortion_model``, ``distortion_coefficients``,
``rectification_matrix``, ``projection_matrix``). A plain mapping with CameraInfo's own field names
(``width``, ``height``, ``k``, ``d``, ``distortion_model``) is accepted too.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from wildhands.geometry.camera import CameraModel


def _matrix(entry: Any, name: str, rows: int, cols: int | None = None) -> np.ndarray:
    if isinstance(entry, Mapping):
        entry = entry.get("data")
    values = np.asarray(entry if entry is not None else [], dtype=np.float64).ravel()
    if cols is not None and values.size != rows * cols:
        raise ValueError(f"{name} must have {rows * cols} numbers, got {values.size}")
    return values


def camera_from_mapping(data: Mapping[str, Any]) -> CameraModel:
    """Build a :class:`CameraModel` from a calibration-YAML mapping or a CameraInfo-like mapping."""
    if not isinstance(data, Mapping):
        raise ValueError(f"camera info must be a mapping, got {type(data).__name__}")
    if "camera_matrix" in data:
        info = {
            "width": data.get("image_width"),
            "height": data.get("image_height"),
            "k": _matrix(data["camera_matrix"], "camera_matrix", 3, 3),
            "d": _matrix(data.get("distortion_coefficients"), "distortion_coefficients", 0),
            "distortion_model": data.get("distortion_model", "plumb_bob"),
        }
    else:
        info = dict(data)
    missing = [key for key in ("width", "height", "k") if info.get(key) is None]
    if missing:
        raise ValueError(f"camera info is missing {missing}")
    return CameraModel.from_camera_info(info)


def load_camera_yaml(path: str | Path) -> CameraModel:
    """Load intrinsics from a ``camera_calibration`` YAML file (or a CameraInfo-field YAML)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"camera info file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ValueError(f"{path} is not valid YAML: {exc}") from exc
    try:
        return camera_from_mapping(data)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc


def camera_to_yaml_dict(camera: CameraModel, camera_name: str = "camera") -> dict[str, Any]:
    """The ``camera_calibration`` YAML mapping of a camera (no rectification: R = I, P = [K | 0])."""
    P = np.zeros((3, 4))
    P[:, :3] = camera.K
    return {
        "image_width": int(camera.width),
        "image_height": int(camera.height),
        "camera_name": camera_name,
        "camera_matrix": {"rows": 3, "cols": 3, "data": [float(x) for x in camera.K.ravel()]},
        "distortion_model": camera.distortion_model.value
        if camera.distortion_model.value != "none"
        else "plumb_bob",
        "distortion_coefficients": {
            "rows": 1,
            "cols": int(max(len(camera.D), 5)),
            "data": [float(x) for x in camera.D] or [0.0] * 5,
        },
        "rectification_matrix": {"rows": 3, "cols": 3, "data": [float(x) for x in np.eye(3).ravel()]},
        "projection_matrix": {"rows": 3, "cols": 4, "data": [float(x) for x in P.ravel()]},
    }


def save_camera_yaml(camera: CameraModel, path: str | Path, camera_name: str = "camera") -> Path:
    path = Path(path)
    path.write_text(yaml.safe_dump(camera_to_yaml_dict(camera, camera_name), sort_keys=False))
    return path
