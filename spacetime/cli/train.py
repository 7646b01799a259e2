"""`spacetime train`, `spacetime cache`, `spacetime export`: train models, cache latents, export weights."""

from __future__ import annotations

import argparse

from spacetime.errors import RequestError

TRAIN_EPILOG = """examples:
  spacetime train configs/smoke.toml
  spacetime train configs/smoke.toml --set train.steps=50 train.lr=3e-4 run.dir=runs/try
  spacetime train configs/smoke.toml --resume          # continue from the newest valid checkpoint
  torchrun --nproc-per-node 2 -m spacetime.train configs/smoke.toml --set parallel.strategy=fsdp
  torchrun --nnodes 2 --nproc-per-node 8 --rdzv-backend c10d --rdzv-endpoint HOST:29500 \\
      -m spacetime.train configs/gpu_xl.toml

The run folder (run.dir) gets config.toml, metrics.jsonl, checkpoints/step_N/ and samples/.
See docs/training.md for every config key."""

CACHE_EPILOG = """examples:
  spacetime cache configs/real.toml OUT_DIR                  # the dataset of the config
  spacetime cache configs/real.toml cache/ --set data.path=clips.csv --shard-size 256

Then train the DiT on the latents: data.source = "cache", data.path = OUT_DIR."""

EXPORT_EPILOG = """examples:
  spacetime export runs/smoke models/smoke          # EMA weights of the newest valid checkpoint
  spacetime export runs/smoke models/smoke --checkpoint runs/smoke/checkpoints/step_000040 --raw
  spacetime export runs/finetune models/blend --blend-with models/base --run-share 0.4   # WiSE-FT
  spacetime export runs/finetune models/mixed --blend-with models/base --run-share 1 --pattern-share 'text_embed.*=0'
  spacetime generate "a red circle moving right" --model models/smoke -o out.mp4"""


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="TOML (or YAML) config file, e.g. configs/smoke.toml")
    parser.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE", dest="overrides",
                        help="override config keys, e.g. train.lr=1e-4 model.preset=tiny parallel.strategy=fsdp")
    parser.add_argument("--resume", nargs="?", const=True, default=False, metavar="CHECKPOINT",
                        help="continue the run from its newest valid checkpoint (or from the given step folder)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (metrics.jsonl is still written)")
    parser.add_argument("--stop-after", type=int, metavar="N",
                        help="train N steps in this call, then checkpoint and stop (the schedule of train.steps is kept; "
                             "continue later with --resume)")


def run_train(args) -> int:
    from spacetime.train.config import load_config
    from spacetime.train.loop import train
    from spacetime.train.parallelize import exit_launched_process

    config = load_config(args.config, args.overrides)
    if args.stop_after is not None and args.stop_after < 1:
        raise RequestError(f"--stop-after must be a positive number of steps, got {args.stop_after}")
    run_dir = train(config, resume=args.resume, progress=not args.no_progress, stop_after=args.stop_after)
    print(f"run folder: {run_dir}")
    exit_launched_process(0)
    return 0


def run_cache(args) -> int:
    from spacetime.data.latent_cache import cache_dataset
    from spacetime.train.config import load_config

    config = load_config(args.config, args.overrides)
    summary = cache_dataset(config, args.out_dir, shard_size=args.shard_size)
    print(summary)
    return 0


def run_export(args) -> int:
    from spacetime.train.export import export_run

    if args.run_share is not None and args.blend_with is None:
        raise RequestError("--run-share says how much of the run to keep in a blend; give --blend-with FOLDER too")
    out = export_run(args.run_dir, args.out_dir, checkpoint=args.checkpoint, use_ema=not args.raw,
                     defaults=_parse_defaults(args.defaults), blend_with=args.blend_with,
                     run_share=0.5 if args.run_share is None else args.run_share,
                     pattern_shares=_parse_pattern_shares(args.pattern_shares))
    print(f"wrote {out}")
    return 0


def _parse_pattern_shares(items: list[str]) -> dict:
    """`text_embed.*=0 blocks.*.cross.kv.*=0.5` -> {"text_embed.*": 0.0, "blocks.*.cross.kv.*": 0.5}."""
    out = {}
    for item in items:
        pattern, _, value = item.rpartition("=")  # no "=": pattern is ""
        try:
            share = float(value)
        except ValueError:
            pattern = ""
        if not pattern:
            raise RequestError(f"--pattern-share takes PATTERN=SHARE items (e.g. 'text_embed.*=0'), got {item!r}")
        out[pattern] = share
    return out


def _parse_defaults(items: list[str]) -> dict:
    """`width=128 seconds=4 sampler=euler` -> {"width": 128, "seconds": 4, "sampler": "euler"}."""
    import json

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise RequestError(f"--defaults takes KEY=VALUE items, got {item!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def register(subparsers) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    p = subparsers.add_parser("train", help="train a DiT or a VAE from a config (one process or torchrun)",
                              description="Train the diffusion transformer (model.kind = 'dit') or the video VAE "
                                          "(model.kind = 'vae') as a config file says.",
                              epilog=TRAIN_EPILOG, formatter_class=fmt)
    add_train_arguments(p)
    p.set_defaults(func=run_train)

    p = subparsers.add_parser("cache", help="encode a dataset once into latent + text shards for fast DiT training",
                              description="Encode every clip of the config's dataset with the frozen VAE and text "
                                          "encoder into safetensors shards, one bucket shape per shard.",
                              epilog=CACHE_EPILOG, formatter_class=fmt)
    p.add_argument("config", help="config whose [data] and [model] (vae, text_encoder) say what to encode")
    p.add_argument("out_dir", help="folder for the shards (created)")
    p.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE", dest="overrides", help="override config keys")
    p.add_argument("--shard-size", type=int, default=256, help="clips per shard (default 256)")
    p.set_defaults(func=run_cache)

    p = subparsers.add_parser("export", help="write a run's EMA weights as a model folder for --model",
                              description="Write RUN_DIR's newest valid checkpoint (EMA weights) in the inference "
                                          "format: model_index.json, vae/ and dit/ (config.json + safetensors).",
                              epilog=EXPORT_EPILOG, formatter_class=fmt)
    p.add_argument("run_dir", help="training run folder (holds config.toml and checkpoints/)")
    p.add_argument("out_dir", help="model folder to write")
    p.add_argument("--checkpoint", default=None, help="a checkpoints/step_N folder instead of the newest valid one")
    p.add_argument("--raw", action="store_true", help="export the raw trained weights instead of the EMA")
    p.add_argument("--defaults", nargs="+", default=[], metavar="KEY=VALUE",
                   help="generation defaults stored in the model folder (DiT runs), e.g. width=128 height=128 "
                        "fps=8 seconds=4 steps=8 guidance=3")
    p.add_argument("--blend-with", default=None, metavar="FOLDER",
                   help="a model folder of the same config (say, the one the run was fine-tuned from): write "
                        "RUN_SHARE x the run's weights + (1 - RUN_SHARE) x its weights; for a VAE run, a VAE with "
                        "the same encoder (a decoder trained under train.freeze_encoder)")
    p.add_argument("--run-share", type=float, default=None, metavar="S",
                   help="the run's share of the blend with --blend-with, between 0 and 1 (default 0.5)")
    p.add_argument("--pattern-share", nargs="+", default=[], metavar="PATTERN=S", dest="pattern_shares",
                   help="the run's share for the weights whose names match PATTERN (fnmatch; the first match "
                        "counts), e.g. 'text_embed.*=0' takes them whole from --blend-with")
    p.set_defaults(func=run_export)
