"""Tests of the synthetic egocentric generator (wildhands.data.synthetic)."""

from __future__ import annotations

import dataclasses
import json
import math

import cv2
import numpy as np
import pytest
import torch

from wildhands.data.synthetic import (
    SyntheticConfig,
    SyntheticDataset,
    SyntheticHandStream,
    complete_frames,
    generate_frame,
    write_dataset,
)
from wildhands.data.synthetic.config import min_focal_px
from wildhands.data.synthetic.generator import hand_model
from wildhands.data.synthetic.poses import (
    GRASP_TEMPLATES,
    POSE_LOWER,
    POSE_UPPER,
    finger_fan_rad,
    flex_in_finger_planes,
    sample_hand_pose,
)
from wildhands.data.synthetic.scene import sample_camera
from wildhands.geometry.rotations import mirror_axis_angle
from wildhands.handmodel.keypoints import FINGER_KEYPOINTS
from wildhands.model.grasp import GRASP_CLASS_IDS, NUM_GRASP_CLASSES

SMALL = SyntheticConfig(image_sizes=((320, 240),))
PLUMB = dataclasses.replace(SMALL, distortion_mix=(0.0, 1.0, 0.0))
FISHEYE = dataclasses.replace(SMALL, distortion_mix=(0.0, 0.0, 1.0))
OCCLUDED = dataclasses.replace(SMALL, occluder_prob=1.0, two_hands_prob=1.0)


@pytest.fixture(scope="module")
def coverage_frames():
    return [generate_frame(SyntheticConfig(image_sizes=((320, 240), (640, 360))), 11, i) for i in range(50)]


def test_deterministic_per_seed_and_index():
    a, b, c = generate_frame(SMALL, 3, 5), generate_frame(SMALL, 3, 5), generate_frame(SMALL, 3, 6)
    assert a.jpeg_bytes == b.jpeg_bytes
    assert np.array_equal(a.image, b.image)
    for ha, hb in zip(a.hands, b.hands, strict=True):
        assert np.array_equal(ha.keypoints_cam_m, hb.keypoints_cam_m)
        assert np.array_equal(ha.mask, hb.mask)
        assert np.array_equal(ha.box_xyxy_px, hb.box_xyxy_px)
    assert a.jpeg_bytes != c.jpeg_bytes
    assert generate_frame(SMALL, 4, 5).jpeg_bytes != a.jpeg_bytes


def _check_labels(frame) -> None:
    cam = frame.camera
    assert frame.image.shape == (cam.height, cam.width, 3)
    kernel = np.ones((5, 5), np.uint8)  # dilation by 2 px
    for rec in frame.hands:
        # 2D keypoints are the (distorted) projection of the 3D ones
        assert np.abs(rec.keypoints_px - cam.project(rec.keypoints_cam_m)).max() < 0.5
        # the 3D keypoints are the hand model's output for the stored parameters
        out = hand_model(rec.side)(
            betas=torch.from_numpy(rec.betas[None]),
            global_orient=torch.from_numpy(rec.global_orient_aa[None]),
            hand_pose=torch.from_numpy(rec.hand_pose_aa[None]),
            transl=torch.from_numpy(rec.extra["transl_m"][None]),
        )
        np.testing.assert_allclose(out.keypoints[0].numpy(), rec.keypoints_cam_m, atol=1e-9)
        np.testing.assert_allclose(rec.keypoints_cam_m[0], rec.extra["wrist_cam_m"], atol=1e-12)
        # the wrist is in view
        u, v = rec.keypoints_px[0]
        assert 0 <= u <= cam.width - 1 and 0 <= v <= cam.height - 1
        # the visible keypoints lie on the visible mask
        vis = rec.extra["keypoints_visible"]
        mask = cv2.dilate(rec.mask.astype(np.uint8), kernel) > 0
        if vis.any():
            ij = np.round(rec.keypoints_px[vis]).astype(int)
            assert mask[ij[:, 1], ij[:, 0]].mean() >= 0.9
        # the box contains the visible mask
        ys, xs = np.nonzero(rec.mask)
        assert ys.size > 0
        x0, y0, x1, y1 = rec.box_xyxy_px
        assert x0 <= xs.min() and xs.max() < x1 and y0 <= ys.min() and ys.max() < y1
        assert 0 <= x0 < x1 <= cam.width and 0 <= y0 < y1 <= cam.height
        assert rec.dataset == "synthetic" and rec.side in ("left", "right")
        assert 0 <= rec.grasp < NUM_GRASP_CLASSES


