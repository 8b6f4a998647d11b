#!/usr/bin/env python3
"""Where an upright image model's crop direction comes from, on the bundled clip: speed and accuracy.

Weights with ``crop_roll='upright'`` read crops turned so that the wrist -> middle MCP points up. The
pipeline takes that direction from the box where the box carries one (``Pipeline.box_rolls``: the landmarks
of MediaPipe's detector, or the tracker's rect from the previous frame), else from a first engine pass on the
unturned crop. Four ways to run the clip, timed in turn frame by frame so that a disturbance of the machine
falls on all alike:

* ``first_pass``: the detector on every frame, its boxes stripped of their landmarks -- the first pass for
  every hand (what the pipeline did for every box before session 22);
* ``detector``: the detector's boxes as they come (their landmarks give the direction);
* ``tracked_first_pass``: the node's tracking (``TrackingConfig(redetect_every=10)``, its default): the
  detector when the tracker asks for it, else the boxes from the previous frame's hands, every box
  stripped of its direction;
* ``tracked``: the same tracking, the boxes as they come (the node's way in session 22: a tracked hand's box
  and direction from the image model's own keypoints of the previous frame);
* ``tracked_landmarks``: the same tracking, each carried-over box through the detector's landmark pass on
  its rect (``HandTracker.boxes_for_frame`` -> ``MediaPipeHandDetector.track``: the node's way since
  session 23, MediaPipe's VIDEO mode): box and direction from this frame's landmarks.

Per way: the pipeline's milliseconds per frame (median of ``Pipeline.timings``: ``crop`` (rectified crops
and KPE inputs), ``engine`` and ``total``; the detector is left out, it is the same in every way:
``detector_ms_median``, palm detector and landmark passes; the tracked landmark passes are timed apart,
``track_ms_median`` over the frames that ran them), the engine calls per frame, and the raw hands (not the
tracker's smoothed ones) scored against the clip's truth (``wildhands.eval.scoring.score_sequence``: hands
found, MPJPE, PA-MPJPE, root error, MRRPE, 2D error; the MRRPE also per frame, with whether the frame's
boxes came from the detector). Ratios against ``first_pass`` / ``tracked_first_pass`` / ``tracked`` are
the speed figures to quote (one run; the machine's other load is recorded).

    python bench/upright_direction.py --weights wildhands_mediapipe_hand_224_upright_v4 \
        --out bench/results/upright_direction.json
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]

from _eval_common import command_line, resolve_weights, weights_facts, write_result  # noqa: E402
from machine import OtherLoad, machine_facts  # noqa: E402

WAYS = ("first_pass", "detector", "tracked_first_pass", "tracked", "tracked_landmarks")
REDETECT_EVERY = 10  # the node's default (wildhands_ros/params.py)
ERRORS = ("mpjpe_mm", "pa_mpjpe_mm", "root_error_mm", "mrrpe_mm", "orientation_deg", "kp2d_px")


def without_direction(boxes: list) -> list:
    """The boxes with neither the detector's landmarks nor the tracker's rect: the pipeline's first pass
    decides their direction."""
    return [dataclasses.replace(b, landmarks=None, landmark_rect=None) for b in boxes]


class _Detected:
    """This frame's detector boxes, found once for every way (``detect``), and the detector's landmark pass
    on tracked boxes (``track``) only when ``track`` is given: what ``HandTracker.boxes_for_frame`` calls."""

    def __init__(self, boxes: list, track=None) -> None:
        self.boxes = boxes
        self.track_s: float | None = None  # seconds of this frame's track() call, None: not called
        if track is not None:

            def timed_track(image, boxes):
                t0 = time.perf_counter()
                out = track(image, boxes)
                self.track_s = time.perf_counter() - t0
                return out

            self.track = timed_track

    def detect(self, image) -> list:
        return self.boxes


def mrrpe_of(sequence, result) -> float | None:
    """The MRRPE (mm) of one frame's hands against the clip's truth (``scoring.frame_mrrpe``), rounded;
    None unless both hands are labelled and found."""
    from wildhands.eval.scoring import LabelledHand, frame_mrrpe, match_hands

    labels = [LabelledHand.from_label(label) for label in sequence.ground_truth[result.index]]
    m = frame_mrrpe(labels, match_hands(labels, result.hands))
    return None if m is None else round(float(m), 1)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", default="wildhands_mediapipe_hand_224_upright_v4", help="upright weights")
    p.add_argument("--engine", default="onnxruntime", choices=["torch", "onnxruntime"])
    p.add_argument("--threads", type=int, default=0, help="pipeline threads (0 = all cores)")
    p.add_argument("--limit", type=int, default=None, help="first N frames of the clip")
    p.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "upright_direction.json")
    p.add_argument("--no-progress", action="store_true")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from tqdm import tqdm

    from wildhands.eval.scoring import score_sequence
    from wildhands.runtime.detection import build_detector
    from wildhands.runtime.pipeline import Pipeline, PipelineConfig
    from wildhands.runtime.sequence import FrameResult, load_sequence
    from wildhands.runtime.tracking import HandTracker, TrackingConfig

    weights = resolve_weights(args.weights)
    pipeline = Pipeline(
        PipelineConfig(weights=weights, engine=args.engine, threads=args.threads, estimator="image")
    )
    if pipeline.model_config.crop_roll != "upright":
        raise SystemExit(f"{args.weights}: these weights read unturned crops (crop_roll != 'upright')")
    detector = build_detector("mediapipe")
    sequence = load_sequence(limit=args.limit)
    camera = sequence.camera
    trackers = {w: HandTracker(TrackingConfig(redetect_every=REDETECT_EVERY)) for w in WAYS if "tracked" in w}
    results: dict[str, list] = {w: [] for w in WAYS}
    detected: dict[str, list[bool]] = {w: [] for w in WAYS}
    timings: dict[str, dict[str, list[float]]] = {
        w: {"crop": [], "engine": [], "total": [], "calls": [], "track": []} for w in WAYS
    }
    detector_ms: list[float] = []  # the palm detector + its landmark passes, every frame
    with OtherLoad() as load:
        for i in tqdm(range(len(sequence)), desc="frames", unit="frame", disable=args.no_progress):
            image = sequence.read_rgb(i)
            t0 = time.perf_counter()
            detected_boxes = detector.detect(image)
            detector_ms.append(1e3 * (time.perf_counter() - t0))
            for way in WAYS:
                tracker = trackers.get(way)
                fresh = True
                boxes = detected_boxes
                if tracker is not None:
                    source = _Detected(detected_boxes, detector.track if way == "tracked_landmarks" else None)
                    boxes, fresh = tracker.boxes_for_frame(
                        source, image, pipeline.config.max_hands, pipeline.config.box_scale
                    )
                    if source.track_s is not None:
                        timings[way]["track"].append(1e3 * source.track_s)
                if way.endswith("first_pass"):
                    boxes = without_direction(boxes)
                t0 = time.perf_counter()
                hands = pipeline(image, camera, boxes) if boxes else []
                elapsed = time.perf_counter() - t0
                if tracker is not None:
                    tracker.update(hands, sequence.stamps_s[i], camera, fresh)
                detected[way].append(fresh)
                for stage in ("crop", "engine"):
                    timings[way][stage].append(pipeline.timings.get(stage, 0.0) if boxes else 0.0)
                timings[way]["total"].append(1e3 * elapsed)
                timings[way]["calls"].append(len(pipeline.engine_batches) if boxes else 0)
                results[way].append(FrameResult(i, hands, elapsed, processing_s=elapsed))

    def r(x: float, n: int = 2) -> float:
        return round(float(x), n)

    ways: dict[str, Any] = {}
    for way in WAYS:
        truth = score_sequence(sequence, results[way])["ground_truth"]
        t = timings[way]
        ways[way] = {
            "crop_ms_median": r(np.median(t["crop"])),
            "engine_ms_median": r(np.median(t["engine"])),
            "pipeline_ms_median": r(np.median(t["total"])),
            "engine_calls_per_frame": r(np.mean(t["calls"])),
            **({"track_ms_median": r(np.median(t["track"]))} if t["track"] else {}),
            "found": f"{truth['found']} of {truth['hands']}",
            # mean and median over the hands found (MRRPE: over the frames with both hands found)
            **{
                stat: {k: r(truth[k][stat]) for k in ERRORS if (truth.get(k) or {}).get(stat) is not None}
                for stat in ("mean", "median")
            },  # fmt: skip
            # per frame (None: not both hands found) and whether its boxes came from the detector: where a
            # mean MRRPE comes from
            "mrrpe_mm_by_frame": [mrrpe_of(sequence, res) for res in results[way]],
            "detected_by_frame": detected[way],
        }

    def ratio(way: str, base: str, key: str) -> float:
        return r(ways[way][key] / max(ways[base][key], 1e-9), 3)

    ratios = {
        f"{way}_over_{base}": {
            "engine_ms": ratio(way, base, "engine_ms_median"),
            "pipeline_ms": ratio(way, base, "pipeline_ms_median"),
        }
        for way, base in (
            ("detector", "first_pass"),
            ("tracked", "tracked_first_pass"),
            ("tracked_landmarks", "tracked"),
        )
    }
    result = {
        "bench": "upright_direction",
        "command": command_line("upright_direction.py", sys.argv[1:] if argv is None else argv),
        "machine": machine_facts(threads=args.threads, other_processes_cores=round(load.other_cores, 2)),
        "weights": weights_facts(weights),
        "engine": pipeline.engine_name,
        "frames": len(sequence),
        "redetect_every": REDETECT_EVERY,
        "detector_ms_median": r(np.median(detector_ms)),
        "ways": ways,
        "ratios": ratios,
    }
    write_result(args.out, result)
    for way, v in ways.items():
        ms = f"engine {v['engine_ms_median']:7.1f} ms  pipeline {v['pipeline_ms_median']:7.1f} ms"
        calls = f"calls/frame {v['engine_calls_per_frame']:.2f}"
        print(f"{way:20s} {ms}  {calls}  found {v['found']}  {v['mean']}")
    print(ratios)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
