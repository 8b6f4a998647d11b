"""Rectified (perspective) hand crops: a virtual pinhole camera looking straight at the hand.

A box crop (:mod:`wildhands.geometry.crop`) cuts an axis-aligned square out of the *distorted* image; on a
wide fisheye near the image border the hand in it is bent and squashed, unlike anything a pinhole camera
shows. A rectified crop instead renders the hand through a **virtual pinhole camera** that shares the real
camera's centre, looks along the ray of the hand box's centre, and has no distortion:

* Frames (REP-103 optical frames, metres): ``p_virtual = R @ p_cam`` with ``R`` = ``R_virtual_from_cam``
  (rows: the virtual x, y, z axes in the camera frame). z_virtual is the unit ray of the box centre pixel
  (``camera.pixels_to_rays``); the virtual y axis is the camera's +y (down) projected onto the plane
  perpendicular to it, so x_virtual lies in the camera's x-z plane: a pan-tilt view without roll, the crop
  is not spun -- unless a roll is asked for (``rectify_box(..., roll_rad)``, e.g. :func:`upright_roll`:
  the hand's wrist -> middle MCP pointing up, MediaPipe's crop convention; ``ModelConfig.crop_roll``).
  (When the centre ray is parallel to the camera's y axis, which only a fisheye wider than 180 deg can
  see, x_virtual is the camera's x projected instead.)
* Intrinsics (crop pixels, same pixel convention as the camera: top-left pixel centre at (0, 0)):
  ``K_virtual = [[f, 0, c], [0, f, c], [0, 0, 1]]`` with ``c = (S - 1) / 2``, the crop centre, and no
  distortion. ``f`` makes the hand box fill the crop like a box crop: the box's outline (points along its
  four edges, continuous pixel coordinates ``[x0 - 0.5, x1 - 0.5]``) is turned into virtual rays, its half
  extent is ``t = max(|x/z|, |y/z|)`` over them (the tangent of the largest per-axis angle from the centre
  ray), and the crop's half side spans ``box_scale * t``: ``f = (S / 2) / (box_scale * t)``. ``box_scale``
  multiplies the tangent as the box crop multiplies pixels, so for a pinhole camera and a box centred on
  the principal point the rectified crop *is* the box crop (``R = I``).
* Crop pixel ``(u, v)`` shows the virtual ray ``((u - c) / f, (v - c) / f, 1)``, i.e. the real-image pixel
  ``camera.project(R.T @ ray)`` (``cv2.remap``, bilinear). Rays outside the lens model's one-to-one domain
  (behind a pinhole camera, past the angle where the distortion polynomial folds back, past the fisheye
  model's monotonic range) and rays landing outside the image are black, never NaN.

Mirroring (left hands, as in :mod:`wildhands.geometry.crop`): the network sees right hands, so a left
hand's crop is flipped left-right, ``u_mirrored = S - 1 - u``. Because ``c = (S - 1) / 2`` the flipped crop
is exactly the image of the **mirrored world** ``(x, y, z) -> (-x, y, z)`` (in the virtual frame) seen by
the *same* ``K_virtual``: the mirrored virtual camera is the virtual camera itself, the crop box in virtual
pixels (the whole crop, ``CropBox(0, 0, S)``) is its own mirror image, and its KPE angles are those of the
flipped crop (``crop.kpe_inputs(..., mirror=True)`` on the virtual camera). Every function below that
takes ``mirror=True`` works in that mirrored virtual frame / flipped crop: 3-D points are
``p_mirrored_virtual = diag(-1, 1, 1) @ R @ p_cam`` and back ``p_cam = R.T @ diag(-1, 1, 1) @ p``.

Everything is vectorised (numpy over points and pixels, one ``cv2.remap`` per crop). See
``wildhands.runtime.pipeline`` (``crop_mode``) for the use in the pipeline.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from wildhands.geometry.camera import CameraModel
from wildhands.geometry.crop import CropBox, up_angle

__all__ = [
    "CROP_MODES",
    "MAX_HALF_ANGLE_RAD",
    "RectifiedCrop",
    "uses_rectified_crop",
    "max_ray_angle",
    "look_at_rotation",
    "rectify_box",
    "rectify_rect",
    "tangent_view",
    "upright_view",
    "roll_matrix",
    "upright_roll",
    "rectified_maps",
    "crop_homography",
    "warp_rectified",
    "rectified_crop",
    "rectified_to_image",
    "image_to_rectified",
    "points_to_rectified",
    "camera_to_virtual",
    "virtual_to_camera",
    "rotation_to_camera",
    "crop_outline_px",
]

#: How the pipeline cuts hand crops: ``'box'`` (axis-aligned square of the distorted image),
#: ``'rectified'`` (this module, every camera), ``'auto'`` (rectified for fisheye cameras only, see
#: :func:`uses_rectified_crop`).
CROP_MODES = ("box", "rectified", "auto")

#: Largest per-axis half angle (rad) of a hand box seen from its centre ray; wider boxes (a hand almost
#: touching the lens) have no useful perspective crop (ValueError).
MAX_HALF_ANGLE_RAD = math.radians(80.0)

_MIRROR = np.array([-1.0, 1.0, 1.0])
_EDGE_SAMPLES = 9  # points per box edge (corners included) for the angular extent
_OUTSIDE_PX = -16.0  # remap coordinate of invalid rays: off the image, so cv2.remap paints the border (0)


@dataclass(frozen=True, eq=False)
class RectifiedCrop:
    """A virtual pinhole camera for one hand crop (module docstring for frames and conventions).

    R: (3, 3) float64 rotation ``R_virtual_from_cam`` (``p_virtual = R @ p_cam``), right-handed.
    K: (3, 3) float64 virtual intrinsics in crop pixels ``[[f, 0, c], [0, f, c], [0, 0, 1]]``,
        ``c = (size - 1) / 2``.
    size: crop side S in pixels.

    The arrays are stored as read-only copies.
    """

    R: np.ndarray
    K: np.ndarray
    size: int

    def __post_init__(self) -> None:
        if isinstance(self.size, bool) or int(self.size) != self.size or self.size <= 0:
            raise ValueError(f"size must be an integer > 0, got {self.size!r}")
        object.__setattr__(self, "size", int(self.size))
        R = np.array(self.R, dtype=np.float64)
        K = np.array(self.K, dtype=np.float64)
        if R.shape != (3, 3) or not np.all(np.isfinite(R)):
            raise ValueError(f"R must be a finite (3, 3) matrix, got shape {R.shape}")
        if not np.allclose(R @ R.T, np.eye(3), atol=1e-9) or np.linalg.det(R) < 0:
            raise ValueError("R must be a proper rotation (orthonormal, det +1)")
        c = (self.size - 1) / 2.0
        if K.shape != (3, 3) or not np.all(np.isfinite(K)) or not K[0, 0] > 0:
            raise ValueError(f"K must be a finite (3, 3) matrix with f > 0, got {K.tolist()}")
        expected = np.array([[K[0, 0], 0.0, c], [0.0, K[0, 0], c], [0.0, 0.0, 1.0]])
        if not np.allclose(K, expected, rtol=0, atol=1e-9 * max(1.0, K[0, 0])):
            raise ValueError(f"K must be [[f, 0, c], [0, f, c], [0, 0, 1]] with c = (size - 1) / 2 = {c}")
        R.setflags(write=False)
        K.setflags(write=False)
        object.__setattr__(self, "R", R)
        object.__setattr__(self, "K", K)

    @property
    def f(self) -> float:
        """Virtual focal length in crop pixels."""
        return float(self.K[0, 0])

    @property
    def c(self) -> float:
        """Principal point (both axes) in crop pixels: the crop centre ``(size - 1) / 2``."""
        return float(self.K[0, 2])

    @property
    def axis_cam(self) -> np.ndarray:
        """The virtual optical axis (unit, camera frame): the ray of the hand box's centre."""
        return self.R[2].copy()

    @property
    def half_fov_rad(self) -> float:
        """Half the crop's field of view along x (and y), in radians: ``atan((size / 2) / f)``."""
        return math.atan(self.size / 2.0 / self.f)

    @property
    def crop_box(self) -> CropBox:
        """The whole crop as a :class:`CropBox` in virtual pixels (what the weak-perspective camera and the
        KPE sample points refer to); its own mirror image."""
        return CropBox(0.0, 0.0, float(self.size))

    @property
    def camera(self) -> CameraModel:
        """The virtual camera as a pinhole :class:`CameraModel` of the S x S crop (mirrored or not: the
        same, see the module docstring)."""
        return CameraModel(self.size, self.size, self.K)


