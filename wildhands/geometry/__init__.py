"""Geometry: camera model and distortion, square crops and KPE inputs, rotations.

Conventions: metres, radians, right-handed camera optical frame (x right, y down, z forward); pixel
``(u, v)`` with the centre of the top-left pixel at ``(0, 0)``. Details in each module's docstring.
"""

from wildhands.geometry.camera import (
    CameraModel,
    DistortionModel,
    pinhole_focal_px,
    project_torch,
    translation_to_weak_perspective,
    translation_to_weak_perspective_np,
    weak_perspective_to_translation,
    weak_perspective_to_translation_np,
)
from wildhands.geometry.crop import (
    BORDER_MODES,
    KPE_VARIANTS,
    CropBox,
    crop_affine,
    crop_to_image,
    image_to_crop,
    kpe_inputs,
    kpe_sample_points,
    mirror_box,
    square_box_from_points,
    square_box_from_xyxy,
    warp_crop,
)
from wildhands.geometry.rotations import (
    axis_angle_to_matrix,
    matrix_to_axis_angle,
    matrix_to_quaternion_xyzw,
    matrix_to_rot6d,
    mirror_axis_angle,
    mirror_matrix,
    rot6d_to_matrix,
)

__all__ = [
    "BORDER_MODES",
    "KPE_VARIANTS",
    "CameraModel",
    "CropBox",
    "DistortionModel",
    "axis_angle_to_matrix",
    "crop_affine",
    "crop_to_image",
    "image_to_crop",
    "kpe_inputs",
    "kpe_sample_points",
    "matrix_to_axis_angle",
    "matrix_to_quaternion_xyzw",
    "matrix_to_rot6d",
    "mirror_axis_angle",
    "mirror_box",
    "mirror_matrix",
    "pinhole_focal_px",
    "project_torch",
    "rot6d_to_matrix",
    "square_box_from_points",
    "square_box_from_xyxy",
    "translation_to_weak_perspective",
    "translation_to_weak_perspective_np",
    "warp_crop",
    "weak_perspective_to_translation",
    "weak_perspective_to_translation_np",
]
