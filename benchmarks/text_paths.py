"""Which of the DiT's two text paths carries which word, and down to which noise level.

    python benchmarks/text_paths.py [--model FOLDER] [--scenes 60] [--t 0.5 0.7 0.85]

The DiT reads the prompt twice: cross-attention to the token states, and an MLP of their
mean (the pooled text) added to each frame's adaLN conditioning. For fresh still one-object
world scenes (one frame at the model's default size, the prompts of `embedded_quality.py
--image`), the rendered image is encoded and noised to t; the DiT's one-step estimate of the
clean latent, x0 = x_t - t v, is decoded and read by the world evaluator (colour, shape, size,
presence), with the prompt given to both paths, to cross-attention only, to the pooled path
only, or to neither (the empty prompt's states in its place). Where a word's rate with the
prompt is no better than with the empty prompt, the model does not use that word at that noise
level. t = 0 is the VAE round trip: the ceiling. Last line: one JSON object.
"""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager

import torch

from embedded_quality import quality_scene  # beside this script

ROUTES = {"both": (True, True), "cross only": (True, False), "pooled only": (False, True), "neither": (False, False)}
WORDS = ("color", "shape", "size", "presence")


@contextmanager
def pooled_from(dit, text: torch.Tensor, mask: torch.Tensor):
    """Feed the DiT's pooled-text MLP the mean of `text` over `mask`, whatever prompt the call gets."""
    from spacetime.dit import pooled_text

    pooled = pooled_text(text, mask)
    handle = dit.pooled_text_embed.register_forward_pre_hook(lambda module, args: (pooled.to(args[0].dtype),))
    try:
        yield
    finally:
        handle.remove()


def measure(pipe, scenes: int, noise_levels, width: int, height: int) -> dict:
    """{route: {t: {word: rate}}} for the routes of ROUTES, plus "vae" (t = 0) rates."""
    from spacetime import flow
    from spacetime.video import tensor_to_frames
    from spacetime.world.evaluate import evaluate_many
    from spacetime.world.render import render

    items: dict[tuple[str, float], list[dict]] = {}
    generator = torch.Generator().manual_seed(0)

    def keep(key, latents, scene):
        frames = tensor_to_frames(pipe.vae.decode_latents(latents)[0].float().clamp(-1, 1))
        items.setdefault(key, []).append({"frames": frames, "fps": 8.0, "expected": scene.to_dict(),
                                          "positions_known": False})

    with torch.no_grad():
        for i in range(scenes):
            scene, prompt = quality_scene(i, seconds=0.0, aspect=width / height, image=True)
            video = torch.from_numpy(render(scene, width, height, 8.0, 1)).permute(3, 0, 1, 2)[None].float()
            x0 = pipe.vae.encode_latents(video / 127.5 - 1).float()  # (1, C, 1, h, w)
            keep(("vae", 0.0), x0, scene)
            text, mask = pipe.text_encoder.encode([prompt, ""])
            given, empty = (text[:1], mask[:1]), (text[1:], mask[1:])
            eps = torch.randn(x0.shape, generator=generator)
            for t_value in noise_levels:
                t = torch.full((1, 1), float(t_value))
                x_t = flow.noise(x0, eps, t)
                for route, (to_cross, to_pooled) in ROUTES.items():
                    with pooled_from(pipe.dit, *(given if to_pooled else empty)), torch.autocast("cpu", torch.bfloat16):
                        v = pipe.dit(x_t, t, *(given if to_cross else empty)).float()
                    keep((route, t_value), x_t - t_value * v, scene)
            print(f"[{i + 1}/{scenes}] {prompt}", file=sys.stderr)
    result: dict = {}
    for (route, t_value), its in items.items():
        rates = evaluate_many(its)["rates"]
        row = {w: round(rates[w]["rate"], 3) for w in WORDS if rates[w]["n"]}
        if route == "vae":
            result["vae"] = row
        else:
            result.setdefault(route, {})[f"{t_value:g}"] = row
    return result


def main() -> int:
    from _model_choice import still_scene_probe_setup  # beside this script

    args, pipe = still_scene_probe_setup(__doc__, scenes=60, noise_levels=[0.5, 0.7, 0.85])
    d = pipe.defaults
    result = {"model": args.model or "embedded", "scenes": args.scenes,
              **measure(pipe, args.scenes, args.t, int(d["width"]), int(d["height"]))}
    print(f"VAE round trip: " + " / ".join(f"{w} {100 * result['vae'][w]:.0f}" for w in WORDS) + " %")
    print(f"{'t':>5} {'prompt to':>12}" + "".join(f"{w:>10}" for w in WORDS))
    for t_value in args.t:
        for route in ROUTES:
            row = result[route][f"{t_value:g}"]
            print(f"{t_value:5g} {route:>12}" + "".join(f"{100 * row.get(w, float('nan')):10.0f}" for w in WORDS))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    from _model_choice import run_benchmark  # beside this script

    run_benchmark(main)
