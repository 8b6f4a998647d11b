"""Whole-pipeline speed per frame on the bundled sample, against MediaPipe Hands' own pipeline.

Two sections (``--sections``):

**landmarks** (the default estimator, shipped weights; issue 19): per frame the detector (palm + landmark
passes) or, in VIDEO mode, the node's own step (``HandTracker.boxes_for_frame``, each box with its track's
shape, ``HandTracker.with_shapes``): the tracked hands' single
landmark passes on the previous frame's landmark rect, the palm detector only when a hand is missing or
lost, or ``--redetect-every`` frames passed (the node's default); both are the ``detector`` stage, so the
pipeline's own ``landmarks`` stage is ~0 (the boxes carry their landmarks). Then the lifting head +
refinement (``fit``), the hand layer and the node's messages;
for 1 and 2 hands (``max_hands``), IMAGE and VIDEO modes, refinement on and off, and in VIDEO mode the
tracked start (``--tracked-steps``: tracked hands fitted from their previous fit,
``PipelineConfig.tracked_steps``), interleaved frame by frame with MediaPipe's HandLandmarker in the same
modes. Ratios ``frame_over_mediapipe_<n>_hands_<mode>`` (refinement on; ``..._refine_off``,
``..._tracked_start``) and the issue 19 targets are in ``landmark_estimator.ratios``.

**engines** (the paper's image model, untrained networks: latency does not depend on the weights). One
frame = what the node does with an image: the hand detector (MediaPipe palm + landmark models in
LiteRT, node defaults), the crops + KPE inputs, ONE engine call for all hands, the hand layer (hand model,
metric placement, mirroring), and the ROS messages (HandArray, TF, markers with the mesh, point cloud)
built as the node builds them for ``publish`` (HandArray and markers as CDR bytes where
``wildhands_ros.cdr.matches_rmw()``, message objects otherwise; markers and cloud as if subscribed: the
node builds neither for a topic nobody subscribes to), not published. Every stage is timed
(``Pipeline.timings`` + the detector and message calls), for 1 and 2 hands (detector and pipeline limited
to that many) and every engine present on the machine, timed in turn frame by frame so that a disturbance
hits all of them alike. Per engine: latency median / p95 (ms), throughput
(frames/s and hands/s, one frame at a time), and the network's achieved GFLOP/s over the machine's fp32
matmul GFLOP/s measured in the same run (the compute-limit ratio).

The peer: MediaPipe Hands' own pipeline (HandLandmarker, Tasks API, CPU; the same 2D-landmark job a robotics
user would pick instead, without 3D metric hands) on the same frames: a worker process in a separate venv
(``.venv-mediapipe``: mediapipe 0.10.21 pins numpy < 2 and protobuf < 5, which the main venv cannot take;
created on demand with ``--install-mediapipe``) runs one MediaPipe frame after each of ours, so both see
the same load. The ``hand_landmarker.task`` bundle cannot be downloaded here; it is zipped from the
wheel's own palm_detection_full.tflite + hand_landmark_full.tflite (MediaPipe Hands' full models; the
published bundle may hold other revisions of them). IMAGE mode (detection on every frame, like our node
with ``redetect_every=1``) is the comparison; VIDEO mode (landmark tracking between detections) is
recorded too.

On a CUDA machine the GPU engines are added: torch eager fp32, torch fp16 (channels_last) and TensorRT fp16
(and fp32), with the pipeline alone (boxes given) as the "frame" of the GPU target.

``other_processes_cores`` (CPU used by every other process during each timed block, from /proc/stat) flags
a disturbed run.

    python bench/pipeline.py --install-mediapipe --out bench/results/pipeline.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]

from machine import OtherLoad, latency_stats, machine_facts  # noqa: E402
from model import count_flops, matmul_gflops, numpy_matmul_gflops  # noqa: E402

from wildhands.geometry.camera_yaml import load_camera_yaml  # noqa: E402
from wildhands.model import KPEConfig, ModelConfig  # noqa: E402
from wildhands.runtime.io import load_image_rgb  # noqa: E402
from wildhands.runtime.pipeline import HandBox, Pipeline, PipelineConfig  # noqa: E402

logger = logging.getLogger("bench.pipeline")

SAMPLE = REPO / "wildhands" / "assets" / "sample"
MEDIAPIPE_VENV = REPO / ".venv-mediapipe"
MEDIAPIPE_VERSION = "0.10.21"
# mediapipe's own requirements, pinned to what works beside it (numpy < 2, protobuf < 5); the headless
# OpenCV replaces opencv-contrib-python (no libGL here); jax/sentencepiece/sounddevice serve other tasks.
MEDIAPIPE_REQUIREMENTS = (
    "numpy==1.26.4",
    "protobuf==4.25.8",
    "absl-py==2.1.0",
    "attrs==24.2.0",
    "flatbuffers==24.3.25",
    "opencv-contrib-python-headless==4.10.0.84",
    "matplotlib==3.9.2",
)

# ------------------------------------------------------------------------------------------- MediaPipe


class MediaPipeWorker:
    """MediaPipe's HandLandmarker (IMAGE and VIDEO mode, 1 and 2 hands) in a subprocess of its own venv,
    asked for one frame at a time so that its frames interleave with ours (same load for both)."""

    def __init__(self, python: Path, task: Path, image: Path) -> None:
        env = {**os.environ, "GLOG_minloglevel": "2", "TF_CPP_MIN_LOG_LEVEL": "2"}
        self.proc = subprocess.Popen(
            [str(python), str(REPO / "bench" / "mediapipe_worker.py"), str(image), str(task)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        self.version = self._read()["ready"]

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the MediaPipe worker exited (code {self.proc.poll()})")
        return json.loads(line)

    def frame(self, mode: str, hands: int) -> tuple[float, int]:
        """Seconds of one HandLandmarker call and the number of hands it found."""
        self.proc.stdin.write(f"{mode} {hands}\n")
        self.proc.stdin.flush()
        out = self._read()
        return out["s"], out["hands"]

    def frames(
        self, hands: int, times: dict[str, list[float]], found: dict[str, list[int]], keep: bool
    ) -> None:
        """One frame in each running mode of ``times`` (its keys), appended to ``times`` / ``found`` when
        ``keep`` (not during warm-up)."""
        for mode in times:
            dt, got = self.frame(mode, hands)
            if keep:
                times[mode].append(dt)
                found[mode].append(got)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def ensure_mediapipe_venv(install: bool) -> Path:
    """The python of ``.venv-mediapipe`` (created with mediapipe==0.10.21 when ``install``); raises
    RuntimeError saying why MediaPipe cannot run otherwise."""
    python = MEDIAPIPE_VENV / "bin" / "python"
    check = [str(python), "-c", "import mediapipe, sys; sys.stdout.write(mediapipe.__version__)"]
    if python.is_file():
        done = subprocess.run(check, capture_output=True, text=True)
        if done.returncode == 0 and done.stdout.strip() == MEDIAPIPE_VERSION:
            return python
    if not install:
        raise RuntimeError(
            f"no working {MEDIAPIPE_VENV.name} with mediapipe=={MEDIAPIPE_VERSION} (pass --install-mediapipe)"
        )
    logger.info("creating %s with mediapipe==%s", MEDIAPIPE_VENV, MEDIAPIPE_VERSION)
    steps = [
        [sys.executable, "-m", "venv", str(MEDIAPIPE_VENV)],
        [str(python), "-m", "pip", "install", "-q", "--no-deps", f"mediapipe=={MEDIAPIPE_VERSION}"],
        [str(python), "-m", "pip", "install", "-q", *MEDIAPIPE_REQUIREMENTS],
    ]
    for cmd in steps:
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd[:4])} ... failed: {done.stderr.strip()[-500:]}")
    done = subprocess.run(check, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"mediapipe does not import in {MEDIAPIPE_VENV}: {done.stderr.strip()[-500:]}")
    return python


def hand_landmarker_task(python: Path, out_dir: Path) -> Path:
    """hand_landmarker.task assembled from the models inside the mediapipe wheel (a zip of the two)."""
    modules = subprocess.run(
        [str(python), "-c", "import mediapipe, os; print(os.path.dirname(mediapipe.__file__))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    modules = Path(modules) / "modules"
    task = out_dir / "hand_landmarker.task"
    with zipfile.ZipFile(task, "w", zipfile.ZIP_STORED) as z:
        z.write(modules / "palm_detection" / "palm_detection_full.tflite", "hand_detector.tflite")
        z.write(modules / "hand_landmark" / "hand_landmark_full.tflite", "hand_landmarks_detector.tflite")
    return task


# -------------------------------------------------------------------------------------------- our side


def _stats_ms(times_s: list[float]) -> dict[str, float]:
    st = latency_stats(times_s)
    return {**st, "frames_per_s": 1e3 / st["mean_ms"]}


def _message_builder() -> tuple[Callable | None, str]:
    """A function building the node's messages for a list of hands as the node does, or (None, why not)."""
    try:
        from std_msgs.msg import Header

        from wildhands_ros.cdr import matches_rmw
        from wildhands_ros.conversions import hands_to_cdr, hands_to_cloud, hands_to_msg
        from wildhands_ros.markers import hand_markers, hand_markers_cdr
        from wildhands_ros.tf import hand_transforms
    except ImportError as exc:
        return None, f"ROS 2 messages not importable ({exc})"
    header = Header(frame_id="camera_color_optical_frame")
    serialized, _ = matches_rmw()  # the node's choice: CDR bytes, or message objects
    to_hands = hands_to_cdr if serialized else hands_to_msg
    to_markers = hand_markers_cdr if serialized else hand_markers
    kinds = {
        "hand_array": lambda hands: to_hands(hands, header, 0.0, False, [-1] * len(hands)),
        "tf": lambda hands: hand_transforms(hands, header, "hand"),
        "markers": lambda hands: to_markers(hands, header, "hand"),  # the node's default: with the mesh
        "cloud": lambda hands: hands_to_cloud(hands, header),
    }

    def build(hands) -> dict[str, float]:
        """Seconds spent on each message kind."""
        out = {}
        for name, fn in kinds.items():
            t0 = time.perf_counter()
            fn(hands)
            out[name] = time.perf_counter() - t0
        return out

    return build, ""


