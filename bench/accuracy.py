#!/usr/bin/env python3
"""Accuracy of a checkpoint on the held-out synthetic test set (issue #6 item 4: the accuracy floor).

Evaluates with ground-truth boxes and sides (``wildhands.eval``) on the ``wide_fov`` test set
(``wildhands.eval.testsets``: fx 200-1500 px, hands anywhere in the view, none / plumb_bob / fisheye
lenses) and reports MPJPE, PA-MPJPE, MRRPE, root error and 2D px, overall and per lens model; also on the
bundled clip (the demo's sequence, with ground-truth boxes) and on the first ``--guard-frames`` frames
of the test set: the set ``test/wildhands/eval/test_accuracy_floor.py`` checks on every CI run against
thresholds taken from this measurement.

    python bench/accuracy.py                       # the shipped default weights
    python bench/accuracy.py --weights runs/default_resnet18_128/model.pt --frames 300

Results: ``bench/results/accuracy.json`` (with markdown tables); reports with the worst-case overlays under
``out/bench/accuracy/``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

from _eval_common import (  # noqa: E402
    METRICS,
    close_log,
    command_line,
    fmt,
    machine_facts,
    metrics_subset,
    resolve_weights,
    setup_log,
    table,
    weights_facts,
    write_result,
)

GUARD_FRAMES = 24  # what the CI accuracy-floor test evaluates (fast: rendered on the fly)


def sequence_records():
    """The bundled clip as HandRecords (its ground-truth boxes, sides and keypoints)."""
    import numpy as np

    from wildhands.data.record import HandRecord
    from wildhands.runtime.sequence import load_sequence

    seq = load_sequence()
    for i, labels in enumerate(seq.ground_truth):
        image = seq.read_rgb(i)
        for label in labels:
            yield HandRecord(
                dataset="bundled_clip",
                frame_id=f"{i:06d}",
                image=image,
                camera=seq.camera,
                side=label["side"],
                box_xyxy_px=np.asarray(label["box_xyxy"], np.float64),
                keypoints_cam_m=np.asarray(label["keypoints_cam_m"], np.float64),
                keypoints_px=np.asarray(label["keypoints_px"], np.float64),
            )


def evaluate_set(weights: Path, records, out_dir: Path, threads: int, progress: bool, subsets=None) -> dict:
    from wildhands.eval.conditions import evaluate_condition

    t0 = time.perf_counter()
    result = evaluate_condition(
        weights, records, out_dir, subsets=subsets, worst_k=8, progress=progress, threads=threads
    )
    result["seconds"] = time.perf_counter() - t0
    return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", default="default", help="checkpoint path or weights name")
    p.add_argument("--testset", default="wide_fov")
    p.add_argument("--frames", type=int, default=300, help="frames of the test set")
    p.add_argument("--guard-frames", type=int, default=GUARD_FRAMES)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--results", type=Path, default=REPO / "bench" / "results" / "accuracy.json")
    p.add_argument("--out-dir", type=Path, default=REPO / "out" / "bench" / "accuracy")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    from wildhands.eval.testsets import get_testset, lens_subsets, testset_records

    weights = resolve_weights(args.weights)
    log = setup_log(args.out_dir / "accuracy.log", "bench.accuracy")
    progress = not args.no_progress
    try:
        log.info("weights %s; test set %s, %d frames", weights, args.testset, args.frames)
        full = evaluate_set(
            weights,
            testset_records(args.testset, args.frames, progress=progress),
            args.out_dir / args.testset,
            args.threads,
            progress,
            subsets=lens_subsets,
        )
        guard = evaluate_set(
            weights,
            testset_records(args.testset, args.guard_frames, cache=False),
            args.out_dir / "guard",
            args.threads,
            progress,
        )
        clip = evaluate_set(
            weights, sequence_records(), args.out_dir / "bundled_clip", args.threads, progress
        )
    finally:
        close_log(log)
    rows = {name: metrics_subset(m) for name, m in full["datasets"].items()}
    rows[f"{args.testset} (first {args.guard_frames} frames: the CI guard)"] = metrics_subset(
        guard["datasets"][args.testset]
    )
    rows["bundled clip (demo sequence)"] = metrics_subset(clip["datasets"]["bundled_clip"])
    header = ["set", "hands", *[h for _, h in METRICS]]
    md = table(
        header, [[name, str(m["hands"]), *[fmt(m[k]) for k, _ in METRICS]] for name, m in rows.items()]
    )
    result = {
        "command": command_line("accuracy.py", argv if argv is not None else sys.argv[1:]),
        "weights": weights_facts(weights),
        "testset": args.testset,
        "testset_info": get_testset(args.testset).info(args.frames),  # version, seed, look: to regenerate it
        "frames": args.frames,
        "guard_frames": args.guard_frames,
        "metrics": rows,
        "seconds": {"testset": full["seconds"], "guard": guard["seconds"], "clip": clip["seconds"]},
        "machine": machine_facts(),
        "markdown": md,
    }
    write_result(args.results, result)
    print(md)
    print(f"wrote {args.results}")
    return result


if __name__ == "__main__":
    main()
