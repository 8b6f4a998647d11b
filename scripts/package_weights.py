#!/usr/bin/env python3
"""Package a trained checkpoint as shipped weights: float16 file in models/ + its manifest entry.

    python scripts/package_weights.py runs/default_resnet18_128/model.pt \
        [--name wildhands_resnet18_128] [--models-dir models] [--eval-json out/eval/metrics.json] [--default]

Writes ``<models-dir>/<name>.pt`` (float16 tensors; at most 60 MB is enforced) and adds or replaces the
entry ``<name>`` of ``<models-dir>/manifest.json``: sha256, bytes, architecture, hand model, training recipe
(the run's TrainConfig: data sources with their seeds, optimiser, steps done), the training history's last
evaluation and, with ``--eval-json``, the evaluation table written by ``wildhands eval`` /
``bench/accuracy.py``. ``--default`` makes it the manifest's default.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from wildhands.model.checkpoint import read_checkpoint, save_checkpoint  # noqa: E402
from wildhands.model.config import ModelConfig  # noqa: E402
from wildhands.model.network import WildHandsNet  # noqa: E402
from wildhands.model.weights import MANIFEST_FORMAT, MANIFEST_NAME, file_sha256  # noqa: E402

MAX_BYTES = 60 * 1024 * 1024


def package(
    checkpoint: Path, name: str, models_dir: Path, eval_json: Path | None, make_default: bool
) -> dict:
    payload = read_checkpoint(checkpoint)
    config = ModelConfig.from_dict(payload["config"])
    model = WildHandsNet(config)
    model.load_state_dict(payload["state_dict"])
    extra = dict(payload.get("extra", {}))
    train_cfg = extra.get("train", {})
    out = models_dir / f"{name}.pt"
    save_checkpoint(out, model, extra={"name": name, "step": extra.get("step")}, precision="float16")
    size = out.stat().st_size
    if size > MAX_BYTES:
        out.unlink()
        raise SystemExit(f"{out}: {size / 1e6:.1f} MB is over the 60 MB limit for shipped weights")

    history = checkpoint.parent / "history.jsonl"
    last_eval = None
    if history.is_file():
        rows = [json.loads(line) for line in history.read_text().splitlines() if line.strip()]
        evals = [r for r in rows if any(k.startswith("eval/") for k in r)]
        last_eval = evals[-1] if evals else None
    entry = {
        "file": out.name,
        "sha256": file_sha256(out),
        "bytes": size,
        "precision": "float16",
        "model_config": config.to_dict(),
        "hand_model": "open_hand_v1 (wildhands.handmodel.OpenHandModel)",
        "training": {
            "steps_done": extra.get("step"),
            "config": train_cfg,
            "data_recipe": [
                {k: s.get(k) for k in ("name", "kind", "seed", "length", "min_visible_fraction", "synthetic")}
                for s in train_cfg.get("data", [])
            ],
            "seed": train_cfg.get("seed"),
            "source_checkpoint": str(checkpoint),
            # scripts/average_weights.py: the runs averaged into these weights and their training seeds
            **(
                {"averaged_from": extra["averaged_from"], "seeds": extra.get("train_seeds")}
                if "averaged_from" in extra
                else {}
            ),
            "last_training_eval": last_eval,
        },
        "evaluation": json.loads(eval_json.read_text()) if eval_json else None,
        "packaged": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    manifest_path = models_dir / MANIFEST_NAME
    manifest = (
        json.loads(manifest_path.read_text())
        if manifest_path.is_file()
        else {"format": MANIFEST_FORMAT, "default": name, "weights": {}}
    )
    manifest["weights"][name] = entry
    if make_default or manifest.get("default") not in manifest["weights"]:
        manifest["default"] = name
    manifest_path.write_text(json.dumps(manifest, indent=1) + "\n")
    return entry


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("checkpoint", type=Path, help="model.pt written by `wildhands train`")
    parser.add_argument("--name", default="wildhands_resnet18_128")
    parser.add_argument("--models-dir", type=Path, default=REPO / "models")
    parser.add_argument("--eval-json", type=Path, help="metrics JSON to store as the evaluation table")
    parser.add_argument("--default", action="store_true", help="make this entry the manifest's default")
    args = parser.parse_args(argv)
    entry = package(args.checkpoint, args.name, args.models_dir, args.eval_json, args.default)
    print(
        f"wrote {args.models_dir / entry['file']} ({entry['bytes'] / 1e6:.1f} MB, "
        f"sha256 {entry['sha256'][:16]}...)"
    )
    print(f"manifest {args.models_dir / MANIFEST_NAME}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