def uses_rectified_crop(crop_mode: str, camera: CameraModel) -> bool:
    """Whether ``crop_mode`` cuts rectified crops for ``camera``.

    ``'box'``: never; ``'rectified'``: always; ``'auto'``: for fisheye (``equidistant``) cameras only. The
    radial-tangential models are left to box crops in ``'auto'``: their lenses move the KPE angles by
    about 1 deg on the synthetic ``plumb_bob`` set (``bench/results/kpe_distortion.json``), and whether
    rectifying them helps is measured per lens model by ``bench/fisheye_crops.py`` (its ``wide_fov``
    rows); include them here only where that shows a gain.
    """
    if crop_mode not in CROP_MODES:
        raise ValueError(f"crop_mode={crop_mode!r} not in {CROP_MODES}")
    return crop_mode == "rectified" or (crop_mode == "auto" and camera.is_fisheye)


@functools.lru_cache(maxsize=64)
def max_ray_angle(camera: CameraModel) -> float:
    """Largest angle (rad) off the optical axis up to which ``camera.project`` is one-to-one.

    Pinhole: just under pi/2 (z > 0). Distorted lenses: along the four half-axes of the normalized plane
    the distorted radius of rays at increasing angles is followed until it stops growing (the polynomial
    folds back, so rays beyond would land again inside the image) or becomes NaN; the smallest such angle
    of the four is returned. Equidistant: the same on [0, pi). Cached per camera (cameras are immutable).
    """
    limit = math.pi if camera.is_fisheye else math.pi / 2.0
    theta = np.linspace(0.0, limit, 4001)[1:-1]  # (T,)
    phis = np.array([0.0, 0.5 * math.pi, math.pi, 1.5 * math.pi])
    s, c = np.sin(theta), np.cos(theta)
    rays = np.concatenate(
        [np.stack([s * math.cos(p), s * math.sin(p), c], axis=1) for p in phis], axis=0
    )  # (4T, 3)
    uv = camera.project(rays).reshape(len(phis), len(theta), 2)
    xd = (uv[..., 0] - camera.cx) / camera.fx
    yd = (uv[..., 1] - camera.cy) / camera.fy
    r = np.hypot(xd, yd)  # (4, T) distorted normalized radius
    grows = np.isfinite(r) & np.concatenate([r[:, :1] > 0, np.diff(r, axis=1) > 0], axis=1)
    first_bad = np.where(grows.all(axis=1), len(theta), np.argmin(grows, axis=1))  # (4,)
    k = int(first_bad.min())
    return float(theta[k - 1]) if k > 0 else 0.0


