"""Example human hand poses for retargeting (benches, tests, examples): random plausible hands and pinches of
the open hand model (beta = 0), in the hand frame.

* :func:`human_hand_poses`: random finger flexion and thumb rotation (axis-angle, MANO joint order);
* :func:`human_keypoints`: the 21 keypoints of such poses;
* :func:`pinch_keypoints`: a hand whose thumb and index tips are a given distance apart.
"""

from __future__ import annotations

import numpy as np
import torch

from wildhands.handmodel.open_hand import OpenHandModel

__all__ = ["human_hand_poses", "human_keypoints", "pinch_keypoints"]

_FINGERS = 4  # index, middle, pinky, ring in MANO's joint order; the thumb is joints 12-14


def human_hand_poses(n: int, seed: int = 0) -> np.ndarray:
    """(n, 15, 3) axis-angle rad, MANO joint order: random plausible finger flexion and thumb rotation."""
    rng = np.random.default_rng(seed)
    pose = np.zeros((n, 15, 3))
    for f in range(_FINGERS):
        pose[:, 3 * f, 2] = rng.uniform(-0.2, 1.4, n)  # MCP flexion (about +z in the model frame)
        pose[:, 3 * f, 1] = rng.uniform(-0.25, 0.25, n)  # MCP abduction
        pose[:, 3 * f + 1, 2] = rng.uniform(0.0, 1.5, n)  # PIP
        pose[:, 3 * f + 2, 2] = rng.uniform(0.0, 1.2, n)  # DIP
    pose[:, 12:15] = rng.uniform(-0.5, 0.5, (n, 3, 3))
    return pose


def human_keypoints(pose: np.ndarray) -> np.ndarray:
    """(n, 21, 3) m, hand frame (right hand, β = 0) of poses (n, 15, 3)."""
    model = OpenHandModel(dtype=torch.float64)
    with torch.no_grad():
        return model(hand_pose=torch.from_numpy(np.asarray(pose, dtype=np.float64))).keypoints.numpy()


def pinch_keypoints(distance_m: float) -> np.ndarray:
    """(21, 3) m, hand frame: the open hand model with the index flexed and the thumb rotated until their
    tips are ``distance_m`` apart (L-BFGS on those 12 joint parameters from the flat hand; deterministic)."""
    model = OpenHandModel(dtype=torch.float64)
    rows = torch.tensor([0, 1, 2] + [12] * 3 + [13] * 3 + [14] * 3)  # index1-3, thumb1-3 (MANO order)
    cols = torch.tensor([2, 2, 2] + [0, 1, 2] * 3)  # index: flexion about z only; thumb: any axis
    x = torch.zeros(12, dtype=torch.float64, requires_grad=True)

    def keypoints(x: torch.Tensor) -> torch.Tensor:
        pose = torch.zeros(15, 3, dtype=torch.float64).index_put((rows, cols), x)
        return model(hand_pose=pose[None]).keypoints[0]

    opt = torch.optim.LBFGS([x], lr=1, max_iter=50, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        kp = keypoints(x)
        loss = (torch.linalg.norm(kp[4] - kp[8]) - distance_m) ** 2 + 1e-6 * x.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        return keypoints(x).numpy()
