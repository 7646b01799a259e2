"""How much a DiT's velocity moves when one word of the prompt changes: colour, shape, size, background.

    python benchmarks/word_sensitivity.py [--model FOLDER] [--scenes 16] [--t 0.5 0.7 0.9]

For fresh still one-object world scenes (one frame at the model's default size), the rendered
image is encoded, noised to t, and the DiT's velocity is computed for the scene's own prompt
("a large red square on a black background") and for the prompt with one word swapped for
another of its kind ("... red circle ...", "... small red square ...", ...), on the same noise.
Reported per kind of word: the mean relative change ||v' - v|| / ||v|| over the whole image and
over the latent cells that show the object, and ("text") that of the prompt's mean token state,
the pooled text the DiT adds to its time conditioning. A model that draws what a word says must move its
velocity when that word changes; one that ignores the word does not. Last line: one JSON object.
"""

from __future__ import annotations

import json

import numpy as np
import torch

SCENE_SEED = 31_000_000


def prompt_of(color: str, shape: str, size: str, background: str) -> str:
    return f"a {size} {color} {shape} on a {background} background"


KINDS = ("color", "shape", "size", "background")


def measure(pipe, scenes: int, noise_levels, width: int, height: int) -> dict:
    """{"<kind>_text", "<kind>@<t>_image", "<kind>@<t>_object"} for each kind of word (see the module doc)."""
    from spacetime import flow
    from spacetime.dit import pooled_text
    from spacetime.world import vocab
    from spacetime.world.render import object_pixels, render
    from spacetime.world.scene import Scene, SceneObject

    choices = {"color": list(vocab.COLORS), "shape": list(vocab.SHAPES), "size": list(vocab.SIZES),
               "background": [b for b in ("black", "white", "gray") if b in vocab.BACKGROUNDS]}  # in KINDS order
    changes: dict[tuple[str, float, str], list[float]] = {}
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        for i in range(scenes):
            rng = np.random.default_rng(SCENE_SEED + i)
            words = {kind: str(rng.choice(options)) for kind, options in choices.items()}
            scene = Scene(background=words["background"], objects=[SceneObject(
                color=words["color"], shape=words["shape"], size=words["size"], motion="still",
                start=(float(rng.uniform(-0.2, 0.2)), float(rng.uniform(-0.2, 0.2))))])
            pixels = render(scene, width, height, 8.0, 1)
            shown = object_pixels(scene, pixels, 8.0)  # (1, H, W)
            video = torch.from_numpy(pixels).permute(3, 0, 1, 2)[None].float() / 127.5 - 1
            x0 = pipe.vae.encode_latents(video).float()  # (1, C, 1, h, w)
            cells = torch.nn.functional.max_pool2d(torch.from_numpy(shown).float()[None], 8, ceil_mode=True) > 0
            cells = cells[:, None, :, : x0.shape[3], : x0.shape[4]]  # (1, 1, 1, h, w)
            prompts = {"own": prompt_of(**words)}
            for kind, options in choices.items():
                other = [o for o in options if o != words[kind]]
                prompts[kind] = prompt_of(**{**words, kind: str(rng.choice(other))})
            text, mask = pipe.text_encoder.encode(list(prompts.values()))
            pooled = pooled_text(text, mask)  # (P, D): what the DiT's adaLN sees of the text
            for k, kind in enumerate(list(prompts)[1:], start=1):
                changes.setdefault((kind, 0.0, "text"), []).append(
                    float((pooled[k] - pooled[0]).norm() / pooled[0].norm()))
            for t_value in noise_levels:
                eps = torch.randn(x0.shape, generator=torch.Generator().manual_seed(i))
                t = torch.full((len(prompts), 1), float(t_value))
                x_t = flow.noise(x0, eps, t[:1]).expand(len(prompts), -1, -1, -1, -1)
                v = pipe.dit(x_t, t, text, mask).float()  # (P, C, 1, h, w)
                for k, kind in enumerate(list(prompts)[1:], start=1):
                    diff = v[k] - v[0]
                    changes.setdefault((kind, t_value, "image"), []).append(float(diff.norm() / v[0].norm()))
                    inside = cells[0].expand_as(diff)
                    if inside.any():
                        changes.setdefault((kind, t_value, "object"), []).append(
                            float(diff[inside].norm() / v[0][inside].norm()))
    result = {}
    for kind in KINDS:
        result[f"{kind}_text"] = round(float(np.mean(changes[kind, 0.0, "text"])), 4)
        for t_value in noise_levels:
            for where in ("image", "object"):
                values = changes.get((kind, t_value, where))
                result[f"{kind}@{t_value:g}_{where}"] = round(float(np.mean(values)), 4) if values else None
    return result


def main() -> int:
    from _model_choice import still_scene_probe_setup  # beside this script

    args, pipe = still_scene_probe_setup(__doc__, scenes=16, noise_levels=[0.5, 0.7, 0.9])
    d = pipe.defaults
    result = {"model": args.model or "embedded", "scenes": args.scenes,
              **measure(pipe, args.scenes, args.t, int(d["width"]), int(d["height"]))}
    print(f"{'word':>11}{'text':>7}" + "".join(f"{f't={t:g} image':>14}{'object':>9}" for t in args.t))
    for kind in KINDS:
        row = f"{kind:>11}{result[f'{kind}_text']:7.3f}"
        for t_value in args.t:
            for where, width in (("image", 14), ("object", 9)):
                value = result[f"{kind}@{t_value:g}_{where}"]
                row += f"{float('nan') if value is None else value:{width}.3f}"
        print(row)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    from _model_choice import run_benchmark  # beside this script

    run_benchmark(main)
