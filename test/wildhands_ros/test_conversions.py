"""Image <-> numpy for every encoding (with row padding), CameraInfo, Hand/HandArray, boxes, PointCloud2."""

from __future__ import annotations

import numpy as np
import pytest
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from wildhands.geometry.rotations import matrix_to_quaternion_xyzw
from wildhands_ros.conversions import (
    ENCODINGS,
    boxes_to_detections,
    camera_from_info,
    cloud_to_points,
    detections_to_boxes,
    estimated_camera,
    hand_to_msg,
    hands_to_cloud,
    hands_to_msg,
    image_to_rgb,
    rgb_to_image,
)
from wildhands_ros.msg import Hand, HandDetection


@pytest.fixture()
def rgb():
    return np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)


@pytest.mark.parametrize("encoding", [e for e in ENCODINGS if e != "mono8"])
@pytest.mark.parametrize("pad", [0, 5])
def test_color_round_trip(rgb, encoding, pad):
    channels = ENCODINGS[encoding][0]
    msg = rgb_to_image(rgb, encoding=encoding, step=7 * channels + pad)
    assert msg.step == 7 * channels + pad and len(msg.data) == msg.step * 5
    assert np.array_equal(image_to_rgb(msg), rgb)


def test_byte_order_of_each_encoding():
    pixel = {"rgb8": [10, 20, 30], "bgr8": [30, 20, 10], "rgba8": [10, 20, 30, 99], "bgra8": [30, 20, 10, 99]}
    for enc, raw in pixel.items():
        msg = Image(height=1, width=1, encoding=enc, step=len(raw), data=raw)
        assert image_to_rgb(msg).tolist() == [[[10, 20, 30]]], enc


@pytest.mark.parametrize("pad", [0, 3])
def test_mono8(pad):
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4)
    rows = np.zeros((3, 4 + pad), np.uint8)
    rows[:, :4] = grey
    msg = Image(height=3, width=4, encoding="mono8", step=4 + pad, data=rows.tobytes())
    out = image_to_rgb(msg)
    assert out.shape == (3, 4, 3) and np.array_equal(out[:, :, 1], grey)
    assert np.array_equal(image_to_rgb(rgb_to_image(out, encoding="mono8")), out)


@pytest.mark.parametrize(
    "change, text",
    [({"encoding": "16UC1"}, "unsupported image encoding '16UC1'"),
     ({"height": 4}, "expected step x height"),
     ({"step": 10}, "step 10 < width 7"),
     ({"height": 0, "width": 0, "step": 0, "data": []}, "empty image")],
)  # fmt: skip
def test_bad_images_raise_clear_errors(rgb, change, text):
    msg = rgb_to_image(rgb, encoding="rgb8")
    for k, v in change.items():
        setattr(msg, k, v)
    with pytest.raises(ValueError, match=text.replace("(", r"\(")):
        image_to_rgb(msg)


def test_camera_from_info(sample):
    _, camera, _ = sample
    info = CameraInfo(**{k: v for k, v in camera.to_camera_info_dict().items()})
    assert camera_from_info(info, (640, 480)) == camera
    with pytest.raises(ValueError, match="image is 320x240"):
        camera_from_info(info, (320, 240))
    info.k = [float("nan")] * 9
    with pytest.raises(ValueError, match="non-finite"):
        camera_from_info(info, (640, 480))
    info.k = [0.0] * 9
    with pytest.raises(ValueError, match="all zeros"):
        camera_from_info(info, (640, 480))
    est = estimated_camera((640, 480), 90.0)
    assert est.estimated and est.fx == pytest.approx(320.0)


def test_hand_msg(sample_hands):
    hand = sample_hands[0]
    msg = hand_to_msg(hand, include_mesh=True)
    assert msg.side == (Hand.SIDE_RIGHT if hand.side == "right" else Hand.SIDE_LEFT)
    kp = np.array([[p.x, p.y, p.z] for p in msg.keypoints_3d])
    assert np.allclose(kp, hand.keypoints_cam_m)
    assert np.allclose(np.asarray(msg.keypoints_2d).reshape(21, 2), hand.keypoints_px, atol=1e-3)
    q = msg.wrist_pose.orientation
    assert np.allclose([q.x, q.y, q.z, q.w], matrix_to_quaternion_xyzw(hand.wrist_rotation))
    assert msg.grasp_label == hand.grasp_label and msg.grasp_type == hand.grasp_id
    assert np.isclose(sum(msg.grasp_probabilities), 1.0, atol=1e-5)
    assert len(msg.mesh_vertices) == len(hand.vertices_cam_m)
    assert len(msg.mesh_triangles) == hand.faces.size and max(msg.mesh_triangles) < len(msg.mesh_vertices)
    assert len(hand_to_msg(hand).mesh_vertices) == 0
    header = Header(frame_id="cam")
    arr = hands_to_msg(sample_hands, header, 0.25)
    assert arr.header.frame_id == "cam" and len(arr.hands) == 2 and arr.latency == pytest.approx(0.25)


def test_boxes_round_trip(sample):
    _, _, boxes = sample
    msg = boxes_to_detections(boxes, Header())
    back = detections_to_boxes(msg, 640)
    assert [(b.side, b.xyxy_px) for b in back] == [
        (b.side, tuple(float(v) for v in b.xyxy_px)) for b in boxes
    ]
    msg.detections[0].side = HandDetection.SIDE_UNKNOWN
    msg.detections[0].x_min, msg.detections[0].x_max = 10.0, 50.0  # left half of the image
    assert detections_to_boxes(msg, 640)[0].side == "left"
    msg.detections[1].x_max = msg.detections[1].x_min - 1  # invalid box: skipped
    assert len(detections_to_boxes(msg, 640)) == 1


def test_point_cloud(sample_hands):
    cloud = hands_to_cloud(sample_hands, Header(frame_id="cam"), include_mesh=True)
    pts = cloud_to_points(cloud)
    nv = len(sample_hands[0].vertices_cam_m)
    assert cloud.width == len(pts) == 2 * (21 + nv) and cloud.point_step == 16
    assert [f.name for f in cloud.fields] == ["x", "y", "z", "side", "joint", "hand"]
    first = pts[pts["hand"] == 0]
    assert np.allclose(
        np.stack([first["x"], first["y"], first["z"]], 1)[:21], sample_hands[0].keypoints_cam_m
    )
    assert (first["joint"][21:] == 255).all()
    assert len(cloud_to_points(hands_to_cloud([], Header()))) == 0
