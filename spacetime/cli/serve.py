"""`spacetime serve`: the web UI (spacetime/app.py) on localhost."""

from __future__ import annotations

import argparse

EPILOG = """examples:
  spacetime serve                                   # the embedded model on http://127.0.0.1:7860
  spacetime serve --model my_model/ --port 8080
  spacetime serve --host 0.0.0.0 --max-seconds 10   # reachable from the network; shorter videos
  spacetime serve --device cuda --queue-size 32

One tab per capability: text to video, image, animate an image, extend, loop, connect,
edit, keyframes. Requests run one at a time; others wait in the queue (--queue-size).
Uploads are checked by content and refused above --max-upload-mb or --max-upload-seconds.
Nothing is sent to the internet (no analytics, no share link). Stop with Ctrl-C.
"""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "serve",
        help="the web UI (Gradio) on localhost",
        description="spacetime serve: a web UI for every capability, one request at a time.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", metavar="PATH", help="model folder (default: the embedded model)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; 0.0.0.0 for all)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--precision", choices=("auto", "bf16", "fp32"), default="auto",
                   help="transformer compute precision (default auto: bf16 where the CPU/GPU runs it natively)")
    g = p.add_argument_group("limits (shown in the page)")
    g.add_argument("--max-upload-mb", type=float, default=50.0, metavar="MB", help="largest upload (default 50)")
    g.add_argument("--max-upload-seconds", type=float, default=30.0, metavar="S",
                   help="longest uploaded video (default 30)")
    g.add_argument("--max-seconds", type=float, default=20.0, metavar="S",
                   help="longest video one request may generate (default 20)")
    g.add_argument("--max-side", type=int, default=1024, metavar="PX", help="largest width or height (default 1024)")
    g.add_argument("--max-steps", type=int, default=100, metavar="N", help="most denoising steps (default 100)")
    g.add_argument("--queue-size", type=int, default=16, metavar="N",
                   help="requests that may wait; beyond this a user is told the queue is full (default 16)")
    p.set_defaults(func=run)


def run(args) -> int:
    from spacetime.errors import RequestError

    if not 0 < args.port < 65536:
        raise RequestError(f"--port must be in 1..65535, got {args.port}")
    for flag in ("max_upload_mb", "max_upload_seconds", "max_seconds", "max_side", "max_steps", "queue_size"):
        if getattr(args, flag) <= 0:
            raise RequestError(f"--{flag.replace('_', '-')} must be positive, got {getattr(args, flag)}")

    from spacetime.app import AppLimits, serve

    limits = AppLimits(max_upload_mb=args.max_upload_mb, max_upload_seconds=args.max_upload_seconds,
                       max_seconds=args.max_seconds, max_side=args.max_side, max_steps=args.max_steps,
                       queue_size=args.queue_size)
    serve(args.model, host=args.host, port=args.port, limits=limits, device=args.device, precision=args.precision)
    return 0
