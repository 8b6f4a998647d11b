"""The render skin (``wildhands.render.hand_skin``): one smooth surface bound to the open hand's skeleton,
and the synthetic generator's ``hand_look: skin`` option."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from wildhands.data.synthetic import SyntheticConfig
from wildhands.data.synthetic.generator import generate_frame
from wildhands.geometry.camera import CameraModel
from wildhands.handmodel import OpenHandModel
from wildhands.render.hand_skin import (
    PART_ARM,
    PART_HAND,
    PART_SLEEVE,
    SLEEVE_CUFF_RANGE_M,
    HandSkin,
    surface_nets,
)
from wildhands.render.shaded import (
    ShadingStyle,
    interpolate_vertex_colors,
    render_mesh,
    render_smooth_mesh,
    shade_vertices,
)


@pytest.fixture(scope="module")
def skins() -> dict[str, HandSkin]:
    return {side: HandSkin(side) for side in ("right", "left")}


def _pose(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(0, 1, 10), rng.normal(0, 0.8, 3), rng.normal(0, 0.35, 45)


def test_open_hand_model_is_unchanged_by_the_skin(skins: dict[str, HandSkin]) -> None:
    model = OpenHandModel()
    assert (model.num_vertices, model.num_faces) == (1124, 2224)
    rest = model().keypoints[0]
    skins["right"].skin(np.zeros(10), np.zeros(3), np.zeros(45))
    assert torch.equal(OpenHandModel()().keypoints[0], rest)


def test_surface_is_closed_outward_and_smooth(skins: dict[str, HandSkin]) -> None:
    s = skins["right"]
    assert 5000 < s.num_vertices < 40000
    f = s.faces
    edges = np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), 1)
    _, counts = np.unique(edges, axis=0, return_counts=True)
    assert (counts == 2).mean() > 0.999  # watertight but for a few surface-nets ambiguities
    from wildhands.handmodel.open_hand import signed_volume

    assert 5e-4 < signed_volume(s.v_rest, s.faces) < 1.6e-3  # m³, outward winding (hand + 24 cm forearm)
    np.testing.assert_allclose(s.weights.sum(1), 1.0, atol=1e-9)
    assert s.weights.min() >= 0.0
    # smooth: neighbouring vertex normals differ by little
    mesh = s.skin(np.zeros(10), np.zeros(3), np.zeros(45), sleeve_x=None)
    n = mesh.normals
    cos = np.einsum("ij,ij->i", n[f[:, 0]], n[f[:, 1]])
    assert np.median(cos) > 0.98


@pytest.mark.parametrize("side", ["right", "left"])
def test_skin_follows_the_pose(skins: dict[str, HandSkin], side: str) -> None:
    """Keypoints of the model lie on or inside the skin, wherever the pose puts them."""
    model = OpenHandModel(side=side, dtype=torch.float64)
    for seed in range(3):
        betas, orient, pose = _pose(seed)
        mesh = skins[side].skin(betas, orient, pose, sleeve_x=None)
        kp = model(betas=torch.from_numpy(betas[None]), global_orient=torch.from_numpy(orient[None]),
                   hand_pose=torch.from_numpy(pose[None])).keypoints[0].numpy()  # fmt: skip
        hand = mesh.vertices[mesh.part == PART_HAND]
        d = np.linalg.norm(hand[None] - kp[:, None], axis=2).min(1)
        assert d.max() < 0.02, d  # every keypoint within 2 cm of the skin
        tips = kp[[4, 8, 12, 16, 20]]
        assert np.linalg.norm(hand[None] - tips[:, None], axis=2).min(1).max() < 0.006  # tips on the surface


def test_parts_and_sleeve(skins: dict[str, HandSkin]) -> None:
    mesh = skins["right"].skin(np.zeros(10), np.zeros(3), np.zeros(45), sleeve_x=0.06)
    assert {PART_HAND, PART_ARM, PART_SLEEVE} <= set(np.unique(mesh.part).tolist())
    arm = mesh.vertices[mesh.part != PART_HAND]
    assert arm[:, 0].min() > 0.0  # forearm and sleeve behind the wrist (+x), fingers along -x
    occ = mesh.occlusion()
    assert occ.shape == (len(mesh.vertices),) and 0 <= occ.min() and occ.max() <= 1


def test_forearm_has_adult_girth_and_the_sleeve_goes_round_it(skins: dict[str, HandSkin]) -> None:
    """The bare forearm (rest pose, +x towards the elbow, y dorsal, z across) is ~5.8 x 3.7 cm at the wrist
    and ~7.8 x 6.2 cm at the muscles, 16 cm up, and reaches 22+ cm (until generator version 4: a stick of
    wrist size, 6.0 x 3.6 cm, ending 12 cm up); the sleeve, wherever the generator slides its cuff, holds
    every forearm vertex past the cuff."""
    bare = skins["right"].skin(np.zeros(10), np.zeros(3), np.zeros(45), sleeve_x=None)
    arm = bare.vertices[bare.part == PART_ARM]
    assert arm[:, 0].max() > 0.22

    def section_cm(x: float) -> tuple[float, float]:
        ring = arm[np.abs(arm[:, 0] - x) < 0.002]
        assert len(ring) >= 20
        return float(np.ptp(ring[:, 2]) * 100.0), float(np.ptp(ring[:, 1]) * 100.0)

    breadth, thickness = section_cm(0.03)
    assert 5.0 < breadth < 6.5 and 3.2 < thickness < 4.5
    breadth, thickness = section_cm(0.16)
    assert 7.0 < breadth < 8.6 and 5.5 < thickness < 7.0
    for sleeve_x in (*SLEEVE_CUFF_RANGE_M, np.mean(SLEEVE_CUFF_RANGE_M)):  # the generator's range
        mesh = skins["right"].skin(np.zeros(10), np.zeros(3), np.zeros(45), sleeve_x=sleeve_x)
        sleeve = mesh.vertices[mesh.part == PART_SLEEVE]
        inside = arm[arm[:, 0] > sleeve_x + 0.005]
        for x in np.arange(sleeve_x + 0.01, 0.24, 0.02):  # the sleeve's half-axes there vs the arm's extent
            ring_s = sleeve[np.abs(sleeve[:, 0] - x) < 0.016]
            ring_a = inside[np.abs(inside[:, 0] - x) < 0.002]
            ry, rz = np.abs(ring_s[:, 1]).max(), np.abs(ring_s[:, 2]).max()
            assert ((ring_a[:, 1] / ry) ** 2 + (ring_a[:, 2] / rz) ** 2).max() < 1.0, (sleeve_x, x)
        # the forearm inside the sleeve is not drawn (no face, no ambient occlusion); bare, all of it is
        deep = (skins["right"].hand_part == PART_ARM) & (skins["right"].arm_x > sleeve_x + 0.01)
        deep_all = np.r_[deep, np.zeros(len(mesh.vertices) - len(deep), bool)]
        assert not deep_all[mesh.faces].all(1).any()
        assert deep[bare.faces].all(1).sum() > 1000
        unused = deep.copy()
        unused[mesh.faces[mesh.faces < len(deep)]] = False
        assert unused.sum() > 1000 and (mesh.occlusion()[: len(deep)][unused] == 0).all()


def test_surface_nets_sphere() -> None:
    ax = np.linspace(-1, 1, 21)
    g = np.stack(np.meshgrid(ax, ax, ax, indexing="ij"), -1)
    v, f = surface_nets(np.linalg.norm(g, axis=-1) - 0.7, np.array([-1.0, -1, -1]), 0.1)
    r = np.linalg.norm(v, axis=1)
    assert abs(r.mean() - 0.7) < 0.03
    n = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    assert (np.einsum("ij,ij->i", n, v[f].mean(1)) > 0).all()  # outward


def test_smooth_shading_and_gouraud_fill() -> None:
    v = np.array([[0.0, 0.0, 1.0], [0.1, 0.0, 1.0], [0.0, 0.1, 1.0]])
    n = np.array([[0, 0, -1.0]] * 3)
    rgb = shade_vertices(v, n, np.full((3, 3), 200.0), ShadingStyle(light_dir=(0, 0, 1)))
    assert rgb.shape == (3, 3) and (rgb > 150).all()
    top = np.zeros((2, 2), np.int64)
    top[1, 1] = -1
    uv = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0]])
    col, covered = interpolate_vertex_colors(top, (0, 0), uv, np.array([[0, 1, 2]]), np.eye(3) * 90)
    assert covered.sum() == 3
    np.testing.assert_allclose(col[0, 0], [90, 0, 0], atol=1e-4)
    np.testing.assert_allclose(col[0, 1], [45, 45, 0], atol=1e-4)


def _camera(w: int = 160, h: int = 120) -> CameraModel:
    return CameraModel.from_K(np.array([[150.0, 0, (w - 1) / 2], [0, 150.0, (h - 1) / 2], [0, 0, 1]]), w, h)


def test_render_smooth_mesh_paints_the_nearest_face_and_keeps_face_indices() -> None:
    cam = _camera()
    square = np.array([[-0.1, -0.1], [0.1, -0.1], [0.1, 0.1], [-0.1, 0.1]])
    far = np.c_[square, np.full(4, 1.0)]
    near = np.c_[square * 0.3, np.full(4, 0.5)]  # smaller in the world, nearer: the image centre
    behind = np.array([[0.0, 0.0, -0.2], [0.1, 0.0, -0.2], [0.0, 0.1, -0.2]])  # not drawn, no error
    v = np.concatenate([behind, far, near])
    quad = np.array([[0, 1, 2], [0, 2, 3]])
    faces = np.concatenate([[[0, 1, 2]], quad + 3, quad + 7])
    rgb = np.concatenate([np.zeros((3, 3)), np.tile([200.0, 0, 0], (4, 1)), np.tile([0, 0, 200.0], (4, 1))])
    background = np.full((120, 160, 3), 30, np.uint8)
    image, top = render_smooth_mesh(background, v, faces, rgb, cam)
    assert background.max() == 30  # drawn into a copy
    centre = image[60, 80]
    assert centre[2] == 200 and centre[0] == 0 and top[60, 80] in (3, 4)  # the near square's faces
    assert image[60, 80 + 12][0] == 200 and top[60, 92] in (1, 2)  # the far square (+-15 px) around it
    assert (top == 0).sum() == 0 and (image[top < 0] == 30).all()
    # same silhouette as render_mesh (one fill rule)
    _, mask = render_mesh(background, v[3:], faces[1:] - 3, cam)
    assert ((top >= 0) == (mask > 0)).mean() > 0.995


def test_render_smooth_mesh_checks_its_input() -> None:
    cam = _camera()
    v = np.array([[0.0, 0.0, 1.0], [0.1, 0.0, 1.0], [np.nan, 0.1, 1.0]])
    with pytest.raises(ValueError, match="finite"):
        render_smooth_mesh(np.zeros((120, 160, 3), np.uint8), v, np.array([[0, 1, 2]]), np.zeros((3, 3)), cam)
    with pytest.raises(ValueError, match="camera is 160x120"):
        render_smooth_mesh(np.zeros((10, 10, 3), np.uint8), v[:2], np.zeros((0, 3)), np.zeros((2, 3)), cam)


def test_generator_skin_option() -> None:
    cfg = SyntheticConfig(hand_look="skin", image_sizes=((320, 240),))
    tubes = SyntheticConfig(image_sizes=((320, 240),))
    assert "hand_look" not in tubes.to_dict()  # the default keeps old meta.json files matching
    assert SyntheticConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="hand_look"):
        SyntheticConfig(hand_look="mesh")
    for index in range(3):
        a, b = generate_frame(cfg, 5, index), generate_frame(tubes, 5, index)
        assert a.image.shape == (240, 320, 3)
        for ha, hb in zip(a.hands, b.hands):  # same draws up to the rendering: the same labels
            np.testing.assert_array_equal(ha.keypoints_cam_m, hb.keypoints_cam_m)
            assert ha.mask.any()
        again = generate_frame(cfg, 5, index)
        assert again.jpeg_bytes == a.jpeg_bytes


def _rigid(axis_angle: np.ndarray, t: np.ndarray) -> np.ndarray:
    from wildhands.geometry.rotations import rodrigues

    m = np.eye(4)
    m[:3, :3], m[:3, 3] = rodrigues(np.asarray(axis_angle, np.float64)), t
    return m


def test_dual_quaternion_skinning_is_rigid_for_one_joint_and_keeps_a_bent_joint_thick() -> None:
    from wildhands.render.hand_skin import dual_quaternion_skinning

    rng = np.random.default_rng(0)
    pts = rng.normal(size=(50, 3))
    a = _rigid([0.3, -1.2, 2.0], np.array([0.1, 0.2, -0.3]))
    w = rng.dirichlet(np.ones(3), 50)
    same = dual_quaternion_skinning(w, np.stack([a, a, a]), pts)  # any weights of one transform: rigid
    np.testing.assert_allclose(same, pts @ a[:3, :3].T + a[:3, 3], atol=1e-12)
    # a tube of radius 1 along x with its joint at p, the child bent 90 deg about z through p, the parent
    # moved rigidly (both dual parts differ): the ring at the joint (weights 1/2, 1/2) stays at radius 1
    # round the moved joint; a linear blend of the matrices shrinks it to cos(45 deg)
    p = np.array([0.4, -0.2, 0.7])
    phi = np.linspace(0, 2 * np.pi, 36, endpoint=False)
    ring = p + np.stack([np.zeros_like(phi), np.cos(phi), np.sin(phi)], 1)
    move = _rigid([0.2, 0.1, -0.3], np.array([1.0, 2.0, 3.0]))
    bend = np.eye(4)
    bend[:3, :3] = _rigid([0.0, 0.0, np.pi / 2], np.zeros(3))[:3, :3]
    bend[:3, 3] = p - bend[:3, :3] @ p  # rotation about the joint at p
    bones = np.stack([move, move @ bend])
    half = np.full((36, 2), 0.5)
    centre = move[:3, :3] @ p + move[:3, 3]
    dqs = dual_quaternion_skinning(half, bones, ring)
    blend = np.einsum("vj,jab->vab", half, bones)
    lbs = np.einsum("vab,vb->va", blend[:, :3, :3], ring) + blend[:, :3, 3]
    assert np.linalg.norm(dqs - centre, axis=1) == pytest.approx(np.ones(36), abs=1e-9)
    assert np.linalg.norm(lbs - centre, axis=1).min() == pytest.approx(np.cos(np.pi / 4), abs=1e-9)


def test_flexed_fingers_keep_their_volume(skins: dict[str, HandSkin]) -> None:
    from wildhands.data.synthetic.poses import GRASP_TEMPLATES
    from wildhands.handmodel.open_hand import signed_volume
    from wildhands.model.grasp import GRASP_CLASS_IDS

    s = skins["right"]
    fist = GRASP_TEMPLATES[GRASP_CLASS_IDS["lateral"]][0]
    rest = signed_volume(s.v_rest, s.faces)
    posed = s.skin(np.zeros(10), np.zeros(3), fist, sleeve_x=None).vertices
    a = s.transforms(np.zeros(10), np.zeros(3), fist)
    blend = np.einsum("vj,jab->vab", s.weights, a)
    linear = np.einsum("vab,vb->va", blend[:, :3, :3], s.v_rest) + blend[:, :3, 3]
    lost_dqs = rest - signed_volume(posed, s.faces)
    lost_lbs = rest - signed_volume(linear, s.faces)
    assert lost_lbs > 0 and abs(lost_dqs) < 0.5 * lost_lbs  # linear blending loses volume in a fist


def test_fingers_have_adult_breadth(skins: dict[str, HandSkin]) -> None:
    """At beta = 0 (an average man's hand length) the fingers are as thick as adult fingers: the skin's
    dorsal-palmar extent through the PIP joint is ~21 mm for the index and middle, ~17-18 for the little
    finger (the fingers were ~18 % thinner until session 11)."""
    rest_joints = OpenHandModel("right").joints_template.double().numpy()
    v = skins["right"].v_rest

    def thickness_mm(joint: int) -> float:
        c = rest_joints[joint]  # fingers along -x, palm normal -y: a thin column through the joint along y
        column = v[(np.abs(v[:, 0] - c[0]) < 0.0015) & (np.abs(v[:, 2] - c[2]) < 0.003)]
        column = column[np.abs(column[:, 1] - c[1]) < 0.02]
        assert len(column) >= 2
        return float(np.ptp(column[:, 1]) * 1000.0)

    index_pip, middle_pip, pinky_pip = 2, 5, 8  # MANO joint order: index, middle, pinky, ring, thumb
    assert 19.0 < thickness_mm(index_pip) < 23.5
    assert 19.0 < thickness_mm(middle_pip) < 23.5
    assert 15.5 < thickness_mm(pinky_pip) < 20.0


def test_palm_side_has_flexion_creases_and_the_back_none(skins: dict[str, HandSkin]) -> None:
    """The palm's creases (distal and proximal transverse, thenar, the fingers' base creases) are on the
    palmar side only: what, with the thumb's ball, tells a palm from the back of a hand."""
    s = skins["right"]
    v = s.v_rest  # fingers along -x, palm normal -y, thumb side +z
    palm = (s.hand_part == PART_HAND) & (v[:, 0] < -0.01) & (v[:, 0] > -0.075) & (np.abs(v[:, 2]) < 0.025)
    palmar, dorsal = palm & (s.palmar > 0.7), palm & (s.palmar < 0.05)
    assert palmar.sum() > 300 and dorsal.sum() > 300
    assert (s.crease[palmar] > 0.5).mean() > 0.05  # a few lines across the palm, not a darkened palm
    assert (s.crease[palmar] > 0.5).mean() < 0.3
    assert s.crease[dorsal].max() == 0.0
    # each finger's palmar base crease, a third of the way along its proximal phalanx
    rest_joints = OpenHandModel("right").joints_template.double().numpy()
    for base, pip in ((1, 2), (4, 5), (10, 11), (7, 8)):  # index, middle, ring, pinky (MANO order)
        at = rest_joints[base] + 0.33 * (rest_joints[pip] - rest_joints[base])
        near = (np.linalg.norm(v[:, [0, 2]] - at[[0, 2]], axis=1) < 0.004) & (s.palmar > 0.7)
        assert s.crease[near].max() > 0.9


def test_thumb_ball_fills_the_palm(skins: dict[str, HandSkin]) -> None:
    """The thenar eminence: halfway along the palm, 15 mm to the thumb's side of its midline the palmar
    surface stands at least 6 mm prouder than 15 mm to the little finger's side (4.9 mm with the thumb's
    metacarpal alone, before session 12)."""
    v = skins["right"].v_rest

    def palmar_surface_mm(x: float, z: float) -> float:
        column = v[(np.abs(v[:, 0] - x) < 0.002) & (np.abs(v[:, 2] - z) < 0.002)]
        return float(-column[:, 1].min() * 1000.0)

    assert palmar_surface_mm(-0.045, 0.015) - palmar_surface_mm(-0.045, -0.015) > 6.0
