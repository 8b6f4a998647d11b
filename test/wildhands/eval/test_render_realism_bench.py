"""bench/render_realism.py's own arithmetic: the world-landmark Procrustes error, the camera-geometry groups
and the figure's row labels (the landmark network itself is tested in test_real_hands.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from bench_scripts import load_bench

rr = load_bench("render_realism")


def test_procrustes_error_ignores_rotation_scale_and_translation_only():
    rng = np.random.default_rng(0)
    truth = rng.normal(scale=0.05, size=(21, 3))
    angle = 0.7
    rot = np.array([[math.cos(angle), -math.sin(angle), 0], [math.sin(angle), math.cos(angle), 0], [0, 0, 1]])
    moved = 1.3 * truth @ rot.T + np.array([0.1, -0.2, 0.5])
    assert rr.procrustes_mm(moved, truth) == pytest.approx(0.0, abs=1e-6)
    mirrored = truth * np.array([-1.0, 1.0, 1.0])  # a reflection is not a rotation: it stays an error
    assert rr.procrustes_mm(mirrored, truth) > 5.0
    bent = truth.copy()
    bent[20] += np.array([0.0, 0.0, 0.021])  # one joint 21 mm off: a few mm of mean error (spread by the fit)
    assert 0.5 < rr.procrustes_mm(bent, truth) < 5.0
    per_joint = rr.procrustes_errors_mm(bent, truth)  # the moved joint carries most of the error
    assert per_joint.shape == (21,) and int(np.argmax(per_joint)) == 20 and per_joint[20] > 10.0
    assert per_joint.mean() == pytest.approx(rr.procrustes_mm(bent, truth))


def test_world_orientation_is_read_in_the_crops_view():
    """A perfect reading -- the truth as the crop's view sees it (the camera turned to the hand, then rolled
    as the crop), in the network's frame -- is 0 deg off, off the axis and rolled; the same reading turned by
    20 deg is 20 deg off; the truth in the camera's own axes, for a hand 40 deg off the axis, is ~40 deg
    off (the view the network cannot know about is what the bench takes out)."""
    from scipy.spatial.transform import Rotation

    from wildhands.geometry.perspective_crop import look_at_rotation, roll_matrix

    rng = np.random.default_rng(2)
    shape = rng.normal(scale=0.03, size=(21, 3))
    centre = 0.5 * np.array([math.sin(math.radians(40.0)), 0.0, math.cos(math.radians(40.0))])
    truth = shape + centre
    valid = np.ones(21, bool)
    rotation = 0.9
    in_view = truth @ look_at_rotation(truth.mean(0)).T
    perfect = (in_view - in_view.mean(0)) @ roll_matrix(rotation)  # the network's frame: the crop's, rolled
    assert rr.world_orientation_deg(perfect, rotation, truth, valid) == pytest.approx(0.0, abs=1e-4)
    turned = perfect @ Rotation.from_rotvec(np.radians(20.0) * np.array([0.6, 0.0, 0.8])).as_matrix().T
    assert rr.world_orientation_deg(turned, rotation, truth, valid) == pytest.approx(20.0, abs=1e-4)
    camera_axes = (truth - truth.mean(0)) @ roll_matrix(rotation)
    off_axis = math.degrees(math.acos(truth.mean(0)[2] / np.linalg.norm(truth.mean(0))))  # ~40 deg
    assert 35.0 < off_axis < 45.0
    assert rr.world_orientation_deg(camera_axes, rotation, truth, valid) == pytest.approx(off_axis, abs=0.01)
    # fingers (up in the crop: -y) read tilted 15 deg towards the camera (-z): the turn back is -15 about x
    hand = np.zeros((21, 3))
    hand[1:, 1] = -np.linspace(0.01, 0.19, 20)  # a straight hand, wrist at 0, fingers up the crop
    hand[1:, 0] = rng.normal(scale=0.02, size=20)
    truth = hand @ roll_matrix(rotation).T @ look_at_rotation(centre)  # that hand seen in the crop
    truth = truth - truth.mean(0) + centre
    tilt = Rotation.from_rotvec([math.radians(15.0), 0.0, 0.0]).as_matrix()  # +x: -y goes towards -z
    read = hand @ tilt.T
    assert read[20, 2] < hand[20, 2]  # the fingertip nearer the camera
    turn = rr.world_turn_deg(read, rotation, truth, valid)
    assert turn == pytest.approx([-15.0, 0.0, 0.0], abs=1e-3)


def test_finger_order_flip_is_the_index_and_little_tips_swapped():
    rng = np.random.default_rng(1)
    truth = rng.uniform(0, 200, size=(21, 2))
    valid = np.ones(21, bool)
    assert rr.finger_order_flipped(truth + 3.0, truth, valid) is False
    swapped = truth.copy()
    swapped[[8, 20]] = truth[[20, 8]]  # index tip <-> little fingertip
    assert rr.finger_order_flipped(swapped, truth, valid) is True
    one_off = truth.copy()
    one_off[8] = truth[20]  # only one tip on the other's place: not a flip
    assert rr.finger_order_flipped(one_off, truth, valid) is False
    valid[20] = False
    assert rr.finger_order_flipped(swapped, truth, valid) is None


def test_view_groups_split_by_off_axis_angle_and_depth():
    ahead_far = rr.view_groups(np.array([0.0, 0.0, 0.5]))
    assert ahead_far == [f"off-axis < {rr.OFF_AXIS_DEG:g} deg", f"wrist >= {rr.NEAR_M:g} m"]
    side_near = rr.view_groups(np.array([0.25, 0.0, 0.2]))  # atan(0.25 / 0.2) = 51 deg
    assert side_near == [f"off-axis >= {rr.OFF_AXIS_DEG:g} deg", f"wrist < {rr.NEAR_M:g} m"]


def test_plain_view_needs_every_condition():
    ok = {"visible_fraction": 0.95, "occluders_in_frame": 0.0, "motion_blur_px": 0.0}
    ahead_far = np.array([0.0, 0.0, 0.5])
    assert rr.plain_view(ahead_far, ok)
    assert rr.plain_view(np.array([0.2, 0.0, 0.5]), ok)  # 22 deg off the axis
    assert not rr.plain_view(np.array([0.0, 0.0, 0.25]), ok)  # near
    assert not rr.plain_view(np.array([0.7, 0.0, 0.5]), ok)  # 54 deg off the axis
    for key, bad in (("visible_fraction", 0.7), ("occluders_in_frame", 1.0), ("motion_blur_px", 8.0)):
        assert not rr.plain_view(ahead_far, {**ok, key: bad})


def test_row_labels_wrap_at_plus():
    assert rr._wrap("skin") == "skin"
    assert rr._wrap("skin+photo+obj+arm") == "skin+photo+obj\n+arm"
    assert all(len(line) <= 14 for line in rr._wrap("tubes+photo+obj+arm").split("\n"))


def test_finger_bends_are_zero_for_straight_fingers_and_follow_a_bent_joint():
    kp = np.zeros((21, 3))
    for chain in rr.FINGER_CHAINS:
        for k, j in enumerate(chain[1:]):
            kp[j] = [0.0, 0.04 + 0.025 * k, 0.0]  # four straight fingers along +y (one on another)
    assert np.allclose(rr.finger_bends_deg(kp), 0.0, atol=1e-6)
    bent = kp.copy()
    pip, dip, tip = 10, 11, 12  # the middle finger bent 90 deg at PIP (about x): DIP and tip go to +z
    bent[dip] = bent[pip] + [0.0, 0.0, 0.025]
    bent[tip] = bent[dip] + [0.0, 0.0, 0.025]
    bends = rr.finger_bends_deg(bent)
    assert bends[4] == pytest.approx(90.0) and np.allclose(np.delete(bends, 4), 0.0, atol=1e-6)


def test_paired_differences_match_hands_by_name_and_bound_the_mean():
    def score(err: float, pa: float | None, presence: float, agrees: bool | None) -> dict:
        return {"err_px": err, "pa_mm": pa, "presence": presence, "side_agrees": agrees}

    before = {f"f{i}_0": score(10.0 + i, 20.0, 0.5, False) for i in range(40)}
    after = {f"f{i}_0": score(8.0 + i, 19.0 + (i % 3), 0.7, i % 2 == 0) for i in range(40)}
    after["only_after"] = score(0.0, 0.0, 1.0, True)  # no partner: left out
    before["f0_0"]["pa_mm"] = None  # no 3D truth: left out of the world error only
    d = rr.paired_differences(before, after)
    assert d["hands"] == 40 and d["other_hands"] == 0
    assert d["err2d_crop224_px"]["mean"] == pytest.approx(-2.0)
    assert d["err2d_crop224_px"]["ci95"] == pytest.approx([-2.0, -2.0])
    assert d["world_pa_mpjpe_mm"]["hands"] == 39
    pa = np.array([(i % 3) - 1.0 for i in range(1, 40)])
    assert d["world_pa_mpjpe_mm"]["mean"] == pytest.approx(pa.mean(), abs=1e-3)
    lo, hi = d["world_pa_mpjpe_mm"]["ci95"]
    assert lo < pa.mean() < hi and hi - lo < 1.0
    assert d["presence"]["mean"] == pytest.approx(0.2)
    assert d["handedness_agreement"]["mean"] == pytest.approx(0.5)
    assert (d["handedness_agreement"]["turned_true"], d["handedness_agreement"]["turned_false"]) == (20, 0)
    assert "turned_true" not in d["presence"]
    # a name whose truth placed another crop is another hand: counted, not compared
    rect = (np.array([100.0, 80.0]), 64.0, 0.3)
    before["f1_0"]["rect"], after["f1_0"]["rect"] = rect, (rect[0] + [0.0, 5.0], rect[1], rect[2])
    before["f2_0"]["rect"], after["f2_0"]["rect"] = rect, (rect[0].copy(), rect[1], rect[2])
    d = rr.paired_differences(before, after)
    assert d["hands"] == 39 and d["other_hands"] == 1 and d["presence"]["hands"] == 39
    # where the wrist is known its ray decides: another finger pose moves the crop and the depth, not the ray
    before["f1_0"]["wrist_m"], after["f1_0"]["wrist_m"] = (
        np.array([0.1, 0.0, 0.4]),
        np.array([0.11, 0.0, 0.44]),
    )
    before["f2_0"]["wrist_m"], after["f2_0"]["wrist_m"] = (
        np.array([0.1, 0.0, 0.4]),
        np.array([0.1, 0.02, 0.4]),
    )
    d = rr.paired_differences(before, after)
    assert d["hands"] == 39 and d["other_hands"] == 1
    assert rr.paired_differences({"a": before["f2_0"]}, {"a": after["f2_0"]})["other_hands"] == 1


def test_finger_spread_is_the_angle_between_index_and_little_in_the_palm_plane():
    k = np.zeros((21, 3))
    k[5], k[17] = [-0.09, 0.0, 0.03], [-0.08, 0.0, -0.03]  # index and little MCPs, palm plane y = 0
    spread = 20.0
    for mcp, pip, sign in ((5, 6, 1.0), (17, 18, -1.0)):
        a = math.radians(sign * spread / 2)
        k[pip] = k[mcp] + 0.04 * np.array([-math.cos(a), 0.0, math.sin(a)])
    assert rr.finger_spread_deg(k) == pytest.approx(spread)
    k[18] = k[17] + np.array([-0.02, 0.035, 0.0])  # little finger bent ~60 deg out of the plane
    assert rr.finger_spread_deg(k) is None


@pytest.mark.parametrize("side", ["right", "left"])
def test_facing_group_tells_palm_back_and_edge_on(side: str):
    # a right hand's model frame: fingers along -x, palm normal -y; index on +z (a left hand mirrors x)
    k = np.zeros((21, 3))
    k[5], k[9], k[13], k[17] = [-0.09, 0, 0.03], [-0.09, 0, 0.01], [-0.09, 0, -0.01], [-0.08, 0, -0.03]
    if side == "left":
        k[:, 0] *= -1

    def seen_from(rotation: np.ndarray) -> str:  # hand rotated into the camera frame, 0.5 m ahead
        return rr.facing_group(k @ rotation.T + np.array([0.0, 0.0, 0.5]), side)

    palm_normal_to_minus_z = np.array([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]])  # model -y -> camera -z
    assert seen_from(palm_normal_to_minus_z) == "palm towards the camera"
    assert seen_from(palm_normal_to_minus_z.T) == "back towards the camera"
    assert seen_from(np.eye(3)) == "edge-on"  # palm normal across the line of sight


def test_world_error_is_split_by_handedness():
    scores = [
        {"err_px": 5.0, "pa_mm": pa, "presence": 0.9, "side_agrees": agrees}
        for pa, agrees in ((10.0, True), (20.0, True), (40.0, False), (None, False))
    ]
    split = rr.summarise(scores)["world_pa_mpjpe_mm_by_handedness"]
    assert split == {"agrees": {"mm": 15.0, "hands": 2}, "disagrees": {"mm": 40.0, "hands": 1}}


def test_bend_difference_is_binned_by_the_truths_bend():
    truth = np.array([10.0, 20.0, 45.0, 70.0, 90.0])
    read = np.array([30.0, 30.0, 45.0, 50.0, 60.0])
    bins = rr.bend_diff_by_truth(truth, read)
    assert bins == {
        "0-30": {"median": 15.0, "joints": 2},
        "30-60": {"median": 0.0, "joints": 1},
        "60-180": {"median": -25.0, "joints": 2},
    }
    assert rr.bend_diff_by_truth(np.array([]), np.array([])) is None
    assert rr.bend_diff_by_truth(np.array([5.0]), np.array([5.0]))["60-180"] is None
    scores = [{"err_px": 5.0, "pa_mm": 10.0, "presence": 0.9, "side_agrees": True,
               "bends_truth_deg": np.full(12, 70.0), "bends_read_deg": np.full(12, 40.0)}]  # fmt: skip
    assert rr.summarise(scores)["finger_bend_diff_by_truth_deg"]["60-180"] == {"median": -30.0, "joints": 12}


def test_palm_turn_and_finger_tilt_are_read_in_the_crops_view():
    """A reading whose palm is exact and whose middle finger is bent away from the camera: the palm-only turn
    is 0 while the whole hand's is not; the finger tilt is the finger's angle out of the crop's image plane;
    the x turn is binned by it."""
    from wildhands.geometry.perspective_crop import look_at_rotation, roll_matrix
    from wildhands.handmodel.keypoints import FINGER_KEYPOINTS

    rng = np.random.default_rng(4)
    rotation, valid = 0.4, np.ones(21, bool)
    hand = np.zeros((21, 3))  # in the crop's view: x right, y down (fingers up), z away
    hand[1:, 1] = -np.linspace(0.01, 0.19, 20)
    hand[1:, 0] = rng.normal(scale=0.02, size=20)
    middle = list(FINGER_KEYPOINTS["middle"])
    mcp = hand[middle[0]].copy()
    tilt = math.radians(30.0)
    for k in middle[1:]:  # the middle finger straight from its MCP, 30 deg away from the camera
        length = 0.025 * (middle.index(k))
        hand[k] = mcp + length * np.array([0.0, -math.cos(tilt), math.sin(tilt)])
    centre = np.array([0.1, -0.05, 0.45])
    truth = hand @ roll_matrix(rotation).T
    for _ in range(3):  # the view turns with the centre it looks at: iterate to the fixed point
        seen = truth - truth.mean(0) + centre
        truth = hand @ roll_matrix(rotation).T @ look_at_rotation(seen.mean(0))
    truth = truth - truth.mean(0) + centre
    assert rr.finger_tilt_deg(truth, rotation, valid) == pytest.approx(30.0, abs=0.5)
    assert rr.palm_tilt_deg(truth, rotation, valid) == pytest.approx(0.0, abs=0.5)  # the palm in the plane
    c, s_ = math.cos(math.radians(50.0)), math.sin(math.radians(50.0))
    away = np.array([[1.0, 0.0, 0.0], [0.0, c, -s_], [0.0, s_, c]])  # about the view's x: fingers (-y) go +z
    to_view = look_at_rotation(centre).T @ roll_matrix(rotation)  # rows: camera -> the crop's view
    seen = (truth - centre) @ to_view @ away @ to_view.T + centre  # turned about its centre: the same view
    palm = (hand[9] - hand[0]) @ away  # the palm's direction in the view, turned
    expected = math.degrees(math.asin(palm[2] / np.linalg.norm(palm)))
    assert expected > 40.0 and rr.palm_tilt_deg(seen, rotation, valid) == pytest.approx(expected, abs=0.5)
    flat = hand.copy()
    for k in middle[1:]:  # the reading: the same hand with its middle finger in the image plane
        flat[k] = mcp + (hand[k] - mcp) * np.array([1.0, 1.0, 0.0]) / math.cos(tilt)
    palm = rr.world_turn_deg(flat, rotation, truth, valid, rr.PALM_KEYPOINTS)
    whole = rr.world_turn_deg(flat, rotation, truth, valid)
    assert np.abs(palm).max() < 1.0 and whole[0] < -2.0  # read nearer the camera: x < 0
    no_middle_tip = valid.copy()
    no_middle_tip[middle[-1]] = False
    assert rr.finger_tilt_deg(truth, rotation, no_middle_tip) is None
    hands = ((-20.0, 45.0, True), (-10.0, 30.0, True), (4.0, -30.0, True), (50.0, 30.0, False))
    scores = [
        {"err_px": 5.0, "pa_mm": 10.0, "presence": 0.9, "side_agrees": agrees, "finger_tilt_deg": t,
         "turn_deg": np.array([x, 0.0, 0.0]), "palm_turn_deg": np.array([x / 2, 0.0, 0.0])}
        for x, t, agrees in hands
    ]  # fmt: skip
    summary = rr.summarise(scores)
    assert summary["world_palm_turn_bias_deg"] == [-4.3, 0.0, 0.0]  # the side-agreeing hands only
    bins = summary["world_turn_x_by_finger_tilt_deg"]
    assert bins["20 to 40"] == {"mean": -10.0, "hands": 1} and bins["40 to 90"] == {"mean": -20.0, "hands": 1}
    assert bins["-90 to -20"] == {"mean": 4.0, "hands": 1} and bins["0 to 20"] is None


def test_finger_bends_in_the_image_use_the_same_angles():
    """2D keypoints give the bend as the image shows it; the summary bins the 2D difference as the 3D one."""
    flat = np.zeros((21, 2))
    for f, chain in enumerate(rr.FINGER_CHAINS):
        ray = np.array([math.sin(0.2 * f), -math.cos(0.2 * f)])
        for i, k in enumerate(chain[1:], start=1):
            flat[k] = 0.03 * i * ray  # each finger a straight ray from the wrist
    assert rr.finger_bends_deg(flat) == pytest.approx(np.zeros(12), abs=1e-6)
    bent = flat.copy()
    index = rr.FINGER_CHAINS[0]
    bent[index[3]] = bent[index[2]] + [0.03, 0.0]  # the index's PIP -> DIP bone turned 90 deg in the image
    bent[index[4]] = bent[index[3]] + [0.03, 0.0]
    bends = rr.finger_bends_deg(bent)
    assert bends[1] == pytest.approx(90.0) and np.delete(bends, 1) == pytest.approx(np.zeros(11), abs=1e-6)
    score = {"err_px": 5.0, "pa_mm": None, "presence": 0.9, "side_agrees": None}
    scores = [{**score, "bends2d_truth_deg": bends, "bends2d_read_deg": rr.finger_bends_deg(flat)}]
    bins = rr.summarise(scores)["finger_bend_2d_diff_by_truth_deg"]
    assert bins["60-180"] == {"median": -90.0, "joints": 1} and bins["0-30"] == {"median": 0.0, "joints": 11}


def test_visibility_group_tells_clear_cut_and_hidden_hands():
    clear = {"visible_fraction": rr.CLEAR_VISIBLE_FRACTION, "keypoints_in_image": 1.0}
    assert rr.visibility_group(clear) == "clear"
    assert rr.visibility_group({**clear, "keypoints_in_image": 20 / 21}) == "cut by the border"
    hidden = {**clear, "visible_fraction": rr.CLEAR_VISIBLE_FRACTION - 0.01}
    assert rr.visibility_group(hidden).startswith("hidden (<")
    assert rr.visibility_group({**hidden, "keypoints_in_image": 0.5}) == "hidden and cut by the border"


def test_lens_fov_and_skin_luma():
    camera = {
        "width": 1280,
        "height": 720,
        "K": [[640.0, 0.0, 639.5], [0.0, 640.0, 359.5], [0.0, 0.0, 1.0]],
        "D": [],
        "distortion_model": "none",
    }
    assert rr.lens_fov_deg(camera) == pytest.approx(90.0)
    f30 = 640.0 / math.tan(math.radians(30))
    narrow = {**camera, "K": [[f30, 0.0, 639.5], [0.0, f30, 359.5], [0.0, 0.0, 1.0]]}
    assert rr.lens_fov_deg(narrow) == pytest.approx(60.0)
    assert rr.skin_luma([255.0, 255.0, 255.0]) == pytest.approx(255.0)
    assert rr.skin_luma([0.0, 100.0, 0.0]) == pytest.approx(58.7)
    assert math.isnan(rr.skin_luma(None))


def test_presence_by_factor_follows_the_factor_the_presence_follows():
    rng = np.random.default_rng(0)
    items = []
    for k in range(90):
        depth = 0.2 + 0.6 * k / 89  # presence rises with the wrist's depth, not with the noise
        conditions = {
            "lens_fov_deg": 90.0,  # one value: nothing to read against
            "noise_std": float(rng.uniform(0, 6)),
            "jpeg_quality": float(rng.integers(60, 96)),
            "motion_blur_px": 0.0,
            "ambient": float(rng.uniform(0.2, 0.6)),
            "light_frontal": float("nan"),  # not said: left out
            "skin_luma": float(rng.uniform(80, 220)),
        }
        hand = {"cam_m": np.array([[0.0, 0.0, depth]]), "wrist_cam_m": np.array([0.0, 0.0, depth]),
                "conditions": conditions}  # fmt: skip
        items.append((hand, {"presence": 0.4 + 0.6 * (depth - 0.2) / 0.6, "rect": (None, 200.0 + k, 0.0)}))
    out = rr.presence_by_factor(items)
    assert set(out) == set(rr.PRESENCE_FACTORS)
    depth = out["wrist_depth_m"]
    assert depth["spearman_rho"] == pytest.approx(1.0) and depth["hands"] == 90
    assert depth["presence_by_third"][0] < depth["presence_by_third"][1] < depth["presence_by_third"][2]
    assert depth["presence_by_third"][0] == pytest.approx(0.4 + 0.6 * 14.5 / 89, abs=0.01)  # first 30 hands
    assert out["crop_side_px"]["spearman_rho"] == pytest.approx(1.0)
    assert abs(out["noise_std"]["spearman_rho"]) < 0.3 and out["noise_std"]["p"] > 0.01
    assert out["off_axis_deg"] is None  # every wrist on the axis
    assert out["lens_fov_deg"] is None and out["motion_blur_px"] is None and out["light_frontal"] is None
    assert out["palm_tilt_deg"] is None  # scores without 3D truth: not read


def test_a_rectified_view_moves_the_image_and_the_truth_together():
    """``rectified_view``: a hand off the axis of a wide pinhole camera seen by a virtual camera looking at
    its MediaPipe rect: the 2D truth is the view's projection of the 3D truth (moved into its frame, the
    same hand up to a rotation), the image content at each keypoint is what the camera's image had there,
    the rect sits in the middle of the view, and the real camera's wrist stays for the geometry groups."""
    from wildhands.eval.real_hands import tracking_rect
    from wildhands.geometry.camera import CameraModel

    camera = CameraModel(640, 480, np.array([[250.0, 0, 319.5], [0, 250.0, 239.5], [0, 0, 1]]))
    rng = np.random.default_rng(1)
    cam_m = np.array([0.25, -0.1, 0.3]) + rng.normal(scale=0.03, size=(21, 3))
    uv = camera.project(cam_m)
    image = np.zeros((480, 640, 3), np.uint8)
    for k, (u, v) in enumerate(np.round(uv).astype(int)):
        image[v - 1 : v + 2, u - 1 : u + 2] = (10 * k + 20, 255, 0)  # a 3x3 dot per keypoint, its own red
    hand = rr._hand("", "h", image, uv, np.ones(21, bool), cam_m, True)
    view = rr.rectified_view(hand, camera)
    assert view["image"].shape == (rr.RECTIFIED_VIEW_PX, rr.RECTIFIED_VIEW_PX, 3)
    np.testing.assert_allclose(view["wrist_cam_m"], cam_m[0])
    d = np.linalg.norm(cam_m[:, None] - cam_m[None], axis=2)
    np.testing.assert_allclose(
        np.linalg.norm(view["cam_m"][:, None] - view["cam_m"][None], axis=2), d, atol=1e-12
    )
    f = view["uv"]
    z = view["cam_m"][:, 2:]
    assert np.all(z > 0)
    scale = (f[1] - f[0]) / (view["cam_m"][1, :2] / z[1, 0] - view["cam_m"][0, :2] / z[0, 0])
    np.testing.assert_allclose(scale[0], scale[1], rtol=1e-9)  # one focal length: a pinhole projection
    for k, (u, v) in enumerate(np.round(f).astype(int)):
        assert abs(int(view["image"][v, u, 0]) - (10 * k + 20)) <= 10 and view["image"][v, u, 1] > 100
    centre, side, _ = tracking_rect(f)
    np.testing.assert_allclose(centre, [(rr.RECTIFIED_VIEW_PX - 1) / 2] * 2, atol=0.05 * rr.RECTIFIED_VIEW_PX)
    # the whole rect in view, at most 1 / RECTIFIED_VIEW_SCALE of it (less off the axis: the box's widest
    # angle sets the view's field)
    assert 0.3 * rr.RECTIFIED_VIEW_PX < side <= 1.05 * rr.RECTIFIED_VIEW_PX / rr.RECTIFIED_VIEW_SCALE
    behind = rr._hand("", "b", image, np.full((21, 2), np.nan), np.ones(21, bool), cam_m, True)
    assert rr.rectified_view(behind, camera) is None