def look_at_rotation(axis_cam: Any) -> np.ndarray:
    """``R_virtual_from_cam`` (3, 3) of a virtual camera looking along ``axis_cam`` (3,) without roll.

    Rows: ``x_v``, ``y_v``, ``z_v`` in the camera frame; ``z_v = axis / |axis|``, ``y_v`` = the camera's
    +y projected perpendicular to ``z_v`` (so ``x_v = y_v x z_v`` has no y component); if the axis is
    (nearly) the camera's y axis, ``x_v`` = the camera's x projected instead.
    """
    z = np.asarray(axis_cam, dtype=np.float64).reshape(-1)
    if z.shape != (3,) or not np.all(np.isfinite(z)) or not np.linalg.norm(z) > 0:
        raise ValueError(f"axis_cam must be a finite non-zero 3-vector, got {z.tolist()}")
    z = z / np.linalg.norm(z)
    y = np.array([0.0, 1.0, 0.0]) - z[1] * z
    if np.linalg.norm(y) > 1e-6:
        y /= np.linalg.norm(y)
        x = np.cross(y, z)
    else:
        x = np.array([1.0, 0.0, 0.0]) - z[0] * z
        x /= np.linalg.norm(x)
        y = np.cross(z, x)
    return np.stack([x, y, z])


