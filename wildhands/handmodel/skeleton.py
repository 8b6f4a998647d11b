"""The 21 keypoints of a hand model by forward kinematics alone (no mesh): what fitting needs, fast.

A hand model (``OpenHandModel`` or ``ManoHandModel``) poses its mesh with linear blend skinning and reads
the keypoints from it: 16 joints (``J_regressor`` on the shaped template, then posed) and 5 fingertip
vertices. The joints only depend on the rest joints and the rotations, and each fingertip vertex is rigid
to its distal bone (skinning weight 1 in the open model's tips; a blended tip, as in real MANO, follows
its main bone: logged at construction), so the keypoints
follow from the skeleton's kinematic chain: 21 points instead of ~1 000 (open) or 778 (MANO) skinned
vertices, and differentiable, vmap- and jacfwd-friendly (no data-dependent branches). MANO's pose
blend shapes move tip vertices by a fraction of a millimetre; they are ignored here.

Frames and units: the hand model's frame (see ``open_hand``), metres, axis-angle in radians; ``transl``
is added to every point, as in the models.
"""

from __future__ import annotations

import logging

import torch

from wildhands.handmodel.keypoints import NUM_KEYPOINTS

logger = logging.getLogger(__name__)

__all__ = ["HandSkeleton", "rodrigues"]

_TIP_RIGID_MIN_WEIGHT = 0.999


def rodrigues(aa: torch.Tensor) -> torch.Tensor:
    """Axis-angle (..., 3) rad -> rotation matrix (..., 3, 3); smooth at 0 and free of data-dependent
    control flow (usable under ``torch.func.vmap`` / ``jacfwd``)."""
    theta2 = (aa * aa).sum(-1, keepdim=True)[..., None]  # (..., 1, 1)
    small = theta2 < 1e-8
    theta = torch.sqrt(torch.where(small, torch.ones_like(theta2), theta2))
    a = torch.where(small, 1.0 - theta2 / 6.0, torch.sin(theta) / theta)
    b = torch.where(small, 0.5 - theta2 / 24.0, (1.0 - torch.cos(theta)) / torch.where(small, 1.0, theta2))
    x, y, z = aa[..., 0], aa[..., 1], aa[..., 2]
    zero = torch.zeros_like(x)
    k = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=-1).reshape(*aa.shape[:-1], 3, 3)
    eye = torch.eye(3, dtype=aa.dtype, device=aa.device).expand_as(k)
    return eye + a * k + b * (k @ k)


class HandSkeleton(torch.nn.Module):
    """Keypoints (B, 21, 3) m of a hand model from (β, global orientation, hand pose, translation).

    Args:
        hand_model: a model with MANO's buffers (``v_template``, ``shapedirs``, ``J_regressor``,
            ``parents``, ``lbs_weights``, ``fingertip_vertex_ids``, ``keypoint_index``).

    Equal to ``hand_model(...).keypoints`` for the open hand model (tested to 1e-6 m).
    """

    def __init__(self, hand_model: torch.nn.Module) -> None:
        super().__init__()
        m = hand_model
        num_betas = m.shapedirs.shape[-1]
        jreg = m.J_regressor.to(m.v_template.dtype)
        joints0 = jreg @ m.v_template  # (16, 3)
        joint_dirs = torch.einsum("jv,vkl->jkl", jreg, m.shapedirs)  # (16, 3, L)
        tips = m.fingertip_vertex_ids
        weights = m.lbs_weights[tips]  # (5, 16)
        if not bool((weights.max(dim=1).values >= _TIP_RIGID_MIN_WEIGHT).all()):  # e.g. real MANO
            logger.info("fingertip vertices are blended over bones: tips follow their main bone (approx.)")
        self.register_buffer("joints0", joints0.clone())
        self.register_buffer("joint_dirs", joint_dirs.clone())
        self.register_buffer("tips0", m.v_template[tips].clone())
        self.register_buffer("tip_dirs", m.shapedirs[tips].clone())
        self.register_buffer("tip_bones", weights.argmax(dim=1))
        self.register_buffer("keypoint_index", m.keypoint_index.clone())
        self.parents = [int(p) for p in m.parents.tolist()]
        # joints grouped by depth in the kinematic tree (MANO: wrist, then 3 levels of 5 joints), so that
        # forward kinematics takes one batched step per level instead of one per joint
        depth = [0] * len(self.parents)
        for j in range(1, len(self.parents)):
            depth[j] = depth[self.parents[j]] + 1
        self.levels = [[j for j in range(len(depth)) if depth[j] == d] for d in range(max(depth) + 1)]
        self.level_parents = [[self.levels[d - 1].index(self.parents[j]) for j in self.levels[d]]
                              for d in range(1, len(self.levels))]  # fmt: skip
        order = [j for level in self.levels for j in level]
        self.register_buffer("unlevel", torch.as_tensor([order.index(j) for j in range(len(order))]))
        self.num_betas = int(num_betas)
        self.side = getattr(m, "side", "right")

    def rest(self, betas: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Rest joints (B, 16, 3) and fingertips (B, 5, 3), m, of shapes ``betas`` (B, L)."""
        joints = self.joints0 + torch.einsum("jkl,bl->bjk", self.joint_dirs, betas)
        tips = self.tips0 + torch.einsum("tkl,bl->btk", self.tip_dirs, betas)
        return joints, tips

    def forward(
        self, betas: torch.Tensor, global_orient: torch.Tensor, hand_pose: torch.Tensor, transl: torch.Tensor
    ) -> torch.Tensor:
        """Keypoints (B, 21, 3) m in our keypoint order.

        Args:
            betas: (B, L) shape coefficients.
            global_orient: (B, 3) axis-angle rad or (B, 3, 3).
            hand_pose: (B, 45) / (B, 15, 3) axis-angle rad or (B, 15, 3, 3), MANO joint order.
            transl: (B, 3) m.
        """
        batch = betas.shape[0]
        if global_orient.shape[-1] == 3 and global_orient.dim() == 2:
            global_orient = rodrigues(global_orient)
        if hand_pose.dim() == 2:
            hand_pose = hand_pose.reshape(batch, -1, 3)
        if hand_pose.shape[-1] == 3 and hand_pose.dim() == 3:
            hand_pose = rodrigues(hand_pose)
        local = torch.cat([global_orient[:, None], hand_pose], dim=1)  # (B, 16, 3, 3)
        rest_joints, rest_tips = self.rest(betas)
        rot_levels, pos_levels = [local[:, :1]], [rest_joints[:, :1]]
        for level, parents in zip(self.levels[1:], self.level_parents):
            parent_rot = rot_levels[-1][:, parents]
            offset = rest_joints[:, level] - rest_joints[:, [self.parents[j] for j in level]]
            pos_levels.append(pos_levels[-1][:, parents] + (parent_rot @ offset[..., None])[..., 0])
            rot_levels.append(parent_rot @ local[:, level])
        rot_t = torch.cat(rot_levels, dim=1)[:, self.unlevel]  # (B, 16, 3, 3), joint order
        pos_t = torch.cat(pos_levels, dim=1)[:, self.unlevel]  # (B, 16, 3)
        bones = self.tip_bones
        tip_offset = rest_tips - rest_joints[:, bones]
        tips = pos_t[:, bones] + (rot_t[:, bones] @ tip_offset[..., None])[..., 0]
        points = torch.cat([pos_t, tips], dim=1)[:, self.keypoint_index]
        assert points.shape[1] == NUM_KEYPOINTS
        return points + transl[:, None]
