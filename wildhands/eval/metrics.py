"""Hand pose metrics (numpy). Inputs in metres or pixels as named; outputs in millimetres or pixels.

* ``mpjpe_mm``: mean per-joint position error after aligning the roots (root-relative, the usual MPJPE).
* ``pa_mpjpe_mm``: MPJPE after a Procrustes (similarity) alignment: scale, proper rotation, translation.
* ``orientation_error_deg``: the angle of that alignment's rotation: how far the hand is turned from the
  truth in the camera frame (what MPJPE counts and PA-MPJPE forgives).
* ``root_error_mm``: absolute root (wrist) position error in the camera frame: what metric depth gets right.
* ``mrrpe_mm``: mean relative-root position error (ARCTIC, WildHands): the error of the vector from the
  right hand's root to the left hand's root, for frames with both hands.
* ``kp2d_error_px``: mean 2D keypoint distance in pixels.
* ``pck`` / ``auc``: fraction of errors below thresholds, and the normalised area under that curve.

Every function takes a ``valid`` mask (per keypoint (N, 21) or per sample (N,)); invalid entries are
left out of the means (NaN where nothing is valid). Per-sample functions return (N,) arrays so callers
can aggregate per dataset and pick the worst samples.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "joint_errors_mm",
    "mpjpe_mm",
    "pa_mpjpe_mm",
    "orientation_error_deg",
    "procrustes_align",
    "procrustes_rotation",
    "root_error_mm",
    "mrrpe_mm",
    "kp2d_error_px",
    "pck",
    "auc",
    "masked_mean",
]


def _points(x: Any, name: str, dim: int) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3 or a.shape[-1] != dim:
        raise ValueError(f"{name} must have shape (N, J, {dim}), got {a.shape}")
    return a


def _valid(valid: Any, shape: tuple[int, ...], name: str = "valid") -> np.ndarray:
    if valid is None:
        return np.ones(shape, bool)
    v = np.asarray(valid, dtype=bool)
    if v.shape == shape[1:] and len(shape) == 2 and shape[0] == 1:
        v = v[None]
    if v.shape == shape[:1] and len(shape) == 2:  # per-sample mask for per-keypoint data
        v = np.repeat(v[:, None], shape[1], axis=1)
    if v.shape != shape:
        raise ValueError(f"{name} must have shape {shape} (or ({shape[0]},)), got {v.shape}")
    return v


def masked_mean(values: np.ndarray, valid: np.ndarray | None = None, axis: int | None = -1) -> np.ndarray:
    """Mean of ``values`` over ``axis`` where ``valid``; NaN where nothing is valid."""
    values = np.asarray(values, dtype=np.float64)
    v = (
        np.ones(values.shape, bool)
        if valid is None
        else np.broadcast_to(np.asarray(valid, bool), values.shape)
    )
    v = v & np.isfinite(values)
    total = np.where(v, values, 0.0).sum(axis=axis)
    count = v.sum(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def joint_errors_mm(pred_m: Any, gt_m: Any, root: int | None = 0) -> np.ndarray:
    """(N, J) per-joint distances in mm; root-relative when ``root`` is a joint index, absolute if None."""
    p, g = _points(pred_m, "pred_m", 3), _points(gt_m, "gt_m", 3)
    if p.shape != g.shape:
        raise ValueError(f"pred_m shape {p.shape} != gt_m shape {g.shape}")
    if root is not None:
        p = p - p[:, root : root + 1]
        g = g - g[:, root : root + 1]
    return 1000.0 * np.linalg.norm(p - g, axis=-1)


def mpjpe_mm(pred_m: Any, gt_m: Any, root: int | None = 0, valid: Any = None) -> np.ndarray:
    """(N,) root-relative mean per-joint position error in mm (pred and gt both translated so their
    ``root`` joints coincide). ``valid``: (N, J) or (N,) bool. ``root=None`` gives the absolute error."""
    err = joint_errors_mm(pred_m, gt_m, root)
    return masked_mean(err, _valid(valid, err.shape))


def _similarity(
    pred: np.ndarray, gt: np.ndarray, v: np.ndarray
) -> tuple[float, np.ndarray, np.ndarray] | None:
    """(s, R, t) of the least-squares similarity ``gt ~ s R pred + t`` over the ``v`` points (Umeyama 1991),
    or None when it is ill-defined (fewer than 3 points, or all at one place)."""
    if v.sum() < 3:
        return None
    x, y = pred[v], gt[v]
    mx, my = x.mean(0), y.mean(0)
    xc, yc = x - mx, y - my
    var_x = (xc**2).sum()
    if var_x < 1e-18:
        return None
    cov = yc.T @ xc  # (3, 3): sum_i y_i x_i^T
    U, S, Vt = np.linalg.svd(cov)
    d = np.ones(3)
    if np.linalg.det(U) * np.linalg.det(Vt) < 0:
        d[2] = -1.0  # reflection -> closest proper rotation
    R = U @ np.diag(d) @ Vt
    s = float((S * d).sum() / var_x)
    return s, R, my - s * R @ mx


def procrustes_align(pred: np.ndarray, gt: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Similarity transform (scale s > 0, proper rotation R, translation t) of ``pred`` (J, 3) that best fits
    ``gt`` (J, 3) in least squares over the ``valid`` points (Umeyama 1991); returns the aligned (J, 3).

    With fewer than 3 valid points the rotation is ill-defined: only the centroids are matched.
    """
    pred = np.asarray(pred, np.float64)
    gt = np.asarray(gt, np.float64)
    v = np.ones(len(pred), bool) if valid is None else np.asarray(valid, bool)
    fit = _similarity(pred, gt, v)
    if fit is None:
        if v.sum() == 0:
            return pred.copy()
        return pred - pred[v].mean(0) + gt[v].mean(0)
    s, R, t = fit
    return s * pred @ R.T + t


