"""Learning a Lagrangian from video: a renderer, video files, pixel models and their metrics.

* :func:`render`, :class:`Camera`, :func:`camera_for`, :func:`render_motions` —
  frames of the built-in systems (soft discs, rods), differentiable in the state;
  :func:`rendered_video` — a :class:`Video` of random motions with their true states;
* :class:`Video`, :func:`read_video`, :func:`save_video`, :func:`write_mp4`,
  :func:`write_gif`, :func:`split_video` — video files (lnn's ``.npz``, MP4 through
  imageio-ffmpeg, folders of frames);
* :class:`PixelModel` (:class:`Encoder`, :class:`Decoder`, any lnn dynamics in
  the latent coordinates), :func:`pixel_model`, :func:`model_from_config`;
* :class:`PixelObjective`, :func:`fit_video` — end-to-end training through :func:`lnn.fit`;
* :func:`pixel_errors`, :func:`coordinate_r2`, :func:`energy_drift`,
  :func:`evaluate_video` — what a pixel model is judged on; :func:`side_by_side`
  — prediction beside truth, for an animation.
"""

from lnn.vision._metrics import (
    DRIFT_FRAMES,
    HORIZONS,
    VPT_THRESHOLD,
    coordinate_r2,
    energy_drift,
    evaluate_video,
    learned_energy,
    pixel_errors,
    predictions,
    side_by_side,
)
from lnn.vision._models import DYNAMICS, Decoder, Encoder, PixelModel, latent_features, model_from_config, pixel_model
from lnn.vision._objective import PixelObjective, fit_video
from lnn.vision._render import (
    BACKGROUND,
    COLOURS,
    Camera,
    camera_for,
    pixel_positions,
    render,
    render_motions,
    rendered_video,
)
from lnn.vision._video import (
    Video,
    as_floats,
    read_video,
    require_frames,
    resize,
    save_video,
    split_video,
    write_gif,
    write_mp4,
)

__all__ = [
    "BACKGROUND",
    "COLOURS",
    "DRIFT_FRAMES",
    "DYNAMICS",
    "HORIZONS",
    "VPT_THRESHOLD",
    "coordinate_r2",
    "energy_drift",
    "evaluate_video",
    "learned_energy",
    "pixel_errors",
    "predictions",
    "side_by_side",
    "Camera",
    "Decoder",
    "Encoder",
    "PixelModel",
    "PixelObjective",
    "Video",
    "as_floats",
    "camera_for",
    "fit_video",
    "latent_features",
    "model_from_config",
    "pixel_model",
    "pixel_positions",
    "read_video",
    "render",
    "render_motions",
    "rendered_video",
    "require_frames",
    "resize",
    "save_video",
    "split_video",
    "write_gif",
    "write_mp4",
]