def _check_xyxy(box_xyxy: Any) -> np.ndarray:
    b = np.asarray(box_xyxy, dtype=np.float64).reshape(-1)
    if b.shape != (4,):
        raise ValueError(f"box_xyxy must have 4 numbers (x0, y0, x1, y1), got shape {b.shape}")
    if not np.all(np.isfinite(b)) or not (b[2] > b[0] and b[3] > b[1]):
        raise ValueError(f"box_xyxy must be finite with x1 > x0 and y1 > y0, got {b.tolist()}")
    return b


def roll_matrix(roll_rad: float) -> np.ndarray:
    """(3, 3) rotation by ``roll_rad`` about the virtual optical axis: ``p_rolled = roll_matrix(a) @ p``
    turns crop content by ``a`` (positive: clockwise on the screen, y being down)."""
    c, s = math.cos(roll_rad), math.sin(roll_rad)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def upright_roll(rc: RectifiedCrop, wrist_cam: Any, middle_mcp_cam: Any) -> float:
    """The roll (rad) that turns the crop ``rc`` so that the hand's wrist -> middle-finger MCP direction
    points up (-v), as MediaPipe cuts its hand crops; 0 when the two points coincide in the crop.

    wrist_cam, middle_mcp_cam: (3,) points (metres) or rays of the camera frame. Give the result to
    :func:`rectify_box` (``roll_rad``) for the same box; ``rc`` is that box's crop without roll (with a
    roll, the result is the roll to add to it).
    """
    uv = points_to_rectified(rc, np.stack([np.asarray(wrist_cam, float), np.asarray(middle_mcp_cam, float)]))
    d = uv[1] - uv[0]
    if not np.all(np.isfinite(d)) or not np.hypot(d[0], d[1]) > 1e-9:
        return 0.0
    return -up_angle(uv[0], uv[1])


def _ray_in_lens(camera: CameraModel, pixel: np.ndarray, what: str) -> np.ndarray:
    """The ray (3,) of ``pixel`` (pixel centres at integers); ValueError naming ``what`` where the pixel
    is outside the lens model (no ray, or one past :func:`max_ray_angle`)."""
    axis = camera.pixels_to_rays(np.asarray(pixel, np.float64)[None])[0]
    if not np.all(np.isfinite(axis)) or math.atan2(math.hypot(axis[0], axis[1]), axis[2]) > max_ray_angle(
        camera
    ):
        raise ValueError(f"{what} is outside the lens model")
    return axis


