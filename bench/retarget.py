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
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.machine import OtherLoad, cpu_model  # noqa: E402
from wildhands.handmodel.open_hand import OpenHandModel  # noqa: E402
from wildhands.retarget import EXAMPLE_HAND_URDF, VectorRetargeter, load_urdf  # noqa: E402

_FINGERS = 4  # index, middle, pinky, ring in MANO's joint order; the thumb is joints 12-14


def human_hand_poses(n: int, seed: int = 0) -> np.ndarray:
    """(n, 15, 3) axis-angle rad, MANO joint order: random plausible finger flexion and thumb rotation."""
    rng = np.random.default_rng(seed)
    pose = np.zeros((n, 15, 3))
    for f in range(_FINGERS):
        pose[:, 3 * f, 2] = rng.uniform(-0.2, 1.4, n)  # MCP flexion (about +z in the model frame)
        pose[:, 3 * f, 1] = rng.uniform(-0.25, 0.25, n)  # MCP abduction
        pose[:, 3 * f + 1, 2] = rng.uniform(0.0, 1.5, n)  # PIP
        pose[:, 3 * f + 2, 2] = rng.uniform(0.0, 1.2, n)  # DIP
    pose[:, 12:15] = rng.uniform(-0.5, 0.5, (n, 3, 3))
    return pose


def human_keypoints(pose: np.ndarray) -> np.ndarray:
    """(n, 21, 3) m, hand frame (right hand, β = 0) of poses (n, 15, 3)."""
    model = OpenHandModel(dtype=torch.float64)
    with torch.no_grad():
        return model(hand_pose=torch.from_numpy(np.asarray(pose, dtype=np.float64))).keypoints.numpy()


def pinch_keypoints(distance_m: float) -> np.ndarray:
    """(21, 3) m, hand frame: the open hand model with the index flexed and the thumb rotated until their
    tips are ``distance_m`` apart (L-BFGS on those 12 joint parameters from the flat hand; deterministic)."""
    model = OpenHandModel(dtype=torch.float64)
    rows = torch.tensor([0, 1, 2] + [12] * 3 + [13] * 3 + [14] * 3)  # index1-3, thumb1-3 (MANO order)
    cols = torch.tensor([2, 2, 2] + [0, 1, 2] * 3)  # index: flexion about z only; thumb: any axis
    x = torch.zeros(12, dtype=torch.float64, requires_grad=True)

    def keypoints(x: torch.Tensor) -> torch.Tensor:
        pose = torch.zeros(15, 3, dtype=torch.float64).index_put((rows, cols), x)
        return model(hand_pose=pose[None]).keypoints[0]

    opt = torch.optim.LBFGS([x], lr=1, max_iter=50, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        kp = keypoints(x)
        loss = (torch.linalg.norm(kp[4] - kp[8]) - distance_m) ** 2 + 1e-6 * x.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        return keypoints(x).numpy()


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
        "machine": {"cpu": cpu_model(), "python": platform.python_version(), "numpy": np.__version__},
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
