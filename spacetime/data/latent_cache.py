"""Latent cache: encode a dataset once (frozen VAE + text encoder), train the DiT on it many epochs.

    spacetime cache configs/real.toml cache/        # writes cache/index.json + shard_00000.safetensors ...

Each shard holds clips of one bucket shape:
    latents    (N, C, T', h, w)  normalised latents (`VideoVAE.encode_latents`)
    text       (N, L, D)         text-encoder token states, padded to the shard's longest prompt
    text_mask  (N, L) bool
and, in the safetensors metadata, the captions and source paths as JSON. `index.json` lists
the shards (bucket shape, batch size, clip count) and what encoded them (VAE latent
channels, text encoder and its width), so a DiT run can check it was given the right cache.

`CachedLatents` reads it for training with the same contract as the other sources:
`batch(i)` is this rank's i-th micro-batch, planned from (seed, epoch) alone.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open

from spacetime.errors import RequestError
from spacetime.modelio import save_tensors

INDEX = "index.json"


def cache_dataset(config, out_dir: str | Path, *, shard_size: int = 256, encode_batch: int = 4,
                  device: torch.device | str = "cpu") -> str:
    """Encode every clip of the config's manifest/folder dataset into shards; returns a one-line summary."""
    from spacetime.data.dataset import VideoBatches
    from spacetime.train.tasks import load_frozen_vae, load_text_encoder

    if config.data.source not in ("manifest", "folder"):
        raise RequestError(f"spacetime cache encodes a manifest or folder; data.source is {config.data.source!r}")
    device = torch.device(device)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = VideoBatches.from_config(config, rank=0, world_size=1, require_batches=False)
    vae = load_frozen_vae(config.model.vae, device, seed=config.run.seed)
    encoder = load_text_encoder(config.model.text_encoder, device, config.model.text_word_embeddings)
    rng = np.random.default_rng(config.run.seed)

    members = data.members()  # every usable clip once, in its bucket
    shards, total = [], 0
    for bucket in sorted(members, key=lambda b: b.shape):
        rows = members[bucket]
        for start in range(0, len(rows), shard_size):
            part = rows[start:start + shard_size]
            # a clip that fails to decode is left out (counted), not replaced: a cache holds each clip once
            read = [data.read(row, bucket, rng) for row in part]
            read = [(video, clip) for (video, clip), row in zip(read, part) if clip is data.clips[row]]
            if not read:
                continue
            latents, texts, masks, captions, paths = [], [], [], [], []
            for k in range(0, len(read), encode_batch):
                clips = read[k:k + encode_batch]
                video = torch.stack([v for v, _ in clips]).to(device)
                with torch.no_grad():
                    latents.append(vae.encode_latents(video).float().cpu())
                    text, mask = encoder.encode([c.entry.caption for _, c in clips])
                texts.append(text.float().cpu())
                masks.append(mask.cpu())
                captions += [c.entry.caption for _, c in clips]
                paths += [c.entry.path for _, c in clips]
            length = max(t.shape[1] for t in texts)
            text = torch.cat([torch.nn.functional.pad(t, (0, 0, 0, length - t.shape[1])) for t in texts])
            mask = torch.cat([torch.nn.functional.pad(m, (0, length - m.shape[1])) for m in masks])
            name = f"shard_{len(shards):05d}.safetensors"
            tmp = out / f".{name}.tmp-{os.getpid()}"
            save_tensors({"latents": torch.cat(latents).contiguous(), "text": text.contiguous(), "text_mask": mask},
                         tmp, metadata={"captions": json.dumps(captions), "paths": json.dumps(paths)})
            os.replace(tmp, out / name)
            shards.append({"file": name, "shape": list(bucket.shape), "batch_size": bucket.batch_size,
                           "count": len(captions)})
            total += len(captions)
    index = {"format": "spacetime-latent-cache", "version": 1, "shards": shards,
             "latent_channels": vae.config.latent_channels, "vae": config.model.vae,
             "text_encoder": config.model.text_encoder, "text_dim": encoder.dim, "fps": config.data.fps}
    tmp = out / f".{INDEX}.tmp-{os.getpid()}"
    tmp.write_text(json.dumps(index, indent=1))
    os.replace(tmp, out / INDEX)
    failed = sorted({Path(p).name for p, _ in data.failures})
    return f"cached {total} clips in {len(shards)} shards to {out}; {len(failed)} failed to decode" + (
        f" {failed}" if failed else "")


class CachedLatents:
    """Micro-batches of cached latents + text states: dict(latents, text, text_mask, caption)."""

    def __init__(self, folder: str | Path, *, seed: int = 0, rank: int = 0, world_size: int = 1):
        self.folder = Path(folder)
        path = self.folder / INDEX
        if not path.is_file():
            raise RequestError(f"{path} is missing; make the cache with `spacetime cache CONFIG {self.folder}`")
        try:
            self.index = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise RequestError(f"{path} is not valid JSON ({e}); make the cache again") from None
        if self.index.get("format") != "spacetime-latent-cache":
            raise RequestError(f"{path} is not a spacetime latent cache index")
        self.shards = self.index["shards"]
        for shard in self.shards:
            if not (self.folder / shard["file"]).is_file():
                raise RequestError(f"{self.folder / shard['file']} is missing; make the cache again")
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self._plans: dict[int, list] = {}
        self._loaded: tuple = (None, None)
        if not self.plan(0):
            raise RequestError(f"the cache {self.folder} gives no full batch for {world_size} process(es)")

    def plan(self, epoch: int) -> list[tuple[int, np.ndarray]]:
        """This rank's batches of `epoch`: (shard number, row indices)."""
        if epoch not in self._plans:
            rng = np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(epoch,)))
            batches = []
            for s, shard in enumerate(self.shards):
                rows = rng.permutation(shard["count"])
                size = shard["batch_size"]
                batches += [(s, np.sort(rows[k:k + size])) for k in range(0, len(rows) - size + 1, size)]
            order = rng.permutation(len(batches))
            usable = len(batches) // self.world_size * self.world_size
            self._plans = {epoch: [batches[int(j)] for j in order[:usable]][self.rank::self.world_size]}
        return self._plans[epoch]

    def position(self, index: int) -> dict:
        per_epoch = len(self.plan(0))  # the same count every epoch: shards and batch sizes are fixed
        return {"micro_batches": index, "epoch": index // per_epoch, "index": index % per_epoch}

    def batch(self, index: int) -> dict:
        per_epoch = len(self.plan(0))
        shard_number, rows = self.plan(index // per_epoch)[index % per_epoch]
        if self._loaded[0] != shard_number:  # one shard in memory: batches of a shard come from one file
            path = self.folder / self.shards[shard_number]["file"]
            with safe_open(str(path), framework="pt") as f:
                tensors = {key: f.get_tensor(key) for key in ("latents", "text", "text_mask")}
                tensors["caption"] = json.loads(f.metadata()["captions"])
            self._loaded = (shard_number, tensors)
        tensors, picked = self._loaded[1], torch.from_numpy(rows)
        out = {key: tensors[key][picked] for key in ("latents", "text", "text_mask")}
        out["caption"] = [tensors["caption"][int(r)] for r in rows]
        return out

    def __len__(self) -> int:
        return len(self.plan(0))
