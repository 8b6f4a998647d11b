#!/usr/bin/env python3
"""Box crops vs rectified (perspective) crops on wide and fisheye lenses (issue #8 item 2).

One checkpoint, evaluated with ground-truth boxes on the held-out ``fisheye`` (equidistant) and
``wide_fov`` (none / plumb_bob / equidistant, 1:1:1) test sets (``wildhands.eval.testsets``) with
``PipelineConfig.crop_mode='box'`` (a square cut out of the distorted image, the pipeline so far) and
``'rectified'`` (a virtual pinhole camera looking at the hand, ``wildhands.geometry.perspective_crop``).
Reports MPJPE, PA-MPJPE, MRRPE, root error, 2D px (per lens model for ``wide_fov``), the rectified run's
change relative to the box run, and the crop time per hand. ``--estimator landmarks`` measures the landmark
estimator instead, whose landmark passes ``crop_mode='rectified'`` sends through the lens (its crop time:
the landmark stage's, passes included); ``bench/landmark_views.py`` compares those two hand by hand.

It also measures, without the network, whether the crops contain the hand: of each hand's true keypoints
that lie inside the image, the share that falls outside the crop (``cut``), the share of hands with at
least one keypoint cut, and how large the hand appears (the keypoints' extent / the crop side, median),
for the box crop, the rectified crop, and for comparison a crop of the *whole image rectified* to a pinhole
camera with the same K and size (what undistorting the image first, e.g. with image_proc, would give: the
periphery of a wide lens falls outside that image).

    python bench/fisheye_crops.py                        # the shipped default weights (models/)
    python bench/fisheye_crops.py --weights runs/default_resnet18_128/model.pt --frames 300

Results: ``bench/results/fisheye_crops.json`` (with markdown tables); per-condition reports under
``out/bench/fisheye_crops/``. ``--out-dir DIR`` puts both under DIR.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]

from _eval_common import (  # noqa: E402
    METRICS,
    add_testset_arguments,
    close_log,
    command_line,
    finish_testset_arguments,
    fmt,
    machine_facts,
    metrics_subset,
    publish_result,
    relative_change_pct,
    resolve_weights,
    setup_log,
    table,
    weights_facts,
)
from machine import OtherLoad  # noqa: E402

MODES = ("box", "rectified")
CROPS = ("box", "rectified", "image_rectified")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_testset_arguments(p, "fisheye_crops", testsets="fisheye,wide_fov")
    p.add_argument(
        "--estimator",
        choices=("image", "landmarks"),
        default="image",
        help="the image model (its crops) or the landmark estimator (the detector's landmark passes)",
    )
    return finish_testset_arguments(p, p.parse_args(argv), "fisheye_crops")


def _timed_pipeline_class(estimator: str):
    """A pipeline class that records the milliseconds per hand of the stage that cuts the crops (the image
    model's ``crop``, the landmark estimator's ``landmarks``: its landmark passes, crops included) of every
    call; the image model's is an EvalPipeline (its KPE input as evaluated everywhere)."""
    from wildhands.eval.conditions import EvalPipeline
    from wildhands.runtime.pipeline import Pipeline

    base, stage = (EvalPipeline, "crop") if estimator == "image" else (Pipeline, "landmarks")

    class TimedPipeline(base):
        crop_ms_per_hand: list[float]

        def __call__(self, image_rgb, camera, boxes):
            hands = super().__call__(image_rgb, camera, boxes)
            n = min(len(boxes), self.config.max_hands)
            if n:
                self.crop_ms_per_hand.append(self.timings[stage] / n)
            return hands

    return TimedPipeline


