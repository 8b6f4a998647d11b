"""MANO through ``smplx`` for users who own the MANO files, behind the same interface as our open model.

MANO (Romero, Tzionas and Black, SIGGRAPH Asia 2017) is licence-restricted: register and download
``MANO_RIGHT.pkl`` / ``MANO_LEFT.pkl`` yourself from https://mano.is.tue.mpg.de (non-commercial research
licence). wildhands never ships or downloads them; without them, use ``OpenHandModel`` (the default).

``ManoHandModel`` reads the pickle, builds ``smplx.MANO`` from it (no PCA) and skins with ``smplx.lbs.lbs``
itself so that, like ``OpenHandModel``, it takes axis-angle or rotation matrices. The 21 keypoints are
MANO's 16 joints plus 5 fingertip vertices (``keypoints.MANO_FINGERTIP_VERTEX_IDS`` by default) in our order.

Notes:
    * ``flat_hand_mean=True`` (default) makes a zero pose the flat open hand, as in ``OpenHandModel``;
      with False, MANO's mean relaxed pose is added to the axis-angle input (MANO's default).
    * The official pickles hold ``chumpy`` arrays: unpickling them needs the ``chumpy`` package or a copy
      converted to plain numpy.
    * The official ``MANO_LEFT.pkl`` is known to ship ``shapedirs`` whose x-component has the wrong sign
      (reported on smplx's issue tracker); HaMeR-style code negates ``shapedirs[:, 0, :]`` of the left
      model. We load the file as it is.
"""

from __future__ import annotations

import logging
import os
import pickle
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import smplx
import torch
from smplx.lbs import lbs
from smplx.utils import Struct

from wildhands.handmodel._pose import prepare_inputs
from wildhands.handmodel.keypoints import MANO_FINGERTIP_VERTEX_IDS, MANO_JOINT_TO_KEYPOINT
from wildhands.handmodel.output import HandModelOutput

logger = logging.getLogger(__name__)

__all__ = ["MANO_HELP", "ManoHandModel"]

MANO_HELP = (
    "MANO model files are licence-restricted and not shipped with wildhands: register at "
    "https://mano.is.tue.mpg.de, accept its licence, download MANO_RIGHT.pkl / MANO_LEFT.pkl and pass "
    "their folder or file as model_path. Without them use the open hand model "
    "(build_hand_model('open'), the default)."
)


def _resolve(model_path: str | os.PathLike | None, side: str) -> Path:
    if model_path is None:
        raise FileNotFoundError(f"model_path: None. {MANO_HELP}")
    path = Path(model_path).expanduser()
    if path.is_dir():
        for ext in ("pkl", "npz"):
            candidate = path / f"MANO_{side.upper()}.{ext}"
            if candidate.is_file():
                return candidate
        raise FileNotFoundError(f"model_path: no MANO_{side.upper()}.pkl/.npz in {str(path)!r}. {MANO_HELP}")
    if not path.is_file():
        raise FileNotFoundError(f"model_path: {str(path)!r} does not exist. {MANO_HELP}")
    return path


def _load(path: Path) -> dict:
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=True) as data:
            return {k: data[k] for k in data.files}
    try:
        with open(path, "rb") as fh:
            return pickle.load(fh, encoding="latin1")
    except ModuleNotFoundError as exc:
        if exc.name == "chumpy":
            raise ImportError(
                f"{path} holds chumpy arrays (the official MANO files do): `pip install chumpy` or "
                "convert the file to plain numpy arrays"
            ) from exc
        raise


