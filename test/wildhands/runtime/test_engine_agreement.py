"""Every engine present on this machine agrees with the torch model on the same crops (issue #7).

The crops are the two hands of the bundled sample (the left one mirrored), cut and encoded by
``Pipeline.prepare``; the reference is ``WildHandsNet.forward_tensors`` in fp32 on the CPU. Each engine's raw
outputs are compared with fp32 tolerances, and its keypoints — lifted through the same hand model and metric
placement (``Pipeline.lift``) — in millimetres. fp16 engines (torch fp16 and TensorRT fp16 on CUDA) have a
keypoint tolerance in mm; on a CPU-only machine the fp16 graph that TensorRT builds from (the
mixed-precision ONNX export) is checked through ONNX Runtime, which keeps fp16 values between its layers.
Engines that are not present are skipped with the reason (markers ``onnxruntime``, ``gpu``, ``tensorrt``).

The network is untrained (random weights): ResNet-18 at 128 px, the default training configuration, with
its three output decoders re-initialised at the usual scale (xavier gain 1 instead of the 0.01 that starts
training near the mean hand), so that its outputs depend on the image as a trained network's do — the two
sample hands then differ by 45 mm in wrist-relative keypoints and 5% in camera scale, where the
near-constant initial network differs by 0.5 mm and would hide precision errors.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from wildhands.geometry.camera_yaml import load_camera_yaml
from wildhands.model import KPEConfig, ModelConfig
from wildhands.runtime.engines import EngineOutput, build_engine
from wildhands.runtime.engines.base import OUTPUT_NAMES
from wildhands.runtime.io import load_image_rgb
from wildhands.runtime.pipeline import HandBox, Pipeline, PipelineConfig

SAMPLE = Path(__file__).resolve().parents[3] / "wildhands" / "assets" / "sample"

# fp32 engines: raw outputs (rotation entries, betas, camera, logits) and keypoints after the hand model.
# Measured on the 2-core CPU (torch 2.13, onnxruntime 1.32): ONNX Runtime 6e-6 raw, 4e-4 mm.
FP32_RAW_TOL = 1e-4
FP32_KEYPOINT_TOL_MM = 0.05
# GPU fp32 (TF32 off): cuDNN/TensorRT pick other convolution algorithms -> summation order differs.
GPU_FP32_RAW_TOL = 1e-3
GPU_FP32_KEYPOINT_TOL_MM = 0.2
# fp16 (ResNet trunk + KPE fusion in fp16, the rest fp32): 2 mm on any keypoint of a hand 0.3-0.4 m away
# is well inside the network's own error (tens of mm). Measured through ONNX Runtime on the CPU (fp16
# values between layers, fp32 arithmetic inside them): 0.15 mm; GPU kernels may also accumulate in fp16.
FP16_KEYPOINT_TOL_MM = 2.0
FP16_ROTATION_TOL = 2e-2  # entries of the rotation matrices

MODEL = ModelConfig(backbone="resnet18", image_size=128, kpe=KPEConfig(variant="sparse"))


@pytest.fixture(scope="module")
def setup():
    """A reference pipeline (torch, CPU, fp32), the sample's crops, and the reference outputs."""
    pipeline = Pipeline(PipelineConfig(estimator="image", model=MODEL, engine="torch", seed=0))
    torch.manual_seed(1)
    reg = pipeline.network.regressor
    for dec in (reg.dec_pose, reg.dec_betas, reg.dec_cam):
        torch.nn.init.xavier_uniform_(dec.weight, gain=1.0)
    camera = load_camera_yaml(SAMPLE / "camera_info.yaml")
    image = load_image_rgb(SAMPLE / "image.png")
    hands = json.loads((SAMPLE / "hands.json").read_text())["hands"]
    boxes = [HandBox(tuple(h["box_xyxy"]), h["side"]) for h in hands]
    assert {b.side for b in boxes} == {"left", "right"}
    images, kpe, crop_boxes, net_boxes, mirrored = pipeline.prepare(image, camera, boxes)
    with torch.inference_mode():
        ref = EngineOutput.from_sequence(
            t.numpy()
            for t in pipeline.network.forward_tensors(torch.from_numpy(images), torch.from_numpy(kpe))
        )
    lift = lambda out: pipeline.lift(out, camera, mirrored, boxes, crop_boxes, net_boxes)  # noqa: E731
    ref_hands = lift(ref)
    assert len(ref_hands) == 2
    return {
        "pipeline": pipeline,
        "images": images,
        "kpe": kpe,
        "ref": ref,
        "lift": lift,
        "ref_hands": ref_hands,
    }


