"""`spacetime vae roundtrip`: check a VAE on your own footage (encode, decode, PSNR/SSIM)."""

from __future__ import annotations

import argparse
from pathlib import Path

EMBEDDED_VAE = Path(__file__).resolve().parents[1] / "weights" / "embedded" / "vae"

ROUNDTRIP_EPILOG = """\
examples:
  spacetime vae roundtrip clip.mp4 clip_vae.mp4                 # the embedded model's VAE
  spacetime vae roundtrip photo.png photo_vae.png --vae runs/vae/export
  spacetime vae roundtrip long.mp4 out.mp4 --seconds 10 --tile 256

The output is the decoded video (same size, frame count and rate as the input); the
printed line gives PSNR (dB, higher is better; ~35+ is visually close) and SSIM (1 is
identical). Long videos are encoded and decoded in causal chunks and large frames in
blended spatial tiles; both keep memory bounded and do not change the result much
(chunking not at all).
"""


def register(subparsers) -> None:
    vae = subparsers.add_parser("vae", help="video compression network tools (roundtrip)")
    vae_sub = vae.add_subparsers(dest="vae_command", metavar="VAE_COMMAND")

    def print_vae_help(args) -> int:
        vae.print_help()
        return 2

    vae.set_defaults(func=print_vae_help)

    p = vae_sub.add_parser(
        "roundtrip",
        help="encode and decode a video or image with a VAE and report PSNR/SSIM",
        description="Encode IN to latents and decode them back to OUT, then print PSNR and SSIM "
        "between IN and OUT, so you can check a VAE on your own footage.",
        epilog=ROUNDTRIP_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("input", metavar="IN", help="video or image to encode (anything PyAV/Pillow reads)")
    p.add_argument("output", metavar="OUT", help="where to write the decoded result (.mp4, .webm, .gif, .png, ...)")
    p.add_argument("--vae", metavar="PATH", help="VAE folder (config.json + model.safetensors) or a model folder "
                   "holding vae/; default: the embedded model's VAE")
    p.add_argument("--seconds", type=float, default=None, help="use only the first SECONDS of IN")
    p.add_argument("--max-frames", type=int, default=None, help="use at most this many frames of IN")
    p.add_argument("--tile", type=int, default=512, help="spatial tile size in pixels, multiple of 8 "
                   "(frames up to this size are not tiled; default 512)")
    p.add_argument("--chunk", type=int, default=4, help="latent frames per causal decode chunk (default 4)")
    p.add_argument("--sample", action="store_true", help="sample the latent instead of using its mean")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists (otherwise refused)")
    p.set_defaults(func=run_roundtrip)


def _resolve_vae_folder(path: str | None) -> Path:
    from spacetime.errors import WeightsError

    if path is None:
        if not (EMBEDDED_VAE / "config.json").is_file():
            raise WeightsError(
                f"the embedded VAE is not installed yet ({EMBEDDED_VAE} is missing); pass --vae FOLDER "
                "with a trained VAE (config.json + model.safetensors)"
            )
        return EMBEDDED_VAE
    folder = Path(path)
    if (folder / "vae" / "config.json").is_file() and not (folder / "config.json").is_file():
        folder = folder / "vae"  # a whole model folder was given
    return folder


def run_roundtrip(args) -> int:
    import time

    import torch

    from spacetime.errors import RequestError
    from spacetime.vae import VideoVAE
    from spacetime.vae_loss import psnr, ssim
    from spacetime.video import frames_to_tensor, read_video, tensor_to_frames, write_video

    if args.chunk < 1:
        raise RequestError(f"--chunk must be >= 1 latent frame, got {args.chunk}")
    if args.tile < 16 or args.tile % 8:
        raise RequestError(f"--tile must be a multiple of 8 and at least 16 pixels, got {args.tile}")
    if args.max_frames is not None and args.max_frames < 1:
        raise RequestError(f"--max-frames must be >= 1, got {args.max_frames}")
    if Path(args.output).exists() and not args.overwrite:
        raise RequestError(f"{args.output} exists; pass --overwrite to replace it or choose another OUT")
    vae = VideoVAE.from_pretrained(_resolve_vae_folder(args.vae))
    if args.tile <= vae.config.tile_overlap:
        raise RequestError(f"--tile must be larger than the VAE's tile overlap ({vae.config.tile_overlap} px)")
    clip = read_video(args.input, duration=args.seconds, max_frames=args.max_frames)
    video = frames_to_tensor(clip.frames)[None]  # (1, 3, T, H, W) in [-1, 1]
    T, H, W = video.shape[2:]
    with torch.inference_mode():
        start = time.perf_counter()
        z = vae.encode_latents(video, chunk_frames=16, tile=args.tile, sample=args.sample)
        encode_s = time.perf_counter() - start
        start = time.perf_counter()
        recon = vae.decode_latents(z, num_frames=T, height=H, width=W, chunk_latent_frames=args.chunk, tile=args.tile)
        decode_s = time.perf_counter() - start
    frames = tensor_to_frames(recon)
    written = write_video(args.output, frames if T > 1 else frames[0], clip.fps or 24.0, overwrite=True)
    # Metrics on the uint8 frames as written (before any lossy container compression).
    restored = frames_to_tensor(frames)[None]
    print(
        f"{args.input}: {T} frame(s) {W}x{H} -> latent {tuple(z.shape[1:])} -> {written}\n"
        f"PSNR {psnr(restored, video).item():.2f} dB  SSIM {ssim(restored, video).item():.4f}  "
        f"(encode {encode_s:.2f} s, decode {decode_s:.2f} s)"
    )
    return 0
