"""The 21 keypoints of a hand model by forward kinematics alone (no mesh), with their exact Jacobian.

A hand model (``OpenHandModel`` or ``ManoHandModel``) poses its mesh with linear blend skinning and reads
the keypoints from it: 16 joints (``J_regressor`` on the shaped template, then posed) and 5 fingertip
vertices. The joints only depend on the rest joints and the rotations, and each fingertip vertex is rigid
to its distal bone (skinning weight 1 in the open model's tips; a blended tip, as in real MANO, follows
its main bone: logged at construction), so the keypoints follow from the skeleton's kinematic chain:
21 points instead of ~1 000 (open) or 778 (MANO) skinned vertices. MANO's pose blend shapes move tip
vertices by a fraction of a millimetre; they are ignored here.

Two passes over one set of constants: ``__call__`` in numpy float64, for what a per-frame fit needs
(``wildhands.runtime.refine``: small batches, many calls; numpy spends a few microseconds per operation
where torch spends several), with the keypoints' exact Jacobian with respect to all 61 parameters in the
same pass; and :meth:`HandSkeleton.torch_keypoints`, differentiable by autograd, for training losses.
The Jacobian:

- joint ``j``'s axis-angle ``a_j`` moves each keypoint ``q`` below it by
  ``dq/da_j = -skew(q - o_j) R_parent(j) J_l(a_j)`` (``o_j`` the joint's position, ``R_parent`` its
  parent's world rotation, ``J_l`` the SO(3) left Jacobian);
- β moves the rest joints linearly; the kinematic chain carries those offsets (one more pass);
- the translation moves every keypoint by itself.

Frames and units: the hand model's frame (see ``open_hand``), metres, axis-angle in radians; ``transl``
is added to every point, as in the models. Parameter vector order (61): global orientation (3), hand pose
(15 x 3, MANO joint order), β (``num_betas``), translation (3).
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from wildhands.geometry.rotations import axis_angle_to_matrix, rodrigues, skew, so3_left_jacobian
from wildhands.handmodel.keypoints import NUM_KEYPOINTS

logger = logging.getLogger(__name__)

__all__ = ["HandSkeleton"]

_TIP_RIGID_MIN_WEIGHT = 0.999


def _numpy(x) -> np.ndarray:
    return x.detach().cpu().double().numpy() if hasattr(x, "detach") else np.asarray(x, dtype=np.float64)


class HandSkeleton:
    """Keypoints (B, 21, 3) m of a hand model from (β, global orientation, hand pose, translation).

    Args:
        hand_model: a model with MANO's buffers (``v_template``, ``shapedirs``, ``J_regressor``,
            ``parents``, ``lbs_weights``, ``fingertip_vertex_ids``, ``keypoint_index``).

    Equal to ``hand_model(...).keypoints`` for the open hand model (tested to 1e-6 m).
    """

    def __init__(self, hand_model) -> None:
        m = hand_model
        template = _numpy(m.v_template)
        shapedirs = _numpy(m.shapedirs)
        jreg = _numpy(m.J_regressor)
        tips = np.asarray(_numpy(m.fingertip_vertex_ids), dtype=np.int64)
        weights = _numpy(m.lbs_weights)[tips]  # (5, 16)
        if not bool((weights.max(axis=1) >= _TIP_RIGID_MIN_WEIGHT).all()):  # e.g. real MANO
            logger.info("fingertip vertices are blended over bones: tips follow their main bone (approx.)")
        self.num_betas = int(shapedirs.shape[-1])
        self.side = getattr(m, "side", "right")
        self.joints0 = jreg @ template  # (16, 3)
        self.joint_dirs = np.einsum("jv,vkl->jkl", jreg, shapedirs)  # (16, 3, L)
        self.tips0 = template[tips]  # (5, 3)
        self.tip_dirs = shapedirs[tips]  # (5, 3, L)
        self.tip_bones = weights.argmax(axis=1)  # (5,)
        self.keypoint_index = np.asarray(_numpy(m.keypoint_index), dtype=np.int64)
        self.parents = [int(p) for p in np.asarray(_numpy(m.parents)).tolist()]
        num_joints = len(self.parents)
        # joints grouped by depth in the kinematic tree (MANO: wrist, then 3 levels of 5 joints): one
        # batched step per level instead of one per joint
        depth = [0] * num_joints
        for j in range(1, num_joints):
            depth[j] = depth[self.parents[j]] + 1
        levels = [[j for j in range(num_joints) if depth[j] == d] for d in range(max(depth) + 1)]
        #: (joints of the level, their parents) per level
        self.levels = [(np.array(lv), np.array([self.parents[j] for j in lv])) for lv in levels]
        # for the torch pass: each level's parents as positions in the previous level, and the joint order
        self._level_parents = [[levels[d - 1].index(self.parents[j]) for j in levels[d]]
                               for d in range(1, len(levels))]  # fmt: skip
        order = [j for lv in levels for j in lv]
        self._unlevel = [order.index(j) for j in range(num_joints)]
        self._torch_constants: dict = {}
        # moves[q, j]: joint j's rotation moves point q (points: 16 joints, then 5 tips; before
        # keypoint_index): j is a proper ancestor of joint q, or the tip's bone or one of its ancestors
        ancestors = np.zeros((num_joints, num_joints), dtype=bool)
        for j in range(1, num_joints):
            ancestors[j] = ancestors[self.parents[j]]
            ancestors[j, self.parents[j]] = True
        tip_moves = ancestors[self.tip_bones].copy()
        tip_moves[np.arange(len(tips)), self.tip_bones] = True
        self.moves = np.concatenate([ancestors, tip_moves])  # (21, 16)
        self.num_params = 3 * num_joints + self.num_betas + 3

    def rest(self, betas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rest joints (B, 16, 3) and fingertips (B, 5, 3), m, of shapes ``betas`` (B, L)."""
        betas = np.asarray(betas, dtype=np.float64)
        joints = self.joints0 + np.einsum("jkl,bl->bjk", self.joint_dirs, betas)
        tips = self.tips0 + np.einsum("tkl,bl->btk", self.tip_dirs, betas)
        return joints, tips

    def __call__(self, betas, global_orient, hand_pose, transl, jacobian: bool = False):
        """Keypoints (B, 21, 3) m in our keypoint order, and with ``jacobian`` their derivatives
        (B, 21, 3, 61) with respect to (global_orient, hand_pose, betas, transl) (see the module docstring).

        Args:
            betas: (B, L) shape coefficients.
            global_orient: (B, 3) axis-angle rad.
            hand_pose: (B, 45) or (B, 15, 3) axis-angle rad, MANO joint order.
            transl: (B, 3) m.
        """
        betas = np.asarray(betas, dtype=np.float64)
        batch = betas.shape[0]
        aa = np.concatenate(
            [np.asarray(global_orient, np.float64).reshape(batch, 1, 3),
             np.asarray(hand_pose, np.float64).reshape(batch, -1, 3)], axis=1,
        )  # fmt: skip
        local = rodrigues(aa)  # (B, 16, 3, 3)
        rest_joints, rest_tips = self.rest(betas)
        num_joints = aa.shape[1]
        rot = np.empty((batch, num_joints, 3, 3))  # world rotation of each joint's frame
        pos = np.empty((batch, num_joints, 3))
        rot[:, 0], pos[:, 0] = local[:, 0], rest_joints[:, 0]
        for level, parents in self.levels[1:]:
            offset = rest_joints[:, level] - rest_joints[:, parents]
            pos[:, level] = pos[:, parents] + np.einsum("bjik,bjk->bji", rot[:, parents], offset)
            rot[:, level] = rot[:, parents] @ local[:, level]
        bones = self.tip_bones
        tips = pos[:, bones] + np.einsum("btik,btk->bti", rot[:, bones], rest_tips - rest_joints[:, bones])
        points = np.concatenate([pos, tips], axis=1)  # (B, 21, 3) before keypoint_index
        keypoints = points[:, self.keypoint_index] + np.asarray(transl, np.float64)[:, None]
        assert keypoints.shape[1] == NUM_KEYPOINTS
        if not jacobian:
            return keypoints
        return keypoints, self._jacobian(aa, rot, pos, points)

    def _jacobian(self, aa, rot, pos, points) -> np.ndarray:
        """(B, 21, 3, 61) d keypoints / d (orient, pose, β, transl); arguments from the forward pass."""
        batch, num_joints = aa.shape[:2]
        parent_rot = np.empty_like(rot)
        parent_rot[:, 0] = np.eye(3)
        parent_rot[:, 1:] = rot[:, self.parents[1:]]
        m = parent_rot @ so3_left_jacobian(aa)  # (B, 16, 3, 3)
        diff = points[:, :, None, :] - pos[:, None, :, :]  # (B, 21, 16, 3): q - o_j
        block = -skew(diff) @ m[:, None]  # (B, 21, 16, 3, 3)
        block *= self.moves[None, :, :, None, None]
        d_rot = block.transpose(0, 1, 3, 2, 4).reshape(batch, -1, 3, 3 * num_joints)
        # β: the rest offsets' derivatives carried down the chain
        dirs = self.joint_dirs
        d_pos = np.empty((batch, num_joints, 3, self.num_betas))
        d_pos[:, 0] = dirs[0]
        for level, parents in self.levels[1:]:
            d_pos[:, level] = d_pos[:, parents] + np.einsum(
                "bjik,jkl->bjil", rot[:, parents], dirs[level] - dirs[parents]
            )
        bones = self.tip_bones
        d_tips = d_pos[:, bones] + np.einsum("btik,tkl->btil", rot[:, bones], self.tip_dirs - dirs[bones])
        d_beta = np.concatenate([d_pos, d_tips], axis=1)
        d_transl = np.broadcast_to(np.eye(3), (batch, d_beta.shape[1], 3, 3))
        return np.concatenate([d_rot, d_beta, d_transl], axis=-1)[:, self.keypoint_index]

    def torch_keypoints(
        self, betas: torch.Tensor, global_orient: torch.Tensor, hand_pose: torch.Tensor, transl: torch.Tensor
    ) -> torch.Tensor:
        """Keypoints (B, 21, 3) m as :meth:`__call__`, in torch and differentiable (training losses).

        Args:
            betas: (B, L) shape coefficients.
            global_orient: (B, 3) axis-angle rad or (B, 3, 3).
            hand_pose: (B, 45) / (B, 15, 3) axis-angle rad or (B, 15, 3, 3), MANO joint order.
            transl: (B, 3) m.
        """
        c = self._constants(betas.dtype, betas.device)
        batch = betas.shape[0]
        if global_orient.shape[-1] == 3 and global_orient.dim() == 2:
            global_orient = axis_angle_to_matrix(global_orient)
        if hand_pose.dim() == 2:
            hand_pose = hand_pose.reshape(batch, -1, 3)
        if hand_pose.shape[-1] == 3 and hand_pose.dim() == 3:
            hand_pose = axis_angle_to_matrix(hand_pose)
        local = torch.cat([global_orient[:, None], hand_pose], dim=1)  # (B, 16, 3, 3)
        rest_joints = c["joints0"] + torch.einsum("jkl,bl->bjk", c["joint_dirs"], betas)
        rest_tips = c["tips0"] + torch.einsum("tkl,bl->btk", c["tip_dirs"], betas)
        rot_levels, pos_levels = [local[:, :1]], [rest_joints[:, :1]]
        for (level, parents), in_previous in zip(self.levels[1:], self._level_parents):
            parent_rot = rot_levels[-1][:, in_previous]
            offset = rest_joints[:, level] - rest_joints[:, parents]
            pos_levels.append(pos_levels[-1][:, in_previous] + (parent_rot @ offset[..., None])[..., 0])
            rot_levels.append(parent_rot @ local[:, level])
        rot = torch.cat(rot_levels, dim=1)[:, self._unlevel]  # (B, 16, 3, 3), joint order
        pos = torch.cat(pos_levels, dim=1)[:, self._unlevel]  # (B, 16, 3)
        bones = self.tip_bones
        tips = pos[:, bones] + (rot[:, bones] @ (rest_tips - rest_joints[:, bones])[..., None])[..., 0]
        return torch.cat([pos, tips], dim=1)[:, self.keypoint_index] + transl[:, None]

    def _constants(self, dtype: torch.dtype, device: torch.device) -> dict[str, torch.Tensor]:
        key = (dtype, str(device))
        if key not in self._torch_constants:
            self._torch_constants[key] = {
                name: torch.as_tensor(getattr(self, name), dtype=dtype, device=device)
                for name in ("joints0", "joint_dirs", "tips0", "tip_dirs")
            }
        return self._torch_constants[key]
