"""Training: config files and overrides, the schedule, DiT and VAE runs on the world, resume, export, CLI."""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from spacetime.train.config import ConfigError, TrainConfig, config_from_dict, dump_toml, load_config
from spacetime.train.loop import lr_at, train

ROOT = Path(__file__).resolve().parents[1]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tiny_text_encoder(tmp_path_factory) -> Path:
    """A one-layer 32-wide random BERT with the bundled MiniLM tokenizer (fast to load and run)."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    from spacetime.text import default_encoder_path

    folder = tmp_path_factory.mktemp("text_encoder")
    tokenizer = AutoTokenizer.from_pretrained(str(default_encoder_path()), local_files_only=True)
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=64)).save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return folder


def dit_config(run_dir, text_encoder, *extra):
    return load_config(ROOT / "configs" / "smoke.toml", [
        f'run.dir="{run_dir}"', f'model.text_encoder="{text_encoder}"', "data.shapes=[[1,16,16],[5,16,32]]",
        "data.batch_size=2", "train.sample_shape=[5,16,16]", "train.sample_steps=2", "train.peak_flops=1e9",
        "train.checkpoint_every=2", *extra])


# ---- config ---------------------------------------------------------------------------------------------


def test_smoke_config_reads_and_overrides_apply():
    config = load_config(ROOT / "configs" / "smoke.toml", ["train.lr=1e-3", "parallel.strategy=fsdp",
                                                           "data.shapes=[[1,32,32]]", 'run.dir="x y"'])
    assert config.train.lr == 1e-3 and config.parallel.strategy == "fsdp"
    assert config.data.shapes == [[1, 32, 32]] and config.run.dir == "x y"
    assert config.model.kind == "dit"


@pytest.mark.parametrize("path", sorted((ROOT / "configs").glob("*.toml")), ids=lambda p: p.name)
def test_every_shipped_config_is_valid(path):
    assert isinstance(load_config(path), TrainConfig)


def test_config_errors_name_the_key():
    with pytest.raises(ConfigError, match="train.lrr"):
        load_config(None, ["train.lrr=1"])
    with pytest.raises(ConfigError, match="unknown section"):
        config_from_dict({"trian": {}})
    with pytest.raises(ConfigError, match="train.steps must be int"):
        load_config(None, ["train.steps=1.5"])
    with pytest.raises(ConfigError, match="parallel.strategy"):
        load_config(None, ["parallel.strategy=zero3"])
    with pytest.raises(ConfigError, match="section.key=value"):
        load_config(None, ["lr=1"])
    with pytest.raises(ConfigError, match="needs data.path"):
        load_config(None, ["data.source=manifest"])
    with pytest.raises(ConfigError, match="train.noise_correlation must be in"):
        load_config(None, ["train.noise_correlation=1.0"])
    with pytest.raises(ConfigError, match="train.object_weight must be >= 0"):
        load_config(None, ["train.object_weight=-1"])
    with pytest.raises(ConfigError, match="object_weight_drawn .* needs train.object_weight > 0"):
        load_config(None, ["train.object_weight_drawn=true"])
    with pytest.raises(ConfigError, match="train.motion_weight must be >= 0"):
        load_config(None, ["train.motion_weight=-1"])
    with pytest.raises(ConfigError, match="train.edge_weight must be >= 0"):
        load_config(None, ["train.edge_weight=-1"])
    with pytest.raises(ConfigError, match="train.mask_probs must map kinds of"):
        load_config(None, ['train.mask_probs={sideways = 1.0}'])
    with pytest.raises(ConfigError, match="train.mask_probs must map kinds of"):
        load_config(None, ['train.mask_probs={first_frame = 0}'])
    assert load_config(None, ['train.mask_probs={none = 0.5, first_frame = 0.5}']).train.mask_probs["first_frame"] == 0.5
    with pytest.raises(ConfigError, match="train.data_echo must be >= 1"):
        load_config(None, ["train.data_echo=0"])
    with pytest.raises(ConfigError, match="train.time_budget must be >= 0"):
        load_config(None, ["train.time_budget=-5"])


def test_dumped_config_reads_back_equal():
    config = load_config(ROOT / "configs" / "smoke.toml", ["model.overrides={depth = 3}"])
    assert config_from_dict(__import__("tomllib").loads(dump_toml(config))) == config


def test_learning_rate_warmup_then_cosine():
    t = load_config(None, ["train.lr=1.0", "train.warmup_steps=4", "train.steps=14", "train.decay=cosine",
                           "train.min_lr_ratio=0.1"]).train
    assert [lr_at(s, t) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert lr_at(4, t) == pytest.approx(1.0)
    assert lr_at(9, t) == pytest.approx(0.55)
    assert lr_at(14, t) == pytest.approx(0.1)
    # with train.time_budget, the cosine follows the clock when it is further along than the steps
    assert lr_at(5, t, time_fraction=0.5) == pytest.approx(0.55)
    assert lr_at(5, t, time_fraction=1.0) == pytest.approx(0.1)
    assert lr_at(12, t, time_fraction=0.1) == lr_at(12, t)
    assert lr_at(2, t, time_fraction=0.9) == 0.75  # warm-up is by steps


# ---- runs ------------------------------------------------------------------------------------------------


def test_dit_on_world_logs_samples_and_resumes_exactly(tmp_path, tiny_text_encoder):
    extra = ("train.steps=4", "train.sample_every=4", "run.deterministic=true", "train.grad_accum=2")
    train(dit_config(tmp_path / "a", tiny_text_encoder, *extra), progress=False)
    records = [json.loads(line) for line in (tmp_path / "a/metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 3, 4]
    assert all(r["tokens_per_s"] > 0 and 0 < r["mfu"] and r["samples_per_s"] > 0 for r in records)
    assert {"loss", "t_mean", "known_frac", "grad_norm", "lr"} <= set(records[0])
    assert (tmp_path / "a/samples/step_000004.mp4").stat().st_size > 0

    # killed after step 3 (its last checkpoint: step 2), then resumed: the same weights, bit for bit
    train(dit_config(tmp_path / "b", tiny_text_encoder, *extra, "train.sample_every=0"), progress=False, stop_after=3)
    train(dit_config(tmp_path / "b", tiny_text_encoder, *extra, "train.sample_every=0"), resume=True, progress=False)
    for name in ("model", "ema", "optimizer"):
        a = load_file(str(tmp_path / f"a/checkpoints/step_000004/{name}.safetensors"))
        b = load_file(str(tmp_path / f"b/checkpoints/step_000004/{name}.safetensors"))
        assert all(torch.equal(a[k], b[k]) for k in a), name


def test_freeze_keeps_the_named_weights_through_training_and_resume(tmp_path, tiny_text_encoder):
    from fnmatch import fnmatchcase

    from spacetime.errors import RequestError
    from spacetime.train.tasks import DiTTask

    patterns = ["text_embed.*", "blocks.*.cross.kv.*"]
    extra = ("train.steps=4", "train.sample_every=0", "train.lr=1e-2", f"train.freeze={json.dumps(patterns)}")
    train(dit_config(tmp_path / "f", tiny_text_encoder, *extra), progress=False, stop_after=2)
    train(dit_config(tmp_path / "f", tiny_text_encoder, *extra), resume=True, progress=False)
    early, late = (load_file(str(tmp_path / f"f/checkpoints/step_00000{n}/model.safetensors")) for n in (2, 4))
    frozen = [k for k in late if any(fnmatchcase(k, p) for p in patterns)]
    assert len(frozen) == 4 + 2 * 2  # text_embed's two linears and each block's kv, weight and bias each
    assert all(torch.equal(early[k], late[k]) for k in frozen)
    assert not torch.equal(early["patch_embed.weight"], late["patch_embed.weight"])  # the rest trains
    with pytest.raises(RequestError, match="train.freeze: 'text_embedding.\\*' names no weight"):
        DiTTask(dit_config(tmp_path / "x", tiny_text_encoder, 'train.freeze=["text_embedding.*"]'), torch.device("cpu"))
    with pytest.raises(ConfigError, match="train.freeze names DiT parameters"):
        load_config(None, ["model.kind=vae", 'train.freeze=["encoder.*"]'])


def test_dit_with_bf16_and_activation_checkpointing(tmp_path, tiny_text_encoder):
    config = dit_config(tmp_path, tiny_text_encoder, "train.steps=2", "train.mixed_precision=bf16",
                        "train.activation_checkpointing=true", "train.text_drop=1.0", "train.image_prob=0.5")
    train(config, progress=False)
    record = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[-1])
    assert torch.isfinite(torch.tensor(record["loss"]))


def test_centred_share_clips_are_trained_with_their_first_frame_given(tmp_path, tiny_text_encoder):
    from spacetime.errors import RequestError
    from spacetime.train.tasks import DiTTask, WorldSource
    from spacetime.world.scene import Scene
    from spacetime.world.vocab import LINEAR_MOTIONS

    config = dit_config(tmp_path, tiny_text_encoder, "data.shapes=[[9,32,32]]", "data.batch_size=8",
                        "data.world_centred_share=0.5", "train.mask_probs={none = 1.0}", "train.image_prob=0.0")
    batch = WorldSource(config, 0, 1).batch(0)
    given = batch["first_frame_given"]  # (B,)
    assert given.any() and (~given).any()
    for scene, centred in zip(map(Scene.from_json, batch["scene"]), given):
        if centred:
            (obj,) = scene.objects
            assert obj.motion in LINEAR_MOTIONS and obj.speed == "slowly" and max(map(abs, obj.start)) <= 0.15

    times = []

    def spy(x, t, text, mask):  # the flow model's signature; records each latent frame's t
        times.append(t)
        return torch.zeros_like(x)

    DiTTask(config, torch.device("cpu")).loss(spy, batch, torch.Generator().manual_seed(0))
    (t,) = times  # (B, T'): t = 0 marks a given frame
    assert (t[given, 0] == 0).all() and (t[given, 1:] > 0).all() and (t[~given] > 0).all()
    with pytest.raises(RequestError, match="straight-line motion"):
        WorldSource(load_config(None, ["data.world_centred_share=0.3", 'data.world_motions=["spin"]']), 0, 1)
    with pytest.raises(RequestError, match="unknown or no world motions"):
        WorldSource(load_config(None, ["data.world_centred_share=0.3", 'data.world_centred_motions=["hop"]']), 0, 1)
    with pytest.raises(RequestError, match="within"):
        WorldSource(load_config(None, ["data.world_centred_share=1.5"]), 0, 1)


def test_mover_image_batches_are_trained_as_generated_images(tmp_path, tiny_text_encoder):
    from spacetime.train.tasks import DiTTask, WorldSource

    config = dit_config(tmp_path, tiny_text_encoder, "data.shapes=[[9,32,32]]", "data.batch_size=4",
                        "data.world_mover_images=1.0", "data.world_centred_share=0.5")
    batch = WorldSource(config, 0, 1).batch(0)
    assert batch["video"].shape[2] == 1 and not batch["first_frame_given"].any()  # no centred start among them
    times = []

    def spy(x, t, text, mask):
        times.append(t)
        return torch.zeros_like(x)

    loss, _ = DiTTask(config, torch.device("cpu")).loss(spy, batch, torch.Generator().manual_seed(0))
    (t,) = times
    assert t.shape == (4, 1) and (t > 0).all() and torch.isfinite(loss)


def test_high_noise_motions_draw_their_clips_noise_levels_at_their_own_shift(tmp_path, tiny_text_encoder):
    from spacetime.train.tasks import DiTTask, WorldSource
    from spacetime.world.scene import Scene

    base = ["data.shapes=[[9,32,32]]", "data.batch_size=8", 'data.world_motions=["orbit", "left"]',
            "train.mask_probs={none = 1.0}", "train.image_prob=0.0", "train.shift=2.0"]
    times = {}
    for name, extra in (("plain", []), ("high", ['train.high_noise_motions=["orbit"]', "train.high_noise_shift=40"])):
        config = dit_config(tmp_path / name, tiny_text_encoder, *base, *extra)
        batch = WorldSource(config, 0, 1).batch(0)

        def spy(x, t, text, mask, name=name):
            times[name] = t[:, 0]
            return torch.zeros_like(x)

        DiTTask(config, torch.device("cpu")).loss(spy, batch, torch.Generator().manual_seed(0))
    orbit = torch.tensor([any(o.motion == "orbit" for o in Scene.from_json(s).objects) for s in batch["scene"]])
    assert orbit.any() and (~orbit).any()
    assert torch.equal(times["high"][~orbit], times["plain"][~orbit])  # the same draws, the same shift
    assert (times["high"][orbit] > times["plain"][orbit]).all()  # the same draws pushed toward noise
    with pytest.raises(ConfigError, match="not world motions"):
        load_config(None, ['train.high_noise_motions=["hop"]', "train.high_noise_shift=10"])
    with pytest.raises(ConfigError, match="high_noise_shift > 0"):
        load_config(None, ['train.high_noise_motions=["orbit"]'])
    with pytest.raises(ConfigError, match="data.source = 'world'"):
        load_config(None, ['train.high_noise_motions=["orbit"]', "train.high_noise_shift=10", "data.source=folder",
                           'data.path="x"'])


def test_centred_share_of_named_motions_keeps_the_placement_of_the_others():
    from spacetime.world.dataset import WorldClips
    from spacetime.world.scene import Scene

    clips = WorldClips([(9, 32, 32)], batch_size=16, centred_share=1.0, centred_motions=("still", "grow", "left"))
    scenes = [Scene.from_json(s) for s in clips.batch(0)["scene"] + clips.batch(1)["scene"]]
    assert all(len(s.objects) == 1 for s in scenes)
    motions = {s.objects[0].motion for s in scenes}
    assert motions == {"still", "grow", "left"}
    for obj in (s.objects[0] for s in scenes):
        if obj.motion == "left":  # started slowly by the centre: the first frame does not tell the direction
            assert obj.speed == "slowly" and max(map(abs, obj.start)) <= 0.15


def test_compiled_blocks_train_like_eager_ones_and_keep_their_names(tmp_path, tiny_text_encoder):
    def run(name, *extra):
        train(dit_config(tmp_path / name, tiny_text_encoder, "train.steps=2", "train.sample_every=0",
                         "data.shapes=[[5,16,16]]", *extra), progress=False)
        losses = [json.loads(line)["loss"] for line in (tmp_path / name / "metrics.jsonl").read_text().splitlines()]
        return losses, load_file(str(tmp_path / name / "checkpoints/step_000002/model.safetensors"))

    eager_losses, eager = run("eager")
    compiled_losses, compiled = run("compiled", "train.compile=true")
    assert compiled.keys() == eager.keys()  # no "_orig_mod." prefixes: checkpoints stay interchangeable
    assert compiled_losses == pytest.approx(eager_losses, rel=1e-3)
    with pytest.raises(Exception, match="train.compile compiles transformer blocks"):
        train(load_config(None, [f'run.dir="{tmp_path / "vae"}"', "model.kind=vae", "model.preset=tiny",
                                 "data.shapes=[[5,16,16]]", "data.batch_size=1", "train.steps=1", "train.compile=true"]),
              progress=False)


def test_vae_trains_through_the_same_entry_point(tmp_path):
    config = load_config(None, [f'run.dir="{tmp_path}"', "model.kind=vae", "model.preset=tiny",
                                "data.shapes=[[5,16,16]]", "data.batch_size=1", "train.steps=2",
                                "train.sample_every=2", "train.peak_flops=1e9", "train.lr=1e-3"])
    train(config, progress=False)
    record = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[-1])
    assert {"loss", "l1", "kl", "psnr"} <= set(record)
    assert "mfu" not in record  # no analytic FLOP count for its convolutions, so no made-up MFU
    assert (tmp_path / "samples/step_000002.mp4").is_file()


def test_export_writes_a_model_folder_with_the_ema_weights(tmp_path, tiny_text_encoder):
    from spacetime.model_folder import read_model_folder
    from spacetime.train.export import export_run

    train(dit_config(tmp_path / "run", tiny_text_encoder, "train.steps=2", "train.ema_decay=0.5"), progress=False)
    out = export_run(tmp_path / "run", tmp_path / "model")
    vae, dit, text_encoder, defaults, word_embeddings = read_model_folder(out)
    ema = load_file(str(tmp_path / "run/checkpoints/step_000002/ema.safetensors"))
    raw = load_file(str(tmp_path / "run/checkpoints/step_000002/model.safetensors"))
    state = dit.state_dict()
    assert all(torch.equal(state[k], v) for k, v in ema.items())
    assert any(not torch.equal(raw[k], v) for k, v in ema.items())  # EMA, not the raw weights
    assert Path(text_encoder) == tiny_text_encoder.resolve()
    assert defaults["width"] == 16 and defaults["fps"] == 8.0
    assert "noise_correlation" not in defaults  # trained on independent noise: nothing to say
    assert word_embeddings is False


def test_export_blends_the_run_with_another_dit_weight_by_weight(tmp_path, tiny_text_encoder):
    """WiSE-FT: run_share x the run's EMA weights + (1 - run_share) x another DiT of the same config."""
    from dataclasses import replace

    from spacetime.dit import DiT
    from spacetime.errors import RequestError
    from spacetime.model_folder import read_model_folder
    from spacetime.train.export import export_run

    train(dit_config(tmp_path / "run", tiny_text_encoder, "train.steps=2"), progress=False)
    plain = read_model_folder(export_run(tmp_path / "run", tmp_path / "plain"))[1].state_dict()
    torch.manual_seed(5)
    other = DiT(read_model_folder(tmp_path / "plain")[1].config)
    other.save_pretrained(tmp_path / "other")
    blended = read_model_folder(export_run(tmp_path / "run", tmp_path / "blend", blend_with=tmp_path / "other",
                                           run_share=0.25))[1].state_dict()
    theirs = other.state_dict()
    for name, weight in blended.items():
        assert torch.allclose(weight, 0.25 * plain[name] + 0.75 * theirs[name], atol=1e-6), name
    assert any(not torch.equal(blended[k], plain[k]) for k in plain)

    DiT(replace(other.config, depth=other.config.depth + 1)).save_pretrained(tmp_path / "deeper")
    for folder, share, message in [(tmp_path / "deeper", 0.5, "in depth;"), (tmp_path / "none", 0.5, "no DiT"),
                                   (tmp_path / "other", 1.0, "between 0 and 1")]:
        with pytest.raises(RequestError, match=message):
            export_run(tmp_path / "run", tmp_path / "bad", blend_with=folder, run_share=share)
    assert not (tmp_path / "bad").exists()
    out = subprocess.run([sys.executable, "-m", "spacetime", "export", str(tmp_path / "run"), str(tmp_path / "bad"),
                          "--run-share", "0.5"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode != 0 and "--blend-with" in out.stderr and "Traceback" not in out.stderr

    # a share per component: the text-reading weights whole from the other DiT, the kv at a third, the rest kept
    out = subprocess.run([sys.executable, "-m", "spacetime", "export", str(tmp_path / "run"), str(tmp_path / "mixed"),
                          "--blend-with", str(tmp_path / "other"), "--run-share", "1",
                          "--pattern-share", "text_embed.*=0", "blocks.*.cross.kv.*=0.3333", "blocks.0.*=0.5"],
                         capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    mixed = read_model_folder(tmp_path / "mixed")[1].state_dict()
    for name, weight in mixed.items():
        s = (0.0 if name.startswith("text_embed.") else 0.3333 if ".cross.kv." in name
             else 0.5 if name.startswith("blocks.0.") else 1.0)  # blocks.0.cross.kv: the first pattern that names it
        assert torch.allclose(weight, s * plain[name] + (1 - s) * theirs[name], atol=1e-6), name
    for args, message in [(["--run-share", "1", "--pattern-share", "text_embedding.*=0"], "--pattern-share: 'text_embedding"),
                          (["--pattern-share", "text_embed.*=2"], "between 0 and 1"),
                          (["--pattern-share", "text_embed.*"], "PATTERN=SHARE")]:
        out = subprocess.run([sys.executable, "-m", "spacetime", "export", str(tmp_path / "run"), str(tmp_path / "bad"),
                              "--blend-with", str(tmp_path / "other"), *args], capture_output=True, text=True, cwd=ROOT)
        assert out.returncode != 0 and message in out.stderr and "Traceback" not in out.stderr, out.stderr
    assert not (tmp_path / "bad").exists()


def test_export_blends_added_absolute_positions_with_their_zero_start(tmp_path, tiny_text_encoder):
    """A run that added absolute position features (zero-initialised) blends with a DiT without them:
    the projection is scaled by run_share, every other weight interpolated; the reverse is refused."""
    from spacetime.dit import DiT
    from spacetime.errors import RequestError
    from spacetime.model_folder import read_model_folder
    from spacetime.train.export import export_run

    train(dit_config(tmp_path / "base_run", tiny_text_encoder, "train.steps=1"), progress=False)
    base = read_model_folder(export_run(tmp_path / "base_run", tmp_path / "base"))[1]
    train(dit_config(tmp_path / "run", tiny_text_encoder, "train.steps=2", f'model.init="{tmp_path / "base/dit"}"',
                     "model.overrides={absolute_position=true}"), progress=False)
    plain = read_model_folder(export_run(tmp_path / "run", tmp_path / "plain"))[1].state_dict()
    assert plain["position_embed.weight"].abs().sum() > 0  # trained away from its zero start
    blended = read_model_folder(export_run(tmp_path / "run", tmp_path / "blend", blend_with=tmp_path / "base",
                                           run_share=0.25))[1].state_dict()
    theirs = base.state_dict()
    for name, weight in blended.items():
        expected = 0.25 * plain[name] + (0.75 * theirs[name] if name in theirs else 0)
        assert torch.allclose(weight, expected, atol=1e-6), name
    DiT.from_pretrained(tmp_path / "plain/dit").save_pretrained(tmp_path / "with_positions")
    with pytest.raises(RequestError, match="in absolute_position;"):
        export_run(tmp_path / "base_run", tmp_path / "bad", blend_with=tmp_path / "with_positions")


def test_word_embeddings_widen_an_init_dit_and_travel_to_the_model_folder(tmp_path, tiny_text_encoder):
    from spacetime.model_folder import read_model_folder
    from spacetime.pipeline import Pipeline
    from spacetime.train.export import export_run

    train(dit_config(tmp_path / "narrow", tiny_text_encoder, "train.steps=1"), progress=False)
    narrow = read_model_folder(export_run(tmp_path / "narrow", tmp_path / "narrow_model"))[1]
    assert narrow.config.text_dim == 32
    train(dit_config(tmp_path / "run", tiny_text_encoder, "train.steps=2", "model.text_word_embeddings=true",
                     f'model.init="{tmp_path / "narrow_model/dit"}"'), progress=False)
    out = export_run(tmp_path / "run", tmp_path / "model")
    vae, dit, _, _, word_embeddings = read_model_folder(out)
    assert word_embeddings is True and dit.config.text_dim == 64
    assert json.loads((out / "model_index.json").read_text())["text_word_embeddings"] is True
    pipe = Pipeline.from_pretrained(out)
    assert pipe.text_encoder.dim == 64
    assert pipe.generate("a red circle", frames=1, steps=1, seed=0, progress=False).frames.shape[0] == 1


def test_a_run_with_correlated_noise_exports_its_prior(tmp_path, tiny_text_encoder):
    from spacetime.model_folder import read_model_folder
    from spacetime.train.export import export_run

    train(dit_config(tmp_path / "run", tiny_text_encoder, "train.steps=1", "train.noise_correlation=0.5"),
          progress=False)
    assert read_model_folder(export_run(tmp_path / "run", tmp_path / "model"))[3]["noise_correlation"] == 0.5


def test_cli_help_has_examples():
    for command in ("train", "cache", "export"):
        out = subprocess.run([sys.executable, "-m", "spacetime", command, "--help"], capture_output=True, text=True,
                             cwd=ROOT)
        assert out.returncode == 0 and "examples:" in out.stdout, out.stderr


def test_cli_reports_a_bad_config_in_one_line(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[train]\nsteps = 'many'\n")
    out = subprocess.run([sys.executable, "-m", "spacetime", "train", str(bad)], capture_output=True, text=True,
                         cwd=ROOT)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [f"spacetime: error: {bad}: train.steps must be int, got 'many'"]


def test_cli_stop_after_trains_a_chunk_and_resume_finishes(tmp_path):
    """Training in chunks across sessions: --stop-after N checkpoints at N, --resume goes on."""
    sets = [f'run.dir="{tmp_path}"', "model.kind=vae", "model.preset=tiny", "data.shapes=[[1,16,16]]",
            "data.batch_size=1", "train.steps=3", "train.peak_flops=1e9", "train.checkpoint_every=0"]
    base = [sys.executable, "-m", "spacetime", "train", str(ROOT / "configs/smoke.toml"), "--no-progress", "--set", *sets]
    first = subprocess.run(base + ["--stop-after", "2"], capture_output=True, text=True, cwd=ROOT)
    assert first.returncode == 0, first.stderr
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir() if p.name.startswith("step_")) == ["step_000002"]
    second = subprocess.run(base + ["--resume"], capture_output=True, text=True, cwd=ROOT)
    assert second.returncode == 0, second.stderr
    assert (tmp_path / "checkpoints/step_000003").is_dir()
    bad = subprocess.run(base + ["--stop-after", "0"], capture_output=True, text=True, cwd=ROOT)
    assert bad.returncode == 2 and "--stop-after must be a positive" in bad.stderr


def test_data_loader_workers_give_the_same_run(tmp_path):
    def run(name, workers):
        config = load_config(ROOT / "configs" / "toy.toml", [f'run.dir="{tmp_path / name}"', "train.steps=4",
                                                             f"train.num_workers={workers}", "train.grad_accum=2"])
        train(config, progress=False)
        return [json.loads(line)["loss"] for line in (tmp_path / name / "metrics.jsonl").read_text().splitlines()]

    assert run("inline", 0) == run("workers", 2)


class RecordingSource:
    """A source that records which micro-batches the loop asks for."""

    def __init__(self, source):
        self.source, self.asked = source, []

    def batch(self, index: int) -> dict:
        self.asked.append(index)
        return self.source.batch(index)

    def position(self, index: int) -> dict:
        return self.source.position(index)


def test_data_echo_trains_each_batch_on_consecutive_steps_and_resumes_exactly(tmp_path):
    from spacetime.train.toy import ToySource

    def run(name, stop_after=None, resume=False):
        config = load_config(ROOT / "configs" / "toy.toml", [
            f'run.dir="{tmp_path / name}"', "train.steps=6", "train.data_echo=3", "train.grad_accum=2",
            "train.checkpoint_every=2", "run.deterministic=true"])
        source = RecordingSource(ToySource(config.run.seed, config.data.batch_size, 0, 1))
        train(config, source=source, progress=False, stop_after=stop_after, resume=resume)
        return source.asked

    assert run("whole") == [0, 1, 2, 3]  # 6 steps of 2 micro-batches: 2 data steps, each loaded once
    assert run("cut", stop_after=4) == [0, 1, 2, 3]
    assert run("cut", resume=True) == [2, 3]  # step 4 echoes data step 1: its micro-batches again
    for name in ("model", "ema", "optimizer"):
        a = load_file(str(tmp_path / f"whole/checkpoints/step_000006/{name}.safetensors"))
        b = load_file(str(tmp_path / f"cut/checkpoints/step_000006/{name}.safetensors"))
        assert all(torch.equal(a[k], b[k]) for k in a), name


def test_time_budget_stops_with_a_checkpoint_at_the_end_of_the_cosine(tmp_path):
    # 3 s, not 1.5: one stalled step of 0.2 s near the end left the last logged lr above 0.15 x lr in CI
    config = load_config(ROOT / "configs" / "toy.toml", [
        f'run.dir="{tmp_path}"', "train.steps=100000000", "train.time_budget=3.0", "train.decay=cosine",
        "train.warmup_steps=0", "train.min_lr_ratio=0.1", "train.log_every=1", "train.checkpoint_every=0"])
    train(config, progress=False)
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    last = records[-1]
    assert 1 < last["step"] < config.train.steps
    assert (tmp_path / f"checkpoints/step_{last['step']:06d}").is_dir()
    assert records[0]["lr"] == pytest.approx(config.train.lr)
    assert last["lr"] < 0.15 * config.train.lr  # the floor is 0.1 x lr, reached when the budget is spent
    state = json.loads((tmp_path / f"checkpoints/step_{last['step']:06d}/state.json").read_text())
    assert state["train_seconds"] >= 3.0

    # the budget is the run's, not the call's: a resumed run whose budget is spent trains no more,
    train(config, resume=True, progress=False)
    assert [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()] == records
    # and one cut short goes on counting from the time its checkpoint recorded: a slow first chunk
    # (0.3 s per batch), then a fast one, whose own time alone would be less than the first's
    from spacetime.train.toy import ToySource

    class SlowSource(RecordingSource):
        def batch(self, index: int) -> dict:
            time.sleep(0.3)
            return super().batch(index)

    chunked = load_config(ROOT / "configs" / "toy.toml", [f'run.dir="{tmp_path / "chunks"}"', "train.steps=6",
                                                           "train.time_budget=600", "train.checkpoint_every=3"])
    toy = ToySource(chunked.run.seed, chunked.data.batch_size, 0, 1)
    train(chunked, source=SlowSource(toy), progress=False, stop_after=3)
    train(chunked, source=toy, resume=True, progress=False)
    seconds = [json.loads((tmp_path / f"chunks/checkpoints/step_00000{n}/state.json").read_text())["train_seconds"]
               for n in (3, 6)]
    assert 0.9 <= seconds[0] < seconds[1]


def test_decoder_only_training_keeps_the_encoder_and_its_latent_scaling(tmp_path):
    from spacetime.errors import RequestError
    from spacetime.train.export import export_run
    from spacetime.vae import VideoVAE

    common = ["model.kind=vae", "model.preset=tiny", "data.shapes=[[5,16,16]]", "data.batch_size=1",
              "train.steps=2", "train.peak_flops=1e9", "train.lr=1e-2"]
    train(load_config(None, [f'run.dir="{tmp_path / "a"}"', *common]), progress=False)
    first = export_run(tmp_path / "a", tmp_path / "vae_a")
    train(load_config(None, [f'run.dir="{tmp_path / "b"}"', *common, f'model.init="{first}"',
                             "train.freeze_encoder=true", "run.seed=1"]), progress=False)
    second = export_run(tmp_path / "b", tmp_path / "vae_b")
    a, b = load_file(str(first / "model.safetensors")), load_file(str(second / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a if k.startswith("encoder."))
    assert any(not torch.equal(a[k], b[k]) for k in a if k.startswith("decoder."))
    config_a, config_b = (json.loads((f / "config.json").read_text()) for f in (first, second))
    assert config_a["latent_mean"] == config_b["latent_mean"] and config_a["latent_std"] == config_b["latent_std"]
    # blended with the VAE it started from: the decoder interpolated, the encoder and its scaling kept
    blend = export_run(tmp_path / "b", tmp_path / "vae_blend", blend_with=first, run_share=0.25)
    mixed = load_file(str(blend / "model.safetensors"))
    assert all(torch.allclose(mixed[k], 0.25 * b[k] + 0.75 * a[k], atol=1e-6) for k in a)
    assert json.loads((blend / "config.json").read_text())["latent_std"] == config_a["latent_std"]
    other = VideoVAE.from_pretrained(first)
    with torch.no_grad():
        other.encoder.conv_in.conv.weight.add_(0.1)  # another encoder, the same architecture
    other.save_pretrained(tmp_path / "vae_other")
    with pytest.raises(RequestError, match="its encoder differs from the run's"):
        export_run(tmp_path / "b", tmp_path / "bad", blend_with=tmp_path / "vae_other")
    assert not (tmp_path / "bad").exists()
    with pytest.raises(Exception, match="freeze_encoder needs model.init"):
        train(load_config(None, [f'run.dir="{tmp_path / "c"}"', *common, "train.freeze_encoder=true"]), progress=False)
    # A wider decoder under the same encoder: matching tensors come from the init, the rest start fresh.
    wide = [f'model.init="{first}"', "train.freeze_encoder=true", "model.overrides={decoder_hidden_channels=12}"]
    train(load_config(None, [f'run.dir="{tmp_path / "d"}"', *common, *wide]), progress=False)
    third = export_run(tmp_path / "d", tmp_path / "vae_d")
    c = load_file(str(third / "model.safetensors"))
    assert all(torch.equal(a[k], c[k]) for k in a if k.startswith("encoder."))
    assert c["decoder.conv_out.conv.weight"].shape[1] == 12 != a["decoder.conv_out.conv.weight"].shape[1]
    config_c = json.loads((third / "config.json").read_text())
    assert config_c["decoder_hidden_channels"] == 12 and config_c["latent_std"] == config_a["latent_std"]
    with pytest.raises(Exception, match="change it; change only decoder fields"):
        train(load_config(None, [f'run.dir="{tmp_path / "e"}"', *common, *wide[:2], "model.overrides={hidden_channels=12}"]),
              progress=False)


def test_decoder_trained_on_a_dits_redrawn_latents_keeps_the_encoder(tmp_path):
    from spacetime.model_folder import write_tiny_model_folder
    from spacetime.train.export import export_run
    from spacetime.train.tasks import DiTReconstruction

    folder = write_tiny_model_folder(tmp_path / "m", defaults={"noise_correlation": 0.5})
    common = ["model.kind=vae", f'model.init="{folder / "vae"}"', "train.freeze_encoder=true",
              f'train.decoder_dit="{folder}"', "data.shapes=[[5,16,16]]", "data.batch_size=2", "train.steps=2",
              "train.peak_flops=1e9", "train.lr=1e-2", "train.object_weight=1.0"]
    train(load_config(None, [f'run.dir="{tmp_path / "a"}"', *common, "train.decoder_dit_share=1"]), progress=False)
    out = export_run(tmp_path / "a", tmp_path / "vae_a")
    a, b = load_file(str(folder / "vae" / "model.safetensors")), load_file(str(out / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a if k.startswith("encoder."))
    assert any(not torch.equal(a[k], b[k]) for k in a if k.startswith("decoder."))

    # share 1 redraws every clip's latents (t > 0 almost surely); share 0 passes them through
    z = torch.randn(2, 4, 2, 2, 2)
    for share, changed in ((1.0, True), (0.0, False)):
        redraw = DiTReconstruction(str(folder), torch.device("cpu"), share, 0.5)
        assert redraw.noise_correlation == 0.5
        out_z = redraw(z, ["a red circle", "a blue square"], torch.Generator().manual_seed(0))
        assert out_z.shape == z.shape and (not torch.equal(out_z, z)) == changed

    with pytest.raises(ConfigError, match="needs model.kind = 'vae' and train.freeze_encoder"):
        load_config(None, [f'train.decoder_dit="{folder}"', "model.kind=vae"])
    with pytest.raises(ConfigError, match="only in the decoder_dit objective"):
        load_config(None, ["model.kind=vae", "train.object_weight=1.0"])
    with pytest.raises(ConfigError, match="decoder_dit_share must be in"):
        load_config(None, [*common[:4], "train.decoder_dit_share=1.5"])
    # a DiT trained on another VAE's latents cannot teach this decoder
    other = write_tiny_model_folder(tmp_path / "other", seed=3)
    with pytest.raises(Exception, match="encodes or normalises latents unlike"):
        train(load_config(None, [f'run.dir="{tmp_path / "b"}"', *common, f'model.init="{other / "vae"}"']),
              progress=False)


def test_decoder_loss_is_the_squared_error_and_weights_object_pixels():
    from spacetime.vae import VAEConfig, VideoVAE
    from spacetime.vae_loss import decoder_loss

    torch.manual_seed(0)
    vae = VideoVAE(VAEConfig.preset("tiny"))
    video = torch.full((1, 3, 5, 16, 16), -1.0)
    video[:, 0, :, 4:8, 4:8] = 1.0  # a red square on black
    z = vae.encode_latents(video)
    recon = vae(video, latents=z)[0]
    plain = decoder_loss(vae, video, z)
    assert torch.allclose(plain["loss"], (recon - video).pow(2).mean())
    error = (recon - video).pow(2).mean(dim=1)
    on_square = error[..., 4:8, 4:8].mean() > error.mean()
    assert (decoder_loss(vae, video, z, object_weight=4.0)["loss"] > plain["loss"]) == on_square

    # drawn: pixels the decoder paints where the target is black weigh as the square's do
    drawn = torch.zeros(1, 3, 5, 16, 16)
    drawn[:, 0, :, 10:14, 10:14] = 2.0  # a red square drawn where there is none
    fake = lambda video, latents: (video + drawn, None, None)  # noqa: E731
    alone = decoder_loss(fake, video, z, object_weight=4.0)["loss"]
    both = decoder_loss(fake, video, z, object_weight=4.0, object_weight_drawn=True)["loss"]
    assert both > 3 * alone