class ManoHandModel(torch.nn.Module):
    """MANO (via ``smplx``) with ``OpenHandModel``'s interface and ``HandModelOutput``.

    Args:
        model_path: a MANO pickle (or .npz), or a folder with ``MANO_RIGHT.pkl`` / ``MANO_LEFT.pkl``.
        side: ``'right'`` or ``'left'``.
        flat_hand_mean: zero pose = flat hand (True) or MANO's mean pose (False).
        fingertip_vertex_ids: 5 vertex ids (thumb, index, middle, ring, pinky) used as fingertip
            keypoints; default MANO's (745, 317, 444, 556, 673).
        dtype: floating-point type.

    Raises:
        FileNotFoundError: the file is missing (the message says where MANO comes from).
        ValueError: bad ``side`` or fingertip ids.
    """

    NUM_JOINTS = 16
    NUM_BETAS = 10
    NUM_POSE_JOINTS = 15
    NUM_FINGERTIPS = 5
    name = "mano"

    def __init__(
        self,
        model_path: str | os.PathLike | None,
        side: str = "right",
        flat_hand_mean: bool = True,
        fingertip_vertex_ids: Sequence[int] | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        if side not in ("right", "left"):
            raise ValueError(f"side: {side!r} not in {{'right', 'left'}}")
        self.side = side
        self.flat_hand_mean = flat_hand_mean
        self.model_path = _resolve(model_path, side)
        data = _load(self.model_path)
        self.source_name = str(data.get("model_name", "mano"))
        self.mano = smplx.MANO(
            model_path=str(self.model_path),
            data_struct=Struct(**data),
            is_rhand=side == "right",
            use_pca=False,
            flat_hand_mean=flat_hand_mean,
            num_betas=self.NUM_BETAS,
            dtype=dtype,
            create_global_orient=False,
            create_hand_pose=False,
            create_betas=False,
            create_transl=False,
        )
        num_v = int(self.mano.v_template.shape[0])
        tips = MANO_FINGERTIP_VERTEX_IDS if fingertip_vertex_ids is None else tuple(fingertip_vertex_ids)
        if len(tips) != self.NUM_FINGERTIPS or not all(0 <= int(i) < num_v for i in tips):
            raise ValueError(f"fingertip_vertex_ids: {tips} must be 5 vertex ids in [0, {num_v})")
        self.register_buffer("fingertip_vertex_ids", torch.tensor([int(i) for i in tips], dtype=torch.long))
        self.register_buffer("keypoint_index", torch.tensor(MANO_JOINT_TO_KEYPOINT, dtype=torch.long))
        self.register_buffer("faces", self.mano.faces_tensor.clone())
        logger.info("loaded %s (%s, %d vertices) from %s", self.source_name, side, num_v, self.model_path)

    @property
    def num_vertices(self) -> int:
        return int(self.mano.v_template.shape[0])

    @property
    def num_faces(self) -> int:
        return int(self.faces.shape[0])

    def extra_repr(self) -> str:
        return f"name={self.name}, side={self.side}, file={str(self.model_path)!r}"

    def forward(
        self,
        betas: torch.Tensor | None = None,
        global_orient: torch.Tensor | None = None,
        hand_pose: torch.Tensor | None = None,
        transl: torch.Tensor | None = None,
    ) -> HandModelOutput:
        """Pose and shape MANO; same arguments, units and output as ``OpenHandModel.forward``.

        Raises:
            ValueError: bad inputs, or rotation matrices with ``flat_hand_mean=False`` (MANO's mean pose is
                added in axis-angle space, which has no rotation-matrix equivalent).
        """
        m = self.mano
        x = prepare_inputs(betas, global_orient, hand_pose, transl, like=m.v_template)
        full_pose = x.full_pose
        if x.pose2rot:
            full_pose = full_pose + m.pose_mean  # (B, 48) + (48,), zero with flat_hand_mean
        elif not self.flat_hand_mean:
            raise ValueError("hand_pose: rotation matrices need flat_hand_mean=True; pass axis-angle instead")
        vertices, joints = lbs(
            x.betas,
            full_pose,
            m.v_template,
            m.shapedirs,
            m.posedirs,
            m.J_regressor,
            m.parents,
            m.lbs_weights,
            pose2rot=x.pose2rot,
        )
        if x.transl is not None:
            vertices = vertices + x.transl[:, None]
            joints = joints + x.transl[:, None]
        tips = vertices[:, self.fingertip_vertex_ids]  # (B, 5, 3)
        keypoints = torch.cat([joints, tips], dim=1)[:, self.keypoint_index]  # (B, 21, 3)
        return HandModelOutput(vertices, joints, keypoints, self.faces, self.name, self.side)
