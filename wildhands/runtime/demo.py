"""The demo: run the Pipeline on one image with its intrinsics and hand boxes, print and draw the hands.

The bundled sample (``wildhands/assets/sample``) is an image rendered from the open hand model with
known intrinsics, hand boxes and ground-truth keypoints (``scripts/make_sample.py`` regenerates it).
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from wildhands.geometry.camera import CameraModel
from wildhands.geometry.camera_yaml import load_camera_yaml
from wildhands.runtime.detection.base import HandDetector
from wildhands.runtime.overlay import draw_hands
from wildhands.runtime.pipeline import HandBox, HandEstimate, Pipeline

logger = logging.getLogger(__name__)

SAMPLE_DIR = Path(__file__).resolve().parents[1] / "assets" / "sample"
DEFAULT_HFOV_RAD = math.radians(90.0)  # wide egocentric camera, used only when no intrinsics are given


@dataclass
class DemoResult:
    image_path: Path
    camera: CameraModel
    hands: list[HandEstimate]
    ground_truth: list[dict[str, Any]]
    overlay_path: Path
    json_path: Path
    boxes: list[HandBox]


def load_image_rgb(path: str | Path) -> np.ndarray:
    path = Path(path)
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"cannot read image {path} (missing or not an image)")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def load_hand_boxes(path: str | Path) -> tuple[list[HandBox], list[dict[str, Any]]]:
    """Read ``{"hands": [{"box_xyxy": [x0, y0, x1, y1], "side": "left"|"right", ...}, ...]}``.

    Returns the boxes and the raw entries (which may carry ground truth, e.g. ``keypoints_cam_m``).
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read hand boxes from {path}: {exc}") from exc
    entries = data.get("hands") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise ValueError(f"{path}: expected {{'hands': [...]}}")
    boxes = [
        HandBox(tuple(e["box_xyxy"]), e["side"], float(e.get("score", 1.0)), float(e.get("side_score", 1.0)))
        for e in entries
    ]
    return boxes, entries


def hands_to_json(hands: list[HandEstimate]) -> list[dict[str, Any]]:
    return [
        {
            "side": h.side,
            "confidence": h.confidence,
            "crop_box_xys": [h.crop_box.x0, h.crop_box.y0, h.crop_box.size],
            "keypoints_cam_m": np.round(h.keypoints_cam_m, 5).tolist(),
            "keypoints_px": np.round(h.keypoints_px, 2).tolist(),
            "grasp": h.grasp_label,
            "grasp_probabilities": np.round(h.grasp_probabilities, 4).tolist(),
            "intrinsics_estimated": h.intrinsics_estimated,
            "hand_model": h.hand_model,
        }
        for h in hands
    ]


def run_demo(
    pipeline: Pipeline,
    image_path: str | Path | None = None,
    camera_info_path: str | Path | None = None,
    boxes_path: str | Path | None = None,
    out_dir: str | Path = "out/demo",
    detector: HandDetector | None = None,
) -> DemoResult:
    """Run the pipeline on an image (default: the bundled sample) and write an overlay PNG + JSON.

    Hands come from ``detector`` when one is given, else from ``boxes_path``. The bundled sample's
    ``hands.json`` also carries ground truth, reported as an error by the CLI.
    """
    if image_path is None:
        image_path = SAMPLE_DIR / "image.png"
        camera_info_path = camera_info_path or SAMPLE_DIR / "camera_info.yaml"
        boxes_path = boxes_path or SAMPLE_DIR / "hands.json"
    image_path = Path(image_path)
    image = load_image_rgb(image_path)
    h, w = image.shape[:2]
    if camera_info_path is not None:
        camera = load_camera_yaml(camera_info_path)
    else:
        camera = CameraModel.from_fov(w, h, DEFAULT_HFOV_RAD)
        logger.warning(
            "no camera info given: intrinsics estimated from a %.0f deg FoV", math.degrees(DEFAULT_HFOV_RAD)
        )
    entries: list[dict[str, Any]] = []
    if boxes_path is not None:
        boxes, entries = load_hand_boxes(boxes_path)
    if detector is not None:
        boxes = detector.detect(image)
    elif boxes_path is None:
        raise ValueError("no hand boxes: pass --boxes FILE or use a detector (--detector mediapipe)")
    hands = pipeline(image, camera, boxes)

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    title = "wildhands" + ("" if pipeline.trained else " - UNTRAINED WEIGHTS: output is not meaningful")
    overlay = draw_hands(image, hands, camera, title=title)
    overlay_path = out_dir / f"{image_path.stem}_overlay.png"
    cv2.imwrite(str(overlay_path), cv2.cvtColor(overlay, cv2.COLOR_RGB2BGR))
    json_path = out_dir / f"{image_path.stem}_hands.json"
    json_path.write_text(
        json.dumps({"weights": pipeline.weights_description, "hands": hands_to_json(hands)}, indent=1)
    )
    gt = [e for e in entries if "keypoints_cam_m" in e]
    return DemoResult(image_path, camera, hands, gt, overlay_path, json_path, boxes)


# ---------------------------------------------------------------------------------------------------------
# The main job: a sequence (default: the bundled clip) through a backend, scored against its ground truth.
# ---------------------------------------------------------------------------------------------------------
#: Entry-point group of demo backends. wildhands_ros registers ``ros`` (the node over real ROS 2 topics);
#: this module provides ``python`` (the Pipeline in-process). The core never imports ROS itself.
DEMO_BACKEND_GROUP = "wildhands.demo_backends"
DETECTORS = ("mediapipe", "groundtruth")