@pytest.mark.parametrize(
    "cfg, model", [(SMALL, None), (PLUMB, "plumb_bob"), (FISHEYE, "equidistant"), (OCCLUDED, None)]
)
def test_labels_consistent(cfg, model):
    for i in range(4):
        frame = generate_frame(cfg, 21, i)
        if model is not None:
            assert frame.camera.distortion_model.value == model
            assert np.any(frame.camera.D != 0)
        _check_labels(frame)


def test_occluders_hide_keypoints_and_shrink_masks():
    frames = [generate_frame(OCCLUDED, 2, i) for i in range(6)]
    assert sum(f.info["occluders"] for f in frames) >= 3
    assert all(len(f.hands) == 2 and {h.side for h in f.hands} == {"left", "right"} for f in frames)
    assert any(not h.extra["keypoints_visible"].all() for f in frames for h in f.hands)


def test_coverage(coverage_frames):
    hands = [(f, h) for f in coverage_frames for h in f.hands]
    quadrants = set()
    near_edge = 0
    for f, h in hands:
        u, v = h.keypoints_px[0]
        quadrants.add((u > f.camera.width / 2, v > f.camera.height / 2))
        near_edge += min(u, v, f.camera.width - 1 - u, f.camera.height - 1 - v) < 0.1 * f.camera.height
    assert len(quadrants) == 4
    assert near_edge >= 3
    fx = [f.camera.fx for f in coverage_frames]
    assert min(fx) < 350 and max(fx) > 900
    assert {h.side for _, h in hands} == {"left", "right"}
    assert {h.grasp for _, h in hands} == set(range(NUM_GRASP_CLASSES))
    assert {f.camera.distortion_model.value for f in coverage_frames} == {"none", "plumb_bob", "equidistant"}
    assert any(h.extra["in_image_fraction"] < 1.0 for _, h in hands)  # truncated at the border


@pytest.mark.parametrize("other", ["random", "natural"])
def test_poses_within_limits(other):
    rng = np.random.default_rng(0)
    for g in range(NUM_GRASP_CLASSES):
        for _ in range(20):
            p = sample_hand_pose(rng, g, other)
            assert p.shape == (15, 3)
            assert np.all(p >= POSE_LOWER - 1e-12) and np.all(p <= POSE_UPPER + 1e-12)
    # power grasps flex the fingers much more than the flat palm
    flat = np.mean([sample_hand_pose(rng, 0)[:12, 2].mean() for _ in range(10)])
    wrap = np.mean([sample_hand_pose(rng, 2)[:12, 2].mean() for _ in range(10)])
    assert wrap > flat + 0.8


def _other_poses(other: str, n: int = 300) -> np.ndarray:
    rng = np.random.default_rng(3)
    return np.stack([sample_hand_pose(rng, GRASP_CLASS_IDS["other"], other) for _ in range(n)])


def test_natural_other_poses_are_anatomical():
    """'natural' poses of class other: the DIP follows the PIP, a bent finger is not spread, the thumb
    stays near the grasp templates' thumbs; 'random' (the original) breaks each of these often."""
    rows = np.array([(0, 1, 2), (3, 4, 5), (6, 7, 8), (9, 10, 11)])  # MCP, PIP, DIP per finger
    thumbs = np.stack([t[12:15] for t, _, _ in GRASP_TEMPLATES.values()])
    lo, hi = thumbs.min(0), thumbs.max(0)  # the box round the templates' thumbs (per component)

    def faults(poses: np.ndarray) -> dict[str, float]:
        pip, dip = poses[:, rows[:, 1], 2], poses[:, rows[:, 2], 2]
        mcp_flex, mcp_spread = poses[:, rows[:, 0], 2], poses[:, rows[:, 0], 1]
        thumb = poses[:, 12:15]
        outside = np.maximum(lo - thumb, 0) + np.maximum(thumb - hi, 0)
        return {
            # DIP more than 0.25 rad off 0.65 x PIP
            "dip_uncoupled": float(np.mean(np.abs(dip - 0.65 * pip) > 0.25)),
            # a finger bent past 70 deg at the MCP and spread by more than 0.15 rad
            "bent_and_spread": float(np.mean((mcp_flex > 1.2) & (np.abs(mcp_spread) > 0.15))),
            # a thumb component more than 0.2 rad outside the templates' range
            "odd_thumb": float(np.mean(np.any(outside > 0.2, axis=(1, 2)))),
        }

    natural, random = faults(_other_poses("natural")), faults(_other_poses("random"))
    assert natural["dip_uncoupled"] < 0.02 and random["dip_uncoupled"] > 0.1
    assert natural["odd_thumb"] < 0.02 and random["odd_thumb"] > 0.5
    assert natural["bent_and_spread"] < 0.01 and random["bent_and_spread"] > 0.03


