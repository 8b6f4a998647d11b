"""Where the generator's image work runs: numpy/OpenCV (``SyntheticConfig.device='cpu'``, the reference) or
torch on any device (``'torch-cpu'``, ``'cuda'``, ``'cuda:N'``).

:func:`~wildhands.data.synthetic.generator.generate_frame` keeps all random draws, hand sampling and
placement, label bookkeeping and JPEG on the CPU and hands the image-sized steps to a backend:

================  =======================================  ==============================================
step              ``NumpyBackend``                         ``TorchBackend``
================  =======================================  ==============================================
background        ``scene.make_background``                ``scene_torch.make_background``
rasterise hands   ``render.raster``                        ``render.raster_torch`` (identical spans)
shade + texture   OpenCV copy/multiply                     tensor gather/where
occluders         ``scene.draw_occluder``                  ``scene_torch.draw_occluder``
camera effects    ``scene.degrade``                        ``scene_torch.degrade``
================  =======================================  ==============================================

Both draw the same random numbers in the same order, and the label-deciding masks (hand rasters, occluder
outlines, fisheye circle) are computed identically, so a frame's labels -- cameras, hand parameters,
keypoints, sides, grasps, visible masks, boxes, keypoint visibility -- do not depend on the backend; the
images differ by float rounding (``test/wildhands/data/test_synthetic_torch.py`` bounds it). Images are
``(H, W, 3)`` uint8 numpy arrays in the numpy backend and ``(3, H, W)`` uint8 tensors on the device in the
torch backend; :meth:`to_numpy` gives the former.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from wildhands.data.synthetic import scene, scene_torch
from wildhands.data.synthetic.config import DEVICE_PATTERN, SyntheticConfig
from wildhands.render import raster, raster_torch
from wildhands.render.image_torch import resize

__all__ = ["NumpyBackend", "TorchBackend", "backend_for", "label_maps"]


def label_maps(
    spans: raster.Spans, top: np.ndarray, face_hand: np.ndarray, n: int
) -> tuple[np.ndarray, list[np.ndarray]]:
    """From the face drawn at each pixel of ``spans``' window (``top``, -1 = none; painter's order or a
    z-buffer): the label map (H, W) uint8 (0 = none, k + 1 = the faces of ``face_hand`` k) and each of the
    ``n`` hands' full silhouettes (as if alone) over the window."""
    label = spans.paste(np.where(top >= 0, face_hand[np.maximum(top, 0)] + 1, 0).astype(np.uint8))
    full = [raster.coverage(spans, face_hand == k) for k in range(n)]
    return label, full


