#!/usr/bin/env python3
"""Real-image benchmark: the shipped image model and a MediaPipe + PnP peer on real hands (issue 18 item 4).

Every method gets the same hands: each labelled hand's keypoint box (+10 % margin, the readers' rule),
its true side, and the image's real intrinsics (a pinhole guess, f = 1000 px, where the dataset has none;
then only 2D is scored). Methods (``METHODS``, a registry; one line adds a method):

* ``image_model``: ``wildhands.runtime.pipeline.Pipeline`` with the shipped weights (``--weights``).
* ``mediapipe_pnp``: MediaPipe's hand-landmark model (our offline LiteRT copy) run on the square crop the
  image model gets (1.5 x the box side, upright), then once more on MediaPipe's own tracking rect of those
  landmarks (rotated wrist -> middle MCP, as MediaPipe does from one video frame to the next; no truth is
  used past the box); its 21 world landmarks (m) go through ``cv2.solvePnP`` (SQPnP + LM refinement) onto
  its 21 2D landmarks with the real K -> camera-frame 3D keypoints. Found = hand presence >= 0.5.
* ``mediapipe_palm_pnp``: the full MediaPipe graph (palm detector -> landmarks, no box given), each true
  hand matched to the detection whose landmarks lie nearest (mean distance < 0.5 x the hand's size); same
  PnP. Measures what the detector finds on its own.

Probes (``PROBES``, asked for by name in ``--methods``, never in the default list; they use the truth):
``landmark_head_unturned`` / ``landmark_head_upright``: MediaPipe's landmark network once on the image
model's own square crop, unturned or turned upright from the true wrist and middle MCP -- what the frozen
``mediapipe_hand`` backbone sees in each crop convention (``ModelConfig.crop_roll``):

    python bench/real_hands.py --mmpose-data ... --methods landmark_head_unturned,landmark_head_upright \
        --results bench/results/real_hands_crop_roll.json

``image_model_true_roll``, ``image_model_landmark_roll``, ``image_model_third_pass``,
``image_model_palm_roll`` (weights with ``crop_roll='upright'``): the image model's second pass on the crop
turned from the true wrist and middle MCP (a perfect first pass), from MediaPipe's landmark network on the
box, from its own second pass (a third pass), or from the full MediaPipe graph's landmarks of the hand
(palm detector first, matched to the true hand) attached to its box, as the pipeline gets them from
MediaPipe's detector (its first pass where the graph misses the hand).

Data: the committed real fixtures (``test/data/real_hands/*/truth.json``: InterHand2.6M with 3D truth and
intrinsics, COCO-WholeBody hands with 2D truth), optionally more sets read from an mmpose checkout
(``--mmpose-data MMPOSE/tests/data --mmpose-sets freihand,onehand10k,panoptic,rhd``; RHD is rendered and
labelled synthetic), and synthetic renders for comparison: the bundled clip ``wildhands/assets/sequence``
(default) or a ``wildhands synth`` folder (``--synthetic-dir``). ``--turn-deg 90 | 180 | 270`` turns every
image with its truth and camera (``turned_sample``): the same hands pointing another way, as egocentric views
show them.

Metrics per method and set (``wildhands.eval.metrics`` via ``wildhands.eval.real_hands.score_hand``): hands
found / total; 2D error (px, mean over labelled keypoints, then over hands found) and the same relative to
the hand's size (longest side of its keypoint box); with 3D truth: PA-MPJPE, root(wrist)-relative MPJPE,
absolute wrist error (mean and median), mm. The render-realism figure is the landmark model's 2D error in
px of its 224 x 224 input crop (image px x 224 / rect side), synthetic vs real.

    python bench/real_hands.py                       # committed fixtures + bundled synthetic clip
    python bench/real_hands.py --mmpose-data /path/to/mmpose/tests/data --synthetic-dir out/synth

Results: ``bench/results/real_hands.json`` (``--results``), with the command line, the machine and a
markdown table.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]

from _eval_common import (  # noqa: E402
    command_line,
    fmt,
    machine_facts,
    resolve_weights,
    table,
    weights_facts,
    write_result,
)
from machine import OtherLoad  # noqa: E402

from wildhands.eval.real_hands import (  # noqa: E402
    HandTruth,
    Sample,
    hand_box_xyxy,
    landmarks_on_rect,
    load_mmpose_sets,
    load_real_hands,
    pnp_keypoints_cam,
    records_samples,
    sample_camera,
    sequence_samples,
    tracking_rect,
    turned_sample,
)
from wildhands.eval.scoring import score_hand, summarise_scores  # noqa: E402

logger = logging.getLogger("bench.real_hands")

#: A method: (sample, hand) -> prediction dict (``keypoints_px`` (21, 2), ``keypoints_cam_m`` (21, 3) or
#: None, optional ``crop_px_per_image_px``) or None when it finds no hand.
Prediction = dict[str, Any]
Method = Callable[[Sample, HandTruth], Prediction | None]

BOX_SCALE = 1.5  # crop side / box side: the pipeline's default (PipelineConfig.box_scale)
PRESENCE_THRESHOLD = 0.5  # MediaPipe's hand-presence threshold
MATCH_MAX_REL = 0.5  # palm path: a detection matches a hand when its mean landmark distance < 0.5 x size


class Shared:
    """What several methods use, built once: the MediaPipe detector, the side of hands whose dataset does
    not label it (OneHand10K: the landmark model's handedness on the box crop)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self._detector = None
        self._sides: dict[int, str] = {}
        self._image_pipeline = None
        #: the checkpoint ``--weights`` resolved to, once a method built the image model's pipeline
        self.weights_path: Path | None = None

    @property
    def detector(self):
        if self._detector is None:
            from wildhands.runtime.detection.mediapipe_palm import MediaPipeHandDetector

            self._detector = MediaPipeHandDetector(threads=self.args.threads or 2)
        return self._detector

    def crop(self, sample: Sample, hand: HandTruth):
        """The square crop the image model cuts for this hand (CropBox), or None for a degenerate box."""
        from wildhands.geometry.crop import square_box_from_xyxy

        box = hand_box_xyxy(hand, sample.width, sample.height)
        if box is None:
            return None
        return square_box_from_xyxy(box, (sample.width, sample.height), scale=BOX_SCALE)

    @property
    def image_pipeline(self):
        """The image model's pipeline (``--weights``, resolved here: every method that runs the image
        model gets it, probes too), built once."""
        if self._image_pipeline is None:
            from wildhands.runtime.pipeline import Pipeline, PipelineConfig

            args = self.args
            self.weights_path = resolve_weights(args.weights)
            config = PipelineConfig(weights=self.weights_path, threads=args.threads, estimator="image")
            self._image_pipeline = Pipeline(config)
        return self._image_pipeline

    def hand_box(self, sample: Sample, hand: HandTruth):
        """The ``HandBox`` every method is given for this hand (its keypoint box, its side), or None."""
        from wildhands.runtime.pipeline import HandBox

        box = hand_box_xyxy(hand, sample.width, sample.height)
        return None if box is None else HandBox(tuple(float(v) for v in box), self.side(sample, hand))

    def side(self, sample: Sample, hand: HandTruth) -> str:
        if hand.side is not None:
            return hand.side
        if id(hand) not in self._sides:
            crop = self.crop(sample, hand)
            lm = landmarks_on_rect(self.detector, sample.image, crop.center, crop.size) if crop else None
            self._sides[id(hand)] = lm["side"] if lm else "right"
        return self._sides[id(hand)]


def make_image_model(args: argparse.Namespace, shared: Shared) -> Method:
    pipeline = shared.image_pipeline

    def run(sample: Sample, hand: HandTruth) -> Prediction | None:
        hb = shared.hand_box(sample, hand)
        if hb is None:
            return None
        out = pipeline(sample.image, sample_camera(sample), [hb])
        if not out:
            return None
        return {"keypoints_px": out[0].keypoints_px, "keypoints_cam_m": out[0].keypoints_cam_m}

    return run


def _pnp_prediction(world: np.ndarray, uv: np.ndarray, sample: Sample, rect_size: float) -> Prediction:
    return {
        "keypoints_px": uv,
        "keypoints_cam_m": pnp_keypoints_cam(world, uv, sample_camera(sample)),
        "crop_px_per_image_px": 224.0 / rect_size,
    }


def make_mediapipe_pnp(args: argparse.Namespace, shared: Shared) -> Method:
    def run(sample: Sample, hand: HandTruth) -> Prediction | None:
        crop = shared.crop(sample, hand)
        if crop is None:
            return None
        det = shared.detector
        first = landmarks_on_rect(det, sample.image, crop.center, crop.size, 0.0)
        centre, size, rotation = tracking_rect(first["landmarks_px"])
        lm = landmarks_on_rect(det, sample.image, centre, size, rotation)
        if lm["presence"] < PRESENCE_THRESHOLD:
            return None
        return _pnp_prediction(lm["landmarks_world_m"], lm["landmarks_px"], sample, size)

    return run


def _palm_matcher(shared: Shared) -> Callable[[Sample, HandTruth], Any]:
    """A function (sample, hand) -> the full MediaPipe graph's detection (palm detector -> landmarks, no box
    given) matched to that true hand -- the one whose landmarks lie nearest, mean distance below
    ``MATCH_MAX_REL`` x the hand's size, each detection matched once -- or None."""
    cache: dict[int, tuple[list, set]] = {}  # id(sample) -> (detections, indices already matched)

    def match(sample: Sample, hand: HandTruth):
        if id(sample) not in cache:
            cache.clear()  # samples are scored one after the other
            cache[id(sample)] = (shared.detector.detect_with_landmarks(sample.image), set())
        dets, used = cache[id(sample)]
        best, best_d = None, math.inf
        for i, d in enumerate(dets):
            if i in used:
                continue
            dist = np.linalg.norm(d.landmarks_px[:, :2] - 0.5 - hand.keypoints_px, axis=1)[hand.valid].mean()
            if dist < best_d:
                best, best_d = i, dist
        if best is None or best_d > MATCH_MAX_REL * hand.size_px:
            return None
        used.add(best)
        return dets[best]

    return match


def make_mediapipe_palm_pnp(args: argparse.Namespace, shared: Shared) -> Method:
    match = _palm_matcher(shared)

    def run(sample: Sample, hand: HandTruth) -> Prediction | None:
        d = match(sample, hand)
        if d is None:
            return None
        return _pnp_prediction(d.landmarks_world_m, d.landmarks_px[:, :2] - 0.5, sample, d.rect_size_px)

    return run


def _make_landmark_hands(lifter_path: str | None, refine: bool):
    """A factory of the landmark-lifting path (``wildhands.runtime.landmark_hands``): the box's landmark
    pass, the initial hand (the lifting head's, or PnP's without one), refinement on or off."""

    def factory(args: argparse.Namespace, shared: Shared) -> Method:
        from wildhands.handmodel.open_hand import OpenHandModel
        from wildhands.model.lifting import load_lifting
        from wildhands.runtime.landmark_hands import LandmarkHands, LandmarkHandsConfig

        lifter = None
        if lifter_path is not None:
            lifter = load_lifting(args.lifting_weights or lifter_path)
        lh = LandmarkHands(shared.detector, OpenHandModel("right"), config=LandmarkHandsConfig(refine=refine),
                           lifter=lifter)  # fmt: skip
        mirror = np.diag([-1.0, 1.0, 1.0])

        def run(sample: Sample, hand: HandTruth) -> Prediction | None:
            hb = shared.hand_box(sample, hand)
            if hb is None:
                return None
            camera = sample_camera(sample)
            t0 = time.perf_counter()
            detections = lh.detections(sample.image, [hb])
            t1 = time.perf_counter()
            fitted = lh.fit(camera, [hb], detections)
            t2 = time.perf_counter()
            if not fitted:
                return None
            kp = fitted[0][1].keypoints_cam_m
            if hb.side == "left":
                kp = kp @ mirror
            stages = {"landmarks": 1e3 * (t1 - t0), "lift_and_fit": 1e3 * (t2 - t1)}
            return {"keypoints_px": camera.project(kp), "keypoints_cam_m": kp, "ms_stages": stages}

        return run

    return factory


def _make_landmark_head(upright: bool):
    """A probe, not a method (it may use the truth): MediaPipe's landmark network once on the image
    model's own square crop of the hand, unturned (``upright=False``) or turned so that the TRUE wrist ->
    middle MCP points up (MediaPipe's crop convention; ``ModelConfig.crop_roll='upright'``). Always
    "found" (no presence threshold): it scores how well the network reads the crop, not whether it finds
    a hand. What the frozen ``mediapipe_hand`` backbone sees in each crop convention."""

    def factory(args: argparse.Namespace, shared: Shared) -> Method:
        from wildhands.geometry.crop import up_angle
        from wildhands.handmodel.keypoints import MIDDLE_MCP, WRIST

        def run(sample: Sample, hand: HandTruth) -> Prediction | None:
            crop = shared.crop(sample, hand)
            if crop is None:
                return None
            rotation = 0.0
            if upright and hand.valid[WRIST] and hand.valid[MIDDLE_MCP]:
                rotation = up_angle(hand.keypoints_px[WRIST], hand.keypoints_px[MIDDLE_MCP])
            lm = landmarks_on_rect(shared.detector, sample.image, crop.center, crop.size, rotation)
            return {"keypoints_px": lm["landmarks_px"], "crop_px_per_image_px": 224.0 / crop.size}

        return run

    return factory


def _second_pass(pipeline, sample: Sample, hb, roll: float) -> Prediction | None:
    """The image model's second pass on ``hb``'s rectified crop turned by ``roll`` (rad)."""
    camera = sample_camera(sample)
    images, kpe, crop_boxes, net_boxes, mirrored = pipeline.prepare(sample.image, camera, [hb], [roll])
    out = pipeline.lift(pipeline.engine.infer(images, kpe), camera, mirrored, [hb], crop_boxes, net_boxes)
    if not out:
        return None
    return {"keypoints_px": out[0].keypoints_px, "keypoints_cam_m": out[0].keypoints_cam_m}


def _upright_probe(first_direction: str):
    """A probe for weights with ``crop_roll='upright'``: the image model's second pass on the crop turned
    upright from another first direction than its own first pass (wrist and middle MCP, as rays):

    * ``truth``: the TRUE keypoints -- what a perfect first pass would give;
    * ``landmarks``: MediaPipe's landmark network on the box (``landmarks_in_box``: two passes, as the
      landmark estimator runs it; one pass without a presence threshold where the second sees no hand);
    * ``third_pass``: the image model's own second pass, i.e. one more pass turned by its result;
    * ``palm``: the full MediaPipe graph's landmarks (its palm detector reads the hand's direction, then
      the landmark network on the turned rect; ``_palm_matcher``) attached to the box, as MediaPipe's
      detector gives them: the pipeline then turns the crop by them (``Pipeline.box_rolls``), and runs
      its first pass where the graph does not find the hand.
    """

    def factory(args: argparse.Namespace, shared: Shared) -> Method:
        from wildhands.geometry.perspective_crop import upright_roll
        from wildhands.handmodel.keypoints import MIDDLE_MCP, WRIST
        from wildhands.runtime.hands import CONTINUOUS_TO_CENTRE_PX

        pipeline = shared.image_pipeline
        match = _palm_matcher(shared) if first_direction == "palm" else None
        if pipeline.model_config.crop_roll != "upright":
            raise SystemExit(f"the {first_direction} probe needs weights with crop_roll='upright'")

        def run(sample: Sample, hand: HandTruth) -> Prediction | None:
            hb = shared.hand_box(sample, hand)
            if hb is None:
                return None
            camera = sample_camera(sample)
            unturned = pipeline.plan_crop(camera, hb, 0.0).rectified
            if unturned is None:
                return None
            if first_direction == "truth":
                if not (hand.valid[WRIST] and hand.valid[MIDDLE_MCP]):
                    return None
                rays = camera.pixels_to_rays(hand.keypoints_px[[WRIST, MIDDLE_MCP]])
            elif first_direction == "landmarks":
                det = shared.detector.landmarks_in_box(sample.image, hb)
                if det is None:
                    x0, y0, x1, y1 = hb.xyxy_px
                    centre = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
                    side = max(x1 - x0, y1 - y0) * BOX_SCALE
                    det = shared.detector.landmarks_on_rect(sample.image, centre, side, 0.0, min_presence=0.0)
                uv = det.landmarks_px[[WRIST, MIDDLE_MCP], :2] - CONTINUOUS_TO_CENTRE_PX
                rays = camera.pixels_to_rays(uv)
            elif first_direction == "palm":  # the pipeline's own route for a box that carries landmarks
                out = pipeline(sample.image, camera, [dataclasses.replace(hb, landmarks=match(sample, hand))])
                if not out:
                    return None
                return {"keypoints_px": out[0].keypoints_px, "keypoints_cam_m": out[0].keypoints_cam_m}
            else:  # third_pass
                out = pipeline(sample.image, camera, [hb])
                if not out:
                    return None
                rays = out[0].keypoints_cam_m[[WRIST, MIDDLE_MCP]]
            return _second_pass(pipeline, sample, hb, upright_roll(unturned, rays[0], rays[1]))

        return run

    return factory


#: name -> factory(args, shared) -> Method. Add a method with one line.
METHODS: dict[str, Callable[[argparse.Namespace, Shared], Method]] = {
    "image_model": make_image_model,
    "mediapipe_pnp": make_mediapipe_pnp,
    "mediapipe_palm_pnp": make_mediapipe_palm_pnp,
    "landmarks_pnp_refine": _make_landmark_hands(None, refine=True),
    "lifting": _make_landmark_hands("models/wildhands_lifting.pt", refine=False),
    "lifting_refine": _make_landmark_hands("models/wildhands_lifting.pt", refine=True),
}
#: Probes (``--methods`` only; never in the default list): they use the truth beyond the box.
PROBES: dict[str, Callable[[argparse.Namespace, Shared], Method]] = {
    "landmark_head_unturned": _make_landmark_head(upright=False),
    "landmark_head_upright": _make_landmark_head(upright=True),
    "image_model_true_roll": _upright_probe("truth"),
    "image_model_landmark_roll": _upright_probe("landmarks"),
    "image_model_third_pass": _upright_probe("third_pass"),
    "image_model_palm_roll": _upright_probe("palm"),
}
#: Every name ``--methods`` takes.
KNOWN_METHODS = {**METHODS, **PROBES}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", default="default", help="image model weights (default: the shipped ones)")
    p.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated, of {list(KNOWN_METHODS)}")
    p.add_argument("--real-dir", type=Path, help="folder of <set>/truth.json (default: test/data/real_hands)")
    p.add_argument("--mmpose-data", type=Path, help="an mmpose checkout's tests/data, for the sets below")
    p.add_argument(
        "--mmpose-sets",
        default="freihand,onehand10k,panoptic,rhd",
        help="sets read from --mmpose-data (wildhands.eval.real_hands.MMPOSE_SETS)",
    )
    p.add_argument("--synthetic-dir", type=Path, help="a `wildhands synth` folder (default: bundled clip)")
    p.add_argument(
        "--synthetic-frames", type=int, default=0, help="at most this many synthetic frames (0: all)"
    )
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0 = all cores)")
    p.add_argument(
        "--lifting-weights", help="landmark-lifting weights (default: models/wildhands_lifting.pt)"
    )
    p.add_argument(
        "--turn-deg", type=int, default=0, choices=(0, 90, 180, 270),
        help="turn every image, its truth and camera clockwise by this much (real_hands.turned_sample)",
    )  # fmt: skip
    p.add_argument("--results", type=Path, default=REPO / "bench" / "results" / "real_hands.json")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    args.methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in args.methods if m not in KNOWN_METHODS]
    if unknown or not args.methods:
        p.error(f"--methods: unknown {unknown}; known: {list(KNOWN_METHODS)}")
    args.mmpose_sets = [s.strip() for s in args.mmpose_sets.split(",") if s.strip()]
    return args


