#!/usr/bin/env python3
"""Fetch MediaPipe's palm-detection and hand-landmark .tflite models (Apache-2.0) into the cache.

Usage: python scripts/fetch_detector_models.py [--model-dir DIR] [--wheel mediapipe-0.10.21-*.whl]
Default folder: $WILDHANDS_CACHE/mediapipe/0.10.21 (~/.cache/wildhands/...). Idempotent: seconds when the
checked files are already there. Needs PyPI (pip download) unless --wheel is given.
"""

from __future__ import annotations

import argparse
import logging
import sys

from wildhands.runtime.detection.models import fetch_models


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", default=None, help="target folder (default: the wildhands cache)")
    parser.add_argument(
        "--wheel", default=None, help="a mediapipe-0.10.21 wheel on disk (skips pip download)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[fetch_detector_models] %(message)s")
    try:
        root = fetch_models(args.model_dir, wheel=args.wheel)
    except (RuntimeError, OSError) as exc:
        logging.error("%s", exc)
        return 1
    logging.info("ok: %s", root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
