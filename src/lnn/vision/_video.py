"""Videos as lnn reads and writes them: :class:`Video`, the ``.npz`` video format, MP4 and image folders.

A :class:`Video` holds N motions of T frames each, ``uint8`` RGB of shape
``(N, T, H, W, 3)``, their frame rate and, for rendered videos, the true
states (kept for evaluation only: nothing learns from them).

Files: lnn's own ``.npz`` (``format = "lnn-video v1"``; written atomically, read
without pickle), any video ffmpeg reads (through imageio and imageio-ffmpeg;
one motion), or a folder of ``.png``/``.jpg`` frames in name order (one motion).
A file that cannot be read, or frames of changing size, raise
:class:`~lnn.errors.FileFormatError` / :class:`~lnn.errors.DataError` with one
line naming the problem.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import warnings
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from lnn import io
from lnn.errors import DataError, FileFormatError

FORMAT = "lnn-video v1"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


@dataclasses.dataclass(frozen=True)
class Video:
    """N motions of T frames each.

    Attributes:
        frames: ``uint8``, shape ``(N, T, H, W, 3)``.
        fps: frames per second.
        q, qdot: optional true states, shape ``(N, T, n)`` (rendered videos; for evaluation only).
        angles: which true coordinates are angles (with ``q``), else ``None``.
        metadata: JSON-ready dict (system, camera, generator, seed, ...).
    """

    frames: np.ndarray
    fps: float
    q: np.ndarray | None = None
    qdot: np.ndarray | None = None
    angles: tuple[bool, ...] | None = None
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        f = np.asarray(self.frames)
        if f.ndim != 5 or f.shape[-1] != 3 or f.dtype != np.uint8:
            raise DataError(f"video frames must be uint8 of shape (N, T, H, W, 3); got {f.dtype} {f.shape}.")
        if not self.fps > 0:
            raise DataError(f"a video's frame rate must be positive; got {self.fps}.")
        for name in ("q", "qdot"):
            a = getattr(self, name)
            if a is not None and (np.ndim(a) != 3 or np.shape(a)[:2] != f.shape[:2]):
                raise DataError(f"the true {name} must have shape (N, T, n) = {f.shape[:2]} + (n,); got {np.shape(a)}.")
        object.__setattr__(self, "frames", f)
        object.__setattr__(self, "fps", float(self.fps))

    def __len__(self) -> int:
        """Frames in all motions."""
        return self.frames.shape[0] * self.frames.shape[1]

    @property
    def trajectory(self) -> np.ndarray:
        """The motion each frame belongs to, shape ``(N·T,)`` (a :class:`~lnn.data.Splittable`)."""
        return np.repeat(np.arange(self.motions), self.length)

    @property
    def dof(self) -> int:
        """Coordinates of the true states (0 for a video without them)."""
        return 0 if self.q is None else self.q.shape[-1]

    def subset(self, mask_or_index: Any) -> Video:
        """The motions whose frames a boolean mask or index array over all ``N·T`` frames selects (whole
        motions only, as :func:`lnn.data.split` selects them)."""
        chosen = np.zeros(len(self), bool)
        chosen[mask_or_index] = True
        per_motion = chosen.reshape(self.motions, self.length)
        if not np.all(per_motion.all(axis=1) | ~per_motion.any(axis=1)):
            raise DataError("a subset of a video takes whole motions; select every frame of each motion you keep.")
        return self.select(np.flatnonzero(per_motion.all(axis=1)))

    @property
    def motions(self) -> int:
        return self.frames.shape[0]

    @property
    def length(self) -> int:
        """T, frames per motion."""
        return self.frames.shape[1]

    @property
    def size(self) -> tuple[int, int]:
        """(H, W)."""
        return self.frames.shape[2], self.frames.shape[3]

    @property
    def dt(self) -> float:
        return 1.0 / self.fps

    def select(self, motions: Any = slice(None), frames: Any = slice(None)) -> Video:
        """The given motions (index or slice) and frames (slice) of this video."""
        pick = lambda a: None if a is None else a[motions][:, frames]
        return dataclasses.replace(self, frames=pick(self.frames), q=pick(self.q), qdot=pick(self.qdot))


def split_video(video: Video, fraction: float, min_frames: int = 1) -> tuple[Video, Video]:
    """(training, held-out): the last ``round(fraction · N)`` motions (at least one) of a video of several,
    or the last ``fraction`` of the frames of a single motion, and at least ``min_frames`` of them."""
    if not 0 < fraction < 1:
        raise DataError(f"the held-out fraction must be between 0 and 1; got {fraction}.")
    if video.motions >= 2:
        n = min(max(1, round(fraction * video.motions)), video.motions - 1)
        return video.select(slice(0, video.motions - n)), video.select(slice(video.motions - n, None))
    cut = video.length - max(min_frames, round(fraction * video.length))
    return video.select(frames=slice(0, cut)), video.select(frames=slice(cut, None))


def require_frames(video: Video, needed: int, what: str) -> None:
    """A :class:`~lnn.errors.DataError` unless every motion of ``video`` has at least ``needed`` frames."""
    if video.length < needed:
        raise DataError(
            f"the video has {video.length} frame(s) per motion, fewer than the {needed} that {what} needs; "
            "use a longer video (or a shorter --horizon)."
        )


@contextlib.contextmanager
def _ffmpeg() -> Iterator[None]:
    """imageio-ffmpeg runs ffmpeg as a subprocess: Python warns that forking a multithreaded process (JAX's)
    may deadlock, which holds for code run in the child, not for a fork that execs at once."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called", category=RuntimeWarning)
        yield