def test_natural_other_poses_cover_open_curled_and_mixed_fingers():
    curl = _other_poses("natural")[:, [1, 4, 7, 10], 2]  # PIP flexion of the four fingers
    open_, bent = curl < 0.4, curl > 1.0
    assert np.mean(open_.all(1)) > 0.05  # open hands
    assert np.mean(bent.all(1)) > 0.05  # fists
    assert np.mean(open_.any(1) & bent.any(1)) > 0.2  # gestures: some fingers out, others curled


def test_other_poses_option_reaches_the_generator():
    only_other = tuple(float(i == GRASP_CLASS_IDS["other"]) for i in range(NUM_GRASP_CLASSES))
    base = dataclasses.replace(SMALL, grasp_weights=only_other)
    natural = dataclasses.replace(base, other_poses="natural")
    assert natural.to_dict()["other_poses"] == "natural" and "other_poses" not in base.to_dict()
    a, b = generate_frame(base, 5, 0), generate_frame(natural, 5, 0)
    pa = np.stack([h.hand_pose_aa for h in a.hands])
    pb = np.stack([h.hand_pose_aa for h in b.hands])
    assert not np.allclose(pa[0], pb[0])
    assert generate_frame(natural, 5, 0).hands[0].hand_pose_aa.tolist() == b.hands[0].hand_pose_aa.tolist()


def _finger_directions_deg(keypoints: np.ndarray) -> np.ndarray:
    """Index, middle, ring, pinky: MCP -> tip angle (deg) in the model's palm plane (x, z), 0 along -x."""
    mcp, tip = keypoints[[5, 9, 13, 17]], keypoints[[8, 12, 16, 20]]
    return np.degrees(np.arctan2(tip[:, 2] - mcp[:, 2], mcp[:, 0] - tip[:, 0]))


def test_finger_fan_of_the_open_hand_model_and_taking_it_off():
    """The open model's straight fingers fan out (index +6, ring -4, pinky -10 deg); minus that abduction
    at the MCPs they lie parallel."""
    model = hand_model("right")
    with torch.no_grad():
        rest = model().keypoints[0].numpy()
    fan = finger_fan_rad(rest)  # index, middle, pinky, ring (MANO order)
    np.testing.assert_allclose(np.degrees(fan), [6.0, 1.0, -10.0, -4.0], atol=0.3)
    pose = np.zeros((15, 3))
    pose[[0, 3, 6, 9], 1] = -fan
    with torch.no_grad():
        out = model(hand_pose=torch.from_numpy(pose.reshape(1, 45))).keypoints[0].numpy()
    np.testing.assert_allclose(_finger_directions_deg(out), 0.0, atol=0.3)
    assert np.ptp(_finger_directions_deg(rest)) > 15.0


def test_finger_fan_option_only_takes_the_fan_off():
    """``finger_fan`` moves the MCP abduction of every sampled pose by the same share of the fan and changes
    no random draw; it is validated, and left out of ``to_dict`` at its default."""
    with torch.no_grad():
        fan = finger_fan_rad(hand_model("right")().keypoints[0].numpy())
    for grasp in range(NUM_GRASP_CLASSES):
        a = sample_hand_pose(np.random.default_rng(grasp), grasp, "natural")
        b = sample_hand_pose(np.random.default_rng(grasp), grasp, "natural", 0.5 * fan)
        diff = b - a
        inside = (a > POSE_LOWER + 0.06) & (a < POSE_UPPER - 0.06)  # not at a limit either way
        mcp_abduction = np.zeros((15, 3), bool)
        mcp_abduction[[0, 3, 6, 9], 1] = True
        np.testing.assert_allclose(diff[~mcp_abduction], 0.0)
        expected = np.zeros((15, 3))
        expected[[0, 3, 6, 9], 1] = -0.5 * fan
        np.testing.assert_allclose(diff[inside], expected[inside], atol=1e-12)
    # through the generator: the same frame's hand, its MCP abduction less the whole fan -- after the
    # flexion in the fingers' planes, R = R_y(abduction) R_across(flexion) R_bone(twist), that is the MCP
    # rotation turned by -fan about the palm normal, the other rows unchanged
    from scipy.spatial.transform import Rotation

    hand = generate_frame(SMALL, 5, 0).hands[0]
    unfanned = generate_frame(dataclasses.replace(SMALL, finger_fan=0.0), 5, 0).hands[0]
    a, b = (np.asarray(h.hand_pose_aa).reshape(15, 3) for h in (hand, unfanned))
    if hand.side == "left":  # labels are the side's own; compare the right hand's
        a, b = mirror_axis_angle(a), mirror_axis_angle(b)
    mcps = [0, 3, 6, 9]
    np.testing.assert_allclose(np.delete(b, mcps, axis=0), np.delete(a, mcps, axis=0), atol=1e-12)
    expected = Rotation.from_rotvec(-fan[:, None] * np.array([0.0, 1.0, 0.0])) * Rotation.from_rotvec(a[mcps])
    np.testing.assert_allclose((expected.inv() * Rotation.from_rotvec(b[mcps])).magnitude(), 0.0, atol=1e-9)
    assert "finger_fan" not in SMALL.to_dict()
    assert dataclasses.replace(SMALL, finger_fan=0.0).to_dict()["finger_fan"] == 0.0
    with pytest.raises(ValueError, match="finger_fan"):
        dataclasses.replace(SMALL, finger_fan=1.5)


