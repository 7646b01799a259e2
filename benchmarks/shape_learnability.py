"""Can a DiT learn shape words at all? Fine-tune it where nothing but the shape word explains the image.

    python benchmarks/shape_learnability.py [--model FOLDER] [--minutes 10] [--threads 1] [--samples 60]
                                            [--vary all] [--contrast] [--lr 1e-4] [--shift 1]
                                            [--sample-shift S] [--object-weight W] [--edge-weight W]
                                            [--captions fixed|short|descriptive|framed|varied]
                                            [--shape-words own|synonyms] [--freeze-text]
                                            [--restore-after LEVEL ...] [--skip-before]
                                            [--scenes probe|world] [--save FOLDER]
    python benchmarks/shape_learnability.py --restore 0.1 0.3 0.5 0.7 0.85 0.95 [--vary all] [--samples 60]

Still 128x128 world scenes of one large red object on black at a random position, captioned
"a large red {circle|square|triangle} on a black background": the shape is the only word that
changes. The model folder's DiT (its other parts frozen) is trained for `--minutes` of wall time
(rectified flow, batch 16, AdamW lr 1e-4, bf16 autocast, 10 % empty prompts, EMA 0.995), then
`--samples` images are generated from its EMA with the folder's sampling defaults (a third per
shape) and read by the world evaluator. The same reading before any training is printed first:
the baseline. Nothing is saved unless `--save` names a folder. Last line: one JSON object.

With the full vocabulary (eight colours, three sizes, four backgrounds, motion) the embedded
DiTs draw shapes at chance; if this probe moves them well above chance in minutes, the network
and the text path can carry shape words, and what is missing is training signal, not capacity.

`--restore LEVEL ...` trains nothing: each scene's own render is noised to each level and sampled
from there with its prompt (SDEdit, `generate(edit=...)`), and the results are read: down to which
noise level the model keeps a shape it is shown, so above which it must draw the shape from the
word.

`--vary all`: colour, size and background vary too (black, gray or white), as in the world's
still images; the prompt names them all. `--contrast`: each batch is 5 groups of one scene drawn
in each of the three shapes (all else equal), instead of 16 independent scenes: the same data
distribution, with what the shape word changes inside every batch.

What the world stream has and the probe has not, one at a time (the samples are always read with
the probe's one sentence): `--captions varied` trains on the world's caption styles (short,
descriptive or framed, with the world's synonyms for colours, sizes and shapes; `--captions short`
etc. one style); `--shape-words` names the shape by its own word or by the world's synonyms ('ball',
'box') in any caption style (default: own in the fixed sentence, synonyms in a world style);
`--freeze-text` keeps the text-reading weights as the world runs do
(configs/embedded_dit_anneal.toml's train.freeze). `--restore-after LEVEL ...` also reads the trained
model's restorations from those levels; `--skip-before` skips the reading before training.
`--scenes world` trains on the stream's one-object images (`data.world_shape_images`: any of the
world's backgrounds, the object placed anywhere) instead of the probe's object near the centre on
black, grey or white; the readings stay the probe's. `--save FOLDER` writes a copy of the model
folder with the trained DiT (its EMA), for the benchmarks that read a folder (`embedded_quality.py
--image` reads its images in world scenes).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

SHAPES = ("circle", "square", "triangle")
WORLD_RUN_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "embedded_dit_anneal.toml"


def text_reading_weights() -> list[str]:
    """The DiT's text-reading weights, as the world runs freeze them (the config's train.freeze)."""
    from spacetime.train.config import load_config

    return list(load_config(WORLD_RUN_CONFIG).train.freeze)


def scene_of(shape: str, rng: np.random.Generator, vary_all: bool = False):
    from spacetime.world import vocab
    from spacetime.world.scene import Scene, SceneObject

    color, size, background = "red", "large", "black"
    if vary_all:
        color, size = str(rng.choice(list(vocab.COLORS))), str(rng.choice(list(vocab.SIZES)))
        background = str(rng.choice(["black", "gray", "white"]))
    start = (float(rng.uniform(-0.25, 0.25)), float(rng.uniform(-0.25, 0.25)))
    return Scene(background=background, objects=[SceneObject(color=color, shape=shape, size=size, start=start)])


def world_scene(rng: np.random.Generator):
    """One still object as the stream's one-object images draw it, in a square frame."""
    from spacetime.world.dataset import one_object_scene

    return one_object_scene(rng, aspect=1.0)