def messages_description() -> str:
    from wildhands_ros.cdr import matches_rmw

    how = "HandArray and markers as CDR bytes" if matches_rmw()[0] else "all as message objects"
    return f"built as the node publishes them ({how}; TF, markers with the mesh, point cloud)"


def engine_variants(include_gpu: bool) -> tuple[list[tuple[str, dict]], dict[str, str]]:
    """(label, PipelineConfig kwargs) of every engine present, and {label: why skipped} of the others."""
    present: list[tuple[str, dict]] = [("torch", {"engine": "torch"})]
    skipped: dict[str, str] = {}
    try:
        import onnxruntime  # noqa: F401

        present.append(("onnxruntime", {"engine": "onnxruntime"}))
    except ImportError as exc:
        skipped["onnxruntime"] = str(exc)
    if include_gpu and torch.cuda.is_available():
        present += [
            ("torch cuda fp32", {"engine": "torch", "device": "cuda", "precision": "fp32"}),
            ("torch cuda fp16", {"engine": "torch", "device": "cuda", "precision": "fp16"}),
        ]
        try:
            from wildhands.runtime.engines.tensorrt_engine import require_tensorrt

            require_tensorrt("cuda")
            present += [
                ("tensorrt fp16", {"engine": "tensorrt", "device": "cuda", "precision": "fp16"}),
                ("tensorrt fp32", {"engine": "tensorrt", "device": "cuda", "precision": "fp32"}),
            ]
        except ValueError as exc:
            skipped["tensorrt"] = str(exc)
    else:
        reason = "no CUDA GPU on this machine" if include_gpu else "--no-gpu"
        skipped.update({"torch cuda": reason, "tensorrt": reason})
    return present, skipped