def test_write_read_roundtrip_and_resume(tmp_path):
    out = tmp_path / "ds"
    write_dataset(out, SMALL, n=3, seed=9, progress=False)
    first = {p.name: p.stat().st_mtime_ns for p in (out / "images").iterdir()}
    write_dataset(out, SMALL, n=4, seed=9, progress=False)  # resume: 3 skipped, 1 new
    after = {p.name: p.stat().st_mtime_ns for p in (out / "images").iterdir()}
    assert len(after) == 4 and all(after[k] == v for k, v in first.items())
    assert "3 already complete, 1 to generate" in (out / "synth.log").read_text()
    meta = json.loads((out / "meta.json").read_text())
    assert meta["count"] == 4 and meta["seed"] == 9 and SyntheticConfig.from_dict(meta["config"]) == SMALL
    lines = (out / "labels.jsonl").read_text().splitlines()
    assert [json.loads(x)["index"] for x in lines] == [0, 1, 2, 3]

    ds = SyntheticDataset(out)
    frames = [generate_frame(SMALL, 9, i) for i in range(4)]
    expected = [h for f in frames for h in f.hands]
    assert len(ds) == len(expected)
    for rec, exp in zip(ds, expected, strict=True):
        assert rec.frame_id == exp.frame_id and rec.side == exp.side and rec.grasp == exp.grasp
        assert rec.image is None and rec.image_path.exists()
        assert np.array_equal(rec.load_image(), exp.image)
        assert np.array_equal(rec.mask, exp.mask)
        np.testing.assert_allclose(rec.keypoints_cam_m, exp.keypoints_cam_m, atol=1e-12)
        np.testing.assert_allclose(rec.keypoints_px, exp.keypoints_px, atol=1e-9)
        np.testing.assert_array_equal(rec.extra["keypoints_visible"], exp.extra["keypoints_visible"])
        assert rec.camera == exp.camera
    # min_visible_fraction leaves out exactly the hands less visible than it
    seen = [float(h.extra["visible_fraction"]) for h in expected]
    cut = sorted(seen)[len(seen) // 2]
    kept = SyntheticDataset(out, min_visible_fraction=cut)
    assert len(kept) == sum(f >= cut for f in seen)
    assert len(kept) < len(ds) or min(seen) == cut
    assert all(float(r.extra["visible_fraction"]) >= cut for r in kept)
    with pytest.raises(ValueError, match="min_visible_fraction"):
        SyntheticDataset(out, min_visible_fraction=1.5)
    with pytest.raises(ValueError, match="another seed or config"):
        write_dataset(out, SMALL, n=1, seed=10, progress=False)


def test_complete_frames_are_those_a_resume_skips(tmp_path):
    out = tmp_path / "ds"
    assert complete_frames(out) == set()  # no folder yet
    write_dataset(out, SMALL, n=3, seed=9, progress=False)
    assert complete_frames(out) == {0, 1, 2}
    (out / "images" / "000001.jpg").unlink()  # an interrupted frame: its label line is there, its image not
    with open(out / "labels.jsonl", "a") as fh:
        fh.write('{"index": 7, "ima')  # a label line cut off mid-write
    assert complete_frames(out) == {0, 2}
    write_dataset(out, SMALL, n=3, seed=9, progress=False)
    assert "2 already complete, 1 to generate" in (out / "synth.log").read_text()
    assert complete_frames(out) == {0, 1, 2}


def test_stream_is_deterministic():
    stream = SyntheticHandStream(SMALL, seed=5, length=3)
    assert len(stream) == 3
    a, b = stream[1], SyntheticHandStream(SMALL, seed=5, length=3)[1]
    assert np.array_equal(a.image, b.image) and np.array_equal(a.keypoints_px, b.keypoints_px)
    assert a.image is not None and a.mask is not None
    frame = SyntheticHandStream(SMALL, seed=5, length=3, mode="frame")[1]
    assert any(np.array_equal(h.keypoints_px, a.keypoints_px) for h in frame)
    with pytest.raises(IndexError):
        stream[3]


def test_stream_passes_over_hands_that_are_barely_visible():
    frames = SyntheticHandStream(SMALL, seed=5, length=16, mode="frame")
    plain = SyntheticHandStream(SMALL, seed=5, length=16)
    hands = SyntheticHandStream(SMALL, seed=5, length=16, min_visible_fraction=0.9)
    # frame 15 has hands 100% and 55% visible; index 15 alone would give the 55% one
    assert plain[15].extra["visible_fraction"] < 0.9 <= hands[15].extra["visible_fraction"]
    for i in range(16):
        seen = [h.extra["visible_fraction"] for h in frames[i]]
        got = hands[i].extra["visible_fraction"]
        assert got >= 0.9 or got == max(seen)
    with pytest.raises(ValueError, match="min_visible_fraction"):
        SyntheticHandStream(SMALL, seed=5, length=6, min_visible_fraction=-0.1)


@pytest.mark.parametrize(
    "bad, field",
    [
        ({"fx_range_px": [900, 300]}, "fx_range_px"),
        ({"depth_range_m": [0.0, 0.8]}, "depth_range_m"),
        ({"occluder_prob": 1.5}, "occluder_prob"),
        ({"distortion_mix": [0, 0, 0]}, "distortion_mix"),
        ({"distortion_mix": {"fisheye": 1.0}}, "distortion_mix"),
        ({"image_sizes": [[640, 10]]}, "image_sizes"),
        ({"jpeg_quality_range": [50, 101]}, "jpeg_quality_range"),
        ({"grasp_weights": [1, 1]}, "grasp_weights"),
        ({"other_poses": "weird"}, "other_poses"),
        ({"max_fov_deg": 5.0}, "max_fov_deg"),
        ({"max_fov_deg": 40.0, "fx_range_px": [200, 800]}, "max_fov_deg"),  # 1280 px needs fx >= 1758
        ({"fx_rnge_px": [1, 2]}, "fx_rnge_px"),
    ],
)
def test_bad_config(bad, field):
    with pytest.raises(ValueError, match=field):
        SyntheticConfig.from_dict(bad)


def test_config_roundtrip_and_yaml(tmp_path):
    cfg = SyntheticConfig.from_dict({"distortion_mix": {"none": 1.0}, "fx_range_px": [300, 600]})
    assert cfg.distortion_mix == (1.0, 0.0, 0.0) and cfg.fx_range_px == (300.0, 600.0)
    assert SyntheticConfig.from_dict(cfg.to_dict()) == cfg
    path = tmp_path / "synth.yaml"
    path.write_text("synthetic:\n  occluder_prob: 0.9\n  image_sizes: [[640, 480]]\n")
    assert SyntheticConfig.from_yaml(path).occluder_prob == 0.9


def _nominal_hfov_deg(camera) -> float:
    return math.degrees(camera.nominal_fov_rad()[0])


def test_max_fov_deg_caps_pinhole_and_plumb_bob_lenses_only():
    """``max_fov_deg`` bounds the field of view K implies for pinhole and plumb_bob cameras (the default
    range reaches well past it), draws the fisheyes as before (same random numbers), and is left out of
    ``to_dict`` at its default (180: no cap), so older folders' configs still match."""
    capped = SyntheticConfig(max_fov_deg=100.0)
    assert min_focal_px(1280, 100.0) == pytest.approx(640 / math.tan(math.radians(50)))
    assert min_focal_px(640, 180.0) == 0.0
    widest = {"none": 0.0, "plumb_bob": 0.0}
    for i in range(400):
        free = sample_camera(np.random.default_rng(i), SyntheticConfig()).camera
        cam = sample_camera(np.random.default_rng(i), capped).camera
        model = cam.distortion_model.value
        assert model == free.distortion_model.value and (cam.width, cam.height) == (free.width, free.height)
        if model == "equidistant":
            np.testing.assert_array_equal(cam.K, free.K)
            np.testing.assert_array_equal(cam.D, free.D)
            continue
        assert _nominal_hfov_deg(cam) <= 100.0 + 1e-9
        assert cam.fx >= free.fx  # the range's lower end is raised, the same draw lands higher
        widest[model] = max(widest[model], _nominal_hfov_deg(free))
    assert min(widest.values()) > 120.0  # without the cap both kinds reach far wider
    # the default draws fx as it always did: log-uniform over fx_range_px from the same random numbers
    default = SyntheticConfig()
    mix = np.asarray(default.distortion_mix)
    for i in range(50):
        cam = sample_camera(np.random.default_rng(i), default).camera
        replica = np.random.default_rng(i)
        replica.integers(len(default.image_sizes))
        replica.choice(3, p=mix / mix.sum())
        lo, hi = default.fisheye_fx_range_px if cam.is_fisheye else default.fx_range_px
        assert cam.fx == math.exp(replica.uniform(math.log(lo), math.log(hi)))
    assert "max_fov_deg" not in SyntheticConfig().to_dict()
    assert SyntheticConfig.from_dict(capped.to_dict()) == capped


def test_fingers_flex_in_their_own_planes_and_converge():
    """Generator version 6 (``poses.flex_in_finger_planes``): a straight finger's row is unchanged, the
    thumb's too; a fist's fingertips close in across the palm (index to little 45 mm apart, the MCPs 55)
    where the components read as axis-angles (flexion about z) spread them 77 mm apart; the generator's
    sampler applies it to the clipped components, drawing the same random numbers."""
    model = hand_model("right")
    with torch.no_grad():
        rest = model().keypoints[0].numpy()
    fan = finger_fan_rad(rest)
    straight = np.zeros((15, 3))
    straight[[0, 3, 6, 9], 1] = [0.1, 0.0, -0.2, -0.1]  # abduction only
    straight[12:15] = [[0.3, -0.2, 0.1]] * 3
    np.testing.assert_allclose(flex_in_finger_planes(straight, rest), straight, atol=1e-12)
    fist = GRASP_TEMPLATES[GRASP_CLASS_IDS["lateral"]][0].copy()
    fist[[0, 3, 6, 9], 1] -= fan  # finger_fan: 0, as the realism bench's frames
    flexed = flex_in_finger_planes(fist, rest)
    np.testing.assert_allclose(flexed[12:15], fist[12:15])

    def span_mm(pose: np.ndarray, joint: int) -> float:
        with torch.no_grad():
            k = model(hand_pose=torch.from_numpy(pose.reshape(1, 45))).keypoints[0].numpy()
        index, pinky = FINGER_KEYPOINTS["index"][joint], FINGER_KEYPOINTS["pinky"][joint]
        return 1000.0 * abs(k[index, 2] - k[pinky, 2])  # across the palm (model z)

    assert span_mm(flexed, 0) == pytest.approx(55.0, abs=1.0)  # the knuckles do not move
    assert span_mm(flexed, 3) == pytest.approx(45.0, abs=2.0)
    assert span_mm(fist, 3) > 70.0
    for grasp in range(NUM_GRASP_CLASSES):
        components = sample_hand_pose(np.random.default_rng(grasp), grasp, "natural", fan)
        converted = sample_hand_pose(np.random.default_rng(grasp), grasp, "natural", fan, rest)
        np.testing.assert_allclose(converted, flex_in_finger_planes(components, rest), atol=1e-12)


def test_pool_workers_run_every_thread_pool_on_one_thread():
    """`wildhands synth --workers N`: each worker process runs torch, OpenCV and numpy's BLAS on one thread
    (the workers share the cores; OpenBLAS's spinning threads would take the others' cores)."""
    from threadpoolctl import threadpool_limits

    from wildhands.data.synthetic.io import _worker_init
    from wildhands.runtime.threads import blas_threads

    torch_threads, cv2_threads = torch.get_num_threads(), cv2.getNumThreads()
    try:
        with threadpool_limits(limits=2, user_api="blas"):  # restored on leaving
            assert max(blas_threads()) == 2
            _worker_init()
            assert set(blas_threads()) == {1}
            assert torch.get_num_threads() == 1 and cv2.getNumThreads() == 1
    finally:
        torch.set_num_threads(torch_threads)
        cv2.setNumThreads(cv2_threads)
