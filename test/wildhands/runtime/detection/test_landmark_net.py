"""The hand-landmark network built in PyTorch from the cached .tflite: agreement with LiteRT on real hand
crops and random input, ONNX export, stable layer names, clear errors for what the reader cannot run."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from detector_models import needs_detector_models

from wildhands.runtime.detection.tflite_torch import (
    TFLiteModule,
    TFLiteParseError,
    UnsupportedTFLiteOp,
    parse_tflite,
    same_padding,
)

REPO = Path(__file__).resolve().parents[4]
INTERHAND = REPO / "test" / "data" / "real_hands" / "interhand2.6m"
SAMPLE = REPO / "wildhands" / "assets" / "sample" / "image.png"
TOL = 1e-3  # max abs difference, every output

pytestmark = [
    needs_detector_models,
    pytest.mark.skipif(
        importlib.util.find_spec("tflite") is None,
        reason="the tflite package is not installed (requirements/core.txt; run scripts/setup.sh)",
    ),
]


def _rgb(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert image is not None, path
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


@pytest.fixture(scope="module")
def net():
    from wildhands.runtime.detection.landmark_net import load_landmark_net

    return load_landmark_net()


@pytest.fixture(scope="module")
def litert():
    from wildhands.runtime.detection.landmark_net import build_landmark_engine

    return build_landmark_engine("litert", threads=2)


@pytest.fixture(scope="module")
def crops():
    """(name, crop) pairs: the detector's own crops of real hands (InterHand2.6M photos, the sample), crops
    around the annotated InterHand2.6M hands at three rotations, and synthetic inputs."""
    from wildhands.runtime.detection import build_detector
    from wildhands.runtime.detection.mediapipe_palm import LANDMARK_INPUT_SIZE, landmark_crop, rotated_crop

    out = []
    detector = build_detector("mediapipe")
    for path in (INTERHAND / "image29590.jpg", INTERHAND / "image44669.jpg", SAMPLE):
        image = _rgb(path)
        for k, det in enumerate(detector.detect_with_landmarks(image)):
            out.append((f"detected:{path.name}:{k}", landmark_crop(image, det)))
    truth = json.loads((INTERHAND / "truth.json").read_text())
    for entry in truth["images"]:
        image = _rgb(INTERHAND / entry["file"])
        for k, hand in enumerate(entry["hands"]):
            kp = np.asarray(hand["keypoints_px"], dtype=np.float64)
            lo, hi = kp.min(0), kp.max(0)
            for rotation in (0.0, 0.6, -2.0):
                crop, _ = rotated_crop(
                    image, (lo + hi) / 2, 1.8 * float((hi - lo).max()), rotation, LANDMARK_INPUT_SIZE
                )
                out.append((f"truth:{entry['file']}:{k}:{rotation}", crop))
    rng = np.random.default_rng(19)
    out.append(("uniform", rng.random((224, 224, 3), dtype=np.float32)))
    out.append(("blurred-noise", cv2.GaussianBlur(rng.random((224, 224, 3), dtype=np.float32), (0, 0), 4)))
    out.append(("zeros", np.zeros((224, 224, 3), np.float32)))
    out.append(("ones", np.ones((224, 224, 3), np.float32)))
    return out


def test_reader_sees_the_documented_graph():
    from wildhands.runtime.detection.landmark_net import landmark_model_path

    graph = parse_tflite(landmark_model_path())
    assert len(graph.operators) == 165
    assert graph.op_kinds() == {
        "DEQUANTIZE": 102,
        "CONV_2D": 31,
        "DEPTHWISE_CONV_2D": 16,
        "ADD": 9,
        "MEAN": 1,
        "FULLY_CONNECTED": 4,
        "LOGISTIC": 2,
    }
    assert graph.tensors[graph.inputs[0]].shape == (1, 224, 224, 3)
    assert [graph.tensors[i].name for i in graph.outputs] == [
        "Identity",
        "Identity_1",
        "Identity_2",
        "Identity_3",
    ]
    first = graph.operators[2]
    assert first.kind == "CONV_2D"
    assert first.options == {"padding": "SAME", "stride": (2, 2), "dilation": (1, 1), "activation": "RELU6"}
    # the weights are float16 in the file, dequantised at load time
    assert graph.tensors[graph.operators[1].inputs[0]].dtype == "FLOAT16"


def test_all_four_outputs_agree_with_litert(net, litert, crops):
    from wildhands.runtime.detection.landmark_net import LANDMARK_OUTPUT_NAMES

    batch = np.stack([c for _, c in crops])
    ref = litert.infer(batch)
    with torch.no_grad():
        ours = [t.numpy() for t in net(torch.from_numpy(batch))]
    worst = {}
    for name, mine, theirs in zip(LANDMARK_OUTPUT_NAMES, ours, ref.as_tuple()):
        assert mine.shape == theirs.shape == (len(crops), theirs.shape[1])
        diff = np.abs(mine - theirs).max(axis=1)
        worst[name] = (float(diff.max()), crops[int(diff.argmax())][0])
    assert all(d < TOL for d, _ in worst.values()), worst
    # the sigmoids are inside both graphs: probabilities, not logits
    assert np.all((ref.presence >= 0) & (ref.presence <= 1)) and np.all(
        (ref.handedness >= 0) & (ref.handedness <= 1)
    )
    # the detector's crops are real hands the model is sure of; crops of real photos dominate the set
    detected = [i for i, (name, _) in enumerate(crops) if name.startswith("detected:")]
    assert len(detected) >= 4 and np.all(ref.presence[detected] > 0.5)
    assert sum(name.startswith(("detected:", "truth:")) for name, _ in crops) >= 20


def test_one_crop_at_a_time_matches_the_batch(net, crops):
    batch = torch.from_numpy(np.stack([c for _, c in crops[:3]]))
    with torch.no_grad():
        together = net(batch)
        alone = [net(batch[i : i + 1]) for i in range(3)]
    for k in range(4):
        assert torch.allclose(together[k], torch.cat([a[k] for a in alone]), atol=1e-4)


def test_layer_names_are_stable(net):
    names = list(net.layers)
    assert len(names) == 63  # 165 operators less the 102 folded DEQUANTIZE
    assert names[:4] == ["op002_conv_2d", "op005_depthwise_conv_2d", "op008_conv_2d", "op011_conv_2d"]
    assert names[-8:] == [
        "op149_depthwise_conv_2d",
        "op150_mean",
        "op153_fully_connected",
        "op154_logistic",
        "op157_fully_connected",
        "op158_logistic",
        "op161_fully_connected",
        "op164_fully_connected",
    ]
    assert "op027_add" in names
    keys = set(net.state_dict())
    assert {"layers.op002_conv_2d.conv.weight", "layers.op002_conv_2d.conv.bias"} <= keys
    assert "layers.op161_fully_connected.linear.weight" in keys
    assert net.state_dict()["layers.op002_conv_2d.conv.weight"].shape == (24, 3, 3, 3)
    assert net.layers["op005_depthwise_conv_2d"].conv.groups == 24
    # each layer keeps the name of the tensor it writes in the file
    assert net.layer_tensors["op161_fully_connected"] == "Identity"
    assert net.layer_tensors["op154_logistic"] == "Identity_2"
    assert sum(p.numel() for p in net.parameters()) == 2_715_680
    # a stride-2 3x3 convolution of an even size: TensorFlow pads one pixel after, none before
    assert net.layers["op002_conv_2d"].pad == (0, 1, 0, 1)
    assert net.layers["op008_conv_2d"].pad is None


def test_onnx_export_agrees_with_torch(net, crops, tmp_path):
    import onnx

    from wildhands.runtime.detection.landmark_net import (
        LANDMARK_INPUT_NAME,
        LANDMARK_OUTPUT_NAMES,
        OnnxRuntimeLandmarkEngine,
        export_landmark_onnx,
    )

    path = export_landmark_onnx(net, tmp_path / "hand_landmark.onnx")
    model = onnx.load(str(path))
    assert [i.name for i in model.graph.input] == [LANDMARK_INPUT_NAME]
    assert [o.name for o in model.graph.output] == list(LANDMARK_OUTPUT_NAMES)
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    # nothing but the network's own operators: the pads of TF 'SAME' are folded into initializers
    kinds = {n.op_type for n in model.graph.node}
    assert kinds == {"Transpose", "Pad", "Conv", "Clip", "Add", "ReduceMean", "Reshape", "Gemm", "Sigmoid"}
    inits = {i.name for i in model.graph.initializer}
    assert all(n.input[1] in inits for n in model.graph.node if n.op_type == "Pad")
    batch = np.stack([c for _, c in crops[:5]])  # a batch of 5 through a graph traced with 1
    ort_out = OnnxRuntimeLandmarkEngine(path, threads=2).infer(batch)
    with torch.no_grad():
        ref = [t.numpy() for t in net(torch.from_numpy(batch))]
    for name, mine, theirs in zip(LANDMARK_OUTPUT_NAMES, ort_out.as_tuple(), ref):
        assert np.abs(mine - theirs).max() < TOL, name
    with pytest.raises(ValueError, match="opset"):
        export_landmark_onnx(net, tmp_path / "x.onnx", opset=11)
    with pytest.raises(ValueError, match="TFLiteModule"):
        export_landmark_onnx(torch.nn.Linear(2, 2), tmp_path / "x.onnx")


def test_mixed_precision_copy_stays_close(net, crops):
    from wildhands.runtime.detection.tflite_torch import mixed_precision_copy

    half = mixed_precision_copy(net)
    assert net.layers["op002_conv_2d"].conv.weight.dtype == torch.float32  # the original is untouched
    assert half.layers["op002_conv_2d"].conv.weight.dtype == torch.float16
    assert half.layers["op161_fully_connected"].linear.weight.dtype == torch.float32
    x = torch.from_numpy(np.stack([c for _, c in crops[:2]]))
    with torch.no_grad():
        ref, got = net(x), half(x)
    assert all(t.dtype == torch.float32 for t in got)
    assert (got[0] - ref[0]).abs().max() < 1.0  # crop px
    assert max((g - r).abs().max() for g, r in zip(got[1:], ref[1:])) < 0.02


def test_input_is_checked(net):
    with pytest.raises(ValueError, match=r"\(N, 224, 224, 3\)"):
        net(torch.zeros(1, 3, 224, 224))
    from wildhands.runtime.detection.landmark_net import build_landmark_engine, check_crops

    with pytest.raises(ValueError, match="finite"):
        check_crops(np.full((1, 224, 224, 3), np.nan, np.float32))
    with pytest.raises(ValueError, match="float"):
        check_crops(np.zeros((224, 224, 3), np.uint8))
    assert check_crops(np.zeros((224, 224, 3), np.float64)).shape == (1, 224, 224, 3)
    with pytest.raises(ValueError, match="landmark engine"):
        build_landmark_engine("tflite")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_tensorrt_without_a_gpu_names_the_alternative(net):
    from wildhands.runtime.detection.landmark_net import landmark_tensorrt_engine

    with pytest.raises(ValueError, match="litert"):
        landmark_tensorrt_engine(net)


def test_tensorrt_path_reuses_the_project_builder_and_cache(net, tmp_path, monkeypatch):
    """The glue of the TensorRT path without a GPU: the builder and the engine class are stand-ins; the
    ONNX export, the engine key and the project's engine cache are real."""
    import types

    import onnx

    from wildhands.runtime.detection import landmark_net
    from wildhands.runtime.engines import tensorrt_engine

    fake_trt = types.SimpleNamespace(
        __version__="10.99.0", NetworkDefinitionCreationFlag=types.SimpleNamespace(STRONGLY_TYPED=1)
    )
    builds = []

    def build(onnx_path, precision, trt, batch):
        model = onnx.load(str(onnx_path))
        builds.append(
            (precision, batch, [i.name for i in model.graph.input], {n.op_type for n in model.graph.node})
        )
        return b"serialized-" + precision.encode()

    class FakeEngine:
        def __init__(self, data, device, trt):
            self.data = data

    monkeypatch.setattr(tensorrt_engine, "require_tensorrt", lambda device: fake_trt)
    monkeypatch.setattr(tensorrt_engine, "gpu_description", lambda device: "Fake GPU (sm_90)")
    monkeypatch.setattr(tensorrt_engine, "build_serialized_engine", build)
    monkeypatch.setattr(landmark_net, "TensorRTLandmarkEngine", FakeEngine)

    first = landmark_net.landmark_tensorrt_engine(net, cache_directory=tmp_path)
    again = landmark_net.landmark_tensorrt_engine(net, cache_directory=tmp_path)
    half = landmark_net.landmark_tensorrt_engine(net, precision="fp16", cache_directory=tmp_path)
    assert (first.built, again.built, half.built) == (True, False, True)
    assert first.data == again.data == b"serialized-fp32" and half.data == b"serialized-fp16"
    assert first.cache_path.name.startswith("hand_landmark.fp32.")
    assert [b[:3] for b in builds] == [
        ("fp32", (1, 2, 4), ["crops"]),
        ("fp16", (1, 2, 4), ["crops"]),
    ]
    assert "Cast" not in builds[0][3] and "Cast" in builds[1][3]  # fp16: the mixed-precision graph
    with pytest.raises(ValueError, match="precision"):
        landmark_net.landmark_tensorrt_engine(net, precision="int8", cache_directory=tmp_path)


