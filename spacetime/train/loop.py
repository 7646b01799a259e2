"""The training loop: one function for one process or torchrun, DiT or VAE.

    run_dir = train(load_config("configs/smoke.toml"), resume=True)

Per optimizer step: `grad_accum` micro-batches (the gradient all-reduce only on the last),
bf16 autocast when asked, gradient clipping, AdamW with linear warm-up then constant or
cosine learning rate, an EMA update, then logging, samples and checkpoints. Randomness is
seeded from (seed, micro-batch, rank) at every micro-batch, and the data sources are
indexed by micro-batch, so a resumed run repeats the uninterrupted one exactly
(`run.deterministic = true` also turns on deterministic kernels).

The run folder holds config.toml (the resolved config), metrics.jsonl (one JSON object per
logged step), checkpoints/ and samples/; TensorBoard event files too when tensorboard is
installed.
"""

from __future__ import annotations

import json
import math
import time
import warnings
from pathlib import Path

import torch

from spacetime.errors import SpacetimeWarning
from spacetime.train.checkpoint import CheckpointManager
from spacetime.train.config import TrainConfig, dump_toml
from spacetime.train.ema import EMA
from spacetime.train.parallelize import (
    DistEnv,
    all_reduce_max,
    all_reduce_mean,
    barrier,
    gradient_sync,
    init_distributed,
    parallelize,
    shutdown,
)


def lr_at(step: int, t, time_fraction: float = 0.0) -> float:
    """Learning rate of optimizer step `step` (0-based): linear warm-up, then constant or cosine.

    time_fraction: the share of `train.time_budget` spent; the cosine follows the steps or the
    clock, whichever is further along."""
    if t.warmup_steps > 0 and step < t.warmup_steps:
        return t.lr * (step + 1) / t.warmup_steps
    if t.decay == "cosine":
        span = max(1, t.steps - t.warmup_steps)
        progress = min(1.0, max((step - t.warmup_steps) / span, time_fraction))
        floor = t.lr * t.min_lr_ratio
        return floor + (t.lr - floor) * 0.5 * (1 + math.cos(math.pi * progress))
    return t.lr


def seed_for(seed: int, index: int, rank: int) -> int:
    """A 63-bit seed for (run seed, micro-batch, rank): distinct streams, reproducible on resume."""
    import numpy as np

    return int(np.random.SeedSequence(seed, spawn_key=(index, rank)).generate_state(1, np.uint64)[0] >> 1)


def measure_peak_flops(device: torch.device, dtype: torch.dtype = torch.float32, size: int = 1024) -> float:
    """Achieved matmul FLOP/s on this device (a few seconds at most): the MFU denominator."""
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    a @ b  # warm-up
    reps, start = 0, time.perf_counter()
    while reps < 3 or time.perf_counter() - start < 0.3:
        a @ b
        reps += 1
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return 2 * size**3 * reps / (time.perf_counter() - start)


class MetricsLog:
    """metrics.jsonl (always) and TensorBoard (when installed), written by rank 0 only."""

    def __init__(self, run_dir: Path, enabled: bool):
        self.enabled = enabled
        self.file = open(run_dir / "metrics.jsonl", "a") if enabled else None
        self.tb = None
        if enabled:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(run_dir / "tensorboard"))
            except Exception:  # tensorboard not installed: JSONL only
                self.tb = None

    def write(self, record: dict) -> None:
        if not self.enabled:
            return
        self.file.write(json.dumps(record) + "\n")
        self.file.flush()
        if self.tb is not None:
            for key, value in record.items():
                if key != "step" and isinstance(value, (int, float)):
                    self.tb.add_scalar(key, value, record["step"])

    def close(self) -> None:
        if self.file:
            self.file.close()
        if self.tb is not None:
            self.tb.close()


def train(config: TrainConfig, *, resume: bool | str = False, task=None, source=None, progress: bool = True,
          stop_after: int | None = None) -> Path:
    """Train as configured; returns the run folder. Launched by torchrun, each process calls this.

    resume: False (start fresh; an existing run folder with checkpoints is an error), True
    (continue from the newest valid checkpoint, or start fresh when there is none), or the
    path of one checkpoint folder. `task`/`source` replace the ones built from the config
    (tests use tiny stand-ins). `stop_after`: end after this many steps of this call.
    """
    env = init_distributed(config.parallel.strategy, config.parallel.backend, config.parallel.device)
    try:
        run_dir = _train(config, env, resume, task, source, progress, stop_after)
        # Every rank reaches the end before any tears its gloo connections down: without this,
        # rank 1 of a 2-process FSDP run sometimes aborted in C++ at exit ("terminate called
        # without an active exception"). Not on the error path: a barrier there would wait for
        # a rank that is stuck elsewhere.
        barrier(env)
        return run_dir
    finally:
        shutdown(env)


