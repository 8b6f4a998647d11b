"""The render skin (``wildhands.render.hand_skin``): one smooth surface bound to the open hand's skeleton,
and the synthetic generator's ``hand_look: skin`` option."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from wildhands.data.synthetic import SyntheticConfig
from wildhands.data.synthetic.generator import generate_frame
from wildhands.handmodel import OpenHandModel
from wildhands.render.hand_skin import PART_ARM, PART_HAND, PART_SLEEVE, HandSkin, surface_nets
from wildhands.render.shaded import ShadingStyle, interpolate_vertex_colors, shade_vertices


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

    assert 2e-4 < signed_volume(s.v_rest, s.faces) < 1e-3  # m³, outward winding (hand + 12 cm forearm)
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
