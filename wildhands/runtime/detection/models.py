"""MediaPipe's hand .tflite models: where they live, how set-up fetches them, and their checksums.

The two models (palm detector, hand landmarks; Apache-2.0, Google) ship inside the ``mediapipe==0.10.21``
wheel. We never install that package (it forces numpy<2 and pulls jax and opencv-contrib): set-up runs
``pip download --no-deps`` for one wheel (any platform's holds the same files), unzips just the two models
into the cache, checks their sha256 and writes a NOTICE beside them. Run time only reads the cache.

Cache: ``$WILDHANDS_CACHE/mediapipe/0.10.21/`` (default ``~/.cache/wildhands/mediapipe/0.10.21/``), or a
``model_dir`` given explicitly.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from wildhands.cache import cache_dir

logger = logging.getLogger(__name__)

MEDIAPIPE_VERSION = "0.10.21"
PALM_MODEL = "palm_detection_full.tflite"
LANDMARK_MODEL = "hand_landmark_full.tflite"

# file name -> (path inside the wheel, sha256 of the file)
MODEL_FILES: dict[str, tuple[str, str]] = {
    PALM_MODEL: (
        "mediapipe/modules/palm_detection/palm_detection_full.tflite",
        "1b14e9422c6ad006cde6581a46c8b90dd573c07ab7f3934b5589e7cea3f89a54",
    ),
    LANDMARK_MODEL: (
        "mediapipe/modules/hand_landmark/hand_landmark_full.tflite",
        "11c272b891e1a99ab034208e23937a8008388cf11ed2a9d776ed3d01d0ba00e3",
    ),
}
# The wheel we ask pip for: one fixed platform, so the download is the same on x86_64 and aarch64 hosts.
_WHEEL_PLATFORM_ARGS = (
    "--python-version",
    "3.11",
    "--platform",
    "manylinux_2_28_x86_64",
    "--only-binary=:all:",
)
FETCH_COMMAND = "python scripts/fetch_detector_models.py"

NOTICE_TEXT = f"""\
palm_detection_full.tflite and hand_landmark_full.tflite
Copyright Google LLC (MediaPipe, https://github.com/google-ai-edge/mediapipe).
Licensed under the Apache License, Version 2.0 (the "License"); you may not use these files except in
compliance with the License. You may obtain a copy of the License at
    http://www.apache.org/licenses/LICENSE-2.0
Unless required by applicable law or agreed to in writing, software distributed under the License is
distributed on an "AS IS" BASIS, WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and limitations under the License.

Extracted unmodified from the mediapipe=={MEDIAPIPE_VERSION} wheel on PyPI (mediapipe/modules/palm_detection/,
mediapipe/modules/hand_landmark/) by wildhands' {FETCH_COMMAND}. The full licence text of that wheel
is in LICENSE beside this file.
"""


class DetectorModelsMissing(FileNotFoundError):
    """The .tflite files are not in the cache (or are corrupt); the message names the command to run."""


def default_model_dir() -> Path:
    """``$WILDHANDS_CACHE/mediapipe/<version>`` (``~/.cache/wildhands`` when the variable is unset)."""
    return cache_dir() / "mediapipe" / MEDIAPIPE_VERSION


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def missing_models(model_dir: str | os.PathLike | None = None, check_hash: bool = True) -> list[str]:
    """Names of model files absent from ``model_dir`` (or with a wrong sha256 when ``check_hash``)."""
    root = Path(model_dir) if model_dir is not None else default_model_dir()
    missing = []
    for name, (_, sha) in MODEL_FILES.items():
        path = root / name
        if not path.is_file() or (check_hash and _sha256(path) != sha):
            missing.append(name)
    return missing


def model_paths(model_dir: str | os.PathLike | None = None) -> dict[str, Path]:
    """Paths of both models, checked (existence + sha256). Raises :class:`DetectorModelsMissing`."""
    root = Path(model_dir) if model_dir is not None else default_model_dir()
    missing = missing_models(root)
    if missing:
        raise DetectorModelsMissing(
            f"MediaPipe hand models {missing} are missing or corrupt in {root}; fetch them with "
            f"`{FETCH_COMMAND}` (scripts/setup.sh does this), or pass model_dir= a folder holding "
            f"{sorted(MODEL_FILES)}"
        )
    return {name: root / name for name in MODEL_FILES}


def fetch_models(model_dir: str | os.PathLike | None = None, wheel: str | os.PathLike | None = None) -> Path:
    """Put both models (checked) and their NOTICE into ``model_dir``; seconds when already there.

    wheel: a mediapipe-0.10.21 wheel already on disk; by default ``pip download --no-deps`` fetches one
        (~36 MB) into a temporary folder that is removed afterwards.
    Returns the model folder. Raises RuntimeError when pip fails or a checksum does not match.
    """
    root = Path(model_dir) if model_dir is not None else default_model_dir()
    if not missing_models(root) and (root / "NOTICE").is_file():
        logger.info("MediaPipe hand models already in %s", root)
        return root
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="wildhands-mediapipe-") as tmp:
        if wheel is None:
            cmd = [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--disable-pip-version-check",
                "--no-deps",
                "--quiet",
                *_WHEEL_PLATFORM_ARGS,
                "-d",
                tmp,
                f"mediapipe=={MEDIAPIPE_VERSION}",
            ]
            logger.info(
                "downloading the mediapipe==%s wheel (~36 MB) for its .tflite files", MEDIAPIPE_VERSION
            )
            result = subprocess.run(cmd, capture_output=True, text=True)
            if result.returncode != 0:
                raise RuntimeError(f"`{' '.join(cmd)}` failed:\n{result.stdout}\n{result.stderr}")
            wheels = sorted(Path(tmp).glob(f"mediapipe-{MEDIAPIPE_VERSION}-*.whl"))
            if not wheels:
                raise RuntimeError(f"pip download left no mediapipe-{MEDIAPIPE_VERSION} wheel in {tmp}")
            wheel = wheels[0]
        with zipfile.ZipFile(wheel) as zf:
            for name, (member, sha) in MODEL_FILES.items():
                data = zf.read(member)
                digest = hashlib.sha256(data).hexdigest()
                if digest != sha:
                    raise RuntimeError(f"{member} in {wheel} has sha256 {digest}, expected {sha}")
                tmp_path = root / (name + ".part")
                tmp_path.write_bytes(data)
                tmp_path.replace(root / name)  # atomic: a reader never sees half a file
            licence = zf.read(f"mediapipe-{MEDIAPIPE_VERSION}.dist-info/LICENSE")
    (root / "LICENSE").write_bytes(licence)
    (root / "NOTICE").write_text(NOTICE_TEXT)
    logger.info("MediaPipe hand models written to %s", root)
    return root
