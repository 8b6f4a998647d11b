"""3D objects held in a power grasp (``SyntheticConfig.grasped_objects``, with ``hand_look: skin``).

A hand closed in a power grasp closes round something: a handle, a bottle, a ball. Here the object is a mesh
in the camera frame, drawn in the same z-buffer as the render skin (``render.raster.nearest_face``), so the
fingers wrap it -- in front where they are nearer, hidden where it is -- unlike ``held_objects``, whose 2D
occluders lie over the whole hand. Its size and place come from the hand's own keypoints:

* the palm frame: ``lateral`` (pinky MCP -> index MCP), ``forward`` (wrist -> the MCPs, orthogonal to
  ``lateral``) and ``palmar`` (their cross product, turned towards the curled fingertips);
* in the plane (forward, palmar), the circle through the four fingers' mean MCP, PIP and DIP joints: the
  fingers' joints lie on a circle round the object, so the object's cross-section is that circle less a
  finger's half thickness (``FINGER_HALF_THICKNESS_M``);
* ``power_prismatic``: a cylinder (handle, bottle, can) along ``lateral`` (+-10 deg), 10-20 cm long, its
  middle shifted up to 1.5 cm along the hand; ``power_circular``: a ball.

Materials: ceramic, steel, wood, coloured plastics, sometimes a label band round a bottle; shaded by
``render.shaded.shade_vertices`` with the frame's hand light. Units: metres, camera optical frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from wildhands.model.grasp import GRASP_CLASS_IDS

__all__ = ["GRASPED_SHAPES", "GraspedObject", "grasped_object", "palm_frame"]

#: grasp class id -> the object shape its hands hold
GRASPED_SHAPES: dict[int, str] = {
    GRASP_CLASS_IDS["power_prismatic"]: "cylinder",
    GRASP_CLASS_IDS["power_circular"]: "ball",
}
FINGER_HALF_THICKNESS_M = 0.009
_RADIUS_M = (0.012, 0.045)
# (albedo RGB, specular strength): ceramic, steel, wood, red / blue / green / yellow plastic, black
_MATERIALS = (
    ((230.0, 228.0, 220.0), 0.30),
    ((150.0, 155.0, 162.0), 0.60),
    ((150.0, 105.0, 65.0), 0.05),
    ((180.0, 40.0, 35.0), 0.25),
    ((40.0, 70.0, 160.0), 0.25),
    ((60.0, 130.0, 70.0), 0.25),
    ((220.0, 190.0, 60.0), 0.20),
    ((35.0, 35.0, 38.0), 0.30),
)


@dataclass(frozen=True)
class GraspedObject:
    """A closed mesh in the camera frame with what ``shade_vertices`` needs."""

    shape: str  # 'cylinder' | 'ball'
    vertices: np.ndarray  # (V, 3) m, optical frame
    faces: np.ndarray  # (F, 3), counter-clockwise seen from outside
    normals: np.ndarray  # (V, 3) unit, outward
    albedo: np.ndarray  # (V, 3) RGB 0-255
    specular: np.ndarray  # (V,)
    radius_m: float
    centre_m: np.ndarray  # (3,) the cylinder's middle / the ball's centre
    axis: np.ndarray | None  # (3,) unit, the cylinder's axis; None for a ball

    def surface_distance_m(self, points: np.ndarray) -> np.ndarray:
        """(N,) distance (m) of points (N, 3) to the curved surface (signed: < 0 inside; caps ignored)."""
        d = np.asarray(points, np.float64) - self.centre_m
        if self.axis is not None:
            d = d - np.outer(d @ self.axis, self.axis)
        return np.linalg.norm(d, axis=1) - self.radius_m


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-12)


def palm_frame(keypoints: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lateral, forward, palmar) unit vectors of a hand from its 21 keypoints (m, any frame; MediaPipe
    order). ``palmar`` points to the side the fingertips curl towards (for a closed hand, out of the palm)."""
    kp = np.asarray(keypoints, np.float64)
    mcp = kp[[5, 9, 13, 17]]
    lateral = _unit(kp[5] - kp[17])
    forward = mcp.mean(0) - kp[0]
    forward = _unit(forward - (forward @ lateral) * lateral)
    palmar = np.cross(forward, lateral)
    tips = kp[[8, 12, 16, 20]].mean(0)
    if (tips - mcp.mean(0)) @ palmar < 0:
        palmar = -palmar
    return lateral, forward, palmar


def _circle(points: np.ndarray) -> tuple[np.ndarray, float] | None:
    """Centre (2,) and radius of the circle through three 2D points; None when nearly collinear."""
    a, b, c = points
    d = 2.0 * (a[0] * (b[1] - c[1]) + b[0] * (c[1] - a[1]) + c[0] * (a[1] - b[1]))
    if abs(d) < 1e-9:
        return None
    sa, sb, sc = a @ a, b @ b, c @ c
    ux = (sa * (b[1] - c[1]) + sb * (c[1] - a[1]) + sc * (a[1] - b[1])) / d
    uy = (sa * (c[0] - b[0]) + sb * (a[0] - c[0]) + sc * (b[0] - a[0])) / d
    centre = np.array([ux, uy])
    return centre, float(np.linalg.norm(a - centre))


