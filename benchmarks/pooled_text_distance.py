"""How far a paraphrase's pooled prompt lies from the training captions' (the DiT's adaLN input).

    python benchmarks/pooled_text_distance.py [--scenes 40] [--model FOLDER]

The DiT reads a prompt twice: through cross-attention to the encoder's token states, and through
their masked mean (`spacetime.dit.pooled_text`) in the adaLN modulation. For the first N scenes
of `embedded_quality.py` this writes each scene's caption in the training styles ("random" twice,
"framed") and in the held-out paraphrase templates, pools each, and prints the mean relative
distance |a - b| / |a| between the styles of one scene and between neighbouring scenes, and how
often a caption's nearest pooled neighbour among the first "random" captions is its own scene's.
Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenes", type=int, default=40)
    parser.add_argument("--model", help="model folder (default: the embedded model); its text encoder is used")
    args = parser.parse_args()
    if args.scenes < 2:
        parser.error("--scenes must be at least 2")

    from embedded_quality import paraphrase, quality_scene  # beside this script

    from spacetime.dit import pooled_text
    from spacetime.pipeline import Pipeline
    from spacetime.world.captions import caption

    encoder = Pipeline.from_pretrained(args.model).text_encoder
    scenes = [quality_scene(i, seconds=4.0, aspect=1.0)[0] for i in range(args.scenes)]
    rng = np.random.default_rng(0)
    writers = {"random": lambda s: caption(s, rng, "random"), "random again": lambda s: caption(s, rng, "random"),
               "framed": lambda s: caption(s, rng, "framed"), "paraphrase": lambda s: paraphrase(s, rng)}
    pooled = {name: pooled_text(*encoder.encode([write(s) for s in scenes])) for name, write in writers.items()}

    def distance(a: torch.Tensor, b: torch.Tensor) -> float:
        return round(float(((a - b).norm(dim=1) / a.norm(dim=1)).mean()), 3)

    def retrieval(a: torch.Tensor) -> float:  # own scene nearest among the first "random" captions
        return round(float((torch.cdist(a, pooled["random"]).argmin(1) == torch.arange(len(a))).float().mean()), 3)

    reference = pooled["random"]
    result = {"scenes": args.scenes,
              "same_scene": {name: distance(reference, p) for name, p in pooled.items() if name != "random"},
              "neighbouring_scene": distance(reference, reference.roll(1, 0)),
              "retrieval": {name: retrieval(p) for name, p in pooled.items() if name != "random"}}
    for name in result["same_scene"]:
        print(f"random vs {name:13s} same scene {result['same_scene'][name]:.3f}, own scene nearest "
              f"{100 * result['retrieval'][name]:.1f} %")
    print(f"random vs random, neighbouring scenes {result['neighbouring_scene']:.3f}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    from _model_choice import run_benchmark  # beside this script

    run_benchmark(main)