def hand_coverage(record, box_scale: float, size: int) -> dict[str, tuple[int, int, float]] | None:
    """For one hand: per crop kind, (true keypoints inside the image, how many of them fall outside the crop,
    the keypoints' extent / the crop side). None without 3-D keypoints or without a keypoint in the image.

    box: the pipeline's square box (``box_scale``); rectified: :func:`rectify_box` (the box crop where the
    pipeline falls back to it); image_rectified: the pinhole camera with the record's K and image size."""
    from wildhands.geometry.camera import CameraModel
    from wildhands.geometry.crop import image_to_crop, square_box_from_xyxy
    from wildhands.geometry.perspective_crop import points_to_rectified, rectify_box

    cam, kp = record.camera, record.keypoints_cam_m
    if kp is None:
        return None
    uv = record.keypoints_px if record.keypoints_px is not None else cam.project(kp)
    image_hi = np.array([cam.width - 0.5, cam.height - 0.5])
    in_image = _inside(uv, image_hi)
    n = int(in_image.sum())
    if n == 0:
        return None

    def stats(pts: np.ndarray, hi: Any, side: float) -> tuple[int, int, float]:
        p = pts[in_image]
        finite = p[np.all(np.isfinite(p), axis=1)]
        extent = float((finite.max(axis=0) - finite.min(axis=0)).max() / side) if len(finite) > 1 else np.nan
        return n, int(n - _inside(p, hi).sum()), extent

    box = square_box_from_xyxy(record.box_xyxy_px, (cam.width, cam.height), scale=box_scale)
    out = {"box": stats(image_to_crop(uv, box, size), size - 0.5, size)}
    try:
        rc = rectify_box(cam, record.box_xyxy_px, size, box_scale)
        out["rectified"] = stats(points_to_rectified(rc, kp), size - 0.5, size)
    except ValueError:  # the pipeline falls back to the box crop
        out["rectified"] = out["box"]
    n_img, cut, _ = stats(CameraModel(cam.width, cam.height, cam.K).project(kp), image_hi, 1.0)
    out["image_rectified"] = (n_img, cut, np.nan)
    return out


def _inside(pts: np.ndarray, hi: Any) -> np.ndarray:
    """Rows of ``pts`` (N, 2) that are finite and inside ``(-0.5, hi)`` (pixel edges)."""
    with np.errstate(invalid="ignore"):
        return np.all(np.isfinite(pts), axis=1) & np.all((pts > -0.5) & (pts < hi), axis=1)


def coverage(records, box_scale: float, size: int, progress: bool) -> dict[str, Any]:
    """:func:`hand_coverage` summed over ``records``, per crop kind and per lens model."""
    from tqdm import tqdm

    acc: dict[str, dict[str, list]] = {}
    for rec in tqdm(records, desc="crop coverage", disable=not progress, leave=False):
        cov = hand_coverage(rec, box_scale, size)
        if cov is None:
            continue
        for group in ("all", rec.camera.distortion_model.value):
            for kind, (n, cut, extent) in cov.items():
                a = acc.setdefault(group, {}).setdefault(kind, [])
                a.append((n, cut, extent))
    result: dict[str, Any] = {}
    for group, kinds in acc.items():
        result[group] = {}
        for kind in CROPS:
            rows = np.asarray(kinds[kind], dtype=np.float64)  # (hands, 3)
            extent = rows[:, 2][np.isfinite(rows[:, 2])]
            result[group][kind] = {
                "hands": len(rows),
                "keypoints_in_image": int(rows[:, 0].sum()),
                "keypoints_cut_pct": float(100 * rows[:, 1].sum() / rows[:, 0].sum()),
                "hands_cut_pct": float(100 * np.mean(rows[:, 1] > 0)),
                "hand_extent_median": float(np.median(extent)) if extent.size else None,
            }
    return result