def tangent_view(axis_cam: Any, rays: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    """``(R, q)``: ``R = look_at_rotation(axis_cam)`` and the points (N, 2) where ``rays`` (N, 3, camera
    frame) meet that view's tangent plane z = 1 (tangents of their angles from its axis); ValueError naming
    ``what`` where a ray is behind the view."""
    R = look_at_rotation(axis_cam)
    v = rays @ R.T
    if not np.all(v[:, 2] > 1e-6):
        raise ValueError(f"{what} is behind the view")
    return R, v[:, :2] / v[:, 2:]


def upright_view(
    view: np.ndarray, centre: Any, half_tangent: float, size: int, from_ray: Any, to_ray: Any
) -> RectifiedCrop:
    """The rectified crop of side ``size`` that looks at the point ``centre`` (2,) of the tangent plane of
    the view ``view`` (``R_view_from_cam``, :func:`tangent_view`), its half side spanning ``half_tangent``
    (a tangent), rolled so that ``from_ray`` -> ``to_ray`` (camera frame) points up in it
    (:func:`upright_roll`). ValueError where ``half_tangent`` is not in (0, tan(``MAX_HALF_ANGLE_RAD``))."""
    if not 0 < half_tangent < math.tan(MAX_HALF_ANGLE_RAD):
        raise ValueError(f"a half side of {half_tangent:.3g} (tangent) is too wide for a perspective crop")
    axis = view.T @ np.array([centre[0], centre[1], 1.0])
    f = (size / 2.0) / half_tangent
    k = (size - 1) / 2.0
    K = np.array([[f, 0.0, k], [0.0, f, k], [0.0, 0.0, 1.0]])
    unrolled = RectifiedCrop(R=look_at_rotation(axis), K=K, size=size)
    roll = upright_roll(unrolled, from_ray, to_ray)
    return RectifiedCrop(R=roll_matrix(roll) @ unrolled.R, K=K, size=size)


def rectify_box(
    camera: CameraModel, box_xyxy: Any, size: int, box_scale: float = 1.5, roll_rad: float = 0.0
) -> RectifiedCrop:
    """The virtual camera of a rectified crop of side ``size`` around the hand box ``box_xyxy``.

    box_xyxy: (x0, y0, x1, y1) in pixels of the camera's (distorted) image, index semantics (x1, y1
        exclusive, as detectors report them and as :func:`crop.square_box_from_xyxy` takes them).
    size: crop side S in pixels. box_scale: crop half side / hand half extent (tangents, module docstring).
    roll_rad: the virtual camera turned about its optical axis by this much after the no-roll view
        (``R = roll_matrix(roll_rad) @ look_at_rotation(axis)``; :func:`upright_roll`); the focal length is
        the no-roll one, so the hand keeps its size in the crop whatever the roll.

    Raises ValueError for a bad box, a box centre outside the lens model, a box without any valid edge
    ray, or a box wider than ``2 * MAX_HALF_ANGLE_RAD`` as seen from its centre.
    """
    b = _check_xyxy(box_xyxy)
    if isinstance(size, bool) or int(size) != size or size <= 0:
        raise ValueError(f"size must be an integer > 0, got {size!r}")
    if not (math.isfinite(box_scale) and box_scale > 0):
        raise ValueError(f"box_scale must be finite and > 0, got {box_scale}")
    centre = np.array([[(b[0] + b[2]) / 2.0 - 0.5, (b[1] + b[3]) / 2.0 - 0.5]])
    axis = _ray_in_lens(camera, centre[0], f"the centre {centre[0].tolist()} of box {b.tolist()}")
    R = look_at_rotation(axis)
    # the box outline in continuous pixel coordinates: [x0 - 0.5, x1 - 0.5] x [y0 - 0.5, y1 - 0.5]
    t = np.linspace(0.0, 1.0, _EDGE_SAMPLES)
    xs = b[0] - 0.5 + t * (b[2] - b[0])
    ys = b[1] - 0.5 + t * (b[3] - b[1])
    outline = np.concatenate(
        [
            np.stack([xs, np.full_like(xs, ys[0])], axis=1),
            np.stack([xs, np.full_like(xs, ys[-1])], axis=1),
            np.stack([np.full_like(ys, xs[0]), ys], axis=1),
            np.stack([np.full_like(ys, xs[-1]), ys], axis=1),
        ]
    )
    rays_v = camera.pixels_to_rays(outline) @ R.T  # (N, 3) virtual frame
    rays_v = rays_v[np.all(np.isfinite(rays_v), axis=1)]
    if len(rays_v) == 0:
        raise ValueError(f"no edge of box {b.tolist()} is inside the lens model")
    half = np.maximum(
        np.arctan2(np.abs(rays_v[:, 0]), rays_v[:, 2]), np.arctan2(np.abs(rays_v[:, 1]), rays_v[:, 2])
    ).max()
    if not half < MAX_HALF_ANGLE_RAD:
        raise ValueError(
            f"box {b.tolist()} spans {math.degrees(half):.0f} deg from its centre (more than "
            f"{math.degrees(MAX_HALF_ANGLE_RAD):.0f}): too wide for a perspective crop"
        )
    tan_half = max(math.tan(half), 1e-9)
    f = (size / 2.0) / (box_scale * tan_half)
    c = (size - 1) / 2.0
    if not math.isfinite(roll_rad):
        raise ValueError(f"roll_rad must be finite, got {roll_rad}")
    if roll_rad:
        R = roll_matrix(roll_rad) @ R
    return RectifiedCrop(R=R, K=np.array([[f, 0.0, c], [0.0, f, c], [0.0, 0.0, 1.0]]), size=int(size))


def rectify_rect(
    camera: CameraModel, centre_px: Any, side_px: float, rotation_rad: float, size: int
) -> RectifiedCrop:
    """The virtual camera that sees a rotated square rect of the camera's image straight on: a rectified
    crop of side ``size`` in place of the rect's plain crop (``mediapipe_palm.rotated_crop``, MediaPipe's
    landmark crop), without the stretch of a wide lens's periphery or a fisheye's bend.

    centre_px: the rect's centre, pixels of the camera's (distorted) image (pixel centres at integers).
    side_px: its side (px). rotation_rad: its rotation as ``rotated_crop``'s (``crop.up_angle`` of the
        crop's up in the image: 0 upright, positive clockwise on the screen).

    The rect's four edge midpoints are seen from its centre's ray (tangent plane of a virtual camera looking
    along it, without roll); the virtual camera then looks at their mean, rolled so that the rect's bottom
    -> top midpoint direction points up in the crop (:func:`upright_roll`), and the crop's half side is
    half the shorter of the two spans between opposite midpoints (tangents): a lens stretches a hand
    along one direction (the radial one in a wide lens's periphery), and a rect drawn round the stretched
    hand is too long along it. A rect centred on a pinhole camera's principal point gives the rect's plain
    crop. (Where the hand's landmarks are known, ``mediapipe_palm.view_from_landmarks`` draws the rect in
    the view directly, which reads better.) Raises ValueError when the centre or a midpoint is outside the
    lens model or behind the centre's view, or the rect spans more than ``MAX_HALF_ANGLE_RAD``.
    """
    centre = np.asarray(centre_px, dtype=np.float64).reshape(-1)
    if centre.shape != (2,) or not np.all(np.isfinite(centre)):
        raise ValueError(f"centre_px must be 2 finite numbers, got {centre.tolist()}")
    if not (math.isfinite(side_px) and side_px > 0 and math.isfinite(rotation_rad)):
        raise ValueError(f"need a finite side > 0 and rotation, got {side_px}, {rotation_rad}")
    axis = _ray_in_lens(camera, centre, f"the rect's centre {centre.tolist()}")
    c, s = math.cos(rotation_rad), math.sin(rotation_rad)
    half = side_px / 2.0
    # edge midpoints: up, down, left, right of the rect (image px); the crop's up is R(rotation) (0, -1)
    offsets = np.array([[0.0, -half], [0.0, half], [-half, 0.0], [half, 0.0]]) @ np.array([[c, s], [-s, c]])
    rays = camera.pixels_to_rays(centre + offsets)
    if not np.all(np.isfinite(rays)):
        raise ValueError(f"an edge of the rect at {centre.tolist()} is outside the lens model")
    first, q = tangent_view(axis, rays, f"an edge of the rect at {centre.tolist()}")
    # looks at the middle of the midpoints (the rect's centre as the view sees it); half the shorter of its
    # two spans: a lens stretches a hand's rect along one of them (the radial one in a wide lens's
    # periphery), and MediaPipe's rect is square round the hand's longer side
    half_tangent = min(np.linalg.norm(q[0] - q[1]), np.linalg.norm(q[2] - q[3])) / 2.0
    return upright_view(first, q.mean(0), half_tangent, size, rays[1], rays[0])  # down -> up edge points up


def _crop_rays(rc: RectifiedCrop, uv_crop: np.ndarray, mirror: bool) -> np.ndarray:
    """Virtual-frame rays (N, 3) (z = 1) of crop pixels (N, 2)."""
    x = (uv_crop[:, 0] - rc.c) / rc.f
    if mirror:
        x = -x
    return np.stack([x, (uv_crop[:, 1] - rc.c) / rc.f, np.ones(len(uv_crop))], axis=1)


def _rays_to_pixels(rc: RectifiedCrop, camera: CameraModel, rays_v: np.ndarray) -> np.ndarray:
    """Image pixels (N, 2) of virtual-frame rays; NaN where the lens model does not map them one-to-one."""
    rays_c = rays_v @ rc.R  # R.T @ ray, row-wise
    angle = np.arctan2(np.hypot(rays_c[:, 0], rays_c[:, 1]), rays_c[:, 2])
    uv = camera.project(rays_c)
    uv[~(angle <= max_ray_angle(camera))] = np.nan
    return uv


def _points(uv: Any, dim: int, name: str) -> np.ndarray:
    p = np.asarray(uv, dtype=np.float64)
    if p.ndim == 1 and p.shape[0] == dim:
        p = p[None]
    if p.ndim != 2 or p.shape[1] != dim:
        raise ValueError(f"{name} must have shape (N, {dim}), got {p.shape}")
    return p


def rectified_to_image(
    rc: RectifiedCrop, camera: CameraModel, uv_crop: Any, mirror: bool = False
) -> np.ndarray:
    """Crop pixels (N, 2) (flipped crop when ``mirror``) -> pixels (N, 2) of the camera's image.

    NaN rows where the crop pixel's ray is outside the lens model's one-to-one domain.
    """
    return _rays_to_pixels(rc, camera, _crop_rays(rc, _points(uv_crop, 2, "uv_crop"), mirror))


def image_to_rectified(
    rc: RectifiedCrop, camera: CameraModel, uv_px: Any, mirror: bool = False
) -> np.ndarray:
    """Pixels (N, 2) of the camera's image -> crop pixels (N, 2) (flipped crop when ``mirror``).

    NaN rows for pixels outside the lens model or whose ray is behind the virtual camera.
    """
    rays = camera.pixels_to_rays(_points(uv_px, 2, "uv_px"))
    return points_to_rectified(rc, rays, mirror)


def points_to_rectified(rc: RectifiedCrop, points_cam_m: Any, mirror: bool = False) -> np.ndarray:
    """Crop pixels (N, 2) of 3-D points (N, 3) of the camera frame (metres, or any ray direction).

    NaN rows for points at or behind the virtual camera's image plane (z_virtual <= 0).
    """
    p = camera_to_virtual(rc, points_cam_m, mirror)
    z = p[:, 2]
    with np.errstate(invalid="ignore", divide="ignore"):
        uv = rc.f * p[:, :2] / z[:, None] + rc.c
    uv[~(z > 0)] = np.nan
    return uv


def camera_to_virtual(rc: RectifiedCrop, points_cam_m: Any, mirror: bool = False) -> np.ndarray:
    """Points (N, 3) camera frame -> virtual frame (mirrored virtual frame when ``mirror``), metres."""
    p = _points(points_cam_m, 3, "points_cam_m") @ rc.R.T
    return p * _MIRROR if mirror else p


def virtual_to_camera(rc: RectifiedCrop, points_virtual_m: Any, mirror: bool = False) -> np.ndarray:
    """Points (N, 3) virtual frame (mirrored virtual frame when ``mirror``) -> camera frame, metres."""
    p = _points(points_virtual_m, 3, "points_virtual_m")
    if mirror:
        p = p * _MIRROR
    return p @ rc.R


def rotation_to_camera(rc: RectifiedCrop, rotation_virtual: Any) -> np.ndarray:
    """A rotation (3, 3) whose target frame is the virtual frame -> the same in the camera frame:
    ``R.T @ rotation`` (e.g. the network's wrist rotation, hand-model frame -> virtual frame)."""
    M = np.asarray(rotation_virtual, dtype=np.float64)
    if M.shape != (3, 3):
        raise ValueError(f"rotation_virtual must have shape (3, 3), got {M.shape}")
    return rc.R.T @ M


def rectified_maps(
    rc: RectifiedCrop, camera: CameraModel, mirror: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """``cv2.remap`` maps (S, S) float32 x2: the image pixel each crop pixel samples.

    Crop pixels whose ray is outside the lens model get a coordinate off the image (painted black).
    """
    s = rc.size
    vv, uu = np.meshgrid(np.arange(s, dtype=np.float64), np.arange(s, dtype=np.float64), indexing="ij")
    uv = _rays_to_pixels(rc, camera, _crop_rays(rc, np.stack([uu.ravel(), vv.ravel()], axis=1), mirror))
    uv[~np.all(np.isfinite(uv), axis=1)] = _OUTSIDE_PX
    # far outside stays far outside (cv2.remap uses 16-bit integer coordinates internally)
    uv = np.clip(uv, -1e4, 1e4 + max(camera.width, camera.height))
    return uv[:, 0].reshape(s, s).astype(np.float32), uv[:, 1].reshape(s, s).astype(np.float32)


def crop_homography(rc: RectifiedCrop, camera: CameraModel, mirror: bool = False) -> np.ndarray | None:
    """(3, 3) homography from crop pixels (flipped crop when ``mirror``) to the camera's image pixels, when
    the camera has no lens distortion and every crop ray is in front of it (then the rectified crop is that
    homography's warp); None otherwise (the lens needs :func:`rectified_maps`)."""
    if camera.is_fisheye or np.any(camera.D):
        return None
    flip = np.array([[-1.0, 0.0, rc.size - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    to_cam = rc.R.T @ np.linalg.inv(rc.K) @ (flip if mirror else np.eye(3))  # crop px -> camera-frame ray
    corners = np.array([[-0.5, -0.5, 1.0], [rc.size - 0.5, -0.5, 1.0], [-0.5, rc.size - 0.5, 1.0],
                        [rc.size - 0.5, rc.size - 0.5, 1.0]])  # fmt: skip
    if not np.all((corners @ to_cam.T)[:, 2] > 1e-9):  # z > 0 at the corners: in front everywhere
        return None
    return camera.K @ to_cam


def warp_rectified(
    image: np.ndarray,
    camera: CameraModel,
    rc: RectifiedCrop,
    mirror: bool = False,
    interpolation: int = cv2.INTER_LINEAR,
) -> np.ndarray:
    """The rectified crop (S, S[, C]) of ``image`` (H, W[, C]) of ``camera`` (same dtype; black outside
    the image and the lens model)."""
    if not isinstance(image, np.ndarray) or image.ndim not in (2, 3):
        raise ValueError(
            f"image must be a numpy array (H, W) or (H, W, C), got {getattr(image, 'shape', image)}"
        )
    if image.shape[:2] != (camera.height, camera.width):
        raise ValueError(
            f"image is {image.shape[1]}x{image.shape[0]} but the camera is {camera.width}x{camera.height}"
        )
    H = crop_homography(rc, camera, mirror)
    if H is not None:  # a pinhole camera without distortion: the warp is a homography, ~20x faster

        def remap(img: np.ndarray) -> np.ndarray:
            return cv2.warpPerspective(
                np.ascontiguousarray(img),
                H,
                (rc.size, rc.size),
                flags=interpolation | cv2.WARP_INVERSE_MAP,
                borderMode=cv2.BORDER_CONSTANT,
                borderValue=0,
            )

    else:
        map_x, map_y = rectified_maps(rc, camera, mirror)

        def remap(img: np.ndarray) -> np.ndarray:
            return cv2.remap(
                np.ascontiguousarray(img),
                map_x,
                map_y,
                interpolation,
                borderMode=cv2.BORDER_CONSTANT,
                borderValue=0,
            )

    if image.ndim == 3 and image.shape[2] > 4:  # cv2.remap takes at most 4 channels
        return np.stack([remap(image[:, :, i]) for i in range(image.shape[2])], axis=2)
    return remap(image).reshape(rc.size, rc.size, *image.shape[2:])


def rectified_crop(
    image: np.ndarray,
    camera: CameraModel,
    box_xyxy: Any,
    size: int,
    box_scale: float = 1.5,
    mirror: bool = False,
) -> tuple[np.ndarray, RectifiedCrop]:
    """:func:`rectify_box` then :func:`warp_rectified`: the crop (S, S[, C]) and its virtual camera."""
    rc = rectify_box(camera, box_xyxy, size, box_scale)
    return warp_rectified(image, camera, rc, mirror), rc


def crop_outline_px(rc: RectifiedCrop, camera: CameraModel, points_per_edge: int = 16) -> np.ndarray:
    """The crop's border in the camera's image (4 * points_per_edge, 2) px, clockwise from the top-left
    corner (e.g. to draw the curved footprint of a rectified crop); NaN rows outside the lens model."""
    if isinstance(points_per_edge, bool) or int(points_per_edge) != points_per_edge or points_per_edge < 2:
        raise ValueError(f"points_per_edge must be an integer >= 2, got {points_per_edge!r}")
    lo, hi = -0.5, rc.size - 0.5
    t = np.linspace(lo, hi, int(points_per_edge), endpoint=False)
    edge = np.concatenate(
        [
            np.stack([t, np.full_like(t, lo)], axis=1),  # top, left -> right
            np.stack([np.full_like(t, hi), t], axis=1),  # right, top -> bottom
            np.stack([lo + hi - t, np.full_like(t, hi)], axis=1),  # bottom, right -> left
            np.stack([np.full_like(t, lo), lo + hi - t], axis=1),  # left, bottom -> top
        ]
    )
    return rectified_to_image(rc, camera, edge)