def test_unsupported_operators_are_named():
    from wildhands.runtime.detection.landmark_net import landmark_model_path

    graph = parse_tflite(landmark_model_path())
    ops = list(graph.operators)
    ops[150] = dataclasses.replace(ops[150], kind="MAX_POOL_2D")
    ops[154] = dataclasses.replace(ops[154], kind="CUSTOM:Landmarks2TransformMatrix")
    with pytest.raises(UnsupportedTFLiteOp, match=r"MAX_POOL_2D \(operator 150\).*CUSTOM:Landmarks2Transf"):
        TFLiteModule(dataclasses.replace(graph, operators=tuple(ops)))
    ops = list(graph.operators)
    ops[2] = dataclasses.replace(ops[2], options={**ops[2].options, "activation": "SIGN_BIT"})
    with pytest.raises(UnsupportedTFLiteOp, match="operator 2 .*SIGN_BIT"):
        TFLiteModule(dataclasses.replace(graph, operators=tuple(ops)))
    with pytest.raises(ValueError, match="not outputs"):
        TFLiteModule(graph, output_names=("Identity_9",))


def test_corrupt_files_raise_clearly(tmp_path):
    from wildhands.runtime.detection.landmark_net import landmark_model_path

    data = landmark_model_path().read_bytes()
    with pytest.raises(TFLiteParseError, match="TFL3"):
        parse_tflite(b"not a model at all")
    bad = tmp_path / "truncated.tflite"
    bad.write_bytes(data[:4096])
    with pytest.raises(TFLiteParseError, match="corrupt"):
        parse_tflite(bad)
    with pytest.raises(TFLiteParseError, match="cannot read"):
        parse_tflite(tmp_path / "absent.tflite")


