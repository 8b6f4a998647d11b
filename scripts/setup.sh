#!/usr/bin/env bash
# Set up wildhands_ros on a fresh machine (Debian 12, CPython 3.11, no ROS install, no GPU):
#   1. a venv (.venv, or $WILDHANDS_VENV) with pinned ROS 2 Kilted core wheels, CPU torch and the rest,
#   2. the repo's packages installed editable (wildhands, wildhands_ros),
#   3. our ROS interfaces (msg/) — and a tf2_msgs/TFMessage stand-in where tf2_msgs is absent — built
#      with cmake into the venv prefix.
# Idempotent: a second run checks a stamp (hash of the inputs) and returns in seconds.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${WILDHANDS_VENV:-$REPO/.venv}"
BUILD="$REPO/build/setup"
LOG_DIR="$REPO/build/logs"
mkdir -p "$BUILD" "$LOG_DIR"

log() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }

pick_python() {
  for candidate in "${WILDHANDS_PYTHON:-}" python3.11 python3; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  return 1
}

# Everything that changes what gets installed or built goes into the stamp.
stamp_inputs() {
  cat "$REPO"/requirements/*.txt "$REPO"/scripts/setup.sh "$REPO"/setup.py "$REPO"/CMakeLists.txt \
      "$REPO"/package.xml "$REPO"/msg/*.msg "$REPO"/ros_compat/tf2_msgs/msg/*.msg 2>/dev/null
}
STAMP_FILE="$VENV/.wildhands-setup-stamp"
STAMP="$(stamp_inputs | sha256sum | cut -d' ' -f1)"

if [ -f "$STAMP_FILE" ] && [ "$(cat "$STAMP_FILE")" = "$STAMP" ] &&
   "$VENV/bin/python" -c 'import wildhands, torch, rclpy, wildhands_ros.msg
from wildhands.runtime.detection.models import missing_models
raise SystemExit(1 if missing_models(check_hash=False) else 0)' >/dev/null 2>&1; then
  log "up to date ($VENV)"
  exit 0
fi

PY="$(pick_python)" || die "CPython 3.11 is required (the ROS 2 wheels are built for cp311); set WILDHANDS_PYTHON"
command -v cmake >/dev/null || die "cmake is required (apt-get install cmake)"
command -v c++ >/dev/null || die "a C/C++ compiler is required (apt-get install build-essential)"

if [ ! -x "$VENV/bin/python" ]; then
  log "creating venv $VENV with $PY"
  "$PY" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)

log "installing pinned packages (first run: ~2 min, ~2.5 GB; log: $LOG_DIR/pip.log)"
"${PIP[@]}" install -q -c "$REPO/requirements/constraints.txt" \
  -r "$REPO/requirements/core.txt" -r "$REPO/requirements/ros.txt" -r "$REPO/requirements/dev.txt" \
  >"$LOG_DIR/pip.log" 2>&1 || { tail -30 "$LOG_DIR/pip.log"; die "pip install failed"; }

log "installing wildhands + wildhands_ros (editable)"
"${PIP[@]}" install -q --no-deps -e "$REPO" --config-settings editable_mode=compat >>"$LOG_DIR/pip.log" 2>&1 ||
  { tail -30 "$LOG_DIR/pip.log"; die "pip install -e failed"; }

# Hand-detector models: MediaPipe's palm_detection_full.tflite + hand_landmark_full.tflite (Apache-2.0),
# unzipped from the mediapipe==0.10.21 wheel (pip download --no-deps, ~36 MB, not installed) into
# $WILDHANDS_CACHE/mediapipe/0.10.21 (default ~/.cache/wildhands/...), sha256-checked. Seconds if present.
log "fetching the hand-detector models (log: $LOG_DIR/detector_models.log)"
"$VENV/bin/python" "$REPO/scripts/fetch_detector_models.py" >"$LOG_DIR/detector_models.log" 2>&1 ||
  { tail -20 "$LOG_DIR/detector_models.log"; die "fetching the hand-detector models failed"; }

# The ROS wheels' exported CMake targets name include dirs of the machine they were built on; point them
# at this venv's Python and numpy headers (see docs/ros2-from-pypi.md).
PY_INC="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
NP_INC="$("$VENV/bin/python" -c 'import numpy; print(numpy.get_include())')"
grep -rlE '/opt/python/cp311-cp311/include/python3.11|site-packages/numpy/(_core|core)/include' \
  "$VENV"/share/*/cmake/*Export*.cmake 2>/dev/null | while read -r f; do
  sed -i -E \
    -e "s#/opt/python/cp311-cp311/include/python3.11#${PY_INC}#g" \
    -e "s#[^;\"]*/site-packages/numpy/(_core|core)/include#${NP_INC}#g" "$f"
done

build_interfaces() {  # $1 = source dir, $2 = build dir name
  log "building ROS interfaces in $1 (log: $LOG_DIR/$2.log)"
  (
    export CMAKE_PREFIX_PATH="$VENV" AMENT_PREFIX_PATH="$VENV" PATH="$VENV/bin:$PATH"
    cmake -S "$1" -B "$BUILD/$2" -DCMAKE_INSTALL_PREFIX="$VENV" -DPython3_EXECUTABLE="$VENV/bin/python" \
      -DWILDHANDS_INTERFACES_ONLY=ON -DBUILD_TESTING=OFF -DCMAKE_BUILD_TYPE=Release &&
    cmake --build "$BUILD/$2" -j "$(nproc)" && cmake --install "$BUILD/$2"
  ) >"$LOG_DIR/$2.log" 2>&1 || { tail -40 "$LOG_DIR/$2.log"; die "building $1 failed"; }
}

if ! "$VENV/bin/python" -c 'import tf2_msgs.msg' >/dev/null 2>&1; then
  build_interfaces "$REPO/ros_compat/tf2_msgs" tf2_msgs
fi
build_interfaces "$REPO" wildhands_ros_interfaces

# The generated messages live in site-packages/wildhands_ros/msg; the node code is the repo's
# wildhands_ros/, which extends its __path__ to that directory. A generated __init__.py there would
# shadow the repo's package, so drop it (it is empty).
SITE="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
rm -f "$SITE/wildhands_ros/__init__.py"

"$VENV/bin/python" -c 'import wildhands, rclpy, tf2_msgs.msg; from wildhands_ros.msg import Hand, HandArray' ||
  die "the venv does not import wildhands_ros.msg"
echo "$STAMP" >"$STAMP_FILE"
log "done: $VENV"
