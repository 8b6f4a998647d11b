"""Dexterous retargeting onto the bundled example hand: fingertip-vector error and solve time.

Three sets of targets, all in the hand frame, matched with the defaults of
:class:`~wildhands.retarget.dex.VectorRetargetConfig` (wrist -> 5 fingertips and thumb -> 4 fingertips,
scale 1, smoothness 1e-6 m²/rad², at most 100 evaluations):

* ``reachable``: the robot's own keypoints at ``--n`` joint vectors drawn uniformly within the limits
  (an exact solution exists), each solved from a cold start (the middle of the joint ranges);
* ``human``: ``--n`` poses of the open hand model (β = 0, the robot's size) with random finger flexion
  (MCP −0.2..1.4 rad, PIP 0..1.5, DIP 0..1.2 about the flexion axis, MCP abduction ±0.25) and random thumb
  rotations (±0.5 rad per axis-angle component), each from a cold start; the robot's joints and limits
  differ from the human's, so some error remains;
* ``human_stream``: the same poses as a 30 Hz stream (10 interpolated frames between consecutive poses),
  solved with the warm start a node uses.

Error = ``||v_i(q) - h_i||`` per matched vector (mm). Time = wall-clock ms per solve in this process
(and CPU ms), with the CPU used by other processes meanwhile (``other_processes_cores``)::

    python bench/retarget.py --out bench/results/retarget.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]

from machine import OtherLoad, machine_facts  # noqa: E402

from wildhands.retarget import EXAMPLE_HAND_URDF, VectorRetargeter, load_urdf  # noqa: E402
from wildhands.retarget.example_poses import human_hand_poses, human_keypoints  # noqa: E402


def _errors_mm(results) -> dict:
    e = np.array([r.vector_errors for r in results]) * 1e3  # (N, V) mm
    per_target = e.max(axis=1)
    return {
        "vector_error_mean_mm": float(e.mean()),
        "vector_error_p95_mm": float(np.percentile(e, 95)),
        "vector_error_max_mm": float(e.max()),
        "worst_vector_per_target_median_mm": float(np.median(per_target)),
        "fingertip_from_wrist_error_mean_mm": float(e[:, :5].mean()),
        "evaluations_median": float(np.median([r.evaluations for r in results])),
    }


def _solve_all(retargeter: VectorRetargeter, targets: np.ndarray, cold: bool) -> tuple[list, dict]:
    results, wall, cpu = [], [], []
    with OtherLoad() as load:
        for kp in targets:
            if cold:
                retargeter.reset()
            t0, c0 = time.perf_counter(), time.process_time()
            results.append(retargeter(kp))
            wall.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    timing = {
        "wall_ms_median": float(np.median(wall) * 1e3),
        "wall_ms_p95": float(np.percentile(wall, 95) * 1e3),
        "cpu_ms_median": float(np.median(cpu) * 1e3),
        "other_processes_cores": round(load.other_cores, 2),
    }
    return results, timing


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=100, help="targets per set")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "retarget.json")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    model = load_urdf(EXAMPLE_HAND_URDF)
    retargeter = VectorRetargeter(model)
    rng = np.random.default_rng(args.seed)

    reachable = np.stack(
        [retargeter.keypoints_at(rng.uniform(model.lower, model.upper)) for _ in range(args.n)]
    )
    poses = human_hand_poses(args.n, args.seed + 1)
    human = human_keypoints(poses)
    alpha = np.linspace(0.0, 1.0, 10, endpoint=False)[:, None, None, None]
    stream_poses = (
        ((1 - alpha) * poses[None, :-1] + alpha * poses[None, 1:]).transpose(1, 0, 2, 3).reshape(-1, 15, 3)
    )
    stream = human_keypoints(stream_poses)

    out: dict = {
        "robot_hand": model.name,
        "urdf": str(EXAMPLE_HAND_URDF.relative_to(REPO)),
        "actuated_joints": model.num_actuated,
        "config": {k: v for k, v in vars(retargeter.config).items() if k != "link_map"},
        "n": args.n,
        "seed": args.seed,
        "machine": machine_facts(numpy=np.__version__),
    }
    for name, targets, cold in (
        ("reachable", reachable, True),
        ("human", human, True),
        ("human_stream", stream, False),
    ):
        retargeter.reset()
        results, timing = _solve_all(retargeter, targets, cold)
        out[name] = {"targets": len(targets), "cold_start": cold, **_errors_mm(results), **timing}
        print(f"{name}: {json.dumps(out[name])}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.out}")
    return out


if __name__ == "__main__":
    main()
