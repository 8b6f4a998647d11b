"""Pure conversions between ROS messages and wildhands types (no node, no spinning; tested on their own).

* ``sensor_msgs/Image`` <-> numpy RGB (rgb8, bgr8, rgba8, bgra8, mono8; row padding handled), with numpy
  and OpenCV: cv_bridge would add nothing for these 8-bit encodings and is absent from pip-installed ROS.
* ``sensor_msgs/CameraInfo`` -> :class:`CameraModel`, or an estimate from the image size.
* :class:`HandEstimate` -> ``wildhands_ros/Hand``; a list -> ``HandArray`` (message objects, or the same
  message as CDR bytes for ``Publisher.publish`` without building its ``geometry_msgs/Point`` objects).
* ``wildhands_ros/HandDetectionArray`` -> list of :class:`HandBox`.
* all keypoints (optionally mesh vertices) -> ``sensor_msgs/PointCloud2`` with fields
  x, y, z (float32), side (uint8), joint (uint8: keypoint index, 255 for mesh vertices), hand (uint16:
  index in the HandArray); ``sensor_msgs_py.point_cloud2`` where installed, numpy with the same layout
  otherwise.
"""

from __future__ import annotations

import array
import math
from collections.abc import Sequence

import cv2
import numpy as np
from geometry_msgs.msg import Point, Pose
from sensor_msgs.msg import CameraInfo, Image, PointCloud2, PointField
from std_msgs.msg import Header

from wildhands.geometry.camera import CameraModel
from wildhands.geometry.crop import CropBox
from wildhands.geometry.rotations import matrix_to_quaternion_xyzw
from wildhands.runtime.hands import HandBox, HandEstimate
from wildhands_ros.cdr import serialize
from wildhands_ros.msg import Hand, HandArray, HandDetection, HandDetectionArray

try:  # present on a ROS 2 install, absent from the PyPI wheels
    from sensor_msgs_py import point_cloud2 as _pc2
except ImportError:  # pragma: no cover - depends on the install
    _pc2 = None

#: encoding -> (channels, index of R, G, B in a pixel; None for grey)
ENCODINGS: dict[str, tuple[int, tuple[int, int, int] | None]] = {
    "rgb8": (3, (0, 1, 2)),
    "bgr8": (3, (2, 1, 0)),
    "rgba8": (4, (0, 1, 2)),
    "bgra8": (4, (2, 1, 0)),
    "mono8": (1, None),
}

#: encoding -> OpenCV conversion to RGB (rgb8: a plain copy)
_TO_RGB = {
    "bgr8": cv2.COLOR_BGR2RGB,
    "rgba8": cv2.COLOR_RGBA2RGB,
    "bgra8": cv2.COLOR_BGRA2RGB,
    "mono8": cv2.COLOR_GRAY2RGB,
}

SIDE_TO_MSG = {"left": Hand.SIDE_LEFT, "right": Hand.SIDE_RIGHT}
MSG_TO_SIDE = {v: k for k, v in SIDE_TO_MSG.items()}
MESH_JOINT = 255  # `joint` value of mesh vertices in the point cloud
NOT_FITTED = -1.0  # Hand.fit_residual_px of a hand that was not fitted (HandEstimate: NaN)


# ----------------------------------------------------------------------------------------------- images
class ImageError(ValueError):
    """A bad Image message; ``cause`` is one of ``encoding``, ``empty``, ``step``, ``data_length`` (a fixed,
    small set: the node throttles its log lines per cause)."""

    def __init__(self, cause: str, message: str) -> None:
        super().__init__(message)
        self.cause = cause