def _mediapipe_stats(times: dict[str, list[float]], found: dict[str, list[int]]) -> dict:
    """Per running mode of the MediaPipe peer: its frame statistics and the median number of hands found."""
    out = {}
    for mode, seconds in times.items():
        if seconds:
            out[mode] = {**_stats_ms(seconds), "hands_found_median": int(statistics.median(found[mode]))}
    return out


def bench_model(
    model: ModelConfig,
    variants: list[tuple[str, dict]],
    image: np.ndarray,
    camera,
    gt_boxes: list[HandBox],
    detectors: dict[int, object],
    build_messages: Callable | None,
    frames: int,
    warmup: int,
    threads: int,
    matmul: float,
    mediapipe: MediaPipeWorker | None,
) -> dict:
    """Per-frame timings of every engine for 1 and 2 hands (detector -> pipeline -> messages), and of
    MediaPipe's HandLandmarker on the same frames, interleaved frame by frame."""
    pipelines = {}
    for label, kwargs in variants:
        t0 = time.perf_counter()
        pipelines[label] = Pipeline(
            PipelineConfig(model=model, threads=threads, seed=0, estimator="image", **kwargs)
        )
        logger.info("%s %s ready in %.1f s", model.backbone, label, time.perf_counter() - t0)
    net = next(iter(pipelines.values())).network
    s = model.image_size
    flops = {
        b: count_flops(net, torch.zeros(b, 3, s, s), torch.zeros(b, model.kpe.num_points, 2)) for b in (1, 2)
    }
    out: dict = {
        "model": {"backbone": model.backbone, "image_size": s, "kpe": model.kpe.variant.value},
        "gflop_per_crop": flops[1] / 1e9,
        "params_M": sum(p.numel() for p in net.parameters()) / 1e6,
        "hands": {},
    }
    for n in (1, 2):
        detector = detectors.get(n)
        fixed = gt_boxes[:n]
        stages = ("frame", "detector", "crop", "engine", "hand_layer", "messages", "pipeline")
        message_kinds: dict[str, list[float]] = {}
        samples = {label: {k: [] for k in stages} for label in pipelines}
        found = []
        mp_times: dict[str, list[float]] = {"IMAGE": [], "VIDEO": []}
        mp_found: dict[str, list[int]] = {"IMAGE": [], "VIDEO": []}
        with OtherLoad() as load:
            for i in range(warmup + frames):
                if mediapipe is not None:
                    mediapipe.frames(n, mp_times, mp_found, keep=i >= warmup)
                for label, pipeline in pipelines.items():
                    t0 = time.perf_counter()
                    if detector is not None:
                        boxes = detector.detect(image)[:n]
                    else:
                        boxes = fixed
                    t1 = time.perf_counter()
                    hands = pipeline(image, camera, boxes)
                    t2 = time.perf_counter()
                    kinds = build_messages(hands) if build_messages is not None else {}
                    t3 = time.perf_counter()
                    if i < warmup:
                        continue
                    for k, v in kinds.items():
                        message_kinds.setdefault(k, []).append(v)
                    rec = samples[label]
                    rec["frame"].append(t3 - t0)
                    rec["detector"].append(t1 - t0)
                    rec["pipeline"].append(t2 - t1)
                    rec["messages"].append(t3 - t2)
                    for k in ("crop", "engine", "hand_layer"):
                        rec[k].append(pipeline.timings[k] / 1e3)
                    found.append(len(hands))
        per_engine = {}
        for label, rec in samples.items():
            frame = _stats_ms(rec["frame"])
            frame["hands_per_s"] = frame["frames_per_s"] * n
            stages = {k: statistics.median(v) * 1e3 for k, v in rec.items() if k != "frame"}
            engine_s = statistics.median(rec["engine"])
            entry = {"frame": frame, "stages_median_ms": stages, "pipeline": _stats_ms(rec["pipeline"])}
            entry["network_gflops"] = flops[n] / engine_s / 1e9
            if not label.startswith(("torch cuda", "tensorrt")):
                entry["gflops_over_matmul"] = entry["network_gflops"] / matmul
            per_engine[label] = entry
        mp_stats = _mediapipe_stats(mp_times, mp_found)
        out["hands"][str(n)] = {
            "engines": per_engine,
            "mediapipe": mp_stats,
            "hands_estimated_median": int(statistics.median(found)) if found else 0,
            "messages_median_ms": {k: statistics.median(v) * 1e3 for k, v in message_kinds.items()},
            "other_processes_cores": load.other_cores,
            "wall_s": load.wall,
        }
    return out


