"""Thread settings (issue 19, item 2): one plan per pipeline, set once when it is built, never per frame."""

from __future__ import annotations

import pytest
import torch

from wildhands.geometry.camera_yaml import load_camera_yaml
from wildhands.runtime.io import SAMPLE_DIR, load_hand_boxes, load_image_rgb
from wildhands.runtime.pipeline import Pipeline, PipelineConfig
from wildhands.runtime.threads import (
    ThreadPlan,
    apply_blas_threads,
    available_cores,
    blas_threads,
    plan_threads,
)


def test_the_plan_gives_torch_the_cores_only_for_the_image_model():
    assert plan_threads(4, "landmarks") == ThreadPlan(litert=4, torch=1, onnxruntime=4)
    assert plan_threads(4, "image", "onnxruntime") == ThreadPlan(litert=4, torch=1, onnxruntime=4)
    assert plan_threads(6, "image", "torch") == ThreadPlan(litert=6, torch=6, onnxruntime=6)
    assert plan_threads(0).litert == available_cores() >= 1
    plans = [plan_threads(4, e, g) for e in ("landmarks", "image") for g in ("torch", "onnxruntime")]
    assert {plan.blas for plan in plans} == {1}
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="threads"):
            plan_threads(bad)


@pytest.mark.parametrize("estimator, engine", [("landmarks", "onnxruntime"), ("image", "torch")])
def test_thread_settings_are_applied_once(monkeypatch, estimator, engine):
    """Built: torch has the plan's threads. Then frames never touch torch's thread settings."""
    image = load_image_rgb(SAMPLE_DIR / "image.png")
    camera = load_camera_yaml(SAMPLE_DIR / "camera_info.yaml")
    boxes, _ = load_hand_boxes(SAMPLE_DIR / "hands.json")
    before = torch.get_num_threads()
    try:
        pipeline = Pipeline(PipelineConfig(weights="default", estimator=estimator, engine=engine, threads=2))
        assert torch.get_num_threads() == pipeline.threads.torch == (2 if engine == "torch" else 1)
        calls = []
        real = torch.set_num_threads
        monkeypatch.setattr(torch, "set_num_threads", lambda n: calls.append(n) or real(n))
        for _ in range(3):
            assert len(pipeline(image, camera, boxes)) == 2
        assert calls == [], f"a frame set torch threads {calls}"
    finally:
        monkeypatch.undo()
        torch.set_num_threads(before)


def test_a_pipeline_gives_numpys_blas_one_thread_once(monkeypatch):
    """numpy's BLAS (OpenBLAS in numpy's and scipy's wheels) spins after its calls and takes a core from the
    detector: a built pipeline sets it to one thread, and its frames neither set it again nor change it."""
    from threadpoolctl import threadpool_limits

    import wildhands.runtime.pipeline as pipeline_module

    image = load_image_rgb(SAMPLE_DIR / "image.png")
    camera = load_camera_yaml(SAMPLE_DIR / "camera_info.yaml")
    boxes, _ = load_hand_boxes(SAMPLE_DIR / "hands.json")
    assert blas_threads(), "numpy's BLAS is not visible to threadpoolctl"
    # (a BLAS built for one thread, as OpenCV's own is, stays at 1 whatever it is told)
    with threadpool_limits(limits=2, user_api="blas"):  # restored on leaving
        assert max(blas_threads()) == 2
        pipeline = Pipeline(PipelineConfig(weights="default", threads=2))
        assert pipeline.threads.blas == 1 and set(blas_threads()) == {1}
        calls = []
        monkeypatch.setattr(pipeline_module, "apply_blas_threads", lambda n: calls.append(n))
        assert len(pipeline(image, camera, boxes)) == 2
        assert calls == [] and set(blas_threads()) == {1}
        assert apply_blas_threads(3) and max(blas_threads()) == 3


def test_torchs_own_blas_is_left_to_torch(monkeypatch):
    """Only the BLAS libraries outside torch's package are set: torch's threads are torch's plan."""
    import os

    import threadpoolctl

    import wildhands.runtime.threads as threads

    class Lib:
        user_api = "blas"

        def __init__(self, filepath):
            self.filepath, self.num_threads = filepath, 4

        def set_num_threads(self, n):
            self.num_threads = n

    torch_dir = threads._package_dir("torch")
    assert torch_dir is not None and os.path.isdir(torch_dir)
    ours, torchs = (
        Lib("/opt/numpy.libs/libopenblas.so"),
        Lib(os.path.join(torch_dir, "lib", "libopenblas.so")),
    )
    openmp = Lib(os.path.join(torch_dir, "lib", "libgomp.so"))
    openmp.user_api = "openmp"

    class Controller:
        lib_controllers = [ours, torchs, openmp]

    monkeypatch.setattr(threadpoolctl, "ThreadpoolController", Controller)
    assert threads.blas_threads() == [4]
    assert apply_blas_threads(1) is True
    assert (ours.num_threads, torchs.num_threads, openmp.num_threads) == (1, 4, 4)
    Controller.lib_controllers = [torchs]  # no BLAS of our own: nothing limited
    assert apply_blas_threads(1) is False and torchs.num_threads == 4


def test_without_threadpoolctl_blas_threads_are_left_with_one_warning(monkeypatch, caplog):
    import sys

    import wildhands.runtime.threads as threads

    monkeypatch.setitem(sys.modules, "threadpoolctl", None)  # import fails
    monkeypatch.setattr(threads, "_blas_warned", False)
    with caplog.at_level("WARNING", logger="wildhands.runtime.threads"):
        assert apply_blas_threads(1) is False
        assert apply_blas_threads(1) is False
    warnings = [r for r in caplog.records if "threadpoolctl" in r.getMessage()]
    assert len(warnings) == 1 and "OPENBLAS_NUM_THREADS=1" in warnings[0].getMessage()