def image_to_rgb(msg: Image) -> np.ndarray:
    """An Image message -> (H, W, 3) uint8 RGB (a copy). :class:`ImageError` with the reason on bad input."""
    enc = msg.encoding.strip().lower()
    if enc not in ENCODINGS:
        raise ImageError(
            "encoding", f"unsupported image encoding {msg.encoding!r}; supported: {', '.join(ENCODINGS)}"
        )
    channels, _ = ENCODINGS[enc]
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    if h == 0 or w == 0:
        raise ImageError("empty", f"empty image: {w}x{h}")
    if step < w * channels:
        raise ImageError("step", f"image step {step} < width {w} x {channels} bytes per pixel ({enc})")
    data = np.frombuffer(msg.data, dtype=np.uint8)
    if data.size != step * h:
        raise ImageError(
            "data_length",
            f"image data has {data.size} bytes, expected step x height = {step} x {h} = {step * h}",
        )
    rows = data.reshape(h, step)[:, : w * channels]  # a view: row padding skipped, nothing copied
    if enc == "rgb8":
        return np.array(rows.reshape(h, w, 3))
    # OpenCV: ~0.1 ms for 640x480 where numpy's channel indexing takes ~6 ms
    return cv2.cvtColor(rows if channels == 1 else rows.reshape(h, w, channels), _TO_RGB[enc])


def rgb_to_image(
    rgb: np.ndarray, header: Header | None = None, encoding: str = "rgb8", step: int = 0
) -> Image:
    """(H, W, 3) uint8 RGB -> Image in ``encoding``; ``step`` > W x channels adds zero row padding."""
    if encoding not in ENCODINGS:
        raise ValueError(f"unsupported image encoding {encoding!r}; supported: {', '.join(ENCODINGS)}")
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"rgb must be (H, W, 3) uint8, got {rgb.shape} {rgb.dtype}")
    channels, order = ENCODINGS[encoding]
    h, w = rgb.shape[:2]
    if order is None:
        pixels = np.round(rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32))
        pixels = pixels.astype(np.uint8)[:, :, None]
    else:
        pixels = np.full((h, w, channels), 255, np.uint8)
        pixels[:, :, list(order)] = rgb
    step = step or w * channels
    if step < w * channels:
        raise ValueError(f"step {step} < width {w} x {channels}")
    rows = np.zeros((h, step), np.uint8)
    rows[:, : w * channels] = pixels.reshape(h, w * channels)
    msg = Image(height=h, width=w, encoding=encoding, is_bigendian=0, step=step)
    if header is not None:
        msg.header = header
    msg.data = array.array("B", rows.tobytes())
    return msg


# ----------------------------------------------------------------------------------------------- camera
#: The ``sensor_msgs/CameraInfo`` fields of ``CameraModel.to_camera_info_dict()``.
CAMERA_INFO_FIELDS = ("width", "height", "distortion_model", "d", "k", "r", "p")


def info_dict_to_msg(info: dict, header: Header) -> CameraInfo:
    """A ``CameraModel.to_camera_info_dict()`` (possibly edited) -> CameraInfo with ``header``."""
    return CameraInfo(header=header, **{f: info[f] for f in CAMERA_INFO_FIELDS})


def camera_to_info(camera: CameraModel, header: Header) -> CameraInfo:
    """CameraModel -> CameraInfo with ``header`` (the inverse of :func:`camera_from_info`)."""
    return info_dict_to_msg(camera.to_camera_info_dict(), header)


def camera_from_info(info: CameraInfo, image_size: tuple[int, int]) -> CameraModel:
    """CameraInfo -> CameraModel for an image of ``image_size`` (w, h); ValueError when K is unusable
    (zero, NaN), implausible (:meth:`CameraModel.check_plausible`: field of view, principal point) or the
    sizes disagree."""
    k = np.asarray(info.k, dtype=np.float64)
    if not np.all(np.isfinite(k)):
        raise ValueError(f"CameraInfo K has non-finite values: {k.tolist()}")
    camera = CameraModel.from_camera_info(info)
    if (camera.width, camera.height) != tuple(image_size):
        raise ValueError(
            f"CameraInfo is {camera.width}x{camera.height} but the image is {image_size[0]}x{image_size[1]}"
        )
    camera.check_plausible()
    return camera


def estimated_camera(image_size: tuple[int, int], hfov_deg: float) -> CameraModel:
    """Intrinsics guessed from the image size and a horizontal field of view (``estimated=True``)."""
    return CameraModel.from_fov(int(image_size[0]), int(image_size[1]), math.radians(hfov_deg))


