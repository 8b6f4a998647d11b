"""Evaluation conditions of the KPE and intrinsics benchmarks: what the network is told about the camera.

* ``kpe_mode``: ``'distortion_aware'`` (default; the pipeline as shipped: KPE angles from the undistorted
  rays of the real lens, ``crop.kpe_inputs``) or ``'pinhole'`` (the KPE angles of the same K with the
  distortion dropped, i.e. what a lens-unaware KPE would feed). Only the KPE input changes: the crop, the
  lift to metric 3D (K and crop box) and the projection to 2D use the real camera in both modes.
* ``intrinsics``: ``'true'`` (the frame's camera) or ``'estimated'``: the camera the node and ``wildhands
  demo`` fall back to when no valid CameraInfo / calibration is given, ``CameraModel.from_fov`` of the image
  size and a horizontal field-of-view prior (node parameter ``estimate_hfov_deg``, default 90 deg, the
  same as ``wildhands.runtime.io.DEFAULT_HFOV_RAD``): square pixels, principal point at the image
  centre, no distortion, ``estimated=True``. The errors are still measured against the ground truth of the
  real camera, so they include what the wrong intrinsics cost.

* ``crop_mode``: how the hand crops are cut (``PipelineConfig.crop_mode``: ``'box'``, ``'rectified'``,
  ``'auto'``; see :mod:`wildhands.geometry.perspective_crop`). The pinhole KPE condition compares KPE
  inputs of box crops, so ``kpe_mode='pinhole'`` needs ``crop_mode='box'`` (a rectified crop's KPE camera is
  already the distortion-free virtual pinhole camera).

``evaluate_condition`` runs a checkpoint (or any Pipeline) under one condition with
:func:`wildhands.eval.evaluator.evaluate`.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from wildhands.data.record import HandRecord
from wildhands.eval.evaluator import evaluate
from wildhands.geometry.camera import CameraModel
from wildhands.geometry.crop import kpe_inputs
from wildhands.runtime.io import DEFAULT_HFOV_RAD
from wildhands.runtime.pipeline import HandBox, Pipeline, PipelineConfig

__all__ = [
    "KPE_MODES",
    "INTRINSICS_MODES",
    "DEFAULT_ESTIMATE_HFOV_DEG",
    "kpe_camera",
    "estimate_intrinsics",
    "EvalPipeline",
    "evaluate_condition",
]

KPE_MODES = ("distortion_aware", "pinhole")
INTRINSICS_MODES = ("true", "estimated")
#: Horizontal FoV prior (deg) of the intrinsics estimate: the node's ``estimate_hfov_deg`` default and
#: ``wildhands demo``'s prior (a test checks ``config/hands.yaml`` agrees).
DEFAULT_ESTIMATE_HFOV_DEG = math.degrees(DEFAULT_HFOV_RAD)


def _check(name: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValueError(f"{name}={value!r} not in {allowed}")
    return value


def kpe_camera(camera: CameraModel, kpe_mode: str) -> CameraModel:
    """The camera whose rays give the KPE angles: ``camera`` itself, or (``'pinhole'``) the same K and size
    without distortion."""
    if _check("kpe_mode", kpe_mode, KPE_MODES) == "distortion_aware":
        return camera
    return CameraModel(camera.width, camera.height, camera.K, estimated=camera.estimated)


def _check_hfov(hfov_deg: float) -> float:
    if isinstance(hfov_deg, bool) or not isinstance(hfov_deg, (int, float)) or not 0 < hfov_deg < 180:
        raise ValueError(f"hfov_deg={hfov_deg!r} must be a number in (0, 180)")
    return float(hfov_deg)


def estimate_intrinsics(camera: CameraModel, hfov_deg: float = DEFAULT_ESTIMATE_HFOV_DEG) -> CameraModel:
    """The intrinsics guessed for an image of ``camera``'s size when its calibration is missing
    (``CameraModel.from_fov``, as the node's ``camera_info_policy=estimate`` and ``wildhands demo``)."""
    return CameraModel.from_fov(camera.width, camera.height, math.radians(_check_hfov(hfov_deg)))


class EvalPipeline(Pipeline):
    """A :class:`Pipeline` of the image model (``estimator='image'``) whose KPE input follows ``kpe_mode``
    (everything else is the Pipeline's).

    With ``kpe_mode='pinhole'``, ``kpe_change_deg`` collects, per crop, the mean absolute difference (deg)
    between the pinhole and the distortion-aware KPE values (for the angle variants sparse and dense): how
    much the lens changes what the network is told.
    """

    def __init__(self, config: PipelineConfig | None = None, kpe_mode: str = "distortion_aware") -> None:
        self.kpe_mode = _check("kpe_mode", kpe_mode, KPE_MODES)
        # it evaluates the image model (its weights, its KPE input): always the image estimator
        config = dataclasses.replace(config or PipelineConfig(), estimator="image")
        crop_mode = config.crop_mode
        if kpe_mode == "pinhole" and crop_mode != "box":
            raise ValueError(f"kpe_mode='pinhole' needs crop_mode='box', got crop_mode={crop_mode!r}")
        self.kpe_change_deg: list[float] = []
        super().__init__(config)
        if kpe_mode == "pinhole" and self.model_config.crop_roll != "none":
            raise ValueError(
                f"kpe_mode='pinhole' needs box crops, but these weights read turned rectified crops "
                f"(crop_roll={self.model_config.crop_roll!r})"
            )

    def prepare(self, image_rgb, camera: CameraModel, boxes: list[HandBox], rolls=None):
        prepared = super().prepare(image_rgb, camera, boxes, rolls)
        if self.kpe_mode == "distortion_aware":
            return prepared
        images, kpe, crop_boxes, net_boxes, mirrored_camera = prepared
        kcam = kpe_camera(camera, self.kpe_mode)
        angles = self.kpe_variant in ("sparse", "dense")
        for i, (hand, box) in enumerate(zip(boxes, crop_boxes)):
            aware = kpe[i].copy()
            kpe[i] = kpe_inputs(
                kcam, box, self.kpe_variant, mirror=hand.side == "left", grid=self.model_config.kpe.dense_grid
            )
            if angles:
                self.kpe_change_deg.append(math.degrees(float(np.abs(kpe[i] - aware).mean())))
        return images, kpe, crop_boxes, net_boxes, mirrored_camera


def evaluate_condition(
    pipeline: Pipeline | str | Path,
    records: Iterable[HandRecord],
    out_dir: str | Path,
    kpe_mode: str = "distortion_aware",
    intrinsics: str = "true",
    hfov_deg: float = DEFAULT_ESTIMATE_HFOV_DEG,
    crop_mode: str | None = None,
    subsets: Callable[[HandRecord], Iterable[str]] | None = None,
    worst_k: int = 0,
    limit: int | None = None,
    progress: bool = True,
    threads: int = 0,
) -> dict[str, Any]:
    """Evaluate ``pipeline`` (a Pipeline, or a checkpoint path loaded into an :class:`EvalPipeline`) on
    ``records`` with ground-truth boxes under one condition (module docstring); returns ``evaluate``'s
    result with a ``condition`` entry added (also written to ``out_dir/metrics.json``).

    ``crop_mode``: for a checkpoint path, the pipeline's crop mode (None = ``PipelineConfig``'s default);
    for a given Pipeline, None or the crop mode it was built with (anything else is refused)."""
    _check("intrinsics", intrinsics, INTRINSICS_MODES)
    if isinstance(pipeline, (str, Path)):
        extra = {} if crop_mode is None else {"crop_mode": crop_mode}
        config = PipelineConfig(weights=Path(pipeline), threads=threads, **extra)
        pipeline = EvalPipeline(config, kpe_mode=kpe_mode)
    elif getattr(pipeline, "kpe_mode", "distortion_aware") != kpe_mode:
        raise ValueError(
            f"kpe_mode={kpe_mode!r} but the given pipeline runs "
            f"{getattr(pipeline, 'kpe_mode', 'distortion_aware')!r}; build an EvalPipeline(kpe_mode=...)"
        )
    elif crop_mode is not None and pipeline.config.crop_mode != crop_mode:
        raise ValueError(
            f"crop_mode={crop_mode!r} but the given pipeline runs {pipeline.config.crop_mode!r}; build it "
            "with PipelineConfig(crop_mode=...)"
        )
    camera_fn = None
    if intrinsics == "estimated":
        camera_fn = functools.partial(estimate_intrinsics, hfov_deg=_check_hfov(hfov_deg))
    result = evaluate(
        pipeline,
        records,
        out_dir,
        worst_k=worst_k,
        limit=limit,
        progress=progress,
        pipeline_camera=camera_fn,
        subsets=subsets,
    )
    result["condition"] = {
        "kpe_mode": kpe_mode,
        "intrinsics": intrinsics,
        "hfov_deg": float(hfov_deg) if intrinsics == "estimated" else None,
    }
    (Path(out_dir) / "metrics.json").write_text(json.dumps(result, indent=2))
    return result