def test_bone_lengths_are_read_per_segment_and_for_the_whole_hand():
    """A reading 10 % smaller about the wrist reads every bone and the hand at 0.9; a fingertip pulled in
    shortens its DIP-tip bone only; unlabelled bones and bones seen end-on are left out."""
    rng = np.random.default_rng(3)
    truth = rng.uniform(50, 150, (21, 2))
    valid = np.ones(21, bool)
    smaller = truth[0] + 0.9 * (truth - truth[0])
    ratios = rr.bone_length_ratios(smaller, truth, valid)
    assert set(ratios) == {*rr.BONE_SEGMENTS, "hand"} and ratios["hand"] == [pytest.approx(0.9)]
    long_bones = sum(len(v) for k, v in ratios.items() if k != "hand")
    assert long_bones >= 18 and all(v == pytest.approx(0.9) for k in rr.BONE_SEGMENTS for v in ratios[k])
    pulled = truth.copy()
    tip = rr.FINGER_KEYPOINTS["index"][3]
    pulled[tip] = truth[tip - 1] + 0.5 * (truth[tip] - truth[tip - 1])
    r = rr.bone_length_ratios(pulled, truth, valid)
    assert sorted(r["DIP-tip"])[0] == pytest.approx(0.5) and all(
        v == pytest.approx(1.0) for v in r["MCP-PIP"]
    )
    valid[tip] = False
    assert len(rr.bone_length_ratios(pulled, truth, valid)["DIP-tip"]) == len(r["DIP-tip"]) - 1
    end_on = truth.copy()
    end_on[tip] = truth[tip - 1] + 0.1
    assert len(rr.bone_length_ratios(end_on, end_on, np.ones(21, bool))["DIP-tip"]) == len(r["DIP-tip"]) - 1
    base = {"err_px": 1.0, "pa_mm": None, "side_agrees": True}
    unseen = rr.bone_length_ratios(truth, truth, np.ones(21, bool))
    s = rr.summarise(
        [{**base, "presence": 0.9, "bone_ratios": ratios}, {**base, "presence": 0.2, "bone_ratios": unseen}]
    )
    assert s["length_read_over_truth_2d"]["hand"] == pytest.approx(0.9)  # the unseen hand is left out


