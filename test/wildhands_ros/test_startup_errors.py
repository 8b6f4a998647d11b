"""Start-up errors of the node processes (the console scripts) are one ``cannot start: ...`` line and exit
code 1, never a traceback: a bad params file (garbage, missing, a YAML list), bad ``--ros-args``, a text file
as weights. SIGINT / SIGTERM while a node is still starting (importing torch, loading the network) end it
quietly with exit code 0. Bad weights files of other kinds: test_faults.py; signals while running:
test_shutdown.py."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import pytest

from wildhands_ros.testing import NodeProcess, boxes_node_params, node_command

SCRIPTS = {
    name: Path(sys.executable).with_name(name) for name in ("wildhands_node", "wildhands_retarget_node")
}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not all(path.exists() for path in SCRIPTS.values()),
        reason="needs the console scripts next to the interpreter (pip install -e .)",
    ),
]


def _command(node: str, namespace: str, extra: tuple = ()) -> list[str]:
    if node == "wildhands_node":
        return node_command(namespace, boxes_node_params(5.0), extra=extra)
    return node_command(
        namespace,
        params_file=None,
        extra=extra,
        executable="wildhands_retarget_node",
        module="wildhands_ros.retarget_node",
    )


def _start(tmp_path: Path, name: str, node: str, extra: tuple = ()) -> NodeProcess:
    (tmp_path / name).mkdir()
    return NodeProcess(_command(node, f"/startup_{name}", extra), tmp_path / name / "node.log")


def test_bad_command_line_and_weights_are_one_line(tmp_path):
    garbage = tmp_path / "garbage.yaml"
    garbage.write_text("wildhands_node: [ros__parameters\n  backbone: : resnet18\n")
    as_list = tmp_path / "as_list.yaml"
    as_list.write_text("- backbone: resnet18\n- detector: none\n")
    missing = tmp_path / "no_such_params.yaml"
    text = tmp_path / "weights.txt"
    text.write_text("the weights are at https://example.org/wildhands.pt\n")
    cases = {  # name: (node, extra --ros-args, what the one line must name)
        "garbage_yaml": ("wildhands_node", ("--params-file", str(garbage)), str(garbage)),
        "missing_yaml": ("wildhands_node", ("--params-file", str(missing)), f"{missing} does not exist"),
        "list_yaml": ("wildhands_node", ("--params-file", str(as_list)), f"{as_list} holds a YAML list"),
        "trailing_p": ("wildhands_node", ("-p",), "trailing -p flag"),
        "broken_remap": ("wildhands_node", ("-r", "broken"), "'-r broken'"),
        "unknown_flag": ("wildhands_node", ("--no-such-flag",), "--no-such-flag"),
        "text_weights": ("wildhands_node", ("-p", f"weights:={text}"), f"{text} is corrupt or truncated"),
        "retarget_list_yaml": ("wildhands_retarget_node", ("--params-file", str(as_list)), str(as_list)),
    }
    procs = {}
    try:
        for name, (node, extra, _) in cases.items():  # all at once: start-up (imports) is the slow part
            procs[name] = _start(tmp_path, name, node, extra)
        rcs = {name: proc.proc.wait(timeout=120.0) for name, proc in procs.items()}
    finally:
        for proc in procs.values():
            if proc.alive():
                proc.stop(signal.SIGKILL)
    failed = {}  # every case is checked, all failures reported at once
    for name, (_, _, named) in cases.items():
        log = procs[name].log()
        lines = [line for line in log.splitlines() if "cannot start: " in line]
        if rcs[name] != 1 or "Traceback" in log or "ready:" in log:
            failed[name] = f"exit code {rcs[name]}, traceback: {'Traceback' in log}\n{log[-2000:]}"
        elif len(lines) != 1 or named not in lines[0]:
            failed[name] = f"no one 'cannot start' line naming {named!r}:\n{log[-2000:]}"
    assert not failed, "\n\n".join(f"{name}: {why}" for name, why in failed.items())


def test_signal_during_startup_is_quiet(tmp_path):
    cases = {  # name: (node, signal, seconds after the process started)
        "sigint_0.3s": ("wildhands_node", signal.SIGINT, 0.3),
        "sigint_1s": ("wildhands_node", signal.SIGINT, 1.0),
        "sigint_2s": ("wildhands_node", signal.SIGINT, 2.0),
        "sigterm_1s": ("wildhands_node", signal.SIGTERM, 1.0),
        "retarget_sigint_1s": ("wildhands_retarget_node", signal.SIGINT, 1.0),
        "retarget_sigterm_0.3s": ("wildhands_retarget_node", signal.SIGTERM, 0.3),
    }
    procs, started, rcs = {}, {}, {}
    try:
        for name, (node, _, _) in cases.items():
            procs[name] = _start(tmp_path, name, node)
            started[name] = time.monotonic()
        for name in sorted(cases, key=lambda n: started[n] + cases[n][2]):
            time.sleep(max(0.0, started[name] + cases[name][2] - time.monotonic()))
            procs[name].proc.send_signal(cases[name][1])
        rcs = {name: proc.proc.wait(timeout=30.0) for name, proc in procs.items()}
    finally:
        for proc in procs.values():
            if proc.alive():
                proc.stop(signal.SIGKILL)
    failed = {
        name: f"exit code {rcs[name]}\n{proc.log()[-2000:]}"
        for name, proc in procs.items()
        if rcs[name] != 0 or "Traceback" in proc.log()
    }
    assert not failed, "\n\n".join(f"{name}: {why}" for name, why in failed.items())