def _cylinder(segments: int = 28) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Unit cylinder along x from -0.5 to 0.5, radius 1, with flat caps: vertices, faces, normals and the
    x of each vertex (for label bands). Cap rims are separate vertices (sharp edges)."""
    t = np.linspace(0.0, 2.0 * np.pi, segments, endpoint=False)
    ring = np.stack([np.cos(t), np.sin(t)], 1)
    xs = np.linspace(-0.5, 0.5, 6)
    side = np.concatenate([np.c_[np.full(segments, x), ring] for x in xs])
    side_n = np.concatenate([np.c_[np.zeros(segments), ring] for _ in xs])
    faces = []
    for i in range(len(xs) - 1):
        for j in range(segments):
            a, b = i * segments + j, i * segments + (j + 1) % segments
            faces += [[a, a + segments, b], [b, a + segments, b + segments]]
    verts, normals, faces = [side], [side_n], [np.array(faces)]
    n = len(side)
    for sign in (-1.0, 1.0):  # caps: a centre and a rim
        rim = np.c_[np.full(segments, 0.5 * sign), ring]
        centre = np.array([[0.5 * sign, 0.0, 0.0]])
        cap_n = np.tile([sign, 0.0, 0.0], (segments + 1, 1))
        idx = np.arange(segments)
        tri = np.stack([np.full(segments, n + segments), n + idx, n + (idx + 1) % segments], 1)
        faces.append(tri)
        verts.append(np.concatenate([rim, centre]))
        normals.append(cap_n)
        n += segments + 1
    v = np.concatenate(verts)
    f = _outward(v, np.concatenate(faces), cap_x=0.5)
    return v, f, np.concatenate(normals), v[:, 0].copy()


def _outward(v: np.ndarray, f: np.ndarray, cap_x: float | None = None) -> np.ndarray:
    """Faces re-wound so that their normals point away from the centre (the x axis for a cylinder's side,
    along x on its caps at +-``cap_x``; the origin for a sphere)."""
    tri = v[f]
    centre = tri.mean(1)
    away = centre.copy()
    if cap_x is not None:
        on_cap = np.isclose(np.abs(tri[..., 0]), cap_x).all(1)
        away[~on_cap, 0] = 0.0
        away[on_cap, 1:] = 0.0
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    f = f.copy()
    inward = np.einsum("fi,fi->f", normal, away) < 0
    f[inward] = f[inward][:, [0, 2, 1]]
    return f


def _ball(rings: int = 14, segments: int = 24) -> tuple[np.ndarray, np.ndarray]:
    """Unit UV sphere: vertices (= outward normals) and outward-wound faces."""
    theta = np.linspace(0.0, np.pi, rings + 1)[1:-1]
    phi = np.linspace(0.0, 2.0 * np.pi, segments, endpoint=False)
    st, ct = np.sin(theta)[:, None], np.cos(theta)[:, None]
    body = np.stack([st * np.cos(phi), st * np.sin(phi), ct * np.ones_like(phi)], -1).reshape(-1, 3)
    top, bottom = len(body), len(body) + 1
    v = np.concatenate([body, [[0, 0, 1.0]], [[0, 0, -1.0]]])
    faces = []
    for i in range(rings - 2):
        for j in range(segments):
            a, b = i * segments + j, i * segments + (j + 1) % segments
            faces += [[a, b, a + segments], [b, b + segments, a + segments]]
    for j in range(segments):
        faces.append([top, (j + 1) % segments, j])
        last = (rings - 2) * segments
        faces.append([bottom, last + j, last + (j + 1) % segments])
    return v, _outward(v, np.array(faces))


def grasped_object(rng: np.random.Generator, grasp: int, keypoints_cam_m: np.ndarray) -> GraspedObject | None:
    """The object a hand of grasp class ``grasp`` with keypoints ``keypoints_cam_m`` (21, 3) holds, or None
    (a grasp without one in ``GRASPED_SHAPES``, or fingers too straight to close round anything)."""
    shape = GRASPED_SHAPES.get(int(grasp))
    if shape is None:
        return None
    kp = np.asarray(keypoints_cam_m, np.float64)
    lateral, forward, palmar = palm_frame(kp)
    joints = np.stack([kp[[5, 9, 13, 17]].mean(0), kp[[6, 10, 14, 18]].mean(0), kp[[7, 11, 15, 19]].mean(0)])
    origin = joints[0]
    plane = np.stack([(joints - origin) @ forward, (joints - origin) @ palmar], 1)
    fit = _circle(plane)
    if fit is None:
        return None
    centre2, joint_radius = fit
    radius = joint_radius - FINGER_HALF_THICKNESS_M
    if not _RADIUS_M[0] <= radius <= _RADIUS_M[1] or centre2[1] <= 0:  # the circle must lie palmar
        return None
    along = float(rng.uniform(-0.015, 0.015))
    centre = origin + centre2[0] * forward + centre2[1] * palmar + along * lateral
    (rgb, spec) = _MATERIALS[int(rng.integers(len(_MATERIALS)))]
    rgb = np.clip(np.asarray(rgb) * rng.uniform(0.85, 1.15, 3), 0, 255)
    if shape == "cylinder":
        tilt = math.radians(float(rng.uniform(-10.0, 10.0)))
        axis = _unit(math.cos(tilt) * lateral + math.sin(tilt) * forward)
        side = _unit(np.cross(palmar, axis))
        up = np.cross(axis, side)
        length = float(rng.uniform(0.10, 0.20))
        v, f, n, x = _cylinder()
        rot = np.stack([axis, side, up], 1)  # unit-cylinder (x, y, z) -> camera
        verts = centre + (v * np.array([length, radius, radius])) @ rot.T
        normals = n @ rot.T
        albedo = np.tile(rgb, (len(v), 1))
        if rng.random() < 0.5:  # a printed label round a bottle / can
            band = np.abs(x) < float(rng.uniform(0.15, 0.3))
            albedo[band] = rng.uniform(30, 240, 3)
    else:
        v, f = _ball()
        verts, normals, axis = centre + radius * v, v.copy(), None
        albedo = np.tile(rgb, (len(v), 1))
    return GraspedObject(shape, verts, f, normals, albedo, np.full(len(verts), spec), radius, centre, axis)
