"""Markdown report of an evaluation: one table row per dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["COLUMNS", "markdown_table", "write_markdown"]

#: (header, key in the per-dataset metrics, format)
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("dataset", "", "{}"),
    ("hands", "hands", "{:d}"),
    ("missing", "hands_missing", "{:d}"),
    ("frames", "frames", "{:d}"),
    ("failed", "frames_failed", "{:d}"),
    ("MPJPE (mm)", "mpjpe_mm", "{:.2f}"),
    ("PA-MPJPE (mm)", "pa_mpjpe_mm", "{:.2f}"),
    ("MRRPE (mm)", "mrrpe_mm", "{:.2f}"),
    ("root err (mm)", "root_error_mm", "{:.2f}"),
    ("2D err (px)", "kp2d_px", "{:.2f}"),
    ("PCK@10", "pck_10mm", "{:.3f}"),
    ("PCK@20", "pck_20mm", "{:.3f}"),
    ("PCK@30", "pck_30mm", "{:.3f}"),
    ("PCK@40", "pck_40mm", "{:.3f}"),
    ("PCK@50", "pck_50mm", "{:.3f}"),
    ("AUC 0-50", "auc_0_50mm", "{:.3f}"),
)


def markdown_table(datasets: dict[str, dict[str, Any]]) -> str:
    """A markdown table with one row per dataset; ``-`` where a metric could not be measured."""
    lines = [
        "| " + " | ".join(h for h, _, _ in COLUMNS) + " |",
        "|" + "|".join("---" if i == 0 else "---:" for i in range(len(COLUMNS))) + "|",
    ]
    for name, m in datasets.items():
        cells = []
        for _, key, fmt in COLUMNS:
            value = name if not key else m.get(key)
            cells.append("-" if value is None else fmt.format(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_markdown(path: str | Path, result: dict[str, Any]) -> Path:
    """Write ``metrics.md``: what was evaluated, the table, and the worst hands."""
    path = Path(path)
    parts = [
        "# WildHands evaluation\n",
        f"- weights: {result.get('weights', '?')}",
        f"- KPE: {result.get('kpe', '?')}",
        f"- boxes: {result.get('boxes', '?')}",
        "- MPJPE is root-relative; MRRPE is over frames with one left and one right hand; PCK/AUC on "
        "root-relative joint errors (mm).\n",
        markdown_table(result.get("datasets", {})),
    ]
    if not result.get("trained", True):
        parts.insert(1, "**UNTRAINED network: these numbers only exercise the evaluation.**\n")
    worst = result.get("worst") or []
    if worst:
        parts.append("\n## Worst hands\n")
        for w in worst:
            mpjpe = "-" if w.get("mpjpe_mm") is None else f"{w['mpjpe_mm']:.1f} mm"
            px = "-" if w.get("kp2d_px") is None else f"{w['kp2d_px']:.1f} px"
            link = f" ([overlay]({w['overlay']}))" if w.get("overlay") else ""
            parts.append(f"- {w['dataset']} {w['frame_id']} {w['side']}: MPJPE {mpjpe}, 2D {px}{link}")
    failures = result.get("failures") or []
    if failures:
        parts.append(f"\n## Failed frames ({len(failures)} listed)\n")
        parts += [f"- {f['dataset']} {f['frame_id']}: {f['error']}" for f in failures]
    path.write_text("\n".join(parts) + "\n")
    return path
