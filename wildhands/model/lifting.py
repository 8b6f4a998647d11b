"""The landmark-lifting WildHands model: landmarks + KPE -> iterative regressor -> hand-model parameters.

Input per hand (a RIGHT hand; left hands are mirrored first, as everywhere): the landmark network's 21 2D
landmarks and 21 world landmarks, and the camera model. :func:`lifting_inputs` (the one place that
prepares them, for training and inference alike) turns them into

- ``landmarks`` (21, 2): the landmarks in a **virtual pinhole camera looking at the hand** (its optical
  axis through the mean of the landmarks' rays, taken through the real camera model, lens included),
  normalised to a square crop around them in [-1, 1];
- ``world`` (21, 3): wrist-relative world landmarks, x10 (decimetres), as given: in the axes of a camera
  turned without roll to look at the hand, which is that virtual camera's (the landmark network sees a crop
  and answers relative to its view; ``MediaPipeHandDetector`` turns the crop's roll back, as MediaPipe's
  graph does, and training turns its simulated camera-frame landmarks into that view);
- ``kpe`` (5, 2): WildHands' sparse KPE: the angles (rad) of the rays through the crop's 4 corners and
  centre in the real camera's field of view (where the crop sits decides the perspective the hand is
  seen with), sinusoidally encoded by the model;
- ``crop`` (3,): the virtual crop's centre (2) and half side (1), in normalised virtual-camera units.

The model (:class:`LiftingNet`): an MLP encoder of those inputs -> :class:`IterativeRegressor` (the image
model's regressor) -> 16 rotations (wrist in the virtual camera frame + 15 joints), β and a
weak-perspective camera of the virtual crop, which :func:`lift_to_camera` turns into a metric translation
with the same weak-perspective -> translation code as the image model, then rotates into the real camera
frame. Units: metres, radians; camera optical frame x right, y down, z forward.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from wildhands.geometry.camera import CameraModel, weak_perspective_to_translation
from wildhands.geometry.rotations import rot6d_to_matrix
from wildhands.handmodel.keypoints import NUM_KEYPOINTS
from wildhands.model.kpe import sinusoidal_encoding
from wildhands.model.regressor import IterativeRegressor, RegressorOutput

__all__ = [
    "LiftingConfig",
    "LiftingInputs",
    "LiftingNet",
    "lifting_inputs",
    "lift_to_camera",
    "unit_rays",
    "load_lifting",
    "save_lifting",
    "CROP_MARGIN",
]

LIFTING_FORMAT = "wildhands.lifting"
#: the virtual crop's side = CROP_MARGIN x the landmarks' extent (as the image model's box_scale)
CROP_MARGIN = 1.5
WORLD_SCALE = 10.0  # world landmarks are fed in decimetres


@dataclass(frozen=True)
class LiftingConfig:
    hidden: int = 512
    regressor_hidden: int = 512
    num_iterations: int = 3
    kpe_num_freqs: int = 4
    num_betas: int = 10
    use_world: bool = True
    #: how the answered joint rotations read (``poses.POSE_CONVENTIONS``): the convention of the poses it
    #: was trained on; the fit's joint limits follow it (``RefineConfig.joint_limits``)
    pose_convention: str = "components"

    def __post_init__(self) -> None:
        from wildhands.data.synthetic.poses import POSE_CONVENTIONS

        if self.pose_convention not in POSE_CONVENTIONS:
            raise ValueError(f"pose_convention: need one of {POSE_CONVENTIONS}, got {self.pose_convention!r}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class LiftingInputs:
    """Batched network inputs (numpy float32) and what lifting back needs (float64).

    landmarks (B, 21, 2), world (B, 21, 3), kpe (B, 5, 2), crop (B, 3): see the module docstring.
    rotation (B, 3, 3): camera frame -> virtual camera frame (``p_virtual = R p_camera``).
    """

    landmarks: np.ndarray
    world: np.ndarray
    kpe: np.ndarray
    crop: np.ndarray
    rotation: np.ndarray

    def tensors(self) -> tuple[torch.Tensor, ...]:
        return tuple(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)) for x in
                     (self.landmarks, self.world, self.kpe, self.crop))  # fmt: skip


def _virtual_rotation(direction: np.ndarray) -> np.ndarray:
    """(3, 3) rotation whose third row is ``direction`` (unit) and whose first row is horizontal (keeps
    the camera's y "down" as far as possible): camera -> virtual camera looking along ``direction``."""
    x = np.cross([0.0, 1.0, 0.0], direction)
    n = np.linalg.norm(x)
    x = x / n if n > 1e-9 else np.array([1.0, 0.0, 0.0])
    y = np.cross(direction, x)
    return np.stack([x, y, direction])


def unit_rays(camera: CameraModel, uv_px: np.ndarray) -> np.ndarray:
    """Unit rays (N, 3) of pixels through ``camera`` (lens included); pixels outside the lens model's
    valid domain (a noisy landmark past a strong lens' edge) fall back to pinhole rays, as KPE does."""
    rays = camera.pixels_to_rays(uv_px)
    bad = ~np.all(np.isfinite(rays), axis=1)
    if bad.any():
        rays[bad] = CameraModel(camera.width, camera.height, camera.K).pixels_to_rays(uv_px[bad])
    return rays / np.linalg.norm(rays, axis=1, keepdims=True)


def lifting_inputs(
    landmarks_px: np.ndarray,
    world_m: np.ndarray | None,
    cameras: list[CameraModel],
    rays: np.ndarray | None = None,
) -> LiftingInputs:
    """Network inputs of B right hands: ``landmarks_px`` (B, 21, 2) pixel-centre coordinates of each
    hand's (distorted) image, ``world_m`` (B, 21, 3) metres in the hand's view frame (module docstring;
    used as given, not turned) or None (zeros fed), one camera per hand
    (hands sharing a camera object are converted in one call). ``rays``: (B, 21, 3) the landmarks'
    :func:`unit_rays` where the caller has them already (they are the costly part with a lens)."""
    landmarks_px = np.asarray(landmarks_px, dtype=np.float64)
    b = landmarks_px.shape[0]
    if rays is None:
        rays = np.empty((b, NUM_KEYPOINTS, 3))
        groups: dict[int, list[int]] = {}
        for i, cam in enumerate(cameras):
            groups.setdefault(id(cam), []).append(i)
        for idx in groups.values():
            uv = landmarks_px[idx].reshape(-1, 2)
            rays[idx] = unit_rays(cameras[idx[0]], uv).reshape(len(idx), -1, 3)
    d = rays.mean(1)
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    R = np.stack([_virtual_rotation(x) for x in d])  # (B, 3, 3)
    v = np.einsum("bij,bnj->bni", R, rays)
    q = v[..., :2] / np.clip(v[..., 2:3], 1e-3, None)
    lo, hi = q.min(1), q.max(1)
    centre = (lo + hi) / 2
    half = np.maximum((hi - lo).max(1) * CROP_MARGIN / 2, 1e-3)
    landmarks = (q - centre[:, None]) / half[:, None, None]
    corners = centre[:, None] + half[:, None, None] * np.array(
        [[-1, -1], [1, -1], [-1, 1], [1, 1], [0, 0]], dtype=np.float64
    )
    corner_rays = np.einsum("bnj,bjk->bnk", np.concatenate([corners, np.ones((b, 5, 1))], axis=2), R)
    kpe = np.stack(
        [
            np.arctan2(corner_rays[..., 0], corner_rays[..., 2]),
            np.arctan2(corner_rays[..., 1], corner_rays[..., 2]),
        ],
        axis=-1,
    )
    if world_m is None:
        world = np.zeros((b, NUM_KEYPOINTS, 3))
    else:
        w = np.asarray(world_m, dtype=np.float64)
        world = (w - w[:, :1]) * WORLD_SCALE
    crop = np.concatenate([centre, half[:, None]], axis=1)
    return LiftingInputs(landmarks=landmarks, world=world, kpe=kpe, crop=crop, rotation=R)


class LiftingNet(nn.Module):
    """(landmarks, world, kpe, crop) -> :class:`RegressorOutput` (pose_6d of the wrist in the VIRTUAL
    camera frame + 15 joints, β, weak-perspective camera of the virtual crop)."""

    def __init__(self, config: LiftingConfig | None = None) -> None:
        super().__init__()
        self.config = c = config or LiftingConfig()
        kpe_features = 5 * 2 * (2 * c.kpe_num_freqs + 1)
        in_features = NUM_KEYPOINTS * 2 + NUM_KEYPOINTS * 3 + kpe_features + 3
        self.encoder = nn.Sequential(
            nn.Linear(in_features, c.hidden), nn.LeakyReLU(0.1),
            nn.Linear(c.hidden, c.hidden), nn.LeakyReLU(0.1),
        )  # fmt: skip
        self.regressor = IterativeRegressor(
            c.hidden, num_betas=c.num_betas, num_iterations=c.num_iterations, hidden=c.regressor_hidden,
            dropout=0.0, mean_cam_scale=7.0, activation="leaky_relu",
        )  # fmt: skip

    def forward(
        self, landmarks: torch.Tensor, world: torch.Tensor, kpe: torch.Tensor, crop: torch.Tensor
    ) -> RegressorOutput:
        if not self.config.use_world:
            world = torch.zeros_like(world)
        crop_features = torch.stack([crop[:, 0], crop[:, 1], torch.log(crop[:, 2])], dim=1)
        x = torch.cat(
            [
                landmarks.flatten(1), world.flatten(1),
                sinusoidal_encoding(kpe, self.config.kpe_num_freqs, include_raw=True).flatten(1),
                crop_features,
            ], dim=1,
        )  # fmt: skip
        return self.regressor(self.encoder(x))


def lift_to_camera(out: RegressorOutput, crop: torch.Tensor, rotation: torch.Tensor):
    """Network output -> (wrist rotation (B, 3, 3) camera frame, joint rotations (B, 15, 3, 3), β,
    translation of the wrist (B, 3) m in the camera frame).

    The weak-perspective camera is of the virtual crop (normalised units: f = 1, principal point 0, box
    centre ``crop[:, :2]``, side ``2 crop[:, 2]``), converted by the image model's
    ``weak_perspective_to_translation``, then rotated from the virtual into the real camera frame.
    """
    rot = rot6d_to_matrix(out.pose_6d)  # (B, 16, 3, 3)
    one, zero = torch.ones_like(crop[:, 0]), torch.zeros_like(crop[:, 0])
    t_virtual = weak_perspective_to_translation(out.cam_wp, crop[:, :2], 2 * crop[:, 2], one, one, zero, zero)
    rt = rotation.transpose(1, 2)  # virtual -> camera
    wrist_rotation = rt @ rot[:, 0]
    transl = (rt @ t_virtual[..., None])[..., 0]
    return wrist_rotation, rot[:, 1:], out.betas, transl


def save_lifting(path: str | os.PathLike, model: LiftingNet, extra: dict | None = None) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": LIFTING_FORMAT,
        "format_version": 1,
        "config": model.config.to_dict(),
        "state_dict": {k: v.detach().cpu().half() for k, v in model.state_dict().items()},
        "extra": dict(extra or {}),
    }
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)
    return path


def load_lifting(path: str | os.PathLike) -> LiftingNet:
    """A LiftingNet from ``path``; ValueError naming the path for a missing, corrupt or foreign file."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"lifting weights {path} do not exist")
    with open(path, "rb") as fh:
        if fh.read(4) != b"PK\x03\x04":
            raise ValueError(f"lifting weights {path} are corrupt or not a torch file")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is one clear error
        raise ValueError(
            f"lifting weights {path} are corrupt or truncated: {type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(payload, dict) or payload.get("format") != LIFTING_FORMAT:
        raise ValueError(f"{path} is not a {LIFTING_FORMAT} file")
    model = LiftingNet(LiftingConfig(**payload["config"]))
    model.load_state_dict({k: v.float() for k, v in payload["state_dict"].items()})
    return model.eval()