def procrustes_rotation(
    pred: np.ndarray, gt: np.ndarray, valid: np.ndarray | None = None
) -> np.ndarray | None:
    """(3, 3) the proper rotation R of :func:`procrustes_align` (``gt ~ s R pred + t``), or None where it is
    ill-defined."""
    pred = np.asarray(pred, np.float64)
    v = np.ones(len(pred), bool) if valid is None else np.asarray(valid, bool)
    fit = _similarity(pred, np.asarray(gt, np.float64), v)
    return None if fit is None else fit[1]


def orientation_error_deg(pred_m: Any, gt_m: Any, valid: Any = None) -> np.ndarray:
    """(N,) degrees: the angle of the rotation that best turns each prediction onto its ground truth (the
    rotation of :func:`procrustes_align`, fitted on the valid joints): the error of the hand's orientation in
    the camera frame, whatever its position, size or finger pose. NaN where it is ill-defined."""
    p, g = _points(pred_m, "pred_m", 3), _points(gt_m, "gt_m", 3)
    if p.shape != g.shape:
        raise ValueError(f"pred_m shape {p.shape} != gt_m shape {g.shape}")
    v = _valid(valid, p.shape[:2]) & np.isfinite(p).all(-1) & np.isfinite(g).all(-1)
    out = np.full(len(p), np.nan)
    for i in range(len(p)):
        R = procrustes_rotation(np.where(v[i][:, None], p[i], 0.0), np.where(v[i][:, None], g[i], 0.0), v[i])
        if R is not None:
            out[i] = np.degrees(np.arccos(np.clip((np.trace(R) - 1.0) / 2.0, -1.0, 1.0)))
    return out


def pa_mpjpe_mm(pred_m: Any, gt_m: Any, valid: Any = None) -> np.ndarray:
    """(N,) MPJPE in mm after Procrustes alignment (scale, proper rotation, translation) of each prediction
    to its ground truth, fitted on the valid joints."""
    p, g = _points(pred_m, "pred_m", 3), _points(gt_m, "gt_m", 3)
    if p.shape != g.shape:
        raise ValueError(f"pred_m shape {p.shape} != gt_m shape {g.shape}")
    v = _valid(valid, p.shape[:2])
    finite = np.isfinite(p).all(-1) & np.isfinite(g).all(-1)
    v = v & finite
    out = np.full(len(p), np.nan)
    for i in range(len(p)):
        if v[i].any():
            aligned = procrustes_align(np.where(finite[i][:, None], p[i], 0.0), g[i], v[i])
            out[i] = 1000.0 * np.linalg.norm(aligned - g[i], axis=-1)[v[i]].mean()
    return out


