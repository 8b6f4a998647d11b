"""The landmark passes seen through the camera (``camera=``): a rect drawn in the view of a hand
(``view_from_landmarks``), and a real hand moved into a wide lens's periphery read as in its photo."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from detector_models import needs_detector_models

from wildhands.eval.metrics import procrustes_rotation
from wildhands.eval.real_hands import load_real_hands
from wildhands.geometry.camera import CameraModel
from wildhands.geometry.perspective_crop import look_at_rotation, points_to_rectified
from wildhands.runtime.detection.mediapipe_palm import (
    rect_from_landmarks,
    view_from_landmarks,
)
from wildhands.runtime.hands import HandBox

# a wide pinhole camera (110 deg across): a hand 45 deg off its axis is stretched ~2x along the radius
WIDE = CameraModel(2000, 1500, np.array([[700.0, 0.0, 999.5], [0.0, 700.0, 749.5], [0.0, 0.0, 1.0]]))


@pytest.fixture(scope="module")
def photo():
    """An InterHand2.6M photo (real camera K) and its left hand's 21 true keypoints (px)."""
    sample = next(s for s in load_real_hands(datasets=["interhand2.6m"]) if s.name == "image44669.jpg")
    hand = next(h for h in sample.hands if h.side == "left")
    assert hand.valid.all()
    return sample, hand.keypoints_px


def _into_the_periphery(sample, uv: np.ndarray, off_deg: float, azimuth_deg: float):
    """The photo seen by ``WIDE`` turned so that the hand lies ``off_deg`` off its axis: the image, the
    homography from its pixels to the photo's, and the hand's keypoints in it."""
    a, b = math.radians(off_deg), math.radians(azimuth_deg)
    direction = [math.sin(a) * math.cos(b), math.sin(a) * math.sin(b), math.cos(a)]
    hand_ray = np.linalg.inv(sample.camera.K) @ np.r_[uv.mean(0), 1.0]
    turn = look_at_rotation(hand_ray).T @ look_at_rotation(direction)  # p_photo = turn @ p_wide
    to_photo = sample.camera.K @ turn @ np.linalg.inv(WIDE.K)
    image = cv2.warpPerspective(
        sample.image, to_photo, (WIDE.width, WIDE.height), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    )
    h = np.c_[uv, np.ones(len(uv))] @ np.linalg.inv(to_photo).T
    return image, to_photo, turn, h[:, :2] / h[:, 2:]


def _apply(homography: np.ndarray, uv: np.ndarray) -> np.ndarray:
    h = np.c_[uv, np.ones(len(uv))] @ homography.T
    return h[:, :2] / h[:, 2:]


def test_the_view_of_a_stretched_hand_is_mediapipes_rect_round_it(photo):
    """``view_from_landmarks`` on a hand stretched by a wide lens's periphery: in the view, the wrist ->
    middle MCP points straight up and MediaPipe's rect round the landmarks fills the 224 px crop, centred;
    landmarks outside the lens model are refused."""
    sample, uv = photo
    _, _, _, uv_wide = _into_the_periphery(sample, uv, 45.0, 30.0)
    view = view_from_landmarks(WIDE, uv_wide + 0.5)
    in_view = points_to_rectified(view, WIDE.pixels_to_rays(uv_wide))
    direction = in_view[9] - in_view[0]
    assert abs(direction[0]) < 1e-6 * view.f and direction[1] < 0
    centre, side, rotation = rect_from_landmarks(in_view)
    assert side == pytest.approx(view.size, rel=0.03)
    np.testing.assert_allclose(centre, [(view.size - 1) / 2] * 2, atol=0.03 * view.size)
    assert abs(rotation) < 1e-3
    with pytest.raises(ValueError, match="outside the lens model|behind"):
        view_from_landmarks(WIDE, np.full((21, 2), np.nan))


@needs_detector_models
def test_a_hand_in_a_wide_lens_periphery_reads_as_in_its_photo(photo):
    """The landmark pass through the camera sees the photo again (a homography of it): its landmarks,
    mapped back into the photo, lie where the plain pass on the photo puts them, and its world landmarks,
    turned from its view into the photo's, are the photo's (the view frame is right: a wrong roll or axis
    turns them by the off-axis angle)."""
    from wildhands.runtime.detection import build_detector

    detector = build_detector("mediapipe")
    sample, uv = photo
    lo, hi = uv.min(0), uv.max(0)
    reference = detector.landmarks_in_box(sample.image, HandBox((*lo, *(hi + 1)), "left"))
    assert reference is not None
    image, to_photo, turn, uv_wide = _into_the_periphery(sample, uv, 45.0, 30.0)
    lo, hi = uv_wide.min(0), uv_wide.max(0)
    seen = detector.landmarks_in_box(image, HandBox((*lo, *(hi + 1)), "left"), camera=WIDE)
    assert seen is not None and seen.presence > 0.9
    back = _apply(to_photo, seen.landmarks_px[:, :2] - 0.5)
    assert np.linalg.norm(back - (reference.landmarks_px[:, :2] - 0.5), axis=1).mean() < 3.0
    # world landmarks: each in its view frame (the camera looking at the landmarks' mean ray, no roll)
    view_wide = look_at_rotation(WIDE.pixels_to_rays(seen.landmarks_px[:, :2] - 0.5).mean(0))
    view_photo = look_at_rotation(sample.camera.pixels_to_rays(reference.landmarks_px[:, :2] - 0.5).mean(0))
    in_photo = seen.landmarks_world_m @ view_wide @ turn.T
    expected = reference.landmarks_world_m @ view_photo
    rot = procrustes_rotation(in_photo - in_photo.mean(0), expected - expected.mean(0))
    assert math.degrees(math.acos(np.clip((np.trace(rot) - 1) / 2, -1, 1))) < 5.0