def save_video(video: Video, path: str | os.PathLike) -> Path:
    """Write ``video`` as lnn's ``.npz`` video, atomically."""
    arrays: dict[str, Any] = {
        "format": np.array(FORMAT),
        "frames": video.frames,
        "fps": np.array(video.fps),
        "metadata": np.array(json.dumps(video.metadata)),
    }
    if video.q is not None:
        arrays["q"] = np.asarray(video.q)
    if video.qdot is not None:
        arrays["qdot"] = np.asarray(video.qdot)
    if video.angles is not None:
        arrays["angles"] = np.asarray(video.angles, dtype=bool)
    return io.atomic_write(path, lambda f: np.savez_compressed(f, **arrays))


def write_mp4(path: str | os.PathLike, frames: np.ndarray, fps: float) -> Path:
    """Write one motion's frames (``uint8``, ``(T, H, W, 3)``) as an H.264 MP4 (imageio-ffmpeg), atomically."""
    import imageio.v3 as iio

    frames = np.asarray(frames, dtype=np.uint8)
    path = Path(path)
    tmp = path.with_name(f".{path.name}.ffmpeg.tmp.mp4")  # ffmpeg needs the suffix to pick the container
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with _ffmpeg():
            iio.imwrite(tmp, frames, fps=fps, plugin="FFMPEG", macro_block_size=1)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def write_gif(path: str | os.PathLike, frames: np.ndarray, fps: float) -> Path:
    """Write frames (``uint8``, ``(T, H, W, 3)``) as a looping GIF (imageio), atomically."""
    import imageio.v3 as iio

    data = iio.imwrite("<bytes>", np.asarray(frames, dtype=np.uint8), extension=".gif", duration=1000 / fps, loop=0)
    return io.atomic_write(path, lambda f: f.write(data))


def read_video(
    path: str | os.PathLike,
    *,
    size: int | None = None,
    crop: Sequence[int] | None = None,
    fps: float | None = None,
) -> Video:
    """Read a video: lnn's ``.npz``, a file ffmpeg reads (``.mp4``, ``.avi``, ...), or a folder of frames.

    ``crop``: ``(left, top, width, height)`` in pixels, applied first;
    ``size``: then every frame is resized to ``size × size`` (bilinear with
    antialiasing; crop to a square first to keep the aspect ratio). ``fps``
    overrides the file's frame rate (a folder of frames has none: default 30).
    """
    path = Path(path)
    if not path.exists():
        raise FileFormatError(f"no video at {path}; check the path.")
    if path.is_dir():
        video = _read_folder(path, fps)
    elif path.suffix.lower() == ".npz":
        video = _read_npz(path)
    else:
        video = _read_ffmpeg(path)
    if fps is not None:
        video = dataclasses.replace(video, fps=fps)
    frames = video.frames
    if crop is not None:
        frames = _crop(frames, crop, path)
    if size is not None:
        frames = resize(frames, size)
    return dataclasses.replace(video, frames=frames)


def _read_npz(path: Path) -> Video:
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError) as err:
        raise FileFormatError(f"{path} is not a readable .npz file ({err}).") from None
    if "frames" not in arrays:
        raise FileFormatError(
            f"{path} holds no frames (arrays: {', '.join(sorted(arrays)) or 'none'}); write one with "
            "`lnn generate SYSTEM --kind video`."
        )
    frames = arrays["frames"]
    if frames.ndim == 4:  # one motion
        frames = frames[None]
    if frames.ndim != 5 or frames.shape[-1] != 3:
        raise FileFormatError(f"{path}: frames must have shape (N, T, H, W, 3) or (T, H, W, 3); got {frames.shape}.")
    if frames.dtype != np.uint8:
        frames = _to_uint8(frames)
    angles = tuple(bool(a) for a in arrays["angles"]) if "angles" in arrays else None
    metadata = json.loads(str(arrays["metadata"])) if "metadata" in arrays else {}
    return Video(
        frames,
        float(arrays["fps"]) if "fps" in arrays else 30.0,
        q=arrays.get("q"),
        qdot=arrays.get("qdot"),
        angles=angles,
        metadata=metadata,
    )