def _compare(setup, out: EngineOutput) -> tuple[dict[str, float], float]:
    """(max abs difference per output, max keypoint distance in mm) against the reference."""
    raw = {n: float(np.abs(getattr(out, n) - getattr(setup["ref"], n)).max()) for n in OUTPUT_NAMES}
    hands = setup["lift"](out)
    assert [h.side for h in hands] == [h.side for h in setup["ref_hands"]]
    mm = max(
        1e3 * float(np.linalg.norm(h.keypoints_cam_m - r.keypoints_cam_m, axis=1).max())
        for h, r in zip(hands, setup["ref_hands"])
    )
    return raw, mm


def _check_fp32(setup, engine, raw_tol: float, mm_tol: float) -> None:
    out = engine.infer(setup["images"], setup["kpe"])
    for n in OUTPUT_NAMES:
        assert getattr(out, n).shape == getattr(setup["ref"], n).shape and getattr(out, n).dtype == np.float32
    raw, mm = _compare(setup, out)
    print(f"{engine.name}: max raw diff {max(raw.values()):.2e}, keypoints {mm:.2e} mm")
    assert max(raw.values()) < raw_tol, raw
    assert mm < mm_tol


def _check_fp16(setup, out: EngineOutput, label: str) -> float:
    raw, mm = _compare(setup, out)
    print(f"{label}: max raw diff {raw}, keypoints {mm:.3f} mm")
    assert raw["global_orient"] < FP16_ROTATION_TOL and raw["hand_pose"] < FP16_ROTATION_TOL, raw
    assert mm < FP16_KEYPOINT_TOL_MM
    return mm


def test_torch_cpu_engine_matches_the_model(setup):
    engine = build_engine("torch", setup["pipeline"].network, device="cpu")
    _check_fp32(setup, engine, FP32_RAW_TOL, FP32_KEYPOINT_TOL_MM)


@pytest.mark.onnxruntime
def test_onnxruntime_matches_torch(setup, tmp_path, monkeypatch):
    monkeypatch.setenv("WILDHANDS_CACHE", str(tmp_path))
    engine = build_engine("onnxruntime", setup["pipeline"].network)
    _check_fp32(setup, engine, FP32_RAW_TOL, FP32_KEYPOINT_TOL_MM)


@pytest.mark.onnxruntime
def test_fp16_graph_stays_within_the_fp16_tolerance(setup, tmp_path):
    """The mixed-precision ONNX (what TensorRT fp16 builds) run by ONNX Runtime on the CPU: fp16 weights
    and fp16 activations between layers inside the trunk, float32 at the inputs and outputs."""
    import onnx
    import onnxruntime as ort

    from wildhands.model.export import export_onnx

    path = export_onnx(setup["pipeline"].network, tmp_path / "fp16.onnx", precision="fp16")
    graph = onnx.load(str(path)).graph
    conv_weights = {n.input[1] for n in graph.node if n.op_type == "Conv"}
    dtypes = {i.name: i.data_type for i in graph.initializer}
    assert conv_weights and all(dtypes[w] == onnx.TensorProto.FLOAT16 for w in conv_weights if w in dtypes)
    float32 = onnx.TensorProto.FLOAT
    assert all(t.type.tensor_type.elem_type == float32 for t in (*graph.input, *graph.output))
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    out = EngineOutput.from_sequence(
        sess.run(list(OUTPUT_NAMES), {"images": setup["images"], "kpe": setup["kpe"]})
    )
    _check_fp16(setup, out, "fp16 graph (onnxruntime)")
    raw, _ = _compare(setup, out)
    assert raw["cam_wp"] > 10 * FP32_RAW_TOL  # reduced precision is really in effect (fp32: 6e-6)


@pytest.mark.gpu
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_torch_cuda_matches_torch_cpu(setup, precision, monkeypatch):
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)  # fp32 means fp32
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)
    engine = build_engine("torch", setup["pipeline"].network, device="cuda", precision=precision)
    assert next(setup["pipeline"].network.parameters()).device.type == "cpu"  # the engine has a copy
    if precision == "fp32":
        _check_fp32(setup, engine, GPU_FP32_RAW_TOL, GPU_FP32_KEYPOINT_TOL_MM)
    else:
        _check_fp16(setup, engine.infer(setup["images"], setup["kpe"]), "torch cuda fp16")


