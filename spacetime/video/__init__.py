"""Video I/O: read, stream, probe and write videos and images; resize policies; uint8 <-> tensor.

See docs/video.md for what is read, what a corrupt file gives, and the resize policies.
"""

from spacetime.video._open import is_image_path
from spacetime.video.convert import frames_to_tensor, tensor_to_frames
from spacetime.video.probe import VideoInfo, probe
from spacetime.video.read import Clip, iter_chunks, iter_frames, read_video
from spacetime.video.resize import fit_frames, resize_frames, resize_keep_aspect
from spacetime.video.write import VideoWriter, write_video

__all__ = [
    "Clip", "VideoInfo", "VideoWriter", "fit_frames", "frames_to_tensor", "is_image_path", "iter_chunks",
    "iter_frames", "probe", "read_video", "resize_frames", "resize_keep_aspect", "tensor_to_frames",
    "write_video",
]