LANDMARK_STAGES = ("frame", "detector", "landmarks", "fit", "hand_layer", "messages")


def bench_landmark_estimator(
    image: np.ndarray,
    camera,
    build_messages: Callable | None,
    frames: int,
    warmup: int,
    threads: int,
    redetect_every: int,
    mediapipe: MediaPipeWorker | None,
    tracked_steps: int = 2,
) -> dict:
    """The default estimator's frame (shipped weights) for 1 and 2 hands (``max_hands``), IMAGE mode (the
    detector on every frame) and VIDEO mode (tracked hands: one landmark pass on the previous frame's
    landmark rect, the palm detector only when a hand is missing, a track is lost or ``redetect_every``
    frames passed: the node's default), refinement on and off; MediaPipe's HandLandmarker in the same two
    modes on the same frames, interleaved frame by frame."""
    from wildhands.runtime.tracking import HandTracker, TrackingConfig

    settings = {  # refinement on (the default), off, and on with tracked hands from their previous fit
        "on": PipelineConfig(weights="default", threads=threads),
        "off": PipelineConfig(weights="default", threads=threads, refine=False),
        "tracked": PipelineConfig(weights="default", threads=threads, tracked_steps=tracked_steps),
    }
    pipelines = {name: Pipeline(config) for name, config in settings.items()}
    out: dict = {"redetect_every": redetect_every, "tracked_steps": tracked_steps, "hands": {}}
    for n in (1, 2):
        variants = [
            ("IMAGE", "on"),
            ("VIDEO", "on"),
            ("IMAGE", "off"),
            ("VIDEO", "off"),
            ("VIDEO", "tracked"),
        ]
        samples = {v: {k: [] for k in LANDMARK_STAGES} for v in variants}
        found = {v: [] for v in variants}
        palm_frames = {v: 0 for v in variants}
        trackers = {v: HandTracker(TrackingConfig(redetect_every=redetect_every)) for v in variants}
        mp_times: dict[str, list[float]] = {"IMAGE": [], "VIDEO": []}
        mp_found: dict[str, list[int]] = {"IMAGE": [], "VIDEO": []}
        for p in pipelines.values():
            p.landmark_hands.detector.max_hands = n
        with OtherLoad() as load:
            for i in range(warmup + frames):
                if mediapipe is not None:
                    mediapipe.frames(n, mp_times, mp_found, keep=i >= warmup)
                for mode, setting in variants:
                    pipeline, tracker = pipelines[setting], trackers[mode, setting]
                    detector = pipeline.landmark_hands.detector
                    t0 = time.perf_counter()
                    if mode == "IMAGE":
                        boxes, detect = detector.detect(image), True
                    else:  # the node's step: the palm detector, or the tracked hands' landmark passes,
                        boxes, detect = tracker.boxes_for_frame(detector, image, n, pipeline.config.box_scale)
                        # and each box with its track's shape (the fit's prior), as the node hands them on
                        boxes = tracker.with_shapes(boxes)
                    t1 = time.perf_counter()
                    hands = pipeline(image, camera, boxes) if boxes else []
                    if mode == "VIDEO":
                        tracker.update(hands, i / 30.0, camera, detected=detect)
                    t2 = time.perf_counter()
                    if build_messages is not None:
                        build_messages(hands)
                    t3 = time.perf_counter()
                    if i < warmup:
                        continue
                    rec = samples[mode, setting]
                    rec["frame"].append(t3 - t0)
                    rec["detector"].append(t1 - t0)
                    rec["messages"].append(t3 - t2)
                    for k in ("landmarks", "fit", "hand_layer"):
                        rec[k].append(pipeline.timings.get(k, 0.0) / 1e3 if boxes else 0.0)
                    found[mode, setting].append(len(hands))
                    palm_frames[mode, setting] += int(detect)
        ours = {}
        for (mode, setting), rec in samples.items():
            ours[variant_key(mode, setting)] = {
                "mode": mode,
                "setting": setting,
                "frame": _stats_ms(rec["frame"]),
                "stages_median_ms": {k: statistics.median(v) * 1e3 for k, v in rec.items() if k != "frame"},
                "hands_found_median": int(statistics.median(found[mode, setting])),
                "palm_detector_frames": palm_frames[mode, setting] / frames,
            }
        mp_stats = _mediapipe_stats(mp_times, mp_found)
        out["hands"][str(n)] = {
            "ours": ours,
            "mediapipe": mp_stats,
            "other_processes_cores": load.other_cores,
        }
    for p in pipelines.values():
        p.landmark_hands.detector.max_hands = 2
    out["ratios"] = landmark_ratios(out)
    return out