def load_samples(args: argparse.Namespace) -> list[Sample]:
    samples = load_real_hands(args.real_dir)
    if args.mmpose_data is not None:
        samples += load_mmpose_sets(args.mmpose_data, args.mmpose_sets)
    if args.synthetic_dir is not None:
        from wildhands.eval.sources import open_records

        synth = records_samples(open_records(str(args.synthetic_dir)), dataset="synthetic")
    else:
        synth = sequence_samples()
    if args.synthetic_frames > 0:
        synth = synth[: args.synthetic_frames]
    return [turned_sample(s, args.turn_deg // 90) for s in samples + synth]


def evaluate(methods: dict[str, Method], samples: list[Sample], progress: bool = True) -> dict[str, Any]:
    """``methods``: per method, ms per hand and per set the summary of its hands' scores (with the 2D error
    in 224-crop px where the method reports its crop); ``per_hand``: every hand's scores per method."""
    from tqdm import tqdm

    scores: dict[str, dict[str, list]] = {m: {} for m in methods}
    crop_err: dict[str, dict[str, list]] = {m: {} for m in methods}
    ms: dict[str, list[float]] = {m: [] for m in methods}
    stages: dict[str, dict[str, list[float]]] = {m: {} for m in methods}  # methods that time their stages
    per_hand: list[dict[str, Any]] = []  # every hand's scores, for paired comparisons between methods
    n_hands = sum(len(s.hands) for s in samples)
    with tqdm(total=n_hands * len(methods), desc="hands x methods", disable=not progress) as bar:
        for sample in samples:
            for hand in sample.hands:
                per_hand.append(
                    {
                        "set": sample.dataset,
                        "image": sample.name,
                        "side": hand.side,
                        "size_px": round(hand.size_px, 2),
                    }
                )
                for name, method in methods.items():
                    t0 = time.perf_counter()
                    pred = method(sample, hand)
                    ms[name].append(1e3 * (time.perf_counter() - t0))
                    s = score_hand(pred, hand)
                    scores[name].setdefault(sample.dataset, []).append(s)
                    per_hand[-1][name] = {
                        k: round(v, 3) if isinstance(v, float) else v for k, v in s.items() if k != "kp2d_rel"
                    }
                    for stage, value in (pred or {}).get("ms_stages", {}).items():
                        stages[name].setdefault(stage, []).append(value)
                    if pred is not None and "crop_px_per_image_px" in pred:
                        crop_err[name].setdefault(sample.dataset, []).append(
                            s["kp2d_px"] * pred["crop_px_per_image_px"]
                        )
                    bar.update(1)
    out: dict[str, Any] = {}
    for name in methods:
        out[name] = {"ms_per_hand": float(np.mean(ms[name])) if ms[name] else None, "sets": {}}
        if stages[name]:  # median ms per hand of each stage
            out[name]["ms_per_hand_stages"] = {k: float(np.median(v)) for k, v in stages[name].items()}
        for ds, sc in scores[name].items():
            summary = summarise_scores(sc)
            ce = crop_err[name].get(ds)
            summary["kp2d_crop224_px"] = float(np.mean(ce)) if ce else None
            out[name]["sets"][ds] = summary
    return {"methods": out, "per_hand": per_hand}


def set_facts(samples: list[Sample]) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    for s in samples:
        f = facts.setdefault(
            s.dataset, {"images": 0, "hands": 0, "synthetic": s.synthetic, "truth_3d": True, "sizes_px": []}
        )
        f["images"] += 1
        f["hands"] += len(s.hands)
        f["truth_3d"] &= s.camera is not None and all(h.has_3d for h in s.hands)
        f["sizes_px"] += [h.size_px for h in s.hands]
    for f in facts.values():
        sizes = f.pop("sizes_px")
        f["hand_size_px_median"] = round(float(np.median(sizes)), 1) if sizes else None
    return facts


def markdown(result: dict[str, Any]) -> str:
    header = [
        "set",
        "method",
        "found",
        "2D err (px)",
        "2D err / size",
        "PA-MPJPE (mm)",
        "MPJPE (mm)",
        "wrist err mean (mm)",
        "wrist err median (mm)",
    ]
    rows = []
    for ds, facts in result["sets"].items():
        label = f"{ds}{' (synthetic)' if facts['synthetic'] else ''}"
        for name, res in result["methods"].items():
            m = res["sets"].get(ds)
            if m is None:
                continue
            rows.append(
                [
                    label,
                    name,
                    f"{m['found']}/{m['hands']}",
                    fmt(m["kp2d_px"]),
                    fmt(m["kp2d_rel"], ".2f"),
                    fmt(m["pa_mpjpe_mm"]),
                    fmt(m["mpjpe_mm"]),
                    fmt(m["wrist_mm"], ".0f"),
                    fmt(m["wrist_mm_median"], ".0f"),
                ]
            )
    text = table(header, rows)
    realism = result.get("render_realism")
    if realism:
        text += (
            "\nRender realism: MediaPipe landmark model (GT-box crop, `mediapipe_pnp`), 2D error in px "
            "of its 224 x 224 input crop\n\n"
        )
        text += table(
            ["set", "synthetic", "hands", "2D err (224-crop px)", "2D err (image px)"],
            [
                [
                    ds,
                    "yes" if r["synthetic"] else "no",
                    str(r["hands"]),
                    fmt(r["crop224_px"]),
                    fmt(r["image_px"]),
                ]
                for ds, r in realism.items()
            ],
        )
    noise = result.get("landmark_noise")
    if noise:
        keys = (
            "sigma_2d",
            "world_rotation_deg",
            "world_rotation_view_deg",
            "world_scale_sd",
            "world_error_mm",
        )
        text += (
            f"\nLandmark network vs 3D truth on {noise['hands']} real hands (median) and the lifting model's "
            "simulated noise (`wildhands.train.lifting.NoiseModel`)\n\n"
        )
        rows = [["real", *(fmt(noise["real_median"].get(k), ".3g") for k in keys)]]
        if noise.get("synthetic_median"):
            name = f"synthetic ({noise['synthetic_hands']})"
            rows.append([name, *(fmt(noise["synthetic_median"].get(k), ".3g") for k in keys)])
        rows.append(["simulated", *(fmt(noise["simulated"].get(k), ".3g") for k in keys)])
        text += table(
            [
                "",
                "2D error / hand extent (per coord.)",
                "world frame rotation from the camera's axes (deg)",
                "from the hand's view (deg)",
                "world scale SD",
                "world error after rot.+scale (mm)",
            ],  # fmt: skip
            rows,
        )
    return text


def render_realism(result: dict[str, Any]) -> dict[str, Any]:
    """The landmark model's 2D error per set and pooled over the real / the synthetic sets (hands found)."""
    res = result["methods"].get("mediapipe_pnp")
    if res is None:
        return {}
    out = {
        ds: {
            "synthetic": result["sets"][ds]["synthetic"],
            "hands": m["found"],
            "crop224_px": m["kp2d_crop224_px"],
            "image_px": m["kp2d_px"],
        }
        for ds, m in res["sets"].items()
    }
    for synthetic, label in ((False, "all real"), (True, "all synthetic")):
        rows = [
            r
            for r in out.values()
            if r["synthetic"] == synthetic and r["hands"] and r["crop224_px"] is not None
        ]
        n = sum(r["hands"] for r in rows)
        if n:
            out[label] = {
                "synthetic": synthetic,
                "hands": n,
                "crop224_px": sum(r["crop224_px"] * r["hands"] for r in rows) / n,
                "image_px": sum(r["image_px"] * r["hands"] for r in rows) / n,
            }
    return out


def landmark_noise(samples: list[Sample], shared: Shared) -> dict[str, Any]:
    """How the landmark network errs on real hands with 3D truth, beside the noise the lifting model is
    trained with (``wildhands.train.lifting.NoiseModel``): per coordinate 2D error / the hand's extent,
    the rotation (deg) and scale (truth / network) of its world landmarks vs the true wrist-relative
    joints, and their error after that rotation and scale (mm). The rotation is also given against the
    truth seen from a camera turned without roll to look at the hand (``world_rotation_view_deg``: the
    frame the lifting head takes them in); synthetic hands with 3D truth (``--synthetic-dir``) are
    summarised apart (``synthetic_median``)."""
    from wildhands.geometry.perspective_crop import look_at_rotation
    from wildhands.runtime.refine import kabsch
    from wildhands.train.lifting import NoiseModel

    def angle_deg(r: np.ndarray) -> float:
        return float(np.degrees(np.arccos(np.clip((np.trace(r) - 1) / 2, -1, 1))))

    rows = []
    for sample in samples:
        for hand in sample.hands:
            hb = shared.hand_box(sample, hand) if hand.keypoints_cam_m is not None else None
            if hb is None:
                continue
            det = shared.detector.landmarks_in_box(sample.image, hb)
            if det is None:
                continue
            err = det.landmarks_px[:, :2] - 0.5 - hand.keypoints_px
            extent = float((hand.keypoints_px.max(0) - hand.keypoints_px.min(0)).max())
            world = det.landmarks_world_m - det.landmarks_world_m[0]
            truth = hand.keypoints_cam_m - hand.keypoints_cam_m[0]
            r = kabsch(world, truth)
            view = truth @ look_at_rotation(hand.keypoints_cam_m.mean(0)).T
            scale = float(np.linalg.norm(truth, axis=1).sum() / np.linalg.norm(world, axis=1).sum())
            rows.append({
                "set": sample.dataset, "synthetic": bool(sample.synthetic),
                "sigma_2d": float(np.sqrt(np.mean(err**2)) / extent),
                "world_rotation_deg": angle_deg(r), "world_rotation_view_deg": angle_deg(kabsch(world, view)),
                "world_scale": scale,
                "world_error_mm": float(np.linalg.norm(world @ r.T * scale - truth, axis=1).mean() * 1000),
            })  # fmt: skip
    if not rows:
        return {}
    keys = ("sigma_2d", "world_rotation_deg", "world_rotation_view_deg", "world_scale", "world_error_mm")

    def medians(part: list[dict[str, Any]]) -> dict[str, float]:
        out = {k: float(np.median([r[k] for r in part])) for k in keys}
        out["world_scale_sd"] = float(np.std([r["world_scale"] for r in part]))
        return out

    real = [r for r in rows if not r["synthetic"]]
    synthetic = [r for r in rows if r["synthetic"]]
    nm = NoiseModel()
    return {
        "hands": len(real),
        "real_median": medians(real) if real else {},
        "synthetic_hands": len(synthetic),
        "synthetic_median": medians(synthetic) if synthetic else {},
        "simulated": {
            "sigma_2d": nm.sigma_2d,
            "world_rotation_deg": nm.world_rotation_deg,
            "world_scale_sd": nm.world_scale_sigma,
            "world_error_mm": nm.world_sigma_m * 1000 * math.sqrt(8 / math.pi),
        },  # mean 3D Gaussian length; fmt: skip
        "per_hand": rows,
    }


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    samples = load_samples(args)
    shared = Shared(args)
    methods = {name: KNOWN_METHODS[name](args, shared) for name in args.methods}
    logger.info(
        "%d images, %d hands, methods %s", len(samples), sum(len(s.hands) for s in samples), args.methods
    )
    with OtherLoad() as load:
        evaluated = evaluate(methods, samples, progress=not args.no_progress)
    result: dict[str, Any] = {
        "command": command_line("real_hands.py", argv),
        "machine": machine_facts(),
        "weights": weights_facts(shared.weights_path) if shared.weights_path else None,
        "boxes": "ground truth: labelled keypoints' box + 10% margin; true side; crops 1.5 x box side",
        "cameras": "dataset intrinsics; pinhole guess f=1000 px where none (2D scored only)",
        "turn_deg": args.turn_deg,
        "mmpose_data": _mmpose_facts(args),
        "sets": set_facts(samples),
        "methods": evaluated["methods"],
        "wall_s": round(load.wall, 1),
        "other_processes_cores": round(load.other_cores, 2),
        "per_hand": evaluated["per_hand"],
    }
    result["render_realism"] = render_realism(result)
    result["landmark_noise"] = landmark_noise(samples, shared)
    result["markdown"] = markdown(result)
    write_result(args.results, _finite(result))
    print(result["markdown"])
    logger.info("wrote %s (%.0f s)", args.results, load.wall)
    return 0


def _mmpose_facts(args: argparse.Namespace) -> dict[str, Any] | None:
    """Where the extra sets came from: the folder, its sets and (in a git checkout) mmpose's commit."""
    if args.mmpose_data is None:
        return None
    import subprocess

    try:
        commit = subprocess.run(
            ["git", "-C", str(args.mmpose_data), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = None
    return {"path": str(args.mmpose_data), "sets": args.mmpose_sets, "commit": commit}


def _finite(x: Any) -> Any:
    """NaN / inf -> None (the result JSON is strict)."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_finite(v) for v in x]
    return x


if __name__ == "__main__":
    sys.exit(main())
