"""The vectorised triangle rasteriser of :mod:`wildhands.render.raster` in torch, on any device.

Same rule, same steps, same float64 arithmetic (every value is the result of the same IEEE operations in the
same order; no fused multiply-adds, since each torch op is its own kernel), so the spans, ``top_face`` and
``coverage`` are **identical** to the numpy ones (``test/wildhands/render/test_raster_torch.py`` checks it
on the CPU). The data-dependent sizes (number of faces in view, of spans, of pixels) are read back to the
host: three small synchronisations per call on a GPU.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from wildhands.render.raster import _SUBPIXEL, Spans

__all__ = ["TorchSpans", "triangle_spans", "top_face", "coverage"]


@dataclass(frozen=True)
class TorchSpans(Spans):
    """:class:`~wildhands.render.raster.Spans` whose runs are int64 tensors on ``face.device``
    (``window``, ``slices`` and ``paste`` -- for numpy window arrays -- as in ``Spans``)."""

    def __len__(self) -> int:
        return int(self.face.numel())

    @property
    def device(self) -> torch.device:
        return self.face.device

    def to_numpy(self) -> Spans:
        """The same spans as a numpy :class:`Spans`."""
        f, r, a, b = (t.cpu().numpy() for t in (self.face, self.row, self.x0, self.x1))
        return Spans(f, r, a, b, self.width, self.height, self.window)


Edge = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


def _edge(r0: torch.Tensor, x0: torch.Tensor, r1: torch.Tensor, x1: torch.Tensor) -> Edge:
    """As ``raster._edge``."""
    dr = r1 - r0
    flat = dr == 0
    slope = torch.where(flat, 0.0, (x1 - x0) / torch.where(flat, 1.0, dr))
    return (
        r0,
        torch.where(flat, torch.minimum(x0, x1), x0),
        torch.where(flat, torch.maximum(x0, x1), x0),
        slope,
    )


def _cat(a: Edge, b: Edge) -> Edge:
    return tuple(torch.cat([p, q]) for p, q in zip(a, b))  # type: ignore[return-value]


def _extent(r, long: Edge, short: Edge, i_long, i_short):
    """As ``raster._extent``."""
    tl = (r - long[0][i_long]) * long[3][i_long]
    ts = (r - short[0][i_short]) * short[3][i_short]
    lo = torch.minimum(long[1][i_long] + tl, short[1][i_short] + ts)
    hi = torch.maximum(long[2][i_long] + tl, short[2][i_short] + ts)
    return lo, hi


def _empty(width: int, height: int, device: torch.device) -> TorchSpans:
    e = torch.zeros(0, dtype=torch.long, device=device)
    return TorchSpans(e, e, e, e, int(width), int(height), (0, 0, 0, 0))


def triangle_spans(
    uv: np.ndarray | torch.Tensor,
    faces: np.ndarray | torch.Tensor,
    width: int,
    height: int,
    device: torch.device | str = "cpu",
) -> TorchSpans:
    """``raster.triangle_spans`` on ``device``: ``uv`` (V, 2) pixel coordinates, ``faces`` (F, 3)."""
    device = torch.device(device)
    uv = torch.as_tensor(uv, dtype=torch.float64).to(device)
    faces = torch.as_tensor(faces, dtype=torch.long).to(device)
    tri = uv[faces]  # (F, 3, 2)
    ok = torch.isfinite(tri).all(dim=2).all(dim=1)
    tri = torch.round(torch.where(ok[:, None, None], tri, 0.0) * _SUBPIXEL) / _SUBPIXEL
    order = torch.argsort(tri[..., 1], dim=1, stable=True)
    tri = torch.take_along_dim(tri, order[..., None], dim=1)
    xs, ys = tri[..., 0], tri[..., 1]
    ok &= (xs.amax(dim=1) >= -0.5) & (xs.amin(dim=1) < width - 0.5)
    rows = torch.floor(ys + 0.5)
    ok &= (rows[:, 2] >= 0) & (rows[:, 0] <= height - 1)
    fid = torch.nonzero(ok).squeeze(1)
    xt, xm, xb = (xs[fid, i] for i in range(3))
    yt, ym, yb = (ys[fid, i] for i in range(3))
    rt, rm, rb = (rows[fid, i] for i in range(3))
    r0 = rt.clamp(min=0).long()
    n = rb.clamp(max=height - 1).long() - r0 + 1
    total = int(n.sum())
    if total == 0:
        return _empty(width, height, device)
    nf = int(fid.numel())
    long_r, short_r = _edge(rt, xt, rb, xb), _cat(_edge(rt, xt, rm, xm), _edge(rm, xm, rb, xb))
    long_y, short_y = _edge(yt, xt, yb, xb), _cat(_edge(yt, xt, ym, xm), _edge(ym, xm, yb, xb))
    k = torch.repeat_interleave(torch.arange(nf, device=device), n, output_size=total)
    starts = torch.cumsum(n, 0) - n
    row = torch.arange(total, dtype=torch.long, device=device) - torch.repeat_interleave(
        starts - r0, n, output_size=total
    )
    r = row.double()
    xl, xr = _extent(r, long_r, short_r, k, k + nf * (r > rm[k]).long())
    ymid = ym[k]
    b0 = torch.maximum(r - 0.5, yt[k])
    b1 = torch.minimum(r + 0.5, yb[k])
    lo0, hi0 = _extent(b0, long_y, short_y, k, k + nf * (b0 > ymid).long())
    lo1, hi1 = _extent(b1, long_y, short_y, k, k + nf * (b1 >= ymid).long())
    mid_in = (b0 <= ymid) & (ymid <= b1)
    xmid = xm[k]
    band_lo = torch.minimum(torch.minimum(lo0, lo1), torch.where(mid_in, xmid, torch.inf))
    band_hi = torch.maximum(torch.maximum(hi0, hi1), torch.where(mid_in, xmid, -torch.inf))
    x0 = torch.minimum(torch.floor(xl + 0.5), torch.ceil(band_lo))
    x1 = torch.maximum(torch.floor(xr + 0.5), torch.floor(band_hi))
    keep = torch.nonzero((x1 >= 0) & (x0 <= width - 1) & (x1 >= x0)).squeeze(1)
    if keep.numel() == 0:
        return _empty(width, height, device)
    face = fid[k[keep]]
    row = row[keep]
    x0 = x0[keep].clamp(0, width - 1).long()
    x1 = x1[keep].clamp(0, width - 1).long()
    wx0, wy0, wx1, wy1 = torch.stack([x0.min(), row.min(), x1.max(), row.max()]).tolist()
    return TorchSpans(face, row, x0, x1, int(width), int(height), (wx0, wy0, wx1 + 1, wy1 + 1))


def _select(spans: TorchSpans, select) -> tuple[torch.Tensor, ...]:
    if select is None:
        return spans.face, spans.row, spans.x0, spans.x1
    sel = torch.as_tensor(np.asarray(select, dtype=bool) if not torch.is_tensor(select) else select)
    keep = sel.to(spans.device)[spans.face]
    return spans.face[keep], spans.row[keep], spans.x0[keep], spans.x1[keep]


def top_face(
    spans: TorchSpans, priority: np.ndarray, select: np.ndarray | torch.Tensor | None = None
) -> torch.Tensor:
    """``raster.top_face`` on the spans' device: (y1 - y0, x1 - x0) int64 tensor of the covering face of
    highest ``priority`` (F,) per window pixel, -1 where none. ``priority``: distinct integers >= 0 (host)."""
    wx0, wy0, wx1, wy1 = spans.window
    ww = wx1 - wx0
    device = spans.device
    best = torch.full(((wy1 - wy0) * ww,), -1, dtype=torch.long, device=device)
    face, row, x0, x1 = _select(spans, select)
    if face.numel():
        priority = np.asarray(priority, dtype=np.int64)
        inverse = np.full(int(priority.max()) + 1, -1, np.int64)  # priority -> face
        inverse[priority] = np.arange(priority.size)
        prio = torch.from_numpy(priority).to(device)
        n = x1 - x0 + 1
        total = int(n.sum())
        starts = torch.cumsum(n, 0) - n
        base = (row - wy0) * ww + (x0 - wx0)
        pix = torch.arange(total, dtype=torch.long, device=device) + torch.repeat_interleave(
            base - starts, n, output_size=total
        )
        best.scatter_reduce_(0, pix, torch.repeat_interleave(prio[face], n, output_size=total), reduce="amax")
        inv = torch.from_numpy(inverse).to(device)
        best = torch.where(best >= 0, inv[best.clamp(min=0)], -1)
    return best.view(wy1 - wy0, ww)


def coverage(spans: TorchSpans, select: np.ndarray | torch.Tensor | None = None) -> torch.Tensor:
    """``raster.coverage`` on the spans' device: (y1 - y0, x1 - x0) bool tensor, covered by any (selected)
    face."""
    wx0, wy0, wx1, wy1 = spans.window
    _, row, x0, x1 = _select(spans, select)
    if row.numel() == 0:
        return torch.zeros((wy1 - wy0, wx1 - wx0), dtype=torch.bool, device=spans.device)
    ww = wx1 - wx0 + 1  # one spare column for the run ends
    size = (wy1 - wy0) * ww
    base = (row - wy0) * ww - wx0
    diff = torch.bincount(base + x0, minlength=size) - torch.bincount(base + x1 + 1, minlength=size)
    return torch.cumsum(diff.view(wy1 - wy0, ww), dim=1)[:, :-1] > 0