# ----------------------------------------------------------------------------------------------- boxes
def detections_to_boxes(
    msg: HandDetectionArray, image_width: int, image_height: int | None = None
) -> list[HandBox]:
    """HandDetectionArray -> HandBoxes. SIDE_UNKNOWN becomes the side of the image half the box centre is
    in (egocentric guess: right hand on the right), with side_score 0.5. Invalid boxes (NaN, inverted) and,
    with ``image_height``, boxes lying fully outside the image are skipped."""
    boxes = []
    for d in msg.detections:
        xyxy = (float(d.x_min), float(d.y_min), float(d.x_max), float(d.y_max))
        if image_height is not None and not (
            xyxy[2] > 0 and xyxy[3] > 0 and xyxy[0] < image_width and xyxy[1] < image_height
        ):
            continue  # fully outside (or NaN): the pipeline would refuse the whole frame
        side_score = float(np.clip(d.side_score, 0.0, 1.0))
        if d.side == HandDetection.SIDE_LEFT:
            side = "left"
        elif d.side == HandDetection.SIDE_RIGHT:
            side = "right"
        else:
            side = "right" if (xyxy[0] + xyxy[2]) / 2.0 >= (image_width - 1) / 2.0 else "left"
            side_score = 0.5
        try:
            boxes.append(HandBox(xyxy, side, float(np.clip(d.score, 0.0, 1.0)), side_score))
        except ValueError:
            continue
    return boxes


def boxes_to_detections(boxes: Sequence[HandBox], header: Header) -> HandDetectionArray:
    """HandBoxes -> HandDetectionArray (what an upstream detector publishes)."""
    out = HandDetectionArray(header=header)
    for b in boxes:
        x0, y0, x1, y1 = (float(v) for v in b.xyxy_px)
        side = HandDetection.SIDE_LEFT if b.side == "left" else HandDetection.SIDE_RIGHT
        out.detections.append(
            HandDetection(
                x_min=x0, y_min=y0, x_max=x1, y_max=y1, side=side, score=float(b.score),
                side_score=float(b.side_score),
            )
        )  # fmt: skip
    return out


# ----------------------------------------------------------------------------------------------- hands
def points_to_msgs(points: np.ndarray) -> list[Point]:
    """(N, 3) -> geometry_msgs/Point list (message objects must be built one by one)."""
    return [Point(x=x, y=y, z=z) for x, y, z in np.asarray(points, dtype=np.float64).tolist()]


#: (message, name of its geometry_msgs/Point[] field, (N, 3) float64 m): a point field left empty, to be
#: filled with Point objects (:func:`fill_points`) or written straight into CDR bytes (cdr.serialize)
PointsField = tuple[object, str, np.ndarray]


def fill_points(fields: Sequence[PointsField]) -> None:
    """Sets each listed field to the Point objects of its array."""
    for msg, name, xyz in fields:
        setattr(msg, name, points_to_msgs(xyz))


def _hand_parts(hand: HandEstimate, include_mesh: bool, track_id: int) -> tuple[Hand, list[PointsField]]:
    """Hand without its Point fields (keypoints_3d, mesh_vertices), and those fields' points."""
    q = matrix_to_quaternion_xyzw(hand.wrist_rotation)
    wrist = hand.wrist_position_m
    msg = Hand(
        track_id=int(track_id),
        side=SIDE_TO_MSG[hand.side],
        side_confidence=float(hand.side_confidence),
        detection_confidence=float(hand.detection_confidence),
        confidence=float(hand.confidence),
        crop_x=float(hand.crop_box.x0),
        crop_y=float(hand.crop_box.y0),
        crop_size=float(hand.crop_box.size),
        hand_model=str(hand.hand_model),
        grasp_type=int(hand.grasp_id),
        grasp_label=str(hand.grasp_label),
        intrinsics_estimated=bool(hand.intrinsics_estimated),
        fit_residual_px=float(hand.fit_residual_px) if math.isfinite(hand.fit_residual_px) else NOT_FITTED,
    )
    points: list[PointsField] = [(msg, "keypoints_3d", np.asarray(hand.keypoints_cam_m, np.float64))]
    msg.keypoints_2d = np.asarray(hand.keypoints_px, np.float32).reshape(42)
    msg.wrist_pose = Pose()
    msg.wrist_pose.position = Point(x=float(wrist[0]), y=float(wrist[1]), z=float(wrist[2]))
    msg.wrist_pose.orientation.x, msg.wrist_pose.orientation.y = float(q[0]), float(q[1])
    msg.wrist_pose.orientation.z, msg.wrist_pose.orientation.w = float(q[2]), float(q[3])
    msg.shape_betas = np.asarray(hand.betas, np.float32).reshape(10)
    msg.joint_rotations = np.asarray(hand.joint_rotations_aa, np.float32).reshape(45)
    msg.grasp_probabilities = np.asarray(hand.grasp_probabilities, np.float32).reshape(8)
    if include_mesh:
        points.append((msg, "mesh_vertices", np.asarray(hand.vertices_cam_m, np.float64)))
        msg.mesh_triangles = array.array("I", np.asarray(hand.faces, np.uint32).reshape(-1).tobytes())
    return msg, points