def variant_key(mode: str, setting: str) -> str:
    """The results key of a landmark-section variant: ``<mode>_refine_on`` / ``_refine_off``, or
    ``<mode>_tracked_start`` (refinement on, tracked hands from their previous fit: ``tracked_steps``)."""
    return f"{mode.lower()}_tracked_start" if setting == "tracked" else f"{mode.lower()}_refine_{setting}"


def landmark_ratios(section: dict) -> dict:
    """``frame_over_mediapipe_<n>_hands_<mode>`` (refinement on, the default; ``..._refine_off`` and
    ``..._tracked_start`` too) and the issue 19 targets: VIDEO < 1.0, IMAGE <= 1.2 (the default's)."""
    r: dict = {}
    suffixes = {"on": "", "off": "_refine_off", "tracked": "_tracked_start"}
    for n, h in section["hands"].items():
        for e in h["ours"].values():
            peer = h["mediapipe"].get(e["mode"])
            if peer is not None:
                key = f"frame_over_mediapipe_{n}_hands_{e['mode'].lower()}{suffixes[e['setting']]}"
                r[key] = e["frame"]["median_ms"] / peer["median_ms"]
    if "frame_over_mediapipe_2_hands_video" in r:
        r["targets"] = {
            "two_hand_video_frame_faster_than_mediapipe": r["frame_over_mediapipe_2_hands_video"] < 1.0,
            "two_hand_image_frame_within_1.2x_of_mediapipe": r["frame_over_mediapipe_2_hands_image"] <= 1.2,
        }
    return r


