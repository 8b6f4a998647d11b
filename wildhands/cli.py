"""``wildhands`` command line.

Sub-commands (``wildhands <command> --help`` for the options):

* ``demo``: the main job: an image sequence (default: the bundled clip) through the node or the pipeline ->
  MCAP, overlays, video, summary; or one image with ``--image``;
* ``export``: the network as ONNX and/or a TensorRT engine;
* ``train``: train (or resume) from a ``config/train/*.yaml`` (``--nproc N``: DistributedDataParallel);
* ``synth``: generate a synthetic egocentric hand dataset;
* ``eval``: evaluate on labelled data with ground-truth boxes (metrics + overlays).

Choice lists and defaults come from the library (engines, backbones, estimators, detectors, KPE variants);
the ``--backbone`` default is the shipped weights' architecture
(``wildhands.model.weights.SHIPPED_BACKBONE``).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from pathlib import Path

import numpy as np


def _pipeline_from_args(args: argparse.Namespace):
    from wildhands.model.config import KPEConfig, ModelConfig
    from wildhands.runtime.pipeline import Pipeline, PipelineConfig

    model = ModelConfig(backbone=args.backbone, kpe=KPEConfig(variant=args.kpe))
    return Pipeline(
        PipelineConfig(
            weights=args.weights,
            model=model,
            engine=args.engine,
            device=args.device,
            threads=args.threads,
            estimator=args.estimator,
            refine=args.refine,
            tracked_steps=args.tracked_steps,
            crop_mode=args.crop_mode,
        )
    )


def cmd_demo(args: argparse.Namespace) -> int:
    if args.image is None:
        return cmd_demo_sequence(args)
    return cmd_demo_image(args)


def cmd_demo_sequence(args: argparse.Namespace) -> int:
    """The main job: a sequence through the node (or the pipeline), scored, recorded and drawn."""
    from wildhands.apps.demo import SequenceDemoOptions, run_main_job
    from wildhands.eval.scoring import format_summary

    if args.boxes:
        print("--boxes applies to --image; for a sequence use --detector groundtruth", file=sys.stderr)
        return 2
    detector = {"auto": "mediapipe", "none": "groundtruth"}.get(args.detector, args.detector)
    options = SequenceDemoOptions(
        weights=args.weights,
        engine=args.engine,
        detector=detector,
        backend=args.backend,
        threads=args.threads,
        estimator=args.estimator,
        refine=args.refine,
        tracked_steps=args.tracked_steps,
        crop_mode=args.crop_mode,
    )
    summary, paths = run_main_job(
        args.images, args.camera_info, args.out, options, limit=args.limit, hfov_deg=args.hfov, fps=args.fps
    )
    print(f"wildhands demo ({summary['backend']} backend): {args.images or 'the bundled sequence'}")
    print(f"weights      {summary['weights']}")
    print(f"engine       {summary['engine']}, detector {summary['detector']}")
    print(format_summary(summary))
    if not summary.get("trained"):
        print("NOTE: the network is UNTRAINED (--weights untrained): the hands above are not meaningful.")
    for name in ("overlays", "video", "mcap", "summary"):
        if name in paths:
            print(f"{name:12s} {paths[name]}")
    return 0 if summary["frames_answered"] == summary["frames"] else 1


def cmd_demo_image(args: argparse.Namespace) -> int:
    from wildhands.apps.demo import run_demo

    if args.detector == "groundtruth":
        print("--detector groundtruth applies to sequences; for --image pass --boxes FILE", file=sys.stderr)
        return 2

    pipeline = _pipeline_from_args(args)
    detector = None
    if args.detector != "none" and not (args.boxes and args.detector == "auto"):
        from wildhands.runtime.detection import build_detector

        detector = build_detector("mediapipe")
    result = run_demo(pipeline, args.image, args.camera_info, args.boxes, args.out, detector=detector)
    cam = result.camera
    print(f"image      {result.image_path} ({cam.width}x{cam.height})")
    print(
        f"camera     fx={cam.fx:.1f} fy={cam.fy:.1f} cx={cam.cx:.1f} cy={cam.cy:.1f} px, "
        f"{cam.distortion_model.value}{' (ESTIMATED)' if cam.estimated else ''}"
    )
    print(f"weights    {pipeline.weights_description}")
    print(
        f"engine     {pipeline.engine_name}, hand model {result.hands[0].hand_model if result.hands else '-'}"
    )
    source = f"detector {detector.name}" if detector is not None else "boxes file"
    print(f"hands      {len(result.hands)} (boxes from the {source})")
    for i, hand in enumerate(result.hands):
        x, y, z = hand.wrist_position_m
        line = (
            f"  [{i}] {hand.side:5s} wrist=({x:+.3f}, {y:+.3f}, {z:.3f}) m  grasp={hand.grasp_label}"
            f" ({hand.grasp_probabilities.max():.2f})  confidence={hand.confidence:.2f}"
        )
        gt = next((g for g in result.ground_truth if g.get("side") == hand.side), None)
        if gt is not None:
            err = np.linalg.norm(hand.keypoints_cam_m - np.asarray(gt["keypoints_cam_m"]), axis=1).mean()
            line += f"  mean 3D error vs ground truth {1000 * err:.0f} mm"
        print(line)
    if not pipeline.trained:
        print("NOTE: the network is UNTRAINED (no weights given): the hands above are not meaningful yet.")
    print(f"overlay    {result.overlay_path}")
    print(f"json       {result.json_path}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from wildhands.model.export import export_onnx

    if not args.onnx and not args.tensorrt:
        print("nothing to export: pass --onnx OUT.onnx and/or --tensorrt OUT.engine", file=sys.stderr)
        return 2
    if args.tensorrt:  # fail early, before loading the network, where TensorRT cannot run
        from wildhands.runtime.engines.tensorrt_engine import require_tensorrt

        require_tensorrt(args.device)
    pipeline = _pipeline_from_args(args)
    if args.onnx:
        precision = args.precision or "fp32"
        path = export_onnx(pipeline.network, args.onnx, opset=args.opset, precision=precision)
        print(
            f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB, {precision}) "
            f"from {pipeline.weights_description}"
        )
    if args.tensorrt:
        import shutil

        from wildhands.runtime.engines.engine_cache import sidecar_path
        from wildhands.runtime.engines.tensorrt_engine import gpu_description, tensorrt_engine

        precision = args.precision or "fp16"
        engine = tensorrt_engine(
            pipeline.network, precision=precision, device=args.device, weights_path=pipeline.weights_path
        )
        out = Path(args.tensorrt)
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.resolve() != engine.cache_path.resolve():
            shutil.copyfile(engine.cache_path, out)
            shutil.copyfile(sidecar_path(engine.cache_path), sidecar_path(out))
        print(
            f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB, {precision}, batch 1-{engine.max_batch}, "
            f"{gpu_description(args.device)}) from {pipeline.weights_description}; "
            f"{'built' if engine.built else 'reused'} cache {engine.cache_path}"
        )
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from wildhands.eval.evaluator import evaluate
    from wildhands.eval.report import markdown_table
    from wildhands.eval.sources import open_records

    records = open_records(args.data)
    pipeline = _pipeline_from_args(args)
    result = evaluate(pipeline, records, args.out, worst_k=args.worst_k, limit=args.limit)
    print(f"weights    {result['weights']}")
    print(f"boxes      {result['boxes']}")
    print(markdown_table(result["datasets"]), end="")
    if not result["trained"]:
        print(
            "NOTE: the network is UNTRAINED (no weights given): these numbers only exercise the evaluation."
        )
    print(f"report     {Path(args.out) / 'metrics.md'}")
    return 0


def cmd_synth(args: argparse.Namespace) -> int:
    from wildhands.data.synthetic import SyntheticConfig, write_dataset

    config = SyntheticConfig.from_yaml(args.config) if args.config else SyntheticConfig()
    if args.device is not None:
        config = dataclasses.replace(config, device=args.device)
    out = write_dataset(args.out, config, n=args.n, seed=args.seed, start=args.start, workers=args.workers)
    print(f"wrote {out} ({args.n} frames from index {args.start}, seed {args.seed})")
    return 0


def _launch_train_processes(args: argparse.Namespace) -> int:
    """``wildhands train --nproc N``: torchrun with N processes of ``python -m wildhands.train`` on this
    machine (rendezvous on 127.0.0.1); its exit status."""
    import subprocess

    from wildhands.train import distributed

    worker = ["--config", args.config]
    if args.out_dir:
        worker += ["--out-dir", args.out_dir]
    if args.max_steps is not None:
        worker += ["--max-steps", str(args.max_steps)]
    if args.restart:
        worker.append("--restart")
    cmd = distributed.torchrun_command(args.nproc, worker, args.master_port)
    print(" ".join(cmd[1:]), flush=True)
    return subprocess.run(cmd, env=distributed.loopback_env(), check=False).returncode


def cmd_train(args: argparse.Namespace) -> int:
    from wildhands.train import distributed
    from wildhands.train.config import TrainConfig
    from wildhands.train.trainer import Trainer

    if args.nproc < 1:
        raise ValueError(f"--nproc {args.nproc} must be >= 1")
    if args.nproc > 1:
        if distributed.launched_by_torchrun():
            raise ValueError("--nproc inside a torchrun process: give torchrun --nproc_per_node instead")
        return _launch_train_processes(args)
    cfg = TrainConfig.from_yaml(args.config)
    if args.out_dir:
        cfg = dataclasses.replace(cfg, out_dir=args.out_dir)
    trainer = Trainer(cfg, resume=not args.restart)
    try:
        if trainer.is_main:
            processes = f" on {trainer.dist.world_size} processes" if trainer.dist.enabled else ""
            print(
                f"training {cfg.model.backbone}/{cfg.model.kpe.variant.value} from step {trainer.step} to "
                f"{cfg.optim.steps}{processes} -> {cfg.out_dir}"
            )
        trainer.train(max_steps=args.max_steps)
    finally:
        trainer.close()
    if not trainer.is_main:
        return 0
    last = trainer.history[-1] if trainer.history else {}
    print(
        f"step {trainer.step}: " + " ".join(f"{k}={v:.4g}" for k, v in last.items() if isinstance(v, float))
    )
    print(f"weights    {Path(cfg.out_dir) / 'model.pt'}\ncurves     {Path(cfg.out_dir) / 'loss_curves.png'}")
    return 0


def _add_model_args(p: argparse.ArgumentParser) -> None:
    from wildhands.geometry.perspective_crop import CROP_MODES
    from wildhands.model.config import BACKBONE_CHANNELS, KPEVariant
    from wildhands.model.weights import SHIPPED_BACKBONE
    from wildhands.runtime.engines import ENGINES
    from wildhands.runtime.pipeline import ESTIMATORS

    p.add_argument(
        "--estimator",
        default=ESTIMATORS[0],
        choices=ESTIMATORS,
        help="landmarks: the landmark-lifting model + refinement (best on real images); image: the "
        "WildHands image model with --weights",
    )
    p.add_argument(
        "--no-refine", dest="refine", action="store_false", help="landmarks: the lifting head's answer"
    )
    p.add_argument(
        "--tracked-steps",
        type=int,
        default=0,
        help="landmarks, tracked hands (the node's VIDEO mode): fit a hand tracked from the previous frame "
        "from its previous hand with this many steps instead of from the lifting head (0 = off)",
    )
    p.add_argument(
        "--crop-mode",
        default="auto",
        choices=CROP_MODES,
        help="hand crops (PipelineConfig.crop_mode): box, rectified (a virtual camera looking at each hand; "
        "also the landmark estimator's passes) or auto (rectified for fisheye cameras, the image model only)",
    )
    p.add_argument(
        "--weights",
        default="default",
        help="'default' (the shipped weights in models/), a manifest name, a checkpoint .pt path, or "
        "'untrained' (random network, for tests)",
    )
    p.add_argument(
        "--backbone",
        default=SHIPPED_BACKBONE,
        choices=tuple(BACKBONE_CHANNELS),
        help="architecture of an untrained network (default: the shipped weights'); weights carry their own",
    )
    p.add_argument("--kpe", default=KPEVariant.SPARSE.value, choices=[v.value for v in KPEVariant])
    p.add_argument("--engine", default=ENGINES[0], choices=ENGINES)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0 = all cores)")


def _demo_detector_choices() -> tuple[str, ...]:
    """``wildhands demo --detector``: auto, the main job's box sources, then the other detectors (``none``:
    no detector, the ``--boxes`` file only)."""
    from wildhands.apps.demo import DEMO_BOX_SOURCES
    from wildhands.runtime.detection import DETECTORS

    return ("auto", *DEMO_BOX_SOURCES, *(d for d in DETECTORS if d not in DEMO_BOX_SOURCES))


def build_parser() -> argparse.ArgumentParser:
    from wildhands.apps.demo import DEMO_BACKENDS

    parser = argparse.ArgumentParser(
        prog="wildhands", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser(
        "demo",
        help="the main job: the node over real ROS 2 topics on an image sequence (default: the bundled "
        "clip) -> MCAP, overlays, video, summary; or one image with --image",
    )
    demo.add_argument(
        "--images", help="folder of frames (png/jpg, sorted by name); default: the bundled clip"
    )
    demo.add_argument(
        "--camera-info",
        help="camera_calibration YAML; default: the folder's camera_info.yaml, else the EXIF focal length, "
        "else a --hfov field of view (both marked estimated)",
    )
    demo.add_argument("--hfov", type=float, default=90.0, help="deg, FoV prior without calibration or EXIF")
    demo.add_argument("--fps", type=float, default=15.0, help="frame rate of a folder without time stamps")
    demo.add_argument("--limit", type=int, help="process at most N frames")
    demo.add_argument(
        "--backend",
        default="auto",
        choices=DEMO_BACKENDS,
        help="ros: the node over real topics (recorded to MCAP); python: the pipeline in-process; "
        "auto: ros when ROS 2 is available",
    )
    demo.add_argument("--image", help="one image file instead of a sequence (overlay PNG + JSON)")
    demo.add_argument(
        "--boxes", help='with --image: JSON {"hands": [{"box_xyxy": [x0,y0,x1,y1], "side": "left"}]}'
    )
    demo.add_argument(
        "--detector",
        default="auto",
        choices=_demo_detector_choices(),
        help="hand detector; auto = mediapipe (with --image: unless --boxes is given); groundtruth = the "
        "sequence's labelled boxes",
    )
    demo.add_argument("--out", default="out/demo", help="output folder")
    _add_model_args(demo)
    demo.set_defaults(func=cmd_demo, engine="onnxruntime")

    export = sub.add_parser("export", help="export the network (ONNX, TensorRT engine)")
    export.add_argument("--onnx", help="output .onnx path")
    export.add_argument(
        "--tensorrt",
        help="output .engine path: a TensorRT engine for this GPU (batch 1-4), also cached beside --weights",
    )
    export.add_argument(
        "--precision",
        choices=["fp16", "fp32"],
        help="precision: --tensorrt defaults to fp16, --onnx to fp32 (fp16 = the mixed-precision graph)",
    )
    export.add_argument("--opset", type=int, default=17)
    _add_model_args(export)
    export.set_defaults(func=cmd_export)

    train = sub.add_parser("train", help="train (or resume) from a config/train/*.yaml")
    train.add_argument("--config", required=True, help="training config YAML")
    train.add_argument("--out-dir", help="override out_dir of the config")
    train.add_argument("--max-steps", type=int, help="stop after this many more steps (resume later)")
    train.add_argument("--restart", action="store_true", help="ignore out_dir/last.pt and start over")
    train.add_argument(
        "--nproc",
        type=int,
        default=1,
        help="processes on this machine (one per GPU with device cuda; CPU shares otherwise): runs torchrun "
        "--nproc_per_node N -m wildhands.train (DistributedDataParallel); several machines: torchrun "
        "directly, see docs/training-cluster.md",
    )
    train.add_argument(
        "--master-port", type=int, help="with --nproc: rendezvous port on 127.0.0.1 (default: free)"
    )
    train.set_defaults(func=cmd_train)

    synth = sub.add_parser("synth", help="generate a synthetic egocentric hand dataset")
    synth.add_argument("--out", required=True, help="output folder (resumable)")
    synth.add_argument("--n", type=int, required=True, help="number of frames")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--start", type=int, default=0, help="first frame index")
    synth.add_argument("--config", help="YAML of SyntheticConfig keys (unknown keys are refused)")
    synth.add_argument("--workers", type=int, default=1, help="processes")
    synth.add_argument(
        "--device",
        help="render on 'cpu' (numpy/OpenCV, the default), 'torch-cpu' or 'cuda[:N]' (torch); overrides the "
        "config's device",
    )
    synth.set_defaults(func=cmd_synth)

    ev = sub.add_parser("eval", help="evaluate on labelled data with ground-truth boxes (metrics + overlays)")
    ev.add_argument(
        "--data", required=True, help="'sample', a synthetic data folder, or NAME:DIR of a dataset reader"
    )
    ev.add_argument("--out", default="out/eval", help="output folder (metrics.json, metrics.md, worst/)")
    ev.add_argument("--limit", type=int, help="evaluate at most N frames")
    ev.add_argument("--worst-k", type=int, default=8, help="overlays of the K worst hands")
    _add_model_args(ev)
    ev.set_defaults(func=cmd_eval)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError) as exc:
        print(f"wildhands {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
