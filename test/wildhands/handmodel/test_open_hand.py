"""OpenHandModel: rest pose, keypoints, mirroring, regressor, skinning, shape, input checks."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
import torch

from wildhands.handmodel import OpenHandModel, build_hand_model, mirror_pose_axis_angle, mirror_pose_rotmat
from wildhands.handmodel import open_hand as oh
from wildhands.handmodel.keypoints import FINGER_KEYPOINTS, MANO_JOINT_NAMES
from wildhands.handmodel.open_hand import signed_volume
from wildhands.handmodel.output import HandModelOutput

INDEX_PIP = MANO_JOINT_NAMES.index("index2")  # MANO joint 2; hand_pose row 1


@pytest.fixture(scope="module")
def right() -> OpenHandModel:
    return OpenHandModel("right").double()


@pytest.fixture(scope="module")
def left() -> OpenHandModel:
    return OpenHandModel("left").double()


def _random_inputs(batch: int = 3, scale: float = 0.6) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(7)
    betas = torch.randn(batch, 10, generator=g, dtype=torch.float64)
    orient = torch.randn(batch, 3, generator=g, dtype=torch.float64)
    pose = scale * torch.randn(batch, 45, generator=g, dtype=torch.float64)
    return betas, orient, pose


def test_generation_is_deterministic():
    a = oh._build_arrays()
    b = oh._build_arrays()
    np.testing.assert_array_equal(a.v_template, b.v_template)
    np.testing.assert_array_equal(a.shapedirs, b.shapedirs)


def test_sizes_and_buffers(right):
    assert 700 <= right.num_vertices <= 1500
    assert right.NUM_JOINTS == 16 and right.NUM_BETAS == 10 and right.NUM_POSE_JOINTS == 15
    assert right.name == "open_hand_v1"
    v = right.num_vertices
    assert right.shapedirs.shape == (v, 3, 10)
    assert right.posedirs.shape == (135, v * 3)
    assert right.J_regressor.shape == (16, v)
    assert right.lbs_weights.shape == (v, 16)
    assert right.faces.dtype == torch.long and int(right.faces.max()) < v
    assert right.parents.tolist() == [-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14]
    assert right.fingertip_vertex_ids.shape == (5,)


def test_zero_pose_is_rest_pose(right):
    out = right(torch.zeros(2, 10, dtype=torch.float64), torch.zeros(2, 3), torch.zeros(2, 45))
    assert isinstance(out, HandModelOutput)
    assert out.vertices.shape == (2, right.num_vertices, 3)
    assert out.joints.shape == (2, 16, 3) and out.keypoints.shape == (2, 21, 3)
    assert out.model_name == "open_hand_v1" and out.side == "right"
    torch.testing.assert_close(out.vertices[1], right.v_template, atol=1e-6, rtol=0)
    torch.testing.assert_close(out.joints[0], right.joints_template, atol=1e-6, rtol=0)
    torch.testing.assert_close(out.joints[0, 0], torch.zeros(3, dtype=torch.float64), atol=1e-9, rtol=0)
    none = right()  # all inputs optional
    torch.testing.assert_close(none.vertices[0], right.v_template, atol=1e-6, rtol=0)


def test_transl_adds(right):
    t = torch.tensor([[0.1, -0.2, 0.5]], dtype=torch.float64)
    out = right(transl=t)
    torch.testing.assert_close(out.vertices[0], right.v_template + t, atol=1e-9, rtol=0)
    torch.testing.assert_close(out.keypoints[0, 0], t[0], atol=1e-9, rtol=0)


def test_keypoint_order_and_anatomy(right):
    kp = right().keypoints[0]
    assert torch.allclose(kp[0], torch.zeros(3, dtype=kp.dtype))
    for finger, ids in FINGER_KEYPOINTS.items():
        dist = kp[list(ids)].norm(dim=-1)
        assert bool((dist[1:] > dist[:-1]).all()), f"{finger} not base->tip: {dist.tolist()}"
        torch.testing.assert_close(
            kp[ids[3]],
            right.v_template[
                right.fingertip_vertex_ids[("thumb", "index", "middle", "ring", "pinky").index(finger)]
            ],
        )
    hand_length = float(kp[12].norm())
    assert 0.16 <= hand_length <= 0.21, hand_length
    palm_width = float((kp[5] - kp[17]).norm())  # knuckle spacing index-pinky
    assert 0.045 <= palm_width <= 0.07, palm_width
    # fingers point along -x, thumb on +z, palm towards -y (the documented frame)
    assert float(kp[12, 0]) < -0.16 and float(kp[4, 2]) > 0.05 and float(kp[4, 1]) < 0.0
    # bone lengths in adult ranges (m)
    bones = {
        "index proximal": (5, 6, 0.035, 0.05),
        "middle proximal": (9, 10, 0.04, 0.055),
        "pinky middle": (18, 19, 0.015, 0.025),
        "thumb metacarpal": (1, 2, 0.035, 0.055),
    }
    for name, (a, b, lo, hi) in bones.items():
        assert lo <= float((kp[a] - kp[b]).norm()) <= hi, name
    # fingertips are the tip-most vertices of their fingers along -x (four fingers)
    tips_x = right.v_template[right.fingertip_vertex_ids[1:], 0]
    assert float(tips_x.min()) == pytest.approx(float(right.v_template[:, 0].min()))


def test_mesh_closed_and_outward(right, left):
    for model in (right, left):
        faces = model.faces.numpy()
        directed = Counter(
            (int(a), int(b)) for f in faces for a, b in ((f[0], f[1]), (f[1], f[2]), (f[2], f[0]))
        )
        assert max(directed.values()) == 1  # consistent winding: each directed edge used once
        assert all((b, a) in directed for a, b in directed)  # watertight components: every edge has a twin
        assert signed_volume(model.v_template, model.faces) > 2e-4  # m^3, outward normals
    torch.testing.assert_close(left.faces, right.faces[:, [0, 2, 1]])


def test_regressor_and_weights(right):
    reg = right.J_regressor
    assert bool((reg >= 0).all())
    torch.testing.assert_close(reg.sum(1), torch.ones(16, dtype=reg.dtype))
    torch.testing.assert_close(reg @ right.v_template, right.joints_template, atol=1e-6, rtol=0)
    w = right.lbs_weights
    assert bool((w >= 0).all())
    torch.testing.assert_close(w.sum(1), torch.ones(right.num_vertices, dtype=w.dtype), atol=1e-9, rtol=0)
    assert int((w.max(1).values > 0.999).sum()) > right.num_vertices // 2  # rigid in the bone middles
    assert int(((w > 0.05).sum(1) >= 2).sum()) > 50  # and blended across joints


def test_index_pip_flexion(right):
    pose = torch.zeros(1, 15, 3, dtype=torch.float64)
    pose[0, INDEX_PIP - 1] = torch.tensor([0.0, 0.0, math.pi / 2])  # flexion: +z for the right hand
    out = right(hand_pose=pose)
    rest = right()
    moved = (out.vertices[0] - rest.vertices[0]).norm(dim=-1) > 1e-3
    index_joints = [1, 2, 3]
    on_index = right.lbs_weights[:, index_joints].sum(1) > 0.0
    assert int(moved.sum()) > 50
    assert bool(on_index[moved].all()), "PIP flexion moved vertices off the index finger"
    kp, kp0 = out.keypoints[0], rest.keypoints[0]
    for k in (0, 1, 4, 5, 6, 9, 12, 16, 20):  # wrist, thumb, index MCP/PIP, other fingers unchanged
        torch.testing.assert_close(kp[k], kp0[k], atol=1e-9, rtol=0)
    for k in (7, 8):  # DIP and tip: rigid about the PIP, now pointing to the palm (-y)
        d, d0 = kp[k] - kp[6], kp0[k] - kp0[6]
        assert float(d.norm()) == pytest.approx(float(d0.norm()), abs=1e-9)
        assert float(d[1]) < -0.9 * float(d0.norm())


def test_axis_angle_and_rotmat_agree(right):
    from smplx.lbs import batch_rodrigues

    betas, orient, pose = _random_inputs()
    a = right(betas, orient, pose)
    b = right(betas, batch_rodrigues(orient), batch_rodrigues(pose.reshape(-1, 3)).reshape(3, 15, 3, 3))
    c = right(betas, orient.reshape(3, 1, 3), pose.reshape(3, 15, 3))
    torch.testing.assert_close(a.vertices, b.vertices, atol=1e-9, rtol=0)
    torch.testing.assert_close(a.keypoints, c.keypoints, atol=1e-12, rtol=0)


def test_left_is_mirrored_right(right, left):
    betas, orient, pose = _random_inputs()
    r = right(betas, orient, pose)
    lft = left(betas, mirror_pose_axis_angle(orient), mirror_pose_axis_angle(pose))
    mirror = torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64)
    torch.testing.assert_close(lft.vertices, r.vertices * mirror, atol=1e-6, rtol=0)
    torch.testing.assert_close(lft.joints, r.joints * mirror, atol=1e-6, rtol=0)
    torch.testing.assert_close(lft.keypoints, r.keypoints * mirror, atol=1e-6, rtol=0)
    assert lft.side == "left"
    assert signed_volume(lft.vertices[0], lft.faces) > 0 and signed_volume(r.vertices[0], r.faces) > 0
    from smplx.lbs import batch_rodrigues

    rot = batch_rodrigues(pose.reshape(-1, 3))
    torch.testing.assert_close(
        mirror_pose_rotmat(rot),
        batch_rodrigues(mirror_pose_axis_angle(pose).reshape(-1, 3)),
        atol=1e-6,
        rtol=0,
    )


def test_shape_directions(right):
    def measures(beta: torch.Tensor) -> dict[str, float]:
        kp = right(beta[None]).keypoints[0]
        return {
            "length": float(kp[12].norm()),
            "finger/palm": float((kp[12] - kp[9]).norm() / kp[9].norm()),
            "width": float((kp[5] - kp[17]).norm()),
            "thumb": float((kp[4] - kp[1]).norm()),
            "index": float((kp[8] - kp[5]).norm()),
        }

    base = measures(torch.zeros(10, dtype=torch.float64))

    def unit(k: int) -> dict[str, float]:
        beta = torch.zeros(10, dtype=torch.float64)
        beta[k] = 1.0
        return measures(beta)

    assert unit(0)["length"] == pytest.approx(base["length"] * 1.05, rel=1e-6)
    assert unit(1)["finger/palm"] > base["finger/palm"] * 1.05
    assert unit(2)["width"] == pytest.approx(base["width"] * 1.05, rel=1e-3)
    assert unit(4)["thumb"] == pytest.approx(base["thumb"] * 1.05, rel=1e-3)
    assert unit(4)["index"] == pytest.approx(base["index"], abs=1e-9)  # thumb only
    assert unit(7)["index"] > base["index"]
    # β3 thickens the digits: index vertices get farther from the index bone line
    beta = torch.zeros(1, 10, dtype=torch.float64)
    beta[0, 3] = 1.0
    ring = right.J_regressor[2] > 0  # vertices of the ring around the index PIP
    rest_r = (right.v_template[ring] - right.joints_template[2]).norm(dim=-1)
    out = right(beta)
    thick_r = (out.vertices[0, ring] - out.joints[0, 2]).norm(dim=-1)
    torch.testing.assert_close(thick_r, rest_r * 1.08, rtol=1e-6, atol=0)
    # linear in β, wrist fixed at the origin for every shape
    betas, _, _ = _random_inputs()
    v1 = right(betas).vertices - right.v_template
    v2 = right(2 * betas).vertices - right.v_template
    torch.testing.assert_close(v2, 2 * v1, atol=1e-9, rtol=0)
    torch.testing.assert_close(
        right(betas).joints[:, 0], torch.zeros(3, 3, dtype=torch.float64), atol=1e-9, rtol=0
    )
    torch.testing.assert_close(right.rest_joints(betas), right(betas).joints, atol=1e-9, rtol=0)
    # β ~ N(0, I) keeps hands plausible
    g = torch.Generator().manual_seed(3)
    lengths = right(torch.randn(200, 10, generator=g, dtype=torch.float64)).keypoints[:, 12].norm(dim=-1)
    assert 0.14 < float(lengths.min()) and float(lengths.max()) < 0.23


def test_betas_broadcast(right):
    _, orient, pose = _random_inputs()
    beta = torch.randn(1, 10, dtype=torch.float64)
    torch.testing.assert_close(
        right(beta, orient, pose).vertices, right(beta.expand(3, 10), orient, pose).vertices
    )


def test_gradients_flow(right):
    betas, orient, pose = _random_inputs(batch=2)
    pose.requires_grad_(True)
    betas.requires_grad_(True)
    right(betas, orient, pose).keypoints.square().sum().backward()
    assert pose.grad is not None and float(pose.grad.abs().sum()) > 0
    assert betas.grad is not None and float(betas.grad.abs().sum()) > 0


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"betas": torch.zeros(1, 9)}, "betas"),
        ({"betas": torch.zeros(10)}, "betas"),
        ({"hand_pose": torch.full((1, 45), float("nan"))}, "hand_pose"),
        ({"global_orient": torch.tensor([[0.0, float("inf"), 0.0]])}, "global_orient"),
        ({"hand_pose": torch.zeros(1, 44)}, "hand_pose"),
        ({"global_orient": torch.zeros(1, 4)}, "global_orient"),
        ({"hand_pose": torch.zeros(2, 45), "global_orient": torch.zeros(3, 3)}, "hand_pose"),
        ({"transl": torch.zeros(1, 2)}, "transl"),
        ({"hand_pose": 2 * torch.eye(3).expand(1, 15, 3, 3)}, "hand_pose"),
        ({"global_orient": torch.diag(torch.tensor([-1.0, 1.0, 1.0]))[None]}, "global_orient"),
        ({"hand_pose": torch.zeros(1, 45, dtype=torch.long)}, "hand_pose"),
    ],
)
def test_bad_input(right, kwargs, field):
    with pytest.raises(ValueError, match=field):
        right(**kwargs)


def test_constructor_and_builder():
    with pytest.raises(ValueError, match="side"):
        OpenHandModel("middle")
    with pytest.raises(ValueError, match="name"):
        build_hand_model("smpl")
    model = build_hand_model("open", side="left")
    assert isinstance(model, OpenHandModel) and model.side == "left"
    assert model().vertices.dtype == torch.float32
