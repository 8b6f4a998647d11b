#!/usr/bin/env python3
"""Distortion-aware vs pinhole KPE on lens-distorted test sets (issue #8 item 2).

One checkpoint, evaluated with ground-truth boxes on the held-out ``fisheye`` (equidistant) and
``plumb_bob`` test sets (``wildhands.eval.testsets``) twice: with the KPE angles of the undistorted rays
(``distortion_aware``, what the pipeline does) and with the angles the same K would give without the lens
(``pinhole``; the crop, the metric lift and the 2D projection still use the real camera, so only the KPE
input differs). Reports MPJPE, PA-MPJPE, MRRPE, root error, 2D px, the pinhole run's change relative to
the distortion-aware one, and how far the KPE angles move (mean |delta|, deg).

    python bench/kpe_distortion.py                        # the shipped default weights (models/)
    python bench/kpe_distortion.py --weights runs/default_resnet18_128/model.pt --frames 300

Results: ``bench/results/kpe_distortion.json`` (with a markdown table); per-condition reports under
``out/bench/kpe_distortion/``. ``--out-dir DIR`` puts both under DIR.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

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


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_testset_arguments(p, "kpe_distortion", testsets="fisheye,plumb_bob")
    return finish_testset_arguments(p, p.parse_args(argv), "kpe_distortion")


def markdown(result: dict[str, Any]) -> str:
    header = [
        "test set",
        "KPE",
        *(h for _, h in METRICS),
        "MPJPE vs aware",
        "MRRPE vs aware",
        "KPE shift (deg)",
    ]
    rows = []
    for name, modes in result["testsets"].items():
        for mode, v in modes.items():
            m, r = v["metrics"], v.get("relative_to_distortion_aware_pct") or {}
            rows.append(
                [
                    name,
                    mode,
                    *(fmt(m[k]) for k, _ in METRICS),
                    fmt(r.get("mpjpe_mm"), signed=True) if r else "",
                    fmt(r.get("mrrpe_mm"), signed=True) if r else "",
                    fmt(v.get("kpe_change_deg_mean"), ".2f"),
                ]
            )
    return table(header, rows)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    weights = resolve_weights(args.weights)
    from wildhands.eval.conditions import KPE_MODES, EvalPipeline, evaluate_condition
    from wildhands.eval.testsets import get_testset, testset_records
    from wildhands.runtime.pipeline import PipelineConfig

    for name in args.testsets:
        get_testset(name)  # unknown names fail before any work
    log = setup_log(args.reports / "kpe_distortion.log", "bench.kpe_distortion")
    try:
        log.info("kpe_distortion: %s", command_line("kpe_distortion.py", argv))
        pipelines = {
            # box crops: the comparison is of the KPE angles of a square cut from the distorted image
            # (a rectified crop's virtual camera is pinhole, so both modes would be the same there)
            mode: EvalPipeline(PipelineConfig(weights=weights, threads=args.threads, crop_mode="box"), mode)
            for mode in KPE_MODES
        }
        variant = pipelines["distortion_aware"].kpe_variant
        if variant not in ("sparse", "dense"):
            log.warning(
                "the network's KPE is %r: it does not use the intrinsics, both modes are identical", variant
            )
        per_set: dict[str, Any] = {}
        for name in args.testsets:
            ts = get_testset(name)
            per_set[name] = {}
            for mode, pipeline in pipelines.items():
                log.info("%s, %s KPE: %d frames", name, mode, args.frames)
                pipeline.kpe_change_deg.clear()
                records = testset_records(
                    name, args.frames, cache=not args.no_cache, progress=not args.no_progress
                )
                with OtherLoad() as load:
                    res = evaluate_condition(
                        pipeline,
                        records,
                        args.reports / f"{name}-{args.frames}-{ts.version}" / mode,
                        kpe_mode=mode,
                        worst_k=args.worst_k,
                        progress=not args.no_progress,
                    )
                change = pipeline.kpe_change_deg
                per_set[name][mode] = {
                    "metrics": metrics_subset(res["datasets"][name]),
                    "kpe_change_deg_mean": sum(change) / len(change) if change else None,
                    "kpe_change_deg_max": max(change) if change else None,
                    "eval_wall_s": load.wall,
                    "other_processes_cores": load.other_cores,
                }
            ref = per_set[name]["distortion_aware"]["metrics"]
            pin = per_set[name]["pinhole"]
            pin["relative_to_distortion_aware_pct"] = {
                k: relative_change_pct(pin["metrics"][k], ref[k]) for k, _ in METRICS
            }
        net = pipelines["distortion_aware"]
        result: dict[str, Any] = {
            "bench": "kpe_distortion",
            "issue": "#8 item 2",
            "command": command_line("kpe_distortion.py", argv),
            "machine": machine_facts(),
            "weights": weights_facts(weights),
            "trained": net.trained,
            "model": {
                "backbone": net.model_config.backbone,
                "image_size": net.model_config.image_size,
                "kpe": variant,
            },
            "boxes": "ground truth (detection is not evaluated)",
            "modes": {
                "distortion_aware": "KPE angles from the undistorted rays of the real lens (the pipeline)",
                "pinhole": "KPE angles of the same K without distortion; crop, lift and projection unchanged",
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