def hand_to_msg(hand: HandEstimate, include_mesh: bool = False, track_id: int = -1) -> Hand:
    """HandEstimate -> Hand (see msg/Hand.msg for units and frames)."""
    msg, points = _hand_parts(hand, include_mesh, track_id)
    fill_points(points)
    return msg


def _points_array(points: Sequence[Point]) -> np.ndarray:
    return np.array([(p.x, p.y, p.z) for p in points], dtype=np.float64).reshape(-1, 3)


def msg_to_hand(msg: Hand) -> HandEstimate:
    """Hand -> HandEstimate (inverse of :func:`hand_to_msg`; the mesh is empty unless the message has one)."""
    from scipy.spatial.transform import Rotation

    o = msg.wrist_pose.orientation
    return HandEstimate(
        side=MSG_TO_SIDE[int(msg.side)],
        side_confidence=float(msg.side_confidence),
        detection_confidence=float(msg.detection_confidence),
        confidence=float(msg.confidence),
        crop_box=CropBox(float(msg.crop_x), float(msg.crop_y), float(msg.crop_size)),
        keypoints_cam_m=_points_array(msg.keypoints_3d),
        keypoints_px=np.asarray(msg.keypoints_2d, np.float64).reshape(21, 2),
        vertices_cam_m=_points_array(msg.mesh_vertices),
        faces=np.asarray(msg.mesh_triangles, np.int64).reshape(-1, 3),
        wrist_rotation=Rotation.from_quat([o.x, o.y, o.z, o.w]).as_matrix(),
        joint_rotations_aa=np.asarray(msg.joint_rotations, np.float64).reshape(15, 3),
        betas=np.asarray(msg.shape_betas, np.float64).reshape(10),
        grasp_probabilities=np.asarray(msg.grasp_probabilities, np.float64).reshape(8),
        intrinsics_estimated=bool(msg.intrinsics_estimated),
        hand_model=str(msg.hand_model),
        fit_residual_px=float(msg.fit_residual_px) if msg.fit_residual_px >= 0 else float("nan"),
    )


def _hand_array_parts(
    hands: Sequence[HandEstimate],
    header: Header,
    latency_s: float,
    include_mesh: bool,
    track_ids: Sequence[int] | None,
) -> tuple[HandArray, list[PointsField]]:
    if track_ids is not None and len(track_ids) != len(hands):
        raise ValueError(f"{len(track_ids)} track ids for {len(hands)} hands")
    ids = [-1] * len(hands) if track_ids is None else track_ids
    out, points = HandArray(header=header, latency=float(latency_s)), []
    for hand, i in zip(hands, ids):
        msg, p = _hand_parts(hand, include_mesh, i)
        out.hands.append(msg)
        points += p
    return out, points


def hands_to_msg(
    hands: Sequence[HandEstimate],
    header: Header,
    latency_s: float = 0.0,
    include_mesh: bool = False,
    track_ids: Sequence[int] | None = None,
) -> HandArray:
    """HandEstimates -> HandArray; ``track_ids`` (one per hand) fill Hand.track_id (-1 without)."""
    out, points = _hand_array_parts(hands, header, latency_s, include_mesh, track_ids)
    fill_points(points)
    return out


