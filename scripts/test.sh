#!/usr/bin/env bash
# Run the whole test suite: sets up the venv first (idempotent, seconds when up to date), keeps ROS 2
# traffic on loopback with a private domain id, then runs pytest. Extra arguments go to pytest.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${WILDHANDS_VENV:-$REPO/.venv}"
bash "$REPO/scripts/setup.sh"

export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
unset ROS_STATIC_PEERS
export ROS_DOMAIN_ID="${ROS_DOMAIN_ID:-$(( (RANDOM % 100) + 101 ))}"
export ROS_LOG_DIR="${ROS_LOG_DIR:-$(mktemp -d /tmp/wildhands-roslog.XXXXXX)}"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
export MPLBACKEND=Agg

cd "$REPO"
exec "$VENV/bin/python" -m pytest "$@"
