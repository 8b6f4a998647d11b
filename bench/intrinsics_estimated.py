#!/usr/bin/env python3
"""What missing intrinsics cost (issue #8 item 3): true vs estimated camera on the wide-FoV test set.

When no valid CameraInfo arrives, the node (``camera_info_policy: estimate``) and ``wildhands demo``
estimate the intrinsics from the image size and a horizontal field-of-view prior (``estimate_hfov_deg``,
default 90 deg: ``CameraModel.from_fov``, pinhole, principal point at the centre) and mark every output
``intrinsics_estimated``. This bench runs one checkpoint on the held-out ``wide_fov`` test set
(``wildhands.eval.testsets``: fx 200-1500 px, none/plumb_bob/equidistant lenses) with ground-truth boxes,
once with the true camera and once per FoV prior with the estimated one, and measures the errors against
the true ground truth: MPJPE, PA-MPJPE, MRRPE, root error, 2D px (overall and per lens model) and their
change relative to the true intrinsics. It also records the test set's true horizontal FoV, for context.

    python bench/intrinsics_estimated.py                  # the shipped default weights (models/)
    python bench/intrinsics_estimated.py --weights runs/default_resnet18_128/model.pt --sweep 60,90,120

Results: ``bench/results/intrinsics_estimated.json`` (with a markdown table); per-condition reports under
``out/bench/intrinsics_estimated/``. ``--out-dir DIR`` puts both under DIR.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from pathlib import Path
from typing import Any

import numpy as np
import yaml

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

NODE_PARAMS = REPO / "config" / "hands.yaml"


def node_default_hfov_deg() -> float:
    """``estimate_hfov_deg`` of the node's parameter file (its declared default; a test checks they agree)."""
    from wildhands.eval.conditions import DEFAULT_ESTIMATE_HFOV_DEG

    try:
        data = yaml.safe_load(NODE_PARAMS.read_text()) or {}
        for section in data.values():
            params = (section or {}).get("ros__parameters", {})
            if "estimate_hfov_deg" in params:
                return float(params["estimate_hfov_deg"])
    except (OSError, yaml.YAMLError, AttributeError):
        pass
    return DEFAULT_ESTIMATE_HFOV_DEG


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_testset_arguments(p, "intrinsics_estimated", testset="wide_fov")
    p.add_argument("--hfov", type=float, help="FoV prior (deg); default: the node's estimate_hfov_deg")
    p.add_argument("--sweep", default="60,90,120", help="more FoV priors (deg), comma-separated ('' = none)")
    args = finish_testset_arguments(p, p.parse_args(argv), "intrinsics_estimated")
    try:
        sweep = [float(v) for v in args.sweep.split(",") if v.strip()]
    except ValueError:
        p.error(f"--sweep {args.sweep!r}: need comma-separated numbers")
    args.node_default = node_default_hfov_deg()
    priors = [args.hfov if args.hfov is not None else args.node_default, *sweep]
    if any(not 0 < h < 180 for h in priors):
        p.error(f"FoV priors must be in (0, 180) deg, got {priors}")
    args.priors = sorted(set(priors))
    return args


def true_hfov_deg(cameras) -> dict[str, Any]:
    """Horizontal FoV (deg) of the real cameras of the evaluated hands, per lens model: min / median / max
    of the angle between the undistorted rays of the left and right image edges (principal row). Fisheye
    images whose edges lie beyond the lens model's valid range (outside the image circle) are counted in
    ``edges_outside_lens`` and left out of the statistics."""
    per: dict[str, list[float]] = {}
    outside: dict[str, int] = {}
    for cam in cameras:
        model = cam.distortion_model.value
        a = cam.pixels_to_angles(np.array([[-0.5, cam.cy], [cam.width - 0.5, cam.cy]]))
        fov = math.degrees(float(a[1, 0] - a[0, 0]))
        if math.isfinite(fov):
            per.setdefault(model, []).append(fov)
        else:
            outside[model] = outside.get(model, 0) + 1
    out = {}
    for model in sorted(set(per) | set(outside)):
        v = per.get(model, [])
        out[model] = {
            "hands": len(v) + outside.get(model, 0),
            "edges_outside_lens": outside.get(model, 0),
            "min": min(v) if v else None,
            "median": statistics.median(v) if v else None,
            "max": max(v) if v else None,
        }
    return out


def _label(intrinsics: str, hfov: float | None) -> str:
    return "true" if intrinsics == "true" else f"estimated {hfov:g} deg"