def prompt_of(scene, rng: np.random.Generator | None = None, style: str = "fixed", synonyms: bool = False) -> str:
    """The probe's one sentence, or with style a world caption style ('varied': short, descriptive or
    framed), drawn from rng. synonyms: the shape is named by one of the world's words for it ('ball',
    'box'), else by its own."""
    from unittest import mock

    from spacetime.world import captions

    shape_words = captions.SHAPE_WORDS if synonyms else {shape: (shape,) for shape in SHAPES}
    with mock.patch.dict(captions.SHAPE_WORDS, shape_words):
        if style != "fixed":
            return captions.caption(scene, rng, style)
        obj = scene.objects[0]
        shape = str(rng.choice(captions.SHAPE_WORDS[obj.shape])) if synonyms else obj.shape
        return f"a {obj.size} {obj.color} {shape} on a {scene.background} background"


def read_shapes(pipe, samples: int, vary_all: bool = False, shift: float | None = None,
                restore: float | None = None) -> dict:
    """Generate `samples` images (shapes in turn) and read them: rates and shape hits per asked shape.
    restore: sample each from its scene's own render noised to this level instead (SDEdit)."""
    from spacetime.world.evaluate import evaluate_many
    from spacetime.world.render import render

    items = []
    for i in range(samples):
        scene = scene_of(SHAPES[i % len(SHAPES)], np.random.default_rng(i), vary_all)
        edit = {} if restore is None else {"edit": render(scene, 128, 128, 8.0, 1), "edit_strength": restore}
        video = pipe.generate(prompt_of(scene), seed=i, frames=1, shift=shift, progress=False, **edit)
        items.append({"frames": video.frames, "fps": video.fps, "positions_known": False, "expected": scene.to_dict()})
    report = evaluate_many(items)
    rates = {k: round(r["rate"], 3) for k, r in report["rates"].items() if r["n"] and k in ("color", "shape", "size", "presence")}
    hits = {s: 0 for s in SHAPES}
    for item, result in zip(items, report["items"]):
        hits[item["expected"]["objects"][0]["shape"]] += sum(bool(o["checks"].get("shape")) for o in result["objects"])
    return {"rates": rates, "shape_hits": hits, "per_shape": samples // len(SHAPES)}


def train(pipe, minutes: float, *, vary_all: bool = False, contrast: bool = False, seed: int = 0, lr: float = 1e-4,
          shift: float = 1.0, object_weight: float = 0.0, edge_weight: float = 0.0, captions: str = "fixed",
          synonyms: bool = False, freeze: list | None = None, world_scenes: bool = False):
    """Fine-tune pipe.dit on still scenes for `minutes`; returns (EMA model, steps)."""
    from _model_choice import finetune_for

    from spacetime import flow
    from spacetime.video.convert import frames_to_tensor
    from spacetime.world.render import render

    rng, generator = np.random.default_rng(seed), torch.Generator().manual_seed(seed)
    null_text, null_mask = pipe.text_encoder.encode([""])
    batch = 15 if contrast else 16  # 5 groups of the 3 shapes, or 16 independent scenes
    known = torch.zeros(batch, 1, dtype=torch.bool)

    def batch_loss() -> torch.Tensor:
        if contrast:  # one scene in each shape: the draws after the shape are the same for all three
            seeds = rng.integers(0, 2**31, batch // len(SHAPES))
            scenes = [scene_of(shape, np.random.default_rng(int(g)), vary_all) for g in seeds for shape in SHAPES]
        elif world_scenes:
            scenes = [world_scene(rng) for _ in range(batch)]
        else:
            scenes = [scene_of(SHAPES[k], rng, vary_all) for k in rng.integers(0, len(SHAPES), batch)]
        video = torch.stack([frames_to_tensor(render(scene, 128, 128, 8.0, 1)) for scene in scenes])  # (B, 3, 1, H, W)
        with torch.no_grad():
            x0 = pipe.vae.encode_latents(video).float()  # (B, C, 1, h, w)
        text, mask = pipe.text_encoder.encode([prompt_of(scene, rng, captions, synonyms) for scene in scenes])
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss, _ = flow.training_loss(pipe.dit, x0, text, mask, known_mask=known, generator=generator, shift=shift,
                                         text_drop=0.1, null_text=null_text, null_mask=null_mask,
                                         object_weight=object_weight, edge_weight=edge_weight)
        return loss

    return finetune_for(pipe.dit, minutes, batch_loss, log_every=100, lr=lr, freeze=freeze)


def save_folder(pipe, model: str | None, out: Path) -> None:
    """The model folder (the embedded one when None) written again with pipe.dit as its DiT: its
    index (text encoder, defaults) and pipe.vae, through the exporter's `write_model_folder`."""
    from spacetime.model_folder import read_model_index, write_model_folder
    from spacetime.pipeline import EMBEDDED

    index = read_model_index(Path(model) if model else EMBEDDED)
    write_model_folder(out, vae=pipe.vae, dit=pipe.dit, text_encoder=index["text_encoder"],
                       text_word_embeddings=index["text_word_embeddings"], defaults=index["defaults"])
    print(f"wrote {out}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model folder (default: the embedded model)")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--samples", type=int, default=60)
    parser.add_argument("--vary", choices=("shape", "all"), default="shape", help="what varies besides the shape")
    parser.add_argument("--contrast", action="store_true", help="batches of one scene in each shape")
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--shift", type=float, default=1.0, help="training timestep shift")
    parser.add_argument("--sample-shift", type=float, help="sampling shift (default: the folder's)")
    parser.add_argument("--object-weight", type=float, default=0.0, help="flow.training_loss's object_weight")
    parser.add_argument("--edge-weight", type=float, default=0.0, help="flow.training_loss's edge_weight")
    parser.add_argument("--captions", choices=("fixed", "short", "descriptive", "framed", "varied"), default="fixed",
                        help="training captions: the probe's one sentence, or a world caption style (synonyms, frames)")
    parser.add_argument("--shape-words", choices=("own", "synonyms"),
                        help="how training captions name the shape: its own word, or the world's synonyms "
                             "(default: own with --captions fixed, synonyms with a world style, as the world does)")
    parser.add_argument("--freeze-text", action="store_true",
                        help="keep the text-reading weights as they are "
                             "(configs/embedded_dit_anneal.toml's train.freeze)")
    parser.add_argument("--restore-after", type=float, nargs="+", metavar="LEVEL",
                        help="after training, also read the scenes restored from these noise levels")
    parser.add_argument("--skip-before", action="store_true", help="do not read the model before training")
    parser.add_argument("--scenes", choices=("probe", "world"), default="probe",
                        help="training scenes: the probe's object near the centre, or the stream's one-object images")
    parser.add_argument("--save", metavar="FOLDER", help="write the model folder with the trained DiT (its EMA) here")
    parser.add_argument("--restore", type=float, nargs="+", metavar="LEVEL",
                        help="train nothing; read the scenes sampled back from their renders noised to each level")
    args = parser.parse_args()
    vary_all = args.vary == "all"
    if args.scenes == "world" and args.contrast:
        parser.error("--contrast draws the probe's scenes; it cannot be used with --scenes world")
    if args.save and Path(args.save).exists():
        parser.error(f"--save {args.save} already exists; name a new folder")
    synonyms = (args.shape_words or ("own" if args.captions == "fixed" else "synonyms")) == "synonyms"
    torch.set_num_threads(args.threads)

    from spacetime.pipeline import Pipeline

    pipe = Pipeline.from_pretrained(args.model)
    if args.restore:
        if not all(0 < level <= 1 for level in args.restore):
            parser.error("--restore levels are noise levels in (0, 1]")
        restored = {}
        for level in args.restore:
            restored[str(level)] = read_shapes(pipe, args.samples, vary_all, args.sample_shift, restore=level)
            print(f"restored from t = {level:g}: {restored[str(level)]}", flush=True)
        print(json.dumps({"model": args.model or "embedded", "vary": args.vary, "samples": args.samples,
                          "restored": restored}))
        return 0
    before = None if args.skip_before else read_shapes(pipe, args.samples, vary_all, args.sample_shift)
    print(f"before: {before}")
    pipe.dit, steps = train(pipe, args.minutes, vary_all=vary_all, contrast=args.contrast, lr=args.lr, shift=args.shift,
                            object_weight=args.object_weight, edge_weight=args.edge_weight, captions=args.captions,
                            synonyms=synonyms, freeze=text_reading_weights() if args.freeze_text else None,
                            world_scenes=args.scenes == "world")
    if args.save:
        save_folder(pipe, args.model, Path(args.save))
    after = read_shapes(pipe, args.samples, vary_all, args.sample_shift)
    for level in args.restore_after or []:
        restored = read_shapes(pipe, args.samples, vary_all, args.sample_shift, restore=level)
        after[f"restored from {level:g}"] = restored["rates"]
    print(f"after {steps} steps ({args.minutes:g} min): {after}")
    print(json.dumps({"model": args.model or "embedded", "minutes": args.minutes, "steps": steps,
                      "vary": args.vary, "contrast": args.contrast, "lr": args.lr, "shift": args.shift,
                      "sample_shift": args.sample_shift, "object_weight": args.object_weight,
                      "edge_weight": args.edge_weight, "captions": args.captions, "shape_synonyms": synonyms,
                      "freeze_text": args.freeze_text, "scenes": args.scenes, "saved": args.save,
                      "before": before, "after": after}))
    return 0


if __name__ == "__main__":
    from _model_choice import run_benchmark  # beside this script

    run_benchmark(main)
