r"""A differentiable renderer of the built-in systems, in the style of DeepMind's Hamiltonian dynamics suite.

Each body of a system (:meth:`lnn.System.body_positions`) is drawn as a soft
disc of radius r_b ∝ √m_b on a dark grey background, rods as soft lines, in RGB:

    α_b(x) = σ((r_b − |x − c_b|) / w),    image ← (1 − α_b) image + α_b colour_b,

σ the logistic function and w = ``softness`` pixels, so every pixel is a smooth
function of the state (gradients pass from pixels to q). The canvas spans
``[−extent, extent]²`` in the system's units, y upwards; pixel (i, j) has its
centre at x = (j + ½ − S/2) s, y = (S/2 − i − ½) s with s = 2·extent / S.

Options: pixel noise (Gaussian, standard deviation ``noise`` on the [0, 1]
scale, clipped back to [0, 1]) and a random shift of the whole canvas (each
motion shifted by up to ``shift`` pixels in x and y, fixed over its frames).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from lnn._typing import States
from lnn.data import trajectories
from lnn.errors import ConfigurationError
from lnn.systems import System
from lnn.vision._video import Video

# Dark grey, on the [0, 1] scale of every channel. Dark so that the background does not dominate a
# frame's mean square: VPT compares the frame error with mean(x²), and on a background of 0.5 even
# a frame without the bodies stays under 2.5 % of it; on 0.2 the pendulum's bob misplaced by about
# 0.1 rad (0.15 rad for the double pendulum's, at 32 × 32) crosses it.
BACKGROUND = 0.2
# Body colours (RGB on [0, 1]), in the order of the system's bodies; rods are light grey.
COLOURS = ((0.85, 0.2, 0.15), (0.15, 0.35, 0.85), (0.2, 0.7, 0.25), (0.9, 0.75, 0.1))
ROD_COLOUR = (0.75, 0.75, 0.75)
# Configurations drawn (fixed key) to find how far the bodies reach, for the default extent.
_EXTENT_SAMPLES = 1024


@dataclasses.dataclass(frozen=True)
class Camera:
    """How a system is drawn.

    Attributes:
        size: frames are ``size × size`` RGB pixels.
        extent: the canvas spans ``[−extent, extent]`` in x and y (system units).
        radius: the disc radius of the heaviest body, as a fraction of the canvas
            width; a body of mass m gets ``radius · √(m / m_max)``.
        softness: w, the width of a disc's or rod's edge in pixels.
        rod_width: half the thickness of a rod, in pixels (0: no rods).
    """

    size: int = 32
    extent: float = 1.0
    radius: float = 0.08
    softness: float = 0.5
    rod_width: float = 0.6

    def __post_init__(self):
        if self.size < 4 or not (self.extent > 0 and self.radius > 0 and self.softness > 0 and self.rod_width >= 0):
            raise ConfigurationError(
                f"a camera needs size >= 4, and extent, radius and softness > 0 (rod_width >= 0); got {self}."
            )

    @property
    def pixel(self) -> float:
        """s, the side of a pixel in system units."""
        return 2.0 * self.extent / self.size

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


def camera_for(system: System, size: int = 32, *, rods: bool = True) -> Camera:
    """A camera that keeps ``system``'s bodies in view: extent 1.05 × the farthest a body reaches
    over configurations from its box (a fixed draw), plus the largest disc."""
    with jax.ensure_compile_time_eval():
        q = system.sample_configurations(jax.random.key(0), _EXTENT_SAMPLES)
        reach = float(np.max(np.abs(np.asarray(system.body_positions(q)))))
    base = Camera(size=size, rod_width=0.6 if rods else 0.0)
    extent = 1.05 * max(reach, 1e-6) / (1.0 - 2.0 * base.radius)
    return dataclasses.replace(base, extent=extent)


def pixel_positions(camera: Camera, points: Float[Array, "... 2"]) -> Float[Array, "... 2"]:
    """(row, column) coordinates, in pixels, of points (x, y) in system units (fractional; centres at +½)."""
    s = camera.pixel
    col = points[..., 0] / s + camera.size / 2
    row = camera.size / 2 - points[..., 1] / s
    return jnp.stack([row, col], axis=-1)


def render(
    system: System,
    q: States,
    camera: Camera,
    *,
    offset: Float[Array, "... 2"] | None = None,
) -> Float[Array, "... size size 3"]:
    """Frames of ``system`` at configurations ``q`` (``(..., n)``): RGB on [0, 1], differentiable in q.

    ``offset`` (``(..., 2)``, pixels, (row, column)): the canvas shift of each
    frame (default none).
    """
    q = jnp.asarray(q)
    positions = pixel_positions(camera, system.body_positions(q))  # (..., k, 2)
    if offset is not None:
        positions = positions + jnp.asarray(offset)[..., None, :]
    masses = np.asarray(system.body_masses)
    radii = jnp.asarray(camera.radius * camera.size * np.sqrt(masses / masses.max()))
    pivot = jnp.broadcast_to(
        jnp.asarray([camera.size / 2, camera.size / 2], positions.dtype)
        + (0.0 if offset is None else jnp.asarray(offset)),
        positions.shape[:-2] + (2,),
    )
    flat = positions.reshape((-1,) + positions.shape[-2:])
    flat_pivot = pivot.reshape(-1, 2)
    frames = jax.vmap(lambda p, o: _draw(p, o, radii, system.rods, camera))(flat, flat_pivot)
    return frames.reshape(positions.shape[:-2] + frames.shape[1:])


def _draw(positions, pivot, radii, rods, camera: Camera):
    """One frame: rods first, then the discs in body order (later bodies on top)."""
    size = camera.size
    centres = jnp.arange(size, dtype=positions.dtype) + 0.5
    grid = jnp.stack(jnp.meshgrid(centres, centres, indexing="ij"), axis=-1)  # (S, S, 2): (row, col)
    image = jnp.full((size, size, 3), BACKGROUND, dtype=positions.dtype)
    rod_colour = jnp.asarray(ROD_COLOUR, positions.dtype)
    if camera.rod_width > 0:
        for i, j in rods:
            a = pivot if i < 0 else positions[i]
            b = pivot if j < 0 else positions[j]
            alpha = jax.nn.sigmoid((camera.rod_width - _segment_distance(grid, a, b)) / camera.softness)
            image = (1 - alpha[..., None]) * image + alpha[..., None] * rod_colour
    for k in range(positions.shape[0]):
        distance = jnp.sqrt(jnp.sum((grid - positions[k]) ** 2, axis=-1) + 1e-12)
        alpha = jax.nn.sigmoid((radii[k] - distance) / camera.softness)
        colour = jnp.asarray(COLOURS[k % len(COLOURS)], positions.dtype)
        image = (1 - alpha[..., None]) * image + alpha[..., None] * colour
    return image


def _segment_distance(grid, a, b):
    """Distance from every pixel centre to the segment from a to b."""
    d = b - a
    t = jnp.clip(jnp.sum((grid - a) * d, axis=-1) / (jnp.sum(d * d) + 1e-12), 0.0, 1.0)
    nearest = a + t[..., None] * d
    return jnp.sqrt(jnp.sum((grid - nearest) ** 2, axis=-1) + 1e-12)


def render_motions(
    system: System,
    q: Float[ArrayLike, "N T n"],
    camera: Camera,
    *,
    key: jax.Array,
    noise: float = 0.0,
    shift: float = 0.0,
) -> np.ndarray:
    """Frames of N motions as ``uint8``, shape ``(N, T, size, size, 3)``, with pixel noise and canvas shift.

    ``noise``: standard deviation of Gaussian pixel noise on the [0, 1] scale
    (0.01 is 1 %). ``shift``: each motion's canvas moves by an offset uniform in
    ``[−shift, shift]`` pixels in each direction, the same for all its frames.
    """
    if noise < 0 or shift < 0:
        raise ConfigurationError(f"pixel noise and canvas shift must be >= 0; got noise={noise}, shift={shift}.")
    k_shift, k_noise = jax.random.split(key)
    q = jnp.asarray(q)
    offsets = jax.random.uniform(k_shift, (q.shape[0], 2), q.dtype, -shift, shift)
    draw = jax.jit(lambda qs, o: render(system, qs, camera, offset=jnp.broadcast_to(o, qs.shape[:-1] + (2,))))
    frames = jnp.stack([draw(q[i], offsets[i]) for i in range(q.shape[0])])
    if noise > 0:
        frames = frames + noise * jax.random.normal(k_noise, frames.shape, frames.dtype)
    return np.asarray(jnp.round(255 * jnp.clip(frames, 0.0, 1.0))).astype(np.uint8)


def rendered_video(
    system: System,
    key: jax.Array,
    n: int,
    *,
    duration: float = 10.0,
    fps: float = 10.0,
    size: int = 32,
    noise: float = 0.0,
    shift: float = 0.0,
    rods: bool = True,
) -> Video:
    """``n`` motions of ``system`` from random states (:func:`lnn.data.trajectories`), rendered.

    The true states come along in the :class:`Video` (for evaluation only).
    """
    k_motion, k_render = jax.random.split(key)
    ds = trajectories(system, k_motion, n, duration=duration, fps=fps)
    frames_per = ds.q.shape[0] // n
    q = ds.q.reshape(n, frames_per, system.dof)
    camera = camera_for(system, size, rods=rods)
    frames = render_motions(system, q, camera, key=k_render, noise=noise, shift=shift)
    metadata = {
        "system": system.summary(),
        "generator": "rendered_video",
        "camera": camera.to_json(),
        "duration": duration,
        "noise": noise,
        "shift": shift,
    }
    return Video(frames, fps, q=q, qdot=ds.qdot.reshape(q.shape), angles=system.angles, metadata=metadata)