def markdown(result: dict[str, Any]) -> str:
    testset = result["testset"]["name"]
    header = ["intrinsics", *(h for _, h in METRICS), "MPJPE vs true", "MRRPE vs true", "root vs true"]
    rows = []
    for label, c in result["conditions"].items():
        m = c["datasets"][testset]
        r = (c.get("relative_to_true_pct") or {}).get(testset, {})
        rows.append(
            [
                label,
                *(fmt(m[k]) for k, _ in METRICS),
                *(fmt(r.get(k), signed=True) if r else "" for k in ("mpjpe_mm", "mrrpe_mm", "root_error_mm")),
            ]
        )
    text = table(header, rows)
    groups = [g for g in next(iter(result["conditions"].values()))["datasets"] if g != testset]
    if groups:
        rows = []
        for label, c in result["conditions"].items():
            cells = []
            for g in groups:
                m = c["datasets"].get(g, {})
                cells += [fmt(m.get("root_error_mm")), fmt(m.get("mrrpe_mm"))]
            rows.append([label, *cells])
        header = ["intrinsics", *(f"{g.split('/', 1)[1]} {k}" for g in groups for k in ("root", "MRRPE"))]
        text += "\nper lens model (mm):\n\n" + table(header, rows)
    return text


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    weights = resolve_weights(args.weights)
    from wildhands.eval.conditions import EvalPipeline, evaluate_condition
    from wildhands.eval.testsets import get_testset, lens_subsets, testset_records
    from wildhands.runtime.pipeline import PipelineConfig

    ts = get_testset(args.testset)
    log = setup_log(args.reports / "intrinsics_estimated.log", "bench.intrinsics_estimated")
    try:
        log.info("intrinsics_estimated: %s", command_line("intrinsics_estimated.py", argv))
        pipeline = EvalPipeline(PipelineConfig(weights=weights, threads=args.threads))

        seen: list = []  # the records of the first pass (for the test set's true FoV; no images kept)

        def records(keep: bool = False):
            for rec in testset_records(
                ts.name, args.frames, cache=not args.no_cache, progress=not args.no_progress
            ):
                if keep:
                    seen.append(rec.camera)
                yield rec

        conditions: dict[str, Any] = {}
        for intrinsics, hfov in [("true", None), *(("estimated", h) for h in args.priors)]:
            label = _label(intrinsics, hfov)
            log.info("%s: %s intrinsics, %d frames", ts.name, label, args.frames)
            with OtherLoad() as load:
                res = evaluate_condition(
                    pipeline,
                    records(keep=intrinsics == "true"),
                    args.reports / f"{ts.name}-{args.frames}-{ts.version}" / label.replace(" ", "_"),
                    intrinsics=intrinsics,
                    hfov_deg=hfov if hfov is not None else args.node_default,
                    subsets=lens_subsets,
                    worst_k=args.worst_k,
                    progress=not args.no_progress,
                )
            conditions[label] = {
                "intrinsics": intrinsics,
                "hfov_prior_deg": hfov,
                "node_default": hfov == args.node_default,
                "datasets": {g: metrics_subset(m) for g, m in res["datasets"].items()},
                "eval_wall_s": load.wall,
                "other_processes_cores": load.other_cores,
            }
        true = conditions["true"]["datasets"]
        for label, c in conditions.items():
            if label != "true":
                c["relative_to_true_pct"] = {
                    g: {k: relative_change_pct(m.get(k), true.get(g, {}).get(k)) for k, _ in METRICS}
                    for g, m in c["datasets"].items()
                }
        result: dict[str, Any] = {
            "bench": "intrinsics_estimated",
            "issue": "#8 item 3",
            "command": command_line("intrinsics_estimated.py", argv),
            "machine": machine_facts(),
            "weights": weights_facts(weights),
            "model": {
                "backbone": pipeline.model_config.backbone,
                "image_size": pipeline.model_config.image_size,
                "kpe": pipeline.kpe_variant,
            },
            "boxes": "ground truth (detection is not evaluated)",
            "estimate": (
                "CameraModel.from_fov(width, height, hfov): pinhole, square pixels, centred principal point "
                "(the node's camera_info_policy=estimate, wildhands demo without calibration)"
            ),
            "node_default_hfov_deg": args.node_default,
            "testset": ts.info(args.frames),
            "testset_true_hfov_deg": true_hfov_deg(seen),
            "conditions": conditions,
        }
        result["markdown"] = markdown(result)
        publish_result(log, args.results, result, result["markdown"])
        return 0
    finally:
        close_log(log)


if __name__ == "__main__":
    sys.exit(main())