def test_load_landmark_net_names_the_fetch_command(tmp_path):
    from wildhands.runtime.detection.landmark_net import load_landmark_net
    from wildhands.runtime.detection.models import DetectorModelsMissing

    with pytest.raises(DetectorModelsMissing, match="fetch_detector_models"):
        load_landmark_net(tmp_path)


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "dilation", "expected"),
    [
        (224, 3, 2, 1, (0, 1)),
        (112, 3, 1, 1, (1, 1)),
        (7, 5, 2, 1, (2, 2)),
        (8, 5, 2, 1, (1, 2)),
        (14, 1, 1, 1, (0, 0)),
        (10, 3, 1, 2, (2, 2)),
        (3, 7, 4, 1, (2, 2)),
    ],
)
def test_same_padding_is_tensorflows(size, kernel, stride, dilation, expected):
    assert same_padding(size, kernel, stride, dilation) == expected
    # output size ceil(size / stride), as TensorFlow's SAME
    before, after = expected
    effective = (kernel - 1) * dilation + 1
    assert (size + before + after - effective) // stride + 1 == -(-size // stride)


def test_the_detector_and_pipeline_run_the_torch_landmark_engine(monkeypatch):
    """landmark_engine='torch' (what a GPU runs, here on the CPU): the detector finds the sample's hands
    where LiteRT does, and the pipeline's 'auto' resolves to LiteRT on the CPU."""
    from wildhands.runtime.detection.mediapipe_palm import MediaPipeHandDetector
    from wildhands.runtime.io import SAMPLE_DIR, load_image_rgb
    from wildhands.runtime.pipeline import Pipeline, PipelineConfig

    image = load_image_rgb(SAMPLE_DIR / "image.png")
    litert = MediaPipeHandDetector(landmark_engine="litert").detect_with_landmarks(image)
    torch_hands = MediaPipeHandDetector(landmark_engine="torch").detect_with_landmarks(image)
    assert len(litert) == len(torch_hands) == 2
    for a, b in zip(litert, torch_hands):
        assert a.box.side == b.box.side
        assert np.abs(a.landmarks_px - b.landmarks_px).max() < 0.05  # px of the 640x480 image
        assert abs(a.presence - b.presence) < 1e-3
    assert Pipeline(PipelineConfig(weights="default")).landmark_engine == "litert"
    with pytest.raises(ValueError, match="landmark_engine='tflite'"):
        PipelineConfig(landmark_engine="tflite")