def markdown(result: dict[str, Any]) -> str:
    header = ["test set", "crop", *(h for _, h in METRICS), "MPJPE vs box", "MRRPE vs box", "crop ms/hand"]
    rows = []
    for name, modes in result["testsets"].items():
        groups = list(modes["box"]["subsets"])
        groups = groups if len(groups) > 1 else []  # one lens model: its subset is the whole set
        for group in [name, *groups]:
            for mode in MODES:
                v = modes[mode]
                m = v["metrics"] if group == name else v["subsets"][group]
                ref = modes["box"]["metrics"] if group == name else modes["box"]["subsets"][group]
                rel = {k: relative_change_pct(m[k], ref[k]) for k, _ in METRICS} if mode != "box" else {}
                rows.append(
                    [
                        group,
                        mode,
                        *(fmt(m[k]) for k, _ in METRICS),
                        fmt(rel.get("mpjpe_mm"), signed=True) if rel else "",
                        fmt(rel.get("mrrpe_mm"), signed=True) if rel else "",
                        fmt(v.get("crop_ms_per_hand"), ".2f") if group == name else "",
                    ]
                )
    text = table(header, rows)
    header = ["test set / lens", "crop", "keypoints cut (%)", "hands cut (%)", "hand extent / crop side"]
    rows = []
    for name, v in result["testsets"].items():
        coverage = v["coverage"]
        for group, kinds in coverage.items():
            if group != "all" and len(coverage) == 2:  # one lens model: the same as "all"
                continue
            label = name if group == "all" else f"{name}/{group}"
            for kind in CROPS:
                c = kinds[kind]
                rows.append(
                    [
                        label,
                        kind.replace("_", " "),
                        fmt(c["keypoints_cut_pct"], ".2f"),
                        fmt(c["hands_cut_pct"], ".1f"),
                        fmt(c["hand_extent_median"], ".2f"),
                    ]
                )
    return text + "\n" + table(header, rows)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    weights = resolve_weights(args.weights)
    from wildhands.eval.conditions import evaluate_condition
    from wildhands.eval.testsets import get_testset, lens_subsets, testset_records
    from wildhands.runtime.pipeline import PipelineConfig

    for name in args.testsets:
        get_testset(name)  # unknown names fail before any work
    log = setup_log(args.reports / "fisheye_crops.log", "bench.fisheye_crops")
    try:
        log.info("fisheye_crops: %s", command_line("fisheye_crops.py", argv))
        timed = _timed_pipeline_class(args.estimator)
        pipelines = {
            m: timed(
                PipelineConfig(weights=weights, threads=args.threads, crop_mode=m, estimator=args.estimator)
            )
            for m in MODES
        }
        net = pipelines["box"]
        per_set: dict[str, Any] = {}
        for name in args.testsets:
            ts = get_testset(name)
            per_set[name] = {}

            def records(name: str = name):
                return testset_records(
                    name, args.frames, cache=not args.no_cache, progress=not args.no_progress
                )

            for mode, pipeline in pipelines.items():
                log.info("%s, %s crops: %d frames", name, mode, args.frames)
                pipeline.crop_ms_per_hand = []
                with OtherLoad() as load:
                    res = evaluate_condition(
                        pipeline,
                        records(),
                        args.reports / f"{name}-{args.frames}-{ts.version}" / mode,
                        crop_mode=mode,
                        subsets=lens_subsets,
                        worst_k=args.worst_k,
                        progress=not args.no_progress,
                    )
                ms = pipeline.crop_ms_per_hand
                per_set[name][mode] = {
                    "metrics": metrics_subset(res["datasets"][name]),
                    "subsets": {
                        k: metrics_subset(v) for k, v in res["datasets"].items() if k.startswith(f"{name}/")
                    },
                    "crop_ms_per_hand": sum(ms) / len(ms) if ms else None,
                    "eval_wall_s": load.wall,
                    "other_processes_cores": load.other_cores,
                }
            ref = per_set[name]["box"]["metrics"]
            rect = per_set[name]["rectified"]
            rect["relative_to_box_pct"] = {
                k: relative_change_pct(rect["metrics"][k], ref[k]) for k, _ in METRICS
            }
            log.info("%s: crop coverage", name)
            per_set[name]["coverage"] = coverage(
                records(), net.config.box_scale, net.model_config.image_size, not args.no_progress
            )
        result: dict[str, Any] = {
            "bench": "fisheye_crops",
            "issue": "#8 item 2",
            "command": command_line("fisheye_crops.py", argv),
            "machine": machine_facts(),
            "estimator": args.estimator,
            "weights": weights_facts(weights),
            "trained": net.trained,
            "model": {
                "backbone": net.model_config.backbone,
                "image_size": net.model_config.image_size,
                "kpe": net.kpe_variant,
            },
            "box_scale": net.config.box_scale,
            "boxes": "ground truth (detection is not evaluated)",
            "modes": {
                "box": "square box of the distorted image (crop_mode='box')",
                "rectified": "virtual pinhole camera looking at the hand (crop_mode='rectified')",
            },
            "coverage": {
                "keypoints_cut_pct": "of the true keypoints inside the image, % outside the crop",
                "hands_cut_pct": "% of hands with at least one in-image keypoint outside the crop",
                "hand_extent_median": "median over hands of the keypoints' extent / the crop side",
                "image_rectified": "the whole image rectified to a pinhole with the same K and size",
            },
            "testset_info": {name: get_testset(name).info(args.frames) for name in args.testsets},
            "testsets": per_set,
        }
        result["markdown"] = markdown(result)
        publish_result(log, args.results, result, result["markdown"])
        return 0
    finally:
        close_log(log)


if __name__ == "__main__":
    sys.exit(main())