def hands_to_cdr(
    hands: Sequence[HandEstimate],
    header: Header,
    latency_s: float = 0.0,
    include_mesh: bool = False,
    track_ids: Sequence[int] | None = None,
) -> bytes:
    """The HandArray of :func:`hands_to_msg`, serialized (CDR) for ``Publisher.publish``: keypoints and
    mesh vertices go from numpy straight into the bytes, no ``geometry_msgs/Point`` is built (cdr.py)."""
    return serialize(*_hand_array_parts(hands, header, latency_s, include_mesh, track_ids))


# ----------------------------------------------------------------------------------------------- points
POINT_FIELDS = [
    PointField(name="x", offset=0, datatype=PointField.FLOAT32, count=1),
    PointField(name="y", offset=4, datatype=PointField.FLOAT32, count=1),
    PointField(name="z", offset=8, datatype=PointField.FLOAT32, count=1),
    PointField(name="side", offset=12, datatype=PointField.UINT8, count=1),
    PointField(name="joint", offset=13, datatype=PointField.UINT8, count=1),
    PointField(name="hand", offset=14, datatype=PointField.UINT16, count=1),
]
POINT_DTYPE = np.dtype(
    {
        "names": ["x", "y", "z", "side", "joint", "hand"],
        "formats": ["<f4", "<f4", "<f4", "u1", "u1", "<u2"],
        "offsets": [0, 4, 8, 12, 13, 14],
        "itemsize": 16,
    }
)


def hands_to_points(hands: Sequence[HandEstimate], include_mesh: bool = False) -> np.ndarray:
    """Structured array (POINT_DTYPE) of every keypoint (and optionally every mesh vertex)."""
    parts = []
    for i, hand in enumerate(hands):
        xyz = [np.asarray(hand.keypoints_cam_m)]
        joint = [np.arange(21)]
        if include_mesh:
            xyz.append(np.asarray(hand.vertices_cam_m))
            joint.append(np.full(len(hand.vertices_cam_m), MESH_JOINT))
        xyz_all, joint_all = np.concatenate(xyz), np.concatenate(joint)
        part = np.zeros(len(xyz_all), POINT_DTYPE)
        part["x"], part["y"], part["z"] = xyz_all[:, 0], xyz_all[:, 1], xyz_all[:, 2]
        part["side"], part["joint"], part["hand"] = SIDE_TO_MSG[hand.side], joint_all, i
        parts.append(part)
    return np.concatenate(parts) if parts else np.zeros(0, POINT_DTYPE)


def hands_to_cloud(hands: Sequence[HandEstimate], header: Header, include_mesh: bool = False) -> PointCloud2:
    """PointCloud2 of the keypoints (unorganised: height 1), fields as POINT_FIELDS."""
    points = hands_to_points(hands, include_mesh)
    if _pc2 is not None:
        typed = np.zeros(len(points), _pc2.dtype_from_fields(POINT_FIELDS))
        for name in POINT_DTYPE.names:
            typed[name] = points[name]
        return _pc2.create_cloud(header, POINT_FIELDS, typed)
    msg = PointCloud2(
        header=header,
        height=1,
        width=len(points),
        fields=POINT_FIELDS,
        is_bigendian=False,
        point_step=POINT_DTYPE.itemsize,
        row_step=POINT_DTYPE.itemsize * len(points),
        is_dense=True,
    )
    msg.data = array.array("B", points.tobytes())
    return msg


def cloud_to_points(msg: PointCloud2) -> np.ndarray:
    """The inverse of :func:`hands_to_cloud` for clouds with POINT_FIELDS (tests, consumers)."""
    if msg.point_step != POINT_DTYPE.itemsize:
        raise ValueError(f"point_step {msg.point_step} != {POINT_DTYPE.itemsize}")
    return np.frombuffer(msg.data, dtype=POINT_DTYPE, count=msg.width * msg.height).copy()
