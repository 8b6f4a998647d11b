#!/usr/bin/env bash
# Build this package with colcon (ament_cmake, the full install: interfaces + Python + launch/config) into
# a scratch workspace against the venv's ROS 2 prefix, then import it from the install tree only.
# This is what `colcon build` does on a ROS 2 install, minus the distribution's own packages.
# Usage: scripts/check_colcon.sh [WORKSPACE_DIR]
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${WILDHANDS_VENV:-$REPO/.venv}"
WS="${1:-$(mktemp -d /tmp/wildhands-colcon.XXXXXX)}"
mkdir -p "$WS/src"
rm -rf "$WS/src/wildhands_ros"
# the tracked files of the working tree, as a clean checkout would have them
(cd "$REPO" && git ls-files -co --exclude-standard -z | tar --null -T - -cf -) |
  (mkdir -p "$WS/src/wildhands_ros" && tar -xf - -C "$WS/src/wildhands_ros")
cd "$WS"
export PATH="$VENV/bin:$PATH" CMAKE_PREFIX_PATH="$VENV" AMENT_PREFIX_PATH="$VENV"
colcon --log-base "$WS/log" build --base-paths src --build-base "$WS/build" --install-base "$WS/install" \
  --cmake-args -DPython3_EXECUTABLE="$VENV/bin/python" -DBUILD_TESTING=OFF
SITE="$WS/install/wildhands_ros/lib/python3.11/site-packages"
cd /
PYTHONPATH="$SITE" LD_LIBRARY_PATH="$WS/install/wildhands_ros/lib:${LD_LIBRARY_PATH:-}" "$VENV/bin/python" - "$SITE" <<'PY'
import sys
from pathlib import Path

import wildhands
import wildhands_ros
from wildhands_ros.msg import Hand, HandArray, HandDetectionArray  # noqa: F401

site = Path(sys.argv[1])
assert Path(wildhands.__file__).is_relative_to(site), wildhands.__file__
assert (site / "wildhands_ros" / "msg").is_dir()
assert (site / "wildhands" / "assets" / "sample" / "image.png").is_file()
print("colcon install OK:", site)
PY
for f in share/wildhands_ros/package.xml share/wildhands_ros/launch share/wildhands_ros/config; do
  [ -e "$WS/install/wildhands_ros/$f" ] || { echo "missing from the install: $f" >&2; exit 1; }
done