def test_keypoints_are_placed_along_their_bones():
    """A fingertip read halfway down its DIP-tip bone is at -0.5; an MCP read a quarter of the palm towards
    the wrist is at -0.25 on wrist -> MCP; a sideways error is 0 along the bone; the wrist is placed along
    wrist -> middle MCP; unlabelled bones are NaN; the summary takes the hands read as hands."""
    rng = np.random.default_rng(4)
    truth = rng.uniform(50, 150, (21, 2))
    valid = np.ones(21, bool)
    read = truth.copy()
    tip = rr.FINGER_KEYPOINTS["index"][3]
    read[tip] = truth[tip - 1] + 0.5 * (truth[tip] - truth[tip - 1])
    mcp = rr.FINGER_KEYPOINTS["ring"][0]
    read[mcp] = truth[mcp] - 0.25 * (truth[mcp] - truth[0])
    pip = rr.FINGER_KEYPOINTS["ring"][1]
    bone = truth[pip] - truth[mcp]
    read[pip] = truth[pip] + 7.0 * np.array([-bone[1], bone[0]]) / np.linalg.norm(bone)  # across the bone
    read[0] = truth[0] + 0.1 * (truth[9] - truth[0])
    off = rr.along_bone_offsets(read, truth, valid)
    assert off[tip] == pytest.approx(-0.5) and off[mcp] == pytest.approx(-0.25)
    assert off[pip] == pytest.approx(0.0, abs=1e-12) and off[0] == pytest.approx(0.1)
    others = [k for k in range(21) if k not in (0, tip, mcp, pip)]
    assert np.allclose(off[others], 0.0)
    valid[tip - 1] = False
    assert np.isnan(rr.along_bone_offsets(read, truth, valid)[tip])
    base = {"err_px": 1.0, "pa_mm": None, "side_agrees": True}
    s = rr.summarise(
        [{**base, "presence": 0.9, "along_bone": off}, {**base, "presence": 0.2, "along_bone": off * 0 + 1}]
    )
    assert s["along_bone_offset_median"]["index_tip"] == pytest.approx(-0.5)  # the unseen hand left out
    assert s["along_bone_offset_median"]["middle_pip"] == pytest.approx(0.0)