@needs_detector_models
def test_through_a_camera_centred_on_the_rect_the_pass_is_the_plain_one(photo):
    """A pinhole camera whose principal point is the rect's centre: the pass through it is the plain pass
    (the same crop but where the rect leaves the image: black there, the edge repeated in the plain crop;
    landmarks within half a pixel); a camera of another size is refused."""
    from wildhands.runtime.detection import build_detector

    detector = build_detector("mediapipe")
    sample, uv = photo
    centre, size, rotation = rect_from_landmarks(uv + 0.5)
    h, w = sample.image.shape[:2]
    K = np.array([[900.0, 0.0, centre[0] - 0.5], [0.0, 900.0, centre[1] - 0.5], [0.0, 0.0, 1.0]])
    plain = detector.landmarks_on_rect(sample.image, centre, size, rotation)
    seen = detector.landmarks_on_rect(sample.image, centre, size, rotation, camera=CameraModel(w, h, K))
    np.testing.assert_allclose(seen.landmarks_px[:, :2], plain.landmarks_px[:, :2], atol=0.5)
    np.testing.assert_allclose(seen.landmarks_world_m, plain.landmarks_world_m, atol=2e-3)
    with pytest.raises(ValueError, match="camera is"):
        detector.landmarks_on_rect(sample.image, centre, size, rotation, camera=WIDE)


@needs_detector_models
def test_a_tracked_hand_is_seen_in_the_view_of_its_landmarks(photo):
    """VIDEO mode through the lens: the tracker's box for the next frame carries the landmarks its rect was
    drawn from (``HandBox.landmark_rect_from``), and the detector's pass through the camera draws the rect
    in their view: the hand in the periphery is found and read where it is."""
    from wildhands.geometry.crop import square_box_from_points
    from wildhands.runtime.detection import build_detector
    from wildhands.runtime.hands import HandEstimate
    from wildhands.runtime.tracking import boxes_from_previous

    detector = build_detector("mediapipe")
    sample, uv = photo
    image, _, _, uv_wide = _into_the_periphery(sample, uv, 45.0, 30.0)
    kp = WIDE.pixels_to_rays(uv_wide) * 0.4  # 3-D points on the landmarks' rays (not read here)
    previous = HandEstimate(
        side="left", side_confidence=1.0, detection_confidence=1.0, confidence=1.0,
        crop_box=square_box_from_points(uv_wide, (WIDE.width, WIDE.height), 1.5), keypoints_cam_m=kp,
        keypoints_px=uv_wide, vertices_cam_m=kp, faces=np.zeros((0, 3), np.int64), wrist_rotation=np.eye(3),
        joint_rotations_aa=np.zeros((15, 3)), betas=np.zeros(10), grasp_probabilities=np.full(8, 1 / 8),
        intrinsics_estimated=False, hand_model="test", landmarks_px=uv_wide,
    )  # fmt: skip
    (box,) = boxes_from_previous([previous], (WIDE.width, WIDE.height))
    np.testing.assert_allclose(box.landmark_rect_from, uv_wide + 0.5)
    (tracked,) = detector.track(image, [box], camera=WIDE)
    seen = tracked.landmarks
    assert seen.presence > 0.9 and tracked.landmark_rect_from is None
    error = np.linalg.norm(seen.landmarks_px[:, :2] - 0.5 - uv_wide, axis=1)
    assert error.mean() < 0.1 * np.ptp(uv_wide, axis=0).max()


@needs_detector_models
def test_the_palm_route_and_the_tracker_see_through_the_camera(photo):
    """``HandTracker.boxes_for_frame(..., camera=)`` (the node's call) runs the palm detector's landmark
    passes through the camera: on the bundled sample (an 88-deg lens, both hands found) they read the hands
    where the plain passes do. (A hand in a wide lens's periphery is too small for the palm detector here:
    the test photo is a narrow 23-deg view.) A malformed ``landmark_rect_from`` falls back to the mapped
    rect; a view without the camera is refused."""
    import dataclasses

    from wildhands.geometry.camera_yaml import load_camera_yaml
    from wildhands.runtime.detection import build_detector
    from wildhands.runtime.io import SAMPLE_DIR, load_image_rgb
    from wildhands.runtime.tracking import HandTracker

    detector = build_detector("mediapipe")
    image = load_image_rgb(SAMPLE_DIR / "image.png")
    camera = load_camera_yaml(SAMPLE_DIR / "camera_info.yaml")
    plain = {b.side: b.landmarks for b in detector.detect(image)}
    boxes, detected = HandTracker().boxes_for_frame(detector, image, 2, 1.5, camera=camera)
    assert detected and sorted(b.side for b in boxes) == sorted(plain) and len(boxes) == 2
    for box in boxes:
        moved = np.linalg.norm(
            box.landmarks.landmarks_px[:, :2] - plain[box.side].landmarks_px[:, :2], axis=1
        )
        assert moved.mean() < 4.0
    sample, uv = photo
    image, _, _, uv_wide = _into_the_periphery(sample, uv, 45.0, 30.0)
    lo, hi = uv_wide.min(0), uv_wide.max(0)
    centre, size, rotation = rect_from_landmarks(uv_wide + 0.5)
    bad = HandBox((*lo, *(hi + 1)), "left", landmark_rect=(*centre, size, rotation))
    bad = dataclasses.replace(bad, landmark_rect_from=np.zeros((5, 2)))
    assert detector.landmarks_for_box(image, bad, camera=WIDE) is not None
    with pytest.raises(ValueError, match="view needs the camera"):
        detector.landmarks_on_rect(
            image, centre, size, rotation, view=view_from_landmarks(WIDE, uv_wide + 0.5)
        )
