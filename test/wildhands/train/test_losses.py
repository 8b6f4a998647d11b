"""Loss terms: the robust camera term and the capped 2D term."""

import torch

from wildhands.handmodel import OpenHandModel
from wildhands.model.network import WildHandsOutput
from wildhands.train.losses import CAM_ERROR_CAP, compute_losses


def _batch_and_output(target_cam: torch.Tensor, pred_cam: torch.Tensor):
    b = target_cam.shape[0]
    eye = torch.eye(3).expand(b, 3, 3)
    pose = torch.eye(3).expand(b, 15, 3, 3)
    K = torch.tensor([[500.0, 0, 320], [0, 500.0, 240], [0, 0, 1]]).expand(b, 3, 3)
    batch = {
        "K": K,
        "box_center": torch.tensor([[320.0, 240.0]]).expand(b, 2),
        "box_size": torch.full((b,), 200.0),
        "has_3d": torch.ones(b, dtype=torch.bool),
        "has_params": torch.ones(b, dtype=torch.bool),
        "global_orient": eye,
        "hand_pose": pose,
        "betas": torch.zeros(b, 10),
        "kp3d_rel": torch.zeros(b, 21, 3),
        "kp2d": torch.zeros(b, 21, 2),
        "kp2d_valid": torch.zeros(b, 21, dtype=torch.bool),
        "cam_wp": target_cam,
        "has_mask": torch.zeros(b, dtype=torch.bool),
        "mask": torch.zeros(b, 8, 8),
        "grasp": torch.full((b,), -1),
    }
    out = WildHandsOutput(
        global_orient=eye,
        hand_pose=pose,
        betas=torch.zeros(b, 10),
        cam_wp=pred_cam,
        grasp_logits=torch.zeros(b, 8),
        pose_6d=torch.zeros(b, 16, 6),
    )
    return batch, out


def test_cam_term_is_quadratic_near_the_target_and_capped_far_away():
    hand = OpenHandModel(side="right")
    # sample 0: small error in log s only; sample 1: a wide-fisheye outlier, wrist 20 half-crops away
    target = torch.tensor([[8.0, 0.0, 0.0], [10.0, 2.0, 0.0]])
    pred = torch.tensor([[8.0 * 1.2, 0.0, 0.0], [10.0, 0.0, 0.0]], requires_grad=True)
    batch, out = _batch_and_output(target, pred)
    loss, available = compute_losses(out, batch, hand)["cam"]
    assert available.tolist() == [1.0, 1.0]
    expected0 = 0.5 * torch.log(torch.tensor(1.2)) ** 2 / 3
    assert torch.allclose(loss[0], expected0, rtol=1e-5)
    # s·tx error 20: counted at the cap, and it pushes no gradient
    assert torch.allclose(loss[1], torch.tensor((CAM_ERROR_CAP - 0.5) / 3))
    loss.sum().backward()
    assert pred.grad[0, 0] != 0
    assert torch.all(pred.grad[1] == 0)