def _read_ffmpeg(path: Path) -> Video:
    import imageio.v3 as iio

    try:
        with _ffmpeg():
            meta = iio.immeta(path, plugin="FFMPEG")
            frames = _stack(iio.imiter(path, plugin="FFMPEG"), path)
    except (OSError, RuntimeError, ValueError, StopIteration) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise FileFormatError(
            f"cannot read {path} as a video ({first}); pass an .mp4 file ffmpeg can decode."
        ) from None
    fps = float(meta.get("fps") or 30.0)
    return Video(frames[None], fps, metadata={"source": str(path)})


def _read_folder(path: Path, fps: float | None) -> Video:
    import imageio.v3 as iio

    files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise FileFormatError(f"{path} holds no frames ({', '.join(IMAGE_SUFFIXES)} files); pass a video file.")

    def frames() -> Iterable[np.ndarray]:
        for p in files:
            try:
                yield iio.imread(p)
            except (OSError, ValueError) as err:
                raise FileFormatError(f"cannot read the frame {p} ({err}).") from None

    return Video(
        _stack(frames(), path, names=[p.name for p in files])[None], fps or 30.0, metadata={"source": str(path)}
    )


def _stack(frames: Iterable[np.ndarray], path: Path, names: Sequence[str] | None = None) -> np.ndarray:
    """Frames as one ``uint8`` array ``(T, H, W, 3)``; a frame of another size than the first is an error."""
    out: list[np.ndarray] = []
    for i, frame in enumerate(frames):
        frame = np.asarray(frame)
        if frame.ndim == 2:
            frame = np.repeat(frame[..., None], 3, axis=-1)
        frame = frame[..., :3] if frame.shape[-1] >= 3 else np.repeat(frame[..., :1], 3, axis=-1)
        if out and frame.shape != out[0].shape:
            which = f"frame {i}" + (f" ({names[i]})" if names else "")
            raise DataError(
                f"{path}: {which} is {frame.shape[1]}×{frame.shape[0]} pixels but the first is "
                f"{out[0].shape[1]}×{out[0].shape[0]}; the frames of a video must all have one size."
            )
        out.append(frame if frame.dtype == np.uint8 else _to_uint8(frame))
    if not out:
        raise FileFormatError(f"{path} has no frames.")
    return np.stack(out)


def _to_uint8(frames: np.ndarray) -> np.ndarray:
    """Float frames on [0, 1] (or integers on [0, 255]) as ``uint8``."""
    a = np.asarray(frames)
    if np.issubdtype(a.dtype, np.floating):
        a = 255 * a
    return np.clip(np.round(a), 0, 255).astype(np.uint8)


def _crop(frames: np.ndarray, crop: Sequence[int], path: Path) -> np.ndarray:
    if len(crop) != 4:
        raise DataError(f"--crop needs LEFT,TOP,WIDTH,HEIGHT in pixels; got {tuple(crop)}.")
    left, top, width, height = (int(c) for c in crop)
    h, w = frames.shape[2:4]
    if left < 0 or top < 0 or width < 1 or height < 1 or left + width > w or top + height > h:
        raise DataError(
            f"the crop (left {left}, top {top}, {width}×{height}) does not fit in the {w}×{h} frames of {path}."
        )
    return frames[:, :, top : top + height, left : left + width]


def resize(frames: np.ndarray, size: int) -> np.ndarray:
    """``uint8`` frames ``(..., H, W, 3)`` resized to ``size × size`` (bilinear, antialiased)."""
    if size < 4:
        raise DataError(f"frames must be at least 4×4 pixels; got --size {size}.")
    if frames.shape[-3:-1] == (size, size):
        return frames
    lead = frames.shape[:-3]
    flat = frames.reshape((-1,) + frames.shape[-3:])
    f = jax.jit(lambda x: jax.image.resize(x, (x.shape[0], size, size, 3), "linear", antialias=True))
    out = np.concatenate([np.asarray(f(jnp.asarray(flat[i : i + 256], jnp.float32))) for i in range(0, len(flat), 256)])
    return _to_uint8(out).reshape(lead + (size, size, 3))


def as_floats(frames: np.ndarray, dtype=jnp.float32) -> jax.Array:
    """``uint8`` frames as floats on [0, 1]."""
    return jnp.asarray(frames, dtype) / 255.0