class NumpyBackend:
    """numpy/OpenCV on the CPU (device ``'cpu'``): the reference path, byte-stable across releases of this
    code (the frames of a seed never change)."""

    device = "cpu"

    def background(
        self,
        rng: np.random.Generator,
        w: int,
        h: int,
        clutter: tuple[int, int],
        backgrounds: str = "procedural",
    ) -> np.ndarray:
        return scene.make_background(rng, w, h, clutter, backgrounds)

    def spans(self, uv: np.ndarray, faces: np.ndarray, w: int, h: int) -> raster.Spans:
        return raster.triangle_spans(uv, faces, w, h)

    def labels(
        self, spans: raster.Spans, priority: np.ndarray, face_hand: np.ndarray, n: int
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Painter's label map (H, W) uint8 (0 = none, k + 1 = hand k; the face drawn last = nearest by its
        centre, as in render_mesh) and each hand's full silhouette (as if alone) over ``spans.window``
        (nothing lies outside it)."""
        return label_maps(spans, raster.top_face(spans, priority), face_hand, n)

    def paint_hands(
        self,
        image: np.ndarray,
        spans: raster.Spans,
        priority: np.ndarray,
        facing: np.ndarray,
        colors: np.ndarray,
        label_w: np.ndarray,
        skin_grid: np.ndarray,
    ) -> np.ndarray:
        """Shaded front faces (back faces are not painted, as render_mesh), times the smooth skin texture
        (``skin_grid`` resized bicubically to the image) on every hand pixel (``label_w > 0``); all within
        the hands' window."""
        h, w = image.shape[:2]
        top = raster.top_face(spans, priority, select=facing)
        skin_tex = cv2.resize(skin_grid, (w, h), interpolation=cv2.INTER_CUBIC)
        win = spans.slices
        shaded = np.take(np.rint(colors).astype(np.uint8), top, axis=0)  # (top = -1: unused, masked out)
        image[win] = cv2.copyTo(shaded, (top >= 0).view(np.uint8), image[win])
        tex = skin_tex[win]
        textured = cv2.multiply(image[win].astype(np.float32), cv2.merge([tex, tex, tex]))
        textured = np.clip(textured, 0, 255, out=textured).astype(np.uint8)
        image[win] = cv2.copyTo(textured, (label_w > 0).view(np.uint8), image[win])
        return image

    def occluder(
        self, rng: np.random.Generator, image: np.ndarray, box: np.ndarray, held: tuple | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """A copy of ``image`` with an occluder drawn over ``box``, and its (H, W) bool mask; ``held`` =
        (palm pixel, light_dir, ambient) draws a held-looking object (``held_objects``) instead."""
        trial = image.copy()
        if held is not None:
            from wildhands.data.synthetic.held_objects import draw_held_object

            return trial, draw_held_object(rng, trial, box, *held)
        return trial, scene.draw_occluder(rng, trial, box)

    def keep(self, image: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """``image`` black outside the (H, W) bool ``valid``."""
        return cv2.copyTo(image, valid.view(np.uint8))

    def degrade(
        self, rng: np.random.Generator, image: np.ndarray, cfg: SyntheticConfig
    ) -> tuple[np.ndarray, dict]:
        return scene.degrade(rng, image, cfg)

    def to_numpy(self, image: np.ndarray) -> np.ndarray:
        return image


class TorchBackend:
    """torch on ``device`` (``'torch-cpu'`` = torch on the CPU, which tests this path without a GPU)."""

    def __init__(self, device: torch.device) -> None:
        self.torch_device = torch.device(device)
        self.device = "torch-cpu" if self.torch_device.type == "cpu" else str(self.torch_device)

    def background(
        self,
        rng: np.random.Generator,
        w: int,
        h: int,
        clutter: tuple[int, int],
        backgrounds: str = "procedural",
    ) -> torch.Tensor:
        if backgrounds != "procedural":  # photo textures: made with OpenCV, then uploaded
            img = scene.make_background(rng, w, h, clutter, backgrounds)
            return torch.from_numpy(img).permute(2, 0, 1).contiguous().to(self.torch_device)
        return scene_torch.make_background(rng, w, h, clutter, self.torch_device)

    def spans(self, uv: np.ndarray, faces: np.ndarray, w: int, h: int) -> raster_torch.TorchSpans:
        return raster_torch.triangle_spans(uv, faces, w, h, device=self.torch_device)

    def labels(
        self, spans: raster_torch.TorchSpans, priority: np.ndarray, face_hand: np.ndarray, n: int
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """As :meth:`NumpyBackend.labels` (numpy results, read back from the device)."""
        top = raster_torch.top_face(spans, priority)
        fh = torch.from_numpy(np.asarray(face_hand, np.int64)).to(self.torch_device)
        label_w = torch.where(top >= 0, fh[top.clamp(min=0)] + 1, 0).to(torch.uint8)
        full = [raster_torch.coverage(spans, face_hand == k) for k in range(n)]
        both = torch.cat([label_w[None], *(f[None].to(torch.uint8) for f in full)]).cpu().numpy()
        return spans.paste(both[0]), [both[1 + k].astype(bool) for k in range(n)]

    def paint_hands(
        self,
        image: torch.Tensor,
        spans: raster_torch.TorchSpans,
        priority: np.ndarray,
        facing: np.ndarray,
        colors: np.ndarray,
        label_w: np.ndarray,
        skin_grid: np.ndarray,
    ) -> torch.Tensor:
        """As :meth:`NumpyBackend.paint_hands`, on a (3, H, W) uint8 tensor (in place)."""
        dev = self.torch_device
        _, h, w = image.shape
        x0, y0, x1, y1 = spans.window
        top = raster_torch.top_face(spans, priority, select=facing)
        skin_tex = resize(torch.from_numpy(skin_grid).to(dev), (w, h), "cubic")[y0:y1, x0:x1]
        palette = torch.from_numpy(np.rint(colors).astype(np.uint8)).to(dev)  # (F, 3)
        shaded = palette[top.clamp(min=0)].permute(2, 0, 1)  # (3, wh, ww)
        region = torch.where((top >= 0)[None], shaded, image[:, y0:y1, x0:x1])
        textured = (region.float() * skin_tex[None]).clamp_(0, 255).to(torch.uint8)
        hand = torch.from_numpy(label_w > 0).to(dev)[None]
        image[:, y0:y1, x0:x1] = torch.where(hand, textured, region)
        return image

    def occluder(
        self, rng: np.random.Generator, image: torch.Tensor, box: np.ndarray, held: tuple | None = None
    ) -> tuple[torch.Tensor, np.ndarray]:
        if held is not None:  # held objects: drawn with numpy/OpenCV, then uploaded
            trial_np, mask = NumpyBackend().occluder(rng, self.to_numpy(image), box, held)
            return torch.from_numpy(trial_np).permute(2, 0, 1).contiguous().to(self.torch_device), mask
        trial = image.clone()
        return trial, scene_torch.draw_occluder(rng, trial, box)

    def keep(self, image: torch.Tensor, valid: np.ndarray) -> torch.Tensor:
        return image * torch.from_numpy(valid).to(self.torch_device)[None]

    def degrade(
        self, rng: np.random.Generator, image: torch.Tensor, cfg: SyntheticConfig
    ) -> tuple[torch.Tensor, dict]:
        return scene_torch.degrade(rng, image, cfg)

    def to_numpy(self, image: torch.Tensor) -> np.ndarray:
        return np.ascontiguousarray(image.permute(1, 2, 0).cpu().numpy())


_BACKENDS: dict[str, NumpyBackend | TorchBackend] = {}


def backend_for(device: str) -> NumpyBackend | TorchBackend:
    """The backend of a ``SyntheticConfig.device`` value ('cpu' | 'torch-cpu' | 'cuda' | 'cuda:N')."""
    if device.startswith("cuda") and getattr(torch.cuda, "_is_in_bad_fork", lambda: False)():
        raise ValueError(
            f"SyntheticConfig.device={device!r} in a process forked after CUDA was initialised (e.g. a "
            "DataLoader worker of a CUDA training run): use num_workers: 0, a 'spawn' worker context, or "
            "device 'cpu'"
        )
    if device not in _BACKENDS:
        if not DEVICE_PATTERN.match(device):
            raise ValueError(f"device: {device!r} is not 'cpu', 'torch-cpu', 'cuda' or 'cuda:N'")
        if device == "cpu":
            _BACKENDS[device] = NumpyBackend()
        elif device == "torch-cpu":
            _BACKENDS[device] = TorchBackend(torch.device("cpu"))
        else:
            if not torch.cuda.is_available():
                raise ValueError(f"SyntheticConfig.device={device!r} but CUDA is not available here")
            index = torch.device(device).index
            if index is not None and index >= torch.cuda.device_count():
                raise ValueError(
                    f"SyntheticConfig.device={device!r}: only {torch.cuda.device_count()} GPU(s)"
                )
            _BACKENDS[device] = TorchBackend(torch.device(device))
    return _BACKENDS[device]