def _train(config: TrainConfig, env: DistEnv, resume, task, source, progress, stop_after) -> Path:
    from spacetime.train.tasks import build_source, build_task

    t = config.train
    run_dir = Path(config.run.dir)
    if config.run.deterministic:
        torch.use_deterministic_algorithms(True)
    ckpt = CheckpointManager(run_dir / "checkpoints", keep=t.keep_checkpoints)
    if not resume and ckpt.steps():
        from spacetime.errors import RequestError

        raise RequestError(f"run folder {run_dir} already has checkpoints; pass --resume to continue it "
                           "or choose another run.dir")
    if env.is_main:
        (run_dir / "samples").mkdir(parents=True, exist_ok=True)
        (run_dir / "config.toml").write_text(dump_toml(config))
    barrier(env)

    torch.manual_seed(config.run.seed)  # the same initial weights on every rank
    task = task if task is not None else build_task(config, env.device)
    source = source if source is not None else build_source(config, env.rank, env.world_size)
    model = task.model.to(env.device)
    if t.freeze and env.is_main:
        frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
        print(f"train.freeze: {frozen} of {sum(p.numel() for p in model.parameters())} weights kept as "
              f"{config.model.init or 'initialised'}", flush=True)
    if t.activation_checkpointing:
        task.set_activation_checkpointing(True)
    wrapped = parallelize(model, env, compile_blocks=t.compile)
    ema = EMA(model, t.ema_decay)
    optimizer = torch.optim.AdamW(model.parameters(), lr=t.lr, betas=tuple(t.betas), eps=t.eps,
                                  weight_decay=t.weight_decay)

    start, trained_seconds = 0, 0.0
    if resume:
        state = ckpt.resume(model=model, optimizer=optimizer, ema=ema, env=env,
                            path=resume if isinstance(resume, (str, Path)) else None)
        if state is not None:
            start = int(state["step"])
            trained_seconds = float(state.get("train_seconds", 0.0))  # train.time_budget counts across calls
            if env.is_main:
                _truncate_metrics(run_dir / "metrics.jsonl", start)
                print(f"resumed from step {start} ({run_dir / 'checkpoints'})", flush=True)

    compute_dtype = torch.bfloat16 if t.mixed_precision == "bf16" else torch.float32
    peak = t.peak_flops or measure_peak_flops(env.device, compute_dtype)
    log = MetricsLog(run_dir, env.is_main)
    autocast = torch.autocast(env.device.type, dtype=torch.bfloat16, enabled=t.mixed_precision == "bf16")
    end = t.steps if stop_after is None else min(t.steps, start + stop_after)
    if t.time_budget > 0 and trained_seconds >= t.time_budget:
        if env.is_main:
            print(f"train.time_budget of {t.time_budget:g} s was spent by step {start}: nothing left to train", flush=True)
        end = start
    bar = None
    if progress and env.is_main:
        from tqdm import tqdm

        if t.time_budget > 0:  # the budget, not train.steps, ends such a run: the bar counts its seconds
            bar = tqdm(total=t.time_budget, initial=min(trained_seconds, t.time_budget), desc="train",
                       dynamic_ncols=True, bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} s [{elapsed}<{remaining}{postfix}]")
        else:
            bar = tqdm(total=t.steps, initial=start, desc="train", dynamic_ncols=True)

    # Optimizer step s trains on data step s // echo: its grad_accum micro-batches are loaded once
    # and echoed (train.data_echo), while noise and dropout are seeded by the step itself.
    echo = t.data_echo
    first_data, stop_data = (start // echo) * t.grad_accum, -(-end // echo) * t.grad_accum
    next_batch = source.batch
    if t.num_workers > 0:  # prefetch in worker processes; batch(i) is a pure function of i, so order is kept
        loader = torch.utils.data.DataLoader(_Indexed(source, first_data, stop_data), batch_size=None,
                                             num_workers=t.num_workers, pin_memory=env.device.type == "cuda")
        batches = iter(loader)
        next_batch = lambda index: next(batches)  # noqa: E731
    loaded_step, loaded = -1, []

    step = start
    began = time.perf_counter() - trained_seconds
    try:
        for step in range(start, end):
            tic = time.perf_counter()
            spent = (tic - began) / t.time_budget if t.time_budget > 0 else 0.0
            lr = lr_at(step, t, spent)
            for group in optimizer.param_groups:
                group["lr"] = lr
            if step // echo != loaded_step:
                loaded_step = step // echo
                loaded = [next_batch(loaded_step * t.grad_accum + micro) for micro in range(t.grad_accum)]
            data_seconds = time.perf_counter() - tic  # waiting for data: > 0 on a step that loads
            totals: dict[str, float] = {}
            samples = tokens = flops = 0
            for micro in range(t.grad_accum):
                index = step * t.grad_accum + micro
                torch.manual_seed(seed_for(config.run.seed, index, env.rank))  # dropout and anything global
                generator = torch.Generator().manual_seed(seed_for(config.run.seed + 1, index, env.rank))
                batch = loaded[micro]
                with gradient_sync(wrapped, env, sync=micro == t.grad_accum - 1), autocast:
                    loss, stats = task.loss(wrapped, batch, generator)
                    (loss / t.grad_accum).backward()
                samples += int(stats.pop("samples"))
                tokens += int(stats.pop("tokens"))
                flops += float(stats.pop("flops", float("nan")))  # a task that cannot count them gives no MFU
                for key, value in stats.items():
                    totals[key] = totals.get(key, 0.0) + float(value) / t.grad_accum
            grad_norm = _clip(model, t.grad_clip)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            ema.update(model)
            done = step + 1
            seconds = time.perf_counter() - tic
            # every rank must stop at the same step: the slowest clock decides
            out_of_time = t.time_budget > 0 and all_reduce_max(time.perf_counter() - began, env) >= t.time_budget
            last = done == end or out_of_time

            if done % t.log_every == 0 or last:
                keys = sorted(totals)
                means = all_reduce_mean([totals[k] for k in keys] + [samples, tokens, flops], env)
                record = {"step": done, **dict(zip(keys, means[:-3])), "lr": lr, "grad_norm": grad_norm}
                total_samples, total_tokens = means[-3] * env.world_size, means[-2] * env.world_size
                record.update(samples_per_s=total_samples / seconds, tokens_per_s=total_tokens / seconds,
                              step_seconds=seconds, data_seconds=data_seconds)
                if math.isfinite(means[-1]):  # a rank's analytic FLOPs over its measured matmul peak
                    record["mfu"] = means[-1] / seconds / peak
                log.write(record)
                if bar is not None:
                    bar.set_postfix(step=done, loss=f"{record['loss']:.4f}", samples_s=f"{record['samples_per_s']:.1f}",
                                    tokens_s=f"{record['tokens_per_s']:.0f}",
                                    **({"mfu": f"{record['mfu']:.1%}"} if "mfu" in record else {}))
            if bar is not None:
                bar.update(min(time.perf_counter() - began, t.time_budget) - bar.n if t.time_budget > 0 else 1)
            if t.sample_every and done % t.sample_every == 0:
                _sample(task, wrapped, env, run_dir, done, source, config)
            if (t.checkpoint_every and done % t.checkpoint_every == 0) or last:
                ckpt.save(done, model=model, optimizer=optimizer, ema=ema, env=env,
                          data_position=source.position(-(-done // echo) * t.grad_accum),
                          extra={"ema_updates": ema.updates, "train_seconds": time.perf_counter() - began})
            if out_of_time:
                if env.is_main:
                    print(f"train.time_budget of {t.time_budget:g} s spent: stopped after step {done}", flush=True)
                break
    finally:
        if bar is not None:
            bar.close()
        log.close()
    return run_dir


class _Indexed(torch.utils.data.Dataset):
    """Micro-batches [start, stop) of a source, for a DataLoader with worker processes."""

    def __init__(self, source, start: int, stop: int):
        self.source, self.start, self.stop = source, start, stop

    def __len__(self) -> int:
        return self.stop - self.start

    def __getitem__(self, i: int) -> dict:
        return self.source.batch(self.start + i)


def _truncate_metrics(path: Path, step: int) -> None:
    """Drop the records a killed run logged after its last checkpoint: the resumed run logs them again."""
    if not path.is_file():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            if json.loads(line)["step"] <= step:
                kept.append(line)
        except (json.JSONDecodeError, KeyError, TypeError):
            pass  # a line cut by the kill
    path.write_text("".join(line + "\n" for line in kept))


def _clip(model: torch.nn.Module, max_norm: float) -> float:
    """Clip the global gradient norm (over all ranks' shards under FSDP2); return it before clipping."""
    params = [p for p in model.parameters() if p.grad is not None]
    if not params:
        return 0.0
    norm = torch.nn.utils.clip_grad_norm_(params, max_norm if max_norm > 0 else float("inf"))
    if hasattr(norm, "full_tensor"):
        norm = norm.full_tensor()
    return float(norm)


def _sample(task, wrapped, env: DistEnv, run_dir: Path, step: int, source, config: TrainConfig) -> None:
    """A sample every `sample_every` steps. Every rank runs it (FSDP2 forwards are collective); rank 0 writes."""
    if task.kind == "vae" and env.strategy == "fsdp":
        if env.is_main and step == config.train.sample_every:
            warnings.warn("VAE samples are skipped under FSDP (encode/decode bypass forward)", SpacetimeWarning)
        return
    generator = torch.Generator().manual_seed(config.run.seed)
    path = run_dir / "samples" / f"step_{step:06d}"
    model = wrapped.module if env.strategy == "ddp" else wrapped
    kwargs = {"batch": source.batch(0)} if task.kind == "vae" else {}
    try:
        if env.is_main or env.strategy == "fsdp":
            task.sample(model, path, generator, write=env.is_main, **kwargs)
    except Exception as e:  # a failed sample must not end a long run
        if env.is_main:
            warnings.warn(f"sample at step {step} failed: {type(e).__name__}: {e}", SpacetimeWarning)