def landmark_summary(section: dict) -> str:
    """A markdown table of the landmark estimator's frames beside MediaPipe's (what docs/engines.md shows)."""
    lines = [
        "| hands | pipeline | mode | frame median / p95 (ms) | detector | landmarks | fit | hand layer "
        "| messages | palm-detector frames | hands found | other load (cores) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for n, h in section["hands"].items():
        for e in h["ours"].values():
            st, fr = e["stages_median_ms"], e["frame"]
            what = "tracked start" if e["setting"] == "tracked" else f"refine {e['setting']}"
            cells = [
                n,
                f"wildhands ({what})",
                e["mode"],
                f"{fr['median_ms']:.1f} / {fr['p95_ms']:.1f}",
            ]
            cells += [f"{st[k]:.1f}" for k in ("detector", "landmarks", "fit", "hand_layer", "messages")]
            cells += [
                f"{e['palm_detector_frames']:.2f}",
                e["hands_found_median"],
                f"{h['other_processes_cores']:.2f}",
            ]
            lines.append("| " + " | ".join(str(c) for c in cells) + " |")
        for mode, e in h["mediapipe"].items():
            cells = [n, "MediaPipe HandLandmarker", mode, f"{e['median_ms']:.1f} / {e['p95_ms']:.1f}"]
            cells += [""] * 6 + [e["hands_found_median"], f"{h['other_processes_cores']:.2f}"]
            lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    lines.append("")
    lines.append(", ".join(f"{k}={v:.2f}" for k, v in section["ratios"].items() if isinstance(v, float)))
    if "targets" in section["ratios"]:
        lines.append(f"targets: {section['ratios']['targets']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--models",
        nargs="+",
        default=["resnet18:128", "resnet50:224"],
        help="backbone:image_size of the networks (default: the training default, then the node default)",
    )
    ap.add_argument("--frames", type=int, default=30, help="timed frames per engine and hand count")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="CPU threads of the engines")
    ap.add_argument("--detector", choices=["mediapipe", "none"], default="mediapipe")
    ap.add_argument("--mediapipe", choices=["auto", "skip"], default="auto", help="run MediaPipe's pipeline")
    ap.add_argument(
        "--install-mediapipe", action="store_true", help=f"create {MEDIAPIPE_VENV.name} if missing"
    )
    ap.add_argument("--no-gpu", action="store_true", help="CPU engines only, even on a CUDA machine")
    ap.add_argument(
        "--sections",
        nargs="+",
        choices=["landmarks", "engines"],
        default=["landmarks", "engines"],
        help="landmarks: the default estimator, IMAGE/VIDEO modes vs MediaPipe; engines: the image model",
    )
    ap.add_argument(
        "--redetect-every",
        type=int,
        default=None,
        help="VIDEO mode's palm-detector period (default: the node's)",
    )
    ap.add_argument(
        "--tracked-steps", type=int, default=2, help="the tracked-start variant's steps (tracked_steps)"
    )
    ap.add_argument("--matmul-n", type=int, default=2048)
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "pipeline.json")
    args = ap.parse_args(argv)
    if args.frames < 1 or args.warmup < 0 or args.threads < 1 or args.tracked_steps < 1:
        ap.error("--frames >= 1, --warmup >= 0, --threads >= 1 and --tracked-steps >= 1")
    models = []
    for spec in args.models:
        backbone, _, size = spec.partition(":")
        models.append(
            ModelConfig(backbone=backbone, image_size=int(size or 224), kpe=KPEConfig(variant="sparse"))
        )
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    torch.set_num_threads(args.threads)

    image = load_image_rgb(SAMPLE / "image.png")
    camera = load_camera_yaml(SAMPLE / "camera_info.yaml")
    hands_json = json.loads((SAMPLE / "hands.json").read_text())["hands"]
    gt_boxes = [HandBox(tuple(h["box_xyxy"]), h["side"]) for h in hands_json]
    detectors: dict[int, object] = {}
    if args.detector == "mediapipe":
        from wildhands.runtime.detection import build_detector

        detectors = {n: build_detector("mediapipe", max_hands=n, threads=args.threads) for n in (1, 2)}
    build_messages, messages_why = _message_builder()
    variants, skipped = engine_variants(not args.no_gpu)

    gpu = None
    if torch.cuda.is_available() and not args.no_gpu:
        gpu = torch.cuda.get_device_name(0)
    try:
        import onnxruntime as ort

        ort_version = ort.__version__
    except ImportError:
        ort_version = None
    result: dict = {
        "date": datetime.date.today().isoformat(),
        "machine": machine_facts(threads=args.threads, gpu=gpu, onnxruntime=ort_version),
        "sample": {
            "image": "wildhands/assets/sample/image.png",
            "size": [camera.width, camera.height],
            "hands": 2,
        },
        "detector": args.detector,
        "messages": messages_description() if build_messages else messages_why,
        "frames": args.frames,
        "warmup": args.warmup,
        "skipped_engines": skipped,
    }
    if args.redetect_every is None and "landmarks" in args.sections:  # the engines alone need no ROS
        from wildhands_ros.params import PARAM_SPECS

        args.redetect_every = PARAM_SPECS["redetect_every"].default
    with OtherLoad() as load:
        mm_torch = matmul_gflops(args.matmul_n, 10, 3)
        mm_numpy = numpy_matmul_gflops(args.matmul_n, 10, 3, args.threads)
    # MediaPipe Hands' own pipeline, asked for one frame after each of ours
    worker, tmp = None, tempfile.TemporaryDirectory()
    mediapipe: dict = {"pipeline": "HandLandmarker (Tasks API, CPU), IMAGE and VIDEO running modes"}
    if args.mediapipe == "skip":
        mediapipe["skipped"] = "--mediapipe skip"
    else:
        try:
            python = ensure_mediapipe_venv(args.install_mediapipe)
            task = hand_landmarker_task(python, Path(tmp.name))
            worker = MediaPipeWorker(python, task, SAMPLE / "image.png")
            mediapipe.update(
                version=worker.version,
                task="hand_landmarker.task zipped from the wheel's palm_detection_full + hand_landmark_full",
            )
        except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
            mediapipe["skipped"] = f"MediaPipe could not run: {exc}"
            logger.warning("%s", mediapipe["skipped"])
    result["mediapipe"] = mediapipe
    result["matmul"] = {
        "torch": mm_torch,
        "numpy": mm_numpy,
        "gflops": max(mm_torch["gflops"], mm_numpy["gflops"]),
        "other_processes_cores": load.other_cores,
    }
    if "landmarks" in args.sections:
        result["landmark_estimator"] = bench_landmark_estimator(
            image,
            camera,
            build_messages,
            args.frames,
            args.warmup,
            args.threads,
            args.redetect_every,
            worker,
            args.tracked_steps,
        )
    result["models"] = (
        []
        if "engines" not in args.sections
        else [
            bench_model(
                m,
                variants,
                image,
                camera,
                gt_boxes,
                detectors,
                build_messages,
                args.frames,
                args.warmup,
                args.threads,
                result["matmul"]["gflops"],
                worker,
            )  # fmt: skip
            for m in models
        ]
    )
    if worker is not None:
        worker.close()
    tmp.cleanup()
    from wildhands.runtime.threads import blas_threads

    result["machine"]["blas_threads"] = blas_threads()  # as the pipelines set them (machine_facts ran before)
    result["ratios"] = ratios(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    if "landmark_estimator" in result:
        print(landmark_summary(result["landmark_estimator"]))
    if result["models"]:
        print(summary(result))
    print(f"results in {args.out}")
    return result


def ratios(result: dict) -> dict:
    """The issue #7 targets, from this run's numbers."""
    out: dict = {}
    for m in result["models"]:
        name = f"{m['model']['backbone']}@{m['model']['image_size']}"
        r: dict = {}
        for n, h in m["hands"].items():
            eng = h["engines"]
            if "torch" in eng and "onnxruntime" in eng:
                r[f"onnxruntime_engine_speedup_vs_torch_{n}_hands"] = (
                    eng["torch"]["stages_median_ms"]["engine"]
                    / eng["onnxruntime"]["stages_median_ms"]["engine"]
                )
            cpu = {k: v for k, v in eng.items() if "gflops_over_matmul" in v}
            best = min(cpu, key=lambda k: cpu[k]["frame"]["median_ms"])
            r[f"best_cpu_engine_{n}_hands"] = best
            r[f"network_gflops_over_matmul_{n}_hands"] = cpu[best]["gflops_over_matmul"]
            if "IMAGE" in h["mediapipe"]:  # timed frame by frame beside ours
                r[f"frame_latency_over_mediapipe_{n}_hands"] = (
                    cpu[best]["frame"]["median_ms"] / h["mediapipe"]["IMAGE"]["median_ms"]
                )
            if "tensorrt fp16" in eng:
                r[f"tensorrt_fp16_pipeline_median_ms_{n}_hands"] = eng["tensorrt fp16"]["pipeline"][
                    "median_ms"
                ]
                for other in ("torch cuda fp32", "torch cuda fp16"):
                    if other in eng:
                        r[f"tensorrt_fp16_engine_speedup_vs_{other.replace(' ', '_')}_{n}_hands"] = (
                            eng[other]["stages_median_ms"]["engine"]
                            / eng["tensorrt fp16"]["stages_median_ms"]["engine"]
                        )
        r["targets"] = {
            "network_within_1.5x_of_compute_limit": r.get("network_gflops_over_matmul_2_hands", 0) >= 1 / 1.5,
            "onnxruntime_at_least_1.5x_torch": r.get("onnxruntime_engine_speedup_vs_torch_2_hands", 0) >= 1.5,
            "two_hand_frame_within_2x_of_mediapipe": (
                r["frame_latency_over_mediapipe_2_hands"] <= 2.0
                if "frame_latency_over_mediapipe_2_hands" in r
                else None
            ),
        }
        out[name] = r
    return out


def summary(result: dict) -> str:
    """A markdown table of the run (what docs/engines.md shows)."""
    m0 = result["machine"]
    lines = [
        f"{result['date']}, {m0['cpu']} ({m0['cpu_count']} cores, {m0['threads']} threads)"
        + (f", {m0['gpu']}" if m0["gpu"] else ", no GPU")
        + f"; matmul {result['matmul']['gflops']:.0f} GFLOP/s",
        "",
        "| network | engine | hands | frame median / p95 (ms) | frames/s | detector | crop | engine "
        "| hand layer | messages | GFLOP/s ÷ matmul | other load (cores) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for m in result["models"]:
        name = f"{m['model']['backbone']} @{m['model']['image_size']}"
        for n, h in m["hands"].items():
            for label, e in h["engines"].items():
                st, fr = e["stages_median_ms"], e["frame"]
                ratio = f"{e['gflops_over_matmul']:.2f}" if "gflops_over_matmul" in e else "-"
                cells = [
                    name,
                    label,
                    n,
                    f"{fr['median_ms']:.1f} / {fr['p95_ms']:.1f}",
                    f"{fr['frames_per_s']:.1f}",
                ]
                cells += [f"{st[k]:.1f}" for k in ("detector", "crop", "engine", "hand_layer", "messages")]
                cells += [ratio, f"{h['other_processes_cores']:.2f}"]
                lines.append("| " + " | ".join(str(c) for c in cells) + " |")
            for mode, e in h["mediapipe"].items():
                cells = [f"(same frames) MediaPipe HandLandmarker {mode}", "its own", n]
                cells += [f"{e['median_ms']:.1f} / {e['p95_ms']:.1f}", f"{e['frames_per_s']:.1f}"]
                cells += [""] * 5 + ["-", f"{h['other_processes_cores']:.2f}"]
                lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    mp = result["mediapipe"]
    if "skipped" in mp:
        lines.append(f"\nMediaPipe: {mp['skipped']}")
    lines.append("")
    for name, r in result["ratios"].items():
        lines.append(
            f"{name}: "
            + ", ".join(
                f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in r.items() if k != "targets"
            )
        )
        lines.append(f"  targets: {r['targets']}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
