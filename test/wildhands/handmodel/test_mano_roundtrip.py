"""The open model written as a MANO pickle loads in smplx.MANO and ManoHandModel and gives the same hand."""

from __future__ import annotations

import pickle

import pytest
import torch

from wildhands.handmodel import ManoHandModel, OpenHandModel, build_hand_model

pytestmark = pytest.mark.smplx


def _inputs(batch: int = 4) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(11)
    betas = torch.randn(batch, 10, generator=g)
    orient = torch.randn(batch, 3, generator=g)
    pose = 0.7 * torch.randn(batch, 45, generator=g)
    transl = 0.3 * torch.randn(batch, 3, generator=g)
    return betas, orient, pose, transl


@pytest.mark.parametrize("side", ["right", "left"])
def test_smplx_mano_loads_our_pickle(tmp_path, side):
    import smplx

    ours = OpenHandModel(side)
    path = ours.save_mano_pickle(tmp_path)
    assert path.name == f"MANO_{side.upper()}.pkl"
    mano = smplx.MANO(model_path=str(path), is_rhand=side == "right", use_pca=False, flat_hand_mean=True)
    betas, orient, pose, transl = _inputs()
    theirs = mano(betas=betas, global_orient=orient, hand_pose=pose, transl=transl)
    mine = ours(betas, orient, pose, transl)
    assert theirs.vertices.shape == mine.vertices.shape
    torch.testing.assert_close(theirs.vertices, mine.vertices, atol=1e-5, rtol=0)
    torch.testing.assert_close(theirs.joints, mine.joints, atol=1e-5, rtol=0)
    assert torch.equal(mano.faces_tensor, ours.faces)
    # PCA with the identity components is the same as no PCA
    pca = smplx.MANO(model_path=str(path), use_pca=True, num_pca_comps=44, flat_hand_mean=True)
    out = pca(betas=betas, global_orient=orient, hand_pose=pose[:, :44], transl=transl)
    ref = ours(betas, orient, torch.cat([pose[:, :44], torch.zeros(4, 1)], 1), transl)
    torch.testing.assert_close(out.vertices, ref.vertices, atol=1e-5, rtol=0)


@pytest.mark.parametrize("side", ["right", "left"])
def test_mano_hand_model_on_our_pickle(tmp_path, side):
    ours = OpenHandModel(side)
    path = ours.save_mano_pickle(tmp_path / f"open_{side}.pkl")
    mano = ManoHandModel(path, side=side, fingertip_vertex_ids=ours.fingertip_vertex_ids.tolist())
    assert mano.source_name == "open_hand_v1" and mano.num_vertices == ours.num_vertices
    betas, orient, pose, transl = _inputs()
    a, b = ours(betas, orient, pose, transl), mano(betas, orient, pose, transl)
    assert b.model_name == "mano" and b.side == side
    for field in ("vertices", "joints", "keypoints"):
        torch.testing.assert_close(getattr(b, field), getattr(a, field), atol=1e-5, rtol=0)
    from smplx.lbs import batch_rodrigues

    rot = mano(betas, batch_rodrigues(orient), batch_rodrigues(pose.reshape(-1, 3)).reshape(4, 15, 3, 3))
    torch.testing.assert_close(rot.vertices, a.vertices - transl[:, None], atol=1e-5, rtol=0)


def test_mano_hand_model_folder_and_mean(tmp_path):
    ours = OpenHandModel()
    ours.save_mano_pickle(tmp_path)
    model = build_hand_model("mano", model_path=tmp_path)
    assert isinstance(model, ManoHandModel)
    with pytest.raises(ValueError, match="fingertip_vertex_ids"):
        ManoHandModel(tmp_path, fingertip_vertex_ids=[1, 2, 3])
    # Without fingertip_vertex_ids the wrapper uses MANO's (745, 317, ...), which are valid indices of our
    # mesh but not its fingertips: that is why the round trip above passes ours explicitly.
    assert model.fingertip_vertex_ids.tolist() == [745, 317, 444, 556, 673]
    relaxed = ManoHandModel(tmp_path, flat_hand_mean=False)
    with pytest.raises(ValueError, match="flat_hand_mean"):
        relaxed(hand_pose=torch.eye(3).expand(1, 15, 3, 3))


def test_missing_mano_files_say_where_they_come_from(tmp_path):
    for path in (None, tmp_path, tmp_path / "MANO_RIGHT.pkl"):
        with pytest.raises(FileNotFoundError, match="mano.is.tue.mpg.de"):
            ManoHandModel(path)
    with pytest.raises(FileNotFoundError, match="open hand model"):
        build_hand_model("mano")


def test_pickle_has_mano_keys(tmp_path):
    import scipy.sparse

    path = OpenHandModel().save_mano_pickle(tmp_path / "m.pkl")
    with open(path, "rb") as fh:
        data = pickle.load(fh, encoding="latin1")
    for key in (
        "v_template",
        "shapedirs",
        "posedirs",
        "J_regressor",
        "kintree_table",
        "weights",
        "f",
        "hands_components",
        "hands_mean",
    ):
        assert key in data, key
    v = data["v_template"].shape[0]
    assert data["shapedirs"].shape == (v, 3, 10) and data["posedirs"].shape == (v, 3, 135)
    assert scipy.sparse.issparse(data["J_regressor"]) and data["J_regressor"].shape == (16, v)
    assert data["kintree_table"].shape == (2, 16) and data["weights"].shape == (v, 16)