@pytest.mark.gpu
@pytest.mark.tensorrt
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_tensorrt_matches_torch(setup, precision, tmp_path):
    from wildhands.runtime.engines.tensorrt_engine import tensorrt_engine

    engine = tensorrt_engine(setup["pipeline"].network, precision=precision, cache_directory=tmp_path)
    assert engine.built and engine.max_batch == 4
    if precision == "fp32":
        _check_fp32(setup, engine, GPU_FP32_RAW_TOL, GPU_FP32_KEYPOINT_TOL_MM)
    else:
        _check_fp16(setup, engine.infer(setup["images"], setup["kpe"]), "tensorrt fp16")
    # every batch size of the profile, and beyond it (split into calls of 4), gives the same per-crop answer
    images = np.concatenate([setup["images"]] * 3)  # 6 crops
    kpe = np.concatenate([setup["kpe"]] * 3)
    six = engine.infer(images, kpe)
    one = engine.infer(images[:1], kpe[:1])
    assert np.allclose(six.cam_wp[4:6], six.cam_wp[0:2], atol=1e-5)
    assert np.allclose(one.cam_wp, six.cam_wp[:1], atol=1e-3 if precision == "fp16" else 1e-5)
    # a second engine for the same key comes from the cache
    again = tensorrt_engine(setup["pipeline"].network, precision=precision, cache_directory=tmp_path)
    assert not again.built and again.cache_path == engine.cache_path


def test_tensorrt_error_names_onnxruntime_without_a_gpu(setup, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="engine='onnxruntime'") as info:
        build_engine("tensorrt", setup["pipeline"].network)
    assert "needs an NVIDIA GPU" in str(info.value)


def test_tensorrt_error_names_torch_on_a_gpu_without_tensorrt(setup, monkeypatch):
    import sys

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # import tensorrt -> ImportError
    with pytest.raises(ValueError, match="needs the tensorrt Python package") as info:
        build_engine("tensorrt", setup["pipeline"].network)
    assert "engine='torch' with device='cuda'" in str(info.value)


def test_pipeline_and_cli_report_the_fallback(monkeypatch, tmp_path, capsys):
    from wildhands.cli import main

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="use engine='onnxruntime'"):
        Pipeline(PipelineConfig(estimator="image", model=MODEL, engine="tensorrt"))
    assert main(["export", "--tensorrt", str(tmp_path / "x.engine"), "--backbone", "resnet18"]) == 2
    err = capsys.readouterr().err
    assert "wildhands export: error: engine='tensorrt' needs an NVIDIA GPU" in err and "onnxruntime" in err
    assert not (tmp_path / "x.engine").exists()


@pytest.mark.parametrize(
    "kwargs, text",
    [
        ({"engine": "onnxruntime", "precision": "fp16"}, "precision='fp16' needs engine='torch'"),
        ({"engine": "torch", "precision": "fp16"}, "needs device='cuda'"),
        ({"engine": "torch", "precision": "bf16"}, "precision='bf16' not in"),
        ({"engine": "trt"}, "engine='trt' not in"),
    ],
)
def test_bad_engine_settings_are_refused(kwargs, text):
    with pytest.raises(ValueError, match=text):
        PipelineConfig(estimator="image", **kwargs)
    assert PipelineConfig(estimator="image", engine="tensorrt").resolved_precision == "fp16"
    assert PipelineConfig(estimator="image", engine="torch").resolved_precision == "fp32"


class CountingEngine:
    """Wraps an engine and records the batch of each call."""

    def __init__(self, engine) -> None:
        self.engine, self.name, self.batches = engine, engine.name, []

    def infer(self, images, kpe):
        self.batches.append(images.shape[0])
        return self.engine.infer(images, kpe)


def test_pipeline_runs_the_hands_of_a_frame_in_one_engine_call(setup):
    pipeline = setup["pipeline"]
    camera = load_camera_yaml(SAMPLE / "camera_info.yaml")
    image = load_image_rgb(SAMPLE / "image.png")
    boxes = [
        HandBox(tuple(h["box_xyxy"]), h["side"])
        for h in json.loads((SAMPLE / "hands.json").read_text())["hands"]
    ]
    original, pipeline.engine = pipeline.engine, CountingEngine(pipeline.engine)
    threads = torch.get_num_threads()
    try:
        assert pipeline.timings == {} or set(pipeline.timings) == {"crop", "engine", "hand_layer", "total"}
        hands = pipeline(image, camera, boxes)
        assert len(hands) == 2 and pipeline.engine.batches == [2]
        t = pipeline.timings
        assert set(t) == {"crop", "engine", "hand_layer", "total"} and all(v >= 0 for v in t.values())
        assert t["total"] >= t["crop"] + t["engine"] + t["hand_layer"] - 1e-6
        assert torch.get_num_threads() == threads  # the one-thread hand layer gives the threads back
        assert pipeline(image, camera, []) == [] and pipeline.timings["engine"] == 0.0
    finally:
        pipeline.engine = original
