#!/usr/bin/env python3
"""Render the bundled sample (wildhands/assets/sample): two hands of the open hand model in an egocentric
view, with camera_info.yaml (intrinsics) and hands.json (boxes, sides and ground-truth keypoints).

Deterministic: rerunning it reproduces the committed files. Usage: python scripts/make_sample.py [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import cv2
import numpy as np
import torch

from wildhands.geometry.camera import CameraModel
from wildhands.geometry.camera_yaml import save_camera_yaml
from wildhands.geometry.rotations import mirror_axis_angle
from wildhands.handmodel import build_hand_model
from wildhands.render.shaded import ShadingStyle, render_mesh

REPO = Path(__file__).resolve().parents[1]
WIDTH, HEIGHT, FOCAL = 640, 480, 330.0  # ~88 deg horizontal FoV: a wide egocentric camera


def background(rng: np.random.Generator) -> np.ndarray:
    """A procedural 'kitchen counter': wall gradient, a worktop with wood-like grain and two objects."""
    v = np.linspace(0, 1, HEIGHT)[:, None, None]
    img = (1 - v) * np.array([200, 205, 210]) + v * np.array([150, 150, 155])
    img = np.broadcast_to(img, (HEIGHT, WIDTH, 3)).copy()
    top = int(HEIGHT * 0.42)
    grain = 0.5 + 0.5 * np.sin(
        np.linspace(0, 60, WIDTH)[None, :] + 3 * rng.standard_normal((1, WIDTH)).cumsum(1) * 0.05
    )
    worktop = np.array([150, 110, 75])[None, None, :] * (0.85 + 0.15 * grain[..., None])
    img[top:] = np.broadcast_to(worktop, (HEIGHT - top, WIDTH, 3))
    img = img.astype(np.uint8)
    cv2.rectangle(img, (60, top - 110), (150, top + 20), (60, 110, 170), -1)  # a box
    cv2.ellipse(img, (470, top + 10), (70, 22), 0, 0, 360, (230, 230, 235), -1)  # a plate
    noise = rng.normal(0, 3, img.shape)
    return np.clip(img + noise, 0, 255).astype(np.uint8)


def palm_down_orientation(pitch_deg: float, yaw_deg: float) -> np.ndarray:
    """Axis-angle of a right hand seen from the eyes: fingers forward (+z cam), palm down (+y cam).

    Model frame (MANO's): fingers along -x, palm normal -y, thumb +z. The base rotation maps model -x to
    camera +z and model -y to camera +y; then the hand pitches up by ``pitch`` and yaws by ``yaw``.
    """
    base = np.array([[0.0, 0.0, -1.0], [0.0, -1.0, 0.0], [-1.0, 0.0, 0.0]]).T  # columns: images of x, y, z
    base = np.stack([[0, 0, -1], [0, -1, 0], [-1, 0, 0]], axis=1).astype(float)
    p, y = math.radians(pitch_deg), math.radians(yaw_deg)
    Rx = np.array([[1, 0, 0], [0, math.cos(p), -math.sin(p)], [0, math.sin(p), math.cos(p)]])
    Ry = np.array([[math.cos(y), 0, math.sin(y)], [0, 1, 0], [-math.sin(y), 0, math.cos(y)]])
    R = Ry @ Rx @ base
    return cv2.Rodrigues(R)[0].ravel()


def relaxed_pose(curl: float) -> np.ndarray:
    """(15, 3) axis-angle: every finger flexed by ``curl`` rad per joint about +z, thumb a little less."""
    pose = np.zeros((15, 3))
    pose[:12, 2] = curl
    pose[12:, 2] = 0.3 * curl
    return pose


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=REPO / "wildhands" / "assets" / "sample")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    camera = CameraModel.from_K(
        np.array([[FOCAL, 0, (WIDTH - 1) / 2], [0, FOCAL, (HEIGHT - 1) / 2], [0, 0, 1]]), WIDTH, HEIGHT
    )
    image = background(rng)
    hands = []
    # (side, wrist position in the camera frame [m], pitch, yaw, curl, betas)
    specs = [
        ("right", (0.09, 0.16, 0.30), 50.0, -20.0, 0.3, 0.5),
        ("left", (-0.11, 0.15, 0.32), 45.0, 15.0, 0.2, -0.5),
    ]
    for side, wrist, pitch, yaw, curl, beta0 in specs:
        model = build_hand_model("open", side=side)
        orient, pose = palm_down_orientation(pitch, yaw), relaxed_pose(curl)
        if side == "left":
            orient, pose = mirror_axis_angle(orient), mirror_axis_angle(pose)
        betas = np.zeros(10)
        betas[0] = beta0
        with torch.no_grad():
            out = model(
                betas=torch.tensor(betas[None], dtype=torch.float32),
                global_orient=torch.tensor(orient[None], dtype=torch.float32),
                hand_pose=torch.tensor(pose[None], dtype=torch.float32),
            )
        kp = out.keypoints[0].double().numpy()
        shift = np.asarray(wrist) - kp[0]
        verts = out.vertices[0].double().numpy() + shift
        kp = kp + shift
        image, mask = render_mesh(
            image, verts, out.faces.numpy(), camera, ShadingStyle(color_rgb=(222, 170, 138))
        )
        uv = camera.project(verts)
        x0, y0 = np.floor(uv.min(0)).clip(0)
        x1, y1 = np.ceil(uv.max(0)).clip(max=(WIDTH, HEIGHT))
        hands.append(
            {
                "side": side,
                "box_xyxy": [float(x0), float(y0), float(x1), float(y1)],
                "keypoints_cam_m": np.round(kp, 6).tolist(),
                "keypoints_px": np.round(camera.project(kp), 3).tolist(),
                "betas": betas.tolist(),
                "global_orient_axis_angle": np.round(orient, 6).tolist(),
                "hand_pose_axis_angle": np.round(pose, 6).tolist(),
            }
        )
    cv2.imwrite(str(args.out / "image.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    save_camera_yaml(camera, args.out / "camera_info.yaml", camera_name="sample_egocentric")
    meta = {
        "description": "Rendered by scripts/make_sample.py from the open hand model (open_hand_v1); "
        "keypoints in the camera optical frame (m) and in pixels, boxes xyxy in pixels.",
        "hand_model": "open_hand_v1",
        "hands": hands,
    }
    (args.out / "hands.json").write_text(json.dumps(meta, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
