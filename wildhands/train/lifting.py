"""Training of the landmark-lifting model on synthetic LABELS only (no rendering).

Every sample: a camera (pinhole, plumb_bob or equidistant fisheye, sane random intrinsics), a right hand
(pose from the grasp templates, shape β, egocentric wrist rotation) placed anywhere in the field of view
at 0.2-0.9 m, its keypoints by forward kinematics, and what the landmark network would report for it
(:func:`simulate_landmarks`: 2D landmarks with noise and outliers, world landmarks in a frame turned,
scaled and jittered like the real network's). Millions of samples on CPU in minutes.

    python -m wildhands.train.lifting --out runs/lifting --steps 4000      # resumes from runs/lifting/last.pt

The noise model's figures (2D noise 4 % of the hand's size, 5 % outliers, world landmarks turned by
~20 deg, scaled by 1 +- 0.1, 8 mm jitter) follow what the landmark network does on real hands with 3D truth
(``bench/real_hands.py``, the "landmark network vs truth" table).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm import tqdm

from wildhands.data.synthetic.generator import rest_keypoints
from wildhands.data.synthetic.poses import (
    POSE_CONVENTIONS,
    flex_in_finger_planes,
    sample_betas,
    sample_global_orient,
    sample_grasp,
    sample_hand_pose,
)
from wildhands.geometry.camera import CameraModel, pinhole_focal_px
from wildhands.geometry.rotations import axis_angle_to_matrix
from wildhands.handmodel.open_hand import OpenHandModel
from wildhands.handmodel.skeleton import HandSkeleton
from wildhands.model.lifting import LiftingConfig, LiftingNet, lift_to_camera, lifting_inputs, save_lifting

logger = logging.getLogger(__name__)

IMAGE_SIZES = ((640, 480), (1280, 720), (256, 256), (512, 334), (848, 480))


@dataclass(frozen=True)
class NoiseModel:
    """How the simulated landmark network errs (see the module docstring)."""

    sigma_2d: float = 0.04  # of the hand's extent in pixels, per coordinate
    outlier_rate: float = 0.05
    outlier_sigma: float = 0.15
    world_rotation_deg: float = 20.0
    world_scale_sigma: float = 0.10
    world_sigma_m: float = 0.008


def sample_camera(rng: np.random.Generator) -> CameraModel:
    """A plausible random camera: 30 % pinhole, 40 % plumb_bob, 30 % equidistant fisheye."""
    w, h = IMAGE_SIZES[int(rng.integers(len(IMAGE_SIZES)))]
    kind = rng.choice(["none", "plumb_bob", "equidistant"], p=[0.3, 0.4, 0.3])
    if kind == "equidistant":
        f = w / math.radians(rng.uniform(120, 200))
        D = rng.uniform(-0.04, 0.04, 4)
    else:
        f = pinhole_focal_px(w, math.radians(rng.uniform(40, 120)))
        D = None
        if kind == "plumb_bob":
            D = np.array([rng.uniform(-0.35, 0.15), rng.uniform(-0.1, 0.1), rng.normal(0, 0.002),
                          rng.normal(0, 0.002), 0.0])  # fmt: skip
    fy = f * rng.uniform(0.98, 1.02)
    cx, cy = (w - 1) / 2 + rng.normal(0, 0.02 * w), (h - 1) / 2 + rng.normal(0, 0.02 * h)
    return CameraModel.from_K([[f, 0, cx], [0, fy, cy], [0, 0, 1]], w, h, D=D, distortion_model=kind)


def simulate_landmarks(kp_cam: np.ndarray, uv: np.ndarray, rng: np.random.Generator, noise: NoiseModel):
    """(2D landmarks (21, 2) px, world landmarks (21, 3) m) the landmark network might give for a hand
    whose keypoints are ``kp_cam`` (21, 3) m, projected at ``uv`` (21, 2) px."""
    extent = float((uv.max(0) - uv.min(0)).max())
    uv = uv + rng.normal(0, noise.sigma_2d * extent, uv.shape)
    out = rng.random(len(uv)) < noise.outlier_rate
    uv[out] += rng.normal(0, noise.outlier_sigma * extent, (int(out.sum()), 2))
    axis = rng.normal(size=3)
    axis *= math.radians(abs(rng.normal(0, noise.world_rotation_deg))) / np.linalg.norm(axis)
    R = cv2.Rodrigues(axis)[0]
    scale = 1.0 + rng.normal(0, noise.world_scale_sigma)
    world = (kp_cam - kp_cam.mean(0)) @ R.T * scale + rng.normal(0, noise.world_sigma_m, kp_cam.shape)
    return uv, world


def sample_batch(rng: np.random.Generator, skeleton: HandSkeleton, n: int, noise: NoiseModel,
                 hands_per_camera: int = 8, rest_keypoints: np.ndarray | None = None) -> dict:  # fmt: skip
    """n samples: network inputs and the truth (wrist rotation, joint rotations, β, wrist position, kp).
    ``rest_keypoints`` ((21, 3), the right hand model's at zero pose): given, the fingers flex in their own
    planes as in the synthetic images (``poses.sample_hand_pose``; generator version 6)."""
    poses, betas, orients, cams, targets = [], [], [], [], []
    while len(poses) < n:
        cam = sample_camera(rng)
        for _ in range(hands_per_camera):
            poses.append(sample_hand_pose(rng, sample_grasp(rng)))
            betas.append(sample_betas(rng))
            orients.append(sample_global_orient(rng))
            u = np.array([rng.uniform(0.1, 0.9) * cam.width, rng.uniform(0.1, 0.9) * cam.height])
            ray = cam.pixels_to_rays(u[None])[0]
            targets.append(ray / np.linalg.norm(ray) * rng.uniform(0.2, 0.9))
            cams.append(cam)
    poses, betas, orients = np.stack(poses[:n]), np.stack(betas[:n]), np.stack(orients[:n])
    if rest_keypoints is not None:  # the same draws, converted in one batch
        poses = flex_in_finger_planes(poses, rest_keypoints)
    kp = skeleton(betas, orients, poses.reshape(n, 45), np.zeros((n, 3)))
    centre = np.stack(targets[:n])
    kp = kp - kp.mean(1, keepdims=True) + centre[:, None]
    lm, world, keep = [], [], []
    for start in range(0, n, hands_per_camera):  # one camera per group: one projection call
        idx = list(range(start, min(start + hands_per_camera, n)))
        cam = cams[idx[0]]
        uv = cam.project(kp[idx].reshape(-1, 3)).reshape(len(idx), -1, 2)
        for j, i in enumerate(idx):
            u = uv[j]
            inside = (
                np.isfinite(u).all() and (kp[i, :, 2] > 0.05).all()
                and (u > -0.05 * np.array([cam.width, cam.height])).all()
                and (u < 1.05 * np.array([cam.width, cam.height])).all()
            )  # fmt: skip
            if inside:
                a, b = simulate_landmarks(kp[i], u, rng, noise)
                lm.append(a)
                world.append(b)
                keep.append(i)
    keep = np.asarray(keep)
    inputs = lifting_inputs(np.stack(lm), np.stack(world), [cams[i] for i in keep])
    # simulated world landmarks are in the camera's axes; the landmark network gives them in the view of
    # the hand (the virtual camera's axes: a crop knows nothing of where it sits in the field of view)
    inputs.world = np.einsum("bij,bnj->bni", inputs.rotation, inputs.world)
    return {
        "inputs": inputs,
        "wrist_rotation": axis_angle_to_matrix(torch.as_tensor(orients[keep])).float(),
        "joint_rotations": axis_angle_to_matrix(torch.as_tensor(poses[keep])).float(),
        "betas": torch.as_tensor(betas[keep]).float(),
        "keypoints": torch.as_tensor(kp[keep]).float(),
    }


def lifting_loss(model: LiftingNet, skeleton: HandSkeleton, batch: dict) -> tuple[torch.Tensor, dict]:
    landmarks, world, kpe, crop = batch["inputs"].tensors()
    rotation = torch.from_numpy(batch["inputs"].rotation).float()
    out = model(landmarks, world, kpe, crop)
    wrist_rot, joint_rot, betas, transl = lift_to_camera(out, crop, rotation)
    wrist = torch.as_tensor(skeleton.joints0[0], dtype=transl.dtype)
    kp = skeleton.torch_keypoints(betas, wrist_rot, joint_rot, transl - wrist)
    gt = batch["keypoints"]
    rel = (kp - kp[:, :1]) - (gt - gt[:, :1])
    terms = {
        "kp_rel_mm": rel.norm(dim=-1).mean() * 1000,
        "depth_log": (torch.log(transl[:, 2].clamp(min=1e-3)) - torch.log(gt[:, 0, 2])).abs().mean(),
        "xy_rel": ((transl[:, :2] - gt[:, 0, :2]).norm(dim=-1) / gt[:, 0, 2]).mean(),
        "rot": (joint_rot - batch["joint_rotations"]).square().mean()
        + (wrist_rot - batch["wrist_rotation"]).square().mean(),
        "betas": (betas - batch["betas"]).square().mean(),
    }
    loss = (
        terms["kp_rel_mm"] / 10
        + 5 * terms["depth_log"]
        + 5 * terms["xy_rel"]
        + 2 * terms["rot"]
        + 0.1 * terms["betas"]
    )
    return loss, {k: float(v.detach()) for k, v in terms.items()}


@dataclass(frozen=True)
class LiftingTrainConfig:
    steps: int = 4000
    batch: int = 256
    lr: float = 1e-3
    seed: int = 0
    eval_every: int = 500
    #: how the training poses' finger rows are read (``poses.POSE_CONVENTIONS``): ``'finger_planes'``, the
    #: fingers flex in their own planes, converging (generator version 6's poses), or ``'components'``, the
    #: templates' components as raw axis-angles (version 5 and before); the network records it
    pose_convention: str = "components"


def train(out_dir: str | os.PathLike, config: LiftingTrainConfig, noise: NoiseModel | None = None) -> Path:
    """Train (resuming from ``out_dir/last.pt``); writes ``model.pt``, ``history.jsonl``, ``train.log``."""
    noise = noise or NoiseModel()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    log_file = logging.FileHandler(out / "train.log")
    log_file.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    logger.addHandler(log_file)
    logger.setLevel(logging.INFO)
    torch.manual_seed(config.seed)
    skeleton = HandSkeleton(OpenHandModel("right"))
    model = LiftingNet(LiftingConfig(pose_convention=config.pose_convention))
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, config.steps, eta_min=config.lr * 0.02)
    start = 0
    last = out / "last.pt"
    if last.is_file():
        state = torch.load(last, map_location="cpu", weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        start = state["step"]
        sched.T_max = config.steps  # a resumed run may be given another length
        logger.info("resumed from %s at step %d", last, start)
    rest = rest_keypoints() if config.pose_convention == "finger_planes" else None
    eval_batch = sample_batch(np.random.default_rng(12345), skeleton, 1024, noise, rest_keypoints=rest)
    rng = np.random.default_rng(config.seed * 1000 + start)
    history = open(out / "history.jsonl", "a")
    bar = tqdm(range(start, config.steps), initial=start, total=config.steps, desc="lifting", unit="step")
    for step in bar:
        model.train()
        batch = sample_batch(rng, skeleton, config.batch, noise, rest_keypoints=rest)
        loss, terms = lifting_loss(model, skeleton, batch)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        sched.step()
        bar.set_postfix(loss=f"{loss.item():.3f}", kp=f"{terms['kp_rel_mm']:.1f}mm")
        if (step + 1) % config.eval_every == 0 or step + 1 == config.steps:
            model.eval()
            with torch.no_grad():
                _, ev = lifting_loss(model, skeleton, eval_batch)
            record = {
                "step": step + 1,
                "lr": sched.get_last_lr()[0],
                "train": terms,
                "eval": ev,
                "time": time.time(),
            }
            history.write(json.dumps(record) + "\n")
            history.flush()
            logger.info("step %d eval %s", step + 1, {k: round(v, 4) for k, v in ev.items()})
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                        "step": step + 1}, last)  # fmt: skip
    history.close()
    logger.removeHandler(log_file)
    log_file.close()
    return save_lifting(
        out / "model.pt", model, {"steps": config.steps, "noise": asdict(noise), "train": asdict(config)}
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="runs/lifting")
    ap.add_argument("--steps", type=int, default=LiftingTrainConfig.steps)
    ap.add_argument("--batch", type=int, default=LiftingTrainConfig.batch)
    ap.add_argument("--lr", type=float, default=LiftingTrainConfig.lr)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--pose-convention",
        choices=POSE_CONVENTIONS,
        default=LiftingTrainConfig.pose_convention,
        help="how the training poses' fingers flex (finger_planes: as generator version 6's)",
    )
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (a small model: 1 is fastest)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    path = train(
        args.out,
        LiftingTrainConfig(args.steps, args.batch, args.lr, args.seed, pose_convention=args.pose_convention),
    )
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