@dataclass(frozen=True)
class SequenceDemoOptions:
    """How the main job runs.

    weights: ``"default"`` (the shipped weights), a manifest name, a checkpoint path, or ``"untrained"``.
    engine: ``"onnxruntime"`` (CPU default), ``"torch"``, ...
    detector: ``"mediapipe"`` (finds hands and sides) or ``"groundtruth"`` (boxes and sides of the
        sequence's ``groundtruth.json``: measures the 3D lift alone).
    backend: ``"auto"`` (``ros`` when installed, else ``python``), ``"ros"`` or ``"python"``.
    threads: CPU threads of the engine (0 = all cores).
    backbone: architecture of an untrained network (``weights="untrained"``); weights carry their own.
    estimator: ``"landmarks"`` (default) or ``"image"`` (``PipelineConfig.estimator``).
    refine: the landmark estimator's fit on or off.
    """

    weights: str | None = "default"
    engine: str = "onnxruntime"
    detector: str = "mediapipe"
    backend: str = "auto"
    threads: int = 0
    backbone: str = "resnet50"
    estimator: str = "landmarks"
    refine: bool = True

    def __post_init__(self) -> None:
        if self.detector not in DETECTORS:
            raise ValueError(f"detector={self.detector!r} not in {DETECTORS}")
        if self.backend not in ("auto", "ros", "python"):
            raise ValueError(f"backend={self.backend!r} not in ('auto', 'ros', 'python')")


def ground_truth_boxes(labels: list[dict[str, Any]]) -> list[HandBox]:
    return [HandBox(tuple(h["box_xyxy"]), h["side"]) for h in labels]


def run_sequence_python(sequence, out_dir: str | Path, options: SequenceDemoOptions):
    """The ``python`` backend: detector + Pipeline in this process, frame after frame."""
    import time

    from tqdm import tqdm

    from wildhands.runtime.pipeline import PipelineConfig
    from wildhands.runtime.sequence import FrameResult

    pipeline = Pipeline(
        PipelineConfig(
            weights=options.weights,
            engine=options.engine,
            threads=options.threads,
            estimator=options.estimator,
            refine=options.refine,
        )  # fmt: skip
    )
    detector = None
    if options.detector == "mediapipe":
        from wildhands.runtime.detection import build_detector

        detector = build_detector("mediapipe")
    results = []
    for i in tqdm(range(len(sequence)), desc="pipeline", unit="frame"):
        image = sequence.read_rgb(i)
        t0 = time.monotonic()
        if detector is not None:
            boxes = detector.detect(image)
        else:
            boxes = ground_truth_boxes(sequence.ground_truth[i] if sequence.ground_truth else [])
        hands = pipeline(image, sequence.camera, boxes) if boxes else []
        elapsed = time.monotonic() - t0
        results.append(FrameResult(i, hands, elapsed, processing_s=elapsed))
    facts = {
        "weights": pipeline.weights_description,
        "trained": pipeline.trained,
        "engine": pipeline.engine_name,
        "detector": options.detector,
    }
    return results, facts


def demo_backend(name: str):
    """The backend function ``name`` (``auto``: ``ros`` when its entry point loads, else ``python``)."""
    from importlib.metadata import entry_points

    if name == "python":
        return run_sequence_python
    found = {ep.name: ep for ep in entry_points(group=DEMO_BACKEND_GROUP)}
    if name in ("auto", "ros") and "ros" in found:
        try:
            return found["ros"].load()
        except ImportError as exc:  # wildhands_ros installed but no ROS 2 environment
            if name == "ros":
                raise ValueError(f"the ros demo backend cannot load: {exc}") from exc
            logger.warning("ROS 2 not available (%s): running the pipeline in-process instead", exc)
            return run_sequence_python
    if name == "ros":
        raise ValueError("no ros demo backend installed (install wildhands_ros in a ROS 2 environment)")
    return run_sequence_python


def run_main_job(
    images: str | Path | None,
    camera_info: str | Path | None,
    out_dir: str | Path,
    options: SequenceDemoOptions,
    limit: int | None = None,
    hfov_deg: float = math.degrees(DEFAULT_HFOV_RAD),
    fps: float = 15.0,
) -> tuple[dict[str, Any], dict[str, Path]]:
    """Load the sequence, run it through the backend, score it, write overlays/video/summary."""
    from wildhands.runtime.sequence import load_sequence, score_sequence, write_results

    sequence = load_sequence(images, camera_info, fps=fps, hfov_deg=hfov_deg, limit=limit)
    if options.detector == "groundtruth" and sequence.ground_truth is None:
        raise ValueError("detector='groundtruth' needs a sequence with groundtruth.json")
    backend = demo_backend(options.backend)
    results, facts = backend(sequence, out_dir, options)
    summary = score_sequence(sequence, results)
    summary.update(facts)
    summary["backend"] = getattr(backend, "backend_name", "python")
    title = "wildhands" if facts.get("trained") else "wildhands - UNTRAINED WEIGHTS: output is not meaningful"
    paths = write_results(sequence, results, summary, out_dir, title=title, fps=fps)
    if facts.get("mcap"):
        paths["mcap"] = Path(facts["mcap"])
    return summary, paths