def root_error_mm(pred_root_m: Any, gt_root_m: Any, valid: Any = None) -> np.ndarray:
    """(N,) absolute root (wrist) position error in mm, camera frame. Roots (N, 3) or keypoints (N, J, 3)
    (joint 0 is used). Invalid samples are NaN."""
    p = np.asarray(pred_root_m, np.float64)
    g = np.asarray(gt_root_m, np.float64)
    if p.ndim == 3:
        p = p[:, 0]
    if g.ndim == 3:
        g = g[:, 0]
    p, g = np.atleast_2d(p), np.atleast_2d(g)
    if p.shape != g.shape or p.shape[-1] != 3:
        raise ValueError(f"roots must be (N, 3) of equal shape, got {p.shape} and {g.shape}")
    err = 1000.0 * np.linalg.norm(p - g, axis=-1)
    v = _valid(valid, err.shape)
    return np.where(v, err, np.nan)


def mrrpe_mm(
    pred_left_root_m: Any,
    pred_right_root_m: Any,
    gt_left_root_m: Any,
    gt_right_root_m: Any,
    valid: Any = None,
) -> np.ndarray:
    """(N,) mean relative-root position error in mm for frames with both hands:
    ``|| (pred_left - pred_right) - (gt_left - gt_right) ||`` (the right hand is the reference, as in
    ARCTIC). Roots are (N, 3) m in the camera frame. Invalid frames are NaN."""
    pl, pr, gl, gr = (
        np.atleast_2d(np.asarray(a, np.float64))
        for a in (pred_left_root_m, pred_right_root_m, gt_left_root_m, gt_right_root_m)
    )
    if not (pl.shape == pr.shape == gl.shape == gr.shape) or pl.shape[-1] != 3:
        raise ValueError(f"roots must all be (N, 3), got {pl.shape}, {pr.shape}, {gl.shape}, {gr.shape}")
    err = 1000.0 * np.linalg.norm((pl - pr) - (gl - gr), axis=-1)
    return np.where(_valid(valid, err.shape), err, np.nan)


def kp2d_error_px(pred_px: Any, gt_px: Any, valid: Any = None) -> np.ndarray:
    """(N,) mean 2D keypoint distance in pixels over the valid keypoints ((N, J) or (N,) mask)."""
    p, g = _points(pred_px, "pred_px", 2), _points(gt_px, "gt_px", 2)
    if p.shape != g.shape:
        raise ValueError(f"pred_px shape {p.shape} != gt_px shape {g.shape}")
    err = np.linalg.norm(p - g, axis=-1)
    return masked_mean(err, _valid(valid, err.shape))


def pck(errors: Any, thresholds: Any, valid: Any = None) -> np.ndarray:
    """Fraction of (valid, finite) errors <= each threshold: (T,). NaN for every threshold if none."""
    e = np.asarray(errors, np.float64).reshape(-1)
    v = np.isfinite(e) if valid is None else (np.asarray(valid, bool).reshape(-1) & np.isfinite(e))
    t = np.atleast_1d(np.asarray(thresholds, np.float64))
    if not v.any():
        return np.full(t.shape, np.nan)
    e = e[v]
    return (e[None, :] <= t[:, None]).mean(axis=1)


def auc(
    errors: Any, max_threshold: float, steps: int = 101, min_threshold: float = 0.0, valid: Any = None
) -> float:
    """Area under the PCK curve between ``min_threshold`` and ``max_threshold`` (``steps`` evenly spaced
    thresholds, trapezoidal rule), normalised to [0, 1]."""
    if not max_threshold > min_threshold or steps < 2:
        raise ValueError(
            "need max_threshold > min_threshold and steps >= 2, got "
            f"min_threshold={min_threshold}, max_threshold={max_threshold}, steps={steps}"
        )
    t = np.linspace(min_threshold, max_threshold, int(steps))
    curve = pck(errors, t, valid)
    if np.isnan(curve).all():
        return float("nan")
    area = float(np.sum((curve[1:] + curve[:-1]) * np.diff(t)) / 2.0)
    return area / (max_threshold - min_threshold)
