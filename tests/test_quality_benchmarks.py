"""The quality benchmarks (benchmarks/embedded_quality.py, benchmarks/capability_quality.py) on a
tiny random model: they run end to end and report every figure in its range; the held-out
paraphrase templates never occur in training captions.

Random weights make the rates meaningless; the keys, ranges and the mechanics they rest on
(the VAE round trip used as the reference is the one the pipeline pins) are exact.
"""

import copy
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from spacetime.model_folder import write_tiny_model_folder
from spacetime.pipeline import Pipeline

pytestmark = pytest.mark.usefixtures("one_thread")
ROOT = Path(__file__).resolve().parents[1]


def _load(name: str):
    """A benchmark script as a module (benchmarks/ is not a package)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def pipe(tmp_path_factory):
    return Pipeline.from_pretrained(write_tiny_model_folder(tmp_path_factory.mktemp("tiny_model")))


def _in_unit(value):
    return value is None or 0.0 <= value <= 1.0


# ---- paraphrases -------------------------------------------------------------------------------------


def test_paraphrase_templates_never_occur_in_training_captions():
    eq = _load("embedded_quality")
    assert len(eq.paraphrase_fixed_phrases()) >= 10
    assert eq.paraphrases_seen_in_training(num_captions=5000) == []


def test_paraphrase_check_catches_a_training_phrase(monkeypatch):
    eq = _load("embedded_quality")
    # "the camera pans" is how training captions say it: a template using it must be reported
    monkeypatch.setattr(eq, "PARAPHRASE_TEMPLATES", (*eq.PARAPHRASE_TEMPLATES, "{things}; the camera pans {dir}."))
    found = eq.paraphrases_seen_in_training(num_captions=200, num_scenes=50)
    assert {phrase for phrase, _ in found} == {"the camera pans"}


def test_paraphrase_check_reads_the_framed_captions(monkeypatch):
    from spacetime.world import captions

    eq = _load("embedded_quality")
    # a sentence frame of the framed style that used a held-out phrase must be reported
    monkeypatch.setattr(captions, "SENTENCE_FRAMES", ("Watch as {c}",))
    found = eq.paraphrases_seen_in_training(num_captions=200, num_scenes=50)
    assert {phrase for phrase, _ in found} == {"watch as"}


def test_paraphrase_names_the_scene_in_the_world_words():
    from spacetime.world.scene import sample_scene

    eq = _load("embedded_quality")
    phrases = eq.paraphrase_fixed_phrases()
    for k in range(200):
        rng = np.random.default_rng(k)
        scene = sample_scene(rng)
        text = eq.paraphrase(scene, rng)
        low = text.lower()
        assert any(p in low for p in phrases), text
        assert eq.PARAPHRASE_BACKGROUNDS[scene.background] in low, text
        for obj in scene.objects:
            assert f"{obj.color} {obj.shape}" in low, text
            if obj.size != "medium":
                assert f"{obj.size} {obj.color} {obj.shape}" in low, text
            if obj.motion in eq.PARAPHRASE_DIRECTIONS:
                assert eq.PARAPHRASE_DIRECTIONS[obj.motion] + eq.PARAPHRASE_SPEEDS[obj.speed] in low, text
        if scene.camera is not None:
            assert f"camera sweeps {eq.PARAPHRASE_DIRECTIONS[scene.camera]}" in low, text


# ---- the scripts' core functions on a tiny model ------------------------------------------------------


@pytest.mark.parametrize("style", ["paraphrase", "short"])
def test_embedded_quality_reports_rates(pipe, tmp_path, style):
    eq = _load("embedded_quality")
    report, result = eq.measure(pipe, 2, style=style, out=tmp_path, log=lambda _: None)
    assert result["prompts"] == 2 and result["style"] == style and report["clips"] == 2
    assert {"color", "shape", "motion", "presence"} <= set(result["rates"])
    assert all(0.0 <= r <= 1.0 for r in result["rates"].values())
    assert result["seconds_per_clip"] > 0
    by_word = result["motion_by_word"]  # every judged object under its prompt's motion word
    assert sum(c["n"] for c in by_word.values()) == report["rates"]["motion"]["n"]
    assert sum(c["passed"] for c in by_word.values()) == report["rates"]["motion"]["passed"]
    lines = [json.loads(line) for line in (tmp_path / "manifest.jsonl").read_text().splitlines()]
    assert len(lines) == 2 and all((tmp_path / m["path"]).is_file() for m in lines)
    if style == "paraphrase":
        phrases = eq.paraphrase_fixed_phrases()
        assert all(any(p in m["caption"].lower() for p in phrases) for m in lines)
    json.dumps(result, allow_nan=False)


def test_embedded_quality_first_scene_reads_later_scenes(pipe, tmp_path):
    """--first-scene N: scenes N, N+1, ... with their own seeds, for checks held out from a choice."""
    eq = _load("embedded_quality")
    _, result = eq.measure(pipe, 2, first_scene=7, out=tmp_path, log=lambda _: None)
    assert result["first_scene"] == 7
    lines = [json.loads(line) for line in (tmp_path / "manifest.jsonl").read_text().splitlines()]
    assert [m["path"] for m in lines] == ["clip_0007.mp4", "clip_0008.mp4"]
    seconds, aspect = float(pipe.defaults["seconds"]), pipe.defaults["width"] / pipe.defaults["height"]
    assert [m["caption"] for m in lines] == [eq.quality_scene(i, seconds=seconds, aspect=aspect)[1] for i in (7, 8)]
    with pytest.raises(ValueError, match="first_scene"):
        eq.measure(pipe, 1, first_scene=-1, out=tmp_path, log=lambda _: None)


def test_embedded_quality_measures_images(pipe, tmp_path):
    eq = _load("embedded_quality")
    report, result = eq.measure(pipe, 2, out=tmp_path, log=lambda _: None, image=True)
    assert result["image"] and report["clips"] == 2
    assert {"color", "shape", "presence"} <= set(result["rates"])
    lines = [json.loads(line) for line in (tmp_path / "manifest.jsonl").read_text().splitlines()]
    assert [m["frames"] for m in lines] == [1, 1] and all(m["path"].endswith(".png") for m in lines)
    assert all(o["motion"] == "still" for m in lines for o in m["scene"]["objects"])


def test_embedded_quality_vae_ceiling_reads_the_round_trip_of_each_render(pipe, tmp_path):
    _load("capability_quality")  # the script imports its vae_round_trip from beside it
    eq = _load("embedded_quality")
    report, result = eq.measure(pipe, 2, out=tmp_path, log=lambda _: None, vae_ceiling=True)
    assert result["vae_ceiling"] and report["clips"] == 2 and {"color", "shape", "motion"} <= set(result["rates"])
    d = pipe.defaults
    lines = [json.loads(line) for line in (tmp_path / "manifest.jsonl").read_text().splitlines()]
    assert [m["frames"] for m in lines] == [round(d["seconds"] * d["fps"])] * 2
    assert [(m["width"], m["height"]) for m in lines] == [(d["width"], d["height"])] * 2


def test_embedded_quality_two_pass_animates_the_image_drawn_from_the_prompt(pipe, tmp_path, monkeypatch):
    eq = _load("embedded_quality")
    images, animated = [], []
    draw, animate = pipe.image, pipe.animate

    def spy_image(prompt, **kw):
        result = draw(prompt, **kw)
        images.append((prompt, result.frames[0].copy()))
        return result

    def spy_animate(image, prompt, **kw):
        animated.append((prompt, image))
        return animate(image, prompt, **kw)

    monkeypatch.setattr(pipe, "image", spy_image)
    monkeypatch.setattr(pipe, "animate", spy_animate)
    report, result = eq.measure(pipe, 2, out=tmp_path, log=lambda _: None, two_pass=True)
    assert result["two_pass"] and report["clips"] == 2 and len(images) == len(animated) == 2
    for (prompt_image, frame), (prompt_clip, given) in zip(images, animated):
        assert prompt_image == prompt_clip and frame.ndim == 3 and np.array_equal(given, frame)
    d = pipe.defaults
    lines = [json.loads(line) for line in (tmp_path / "manifest.jsonl").read_text().splitlines()]
    assert [m["frames"] for m in lines] == [round(d["seconds"] * d["fps"])] * 2
    with pytest.raises(ValueError, match="two_pass"):
        eq.measure(pipe, 1, out=tmp_path, log=lambda _: None, two_pass=True, image=True)


def test_capability_quality_reports_every_task(pipe, tmp_path):
    cq = _load("capability_quality")
    report = cq.measure(pipe, 2, out=tmp_path, log=lambda _: None)
    assert set(report["tasks"]) == set(cq.TASKS)
    for task, r in report["tasks"].items():
        assert r["n"] == 2 and _in_unit(r["rate"]) and r["seconds_per_clip"] >= 0, task
        for key, value in r.items():
            if "psnr" in key and value is not None:
                assert 0.0 < value <= cq.PSNR_CAP, (task, key, value)
            if key.startswith(("ratio", "pixel_ratio")):
                assert value is not None and value >= 0.0, (task, key, value)
        if task in cq.WORLD_TASKS:
            assert set(r["world"]) == set(cq.WORLD_CHECKS) and all(_in_unit(v) for v in r["world"].values())
    assert report["tasks"]["extend"]["objects"] == 2
    json.dumps(report, allow_nan=False)
    lines = [json.loads(line) for line in (tmp_path / "manifest.jsonl").read_text().splitlines()]
    assert len(lines) == 2 * len(cq.TASKS)
    assert all(isinstance(m["seam_frame"], int) for m in lines if m["task"].startswith("extend"))
    ceiling = report["vae_ceiling"]
    assert 0.0 < ceiling["psnr_median"] <= cq.PSNR_CAP and all(_in_unit(v) for v in ceiling["world"].values())
    assert cq.summary_table(report).count("\n") == 2 + len(cq.TASKS)


def test_capability_reference_is_the_pinned_vae_round_trip(pipe):
    # A strength-1 pin at frame 0 holds its latents exactly and the causal decoder's first
    # frames depend on them alone: the generated canvas reproduces `vae_round_trip` bit for bit.
    cq = _load("capability_quality")
    report = cq.measure(pipe, 1, tasks=("image", "connect"), log=lambda _: None)
    assert report["tasks"]["image"]["psnr_vae_median"] == cq.PSNR_CAP
    assert report["tasks"]["connect"]["start_psnr_vae_median"] == cq.PSNR_CAP


def test_word_sensitivity_reports_every_kind_of_word(pipe):
    ws = _load("word_sensitivity")
    report = ws.measure(pipe, 2, (0.5,), 32, 32)
    for kind in ws.KINDS:
        assert report[f"{kind}_text"] > 0  # every swap changes the prompt's text states
        assert report[f"{kind}@0.5_image"] >= 0
    json.dumps(report, allow_nan=False)


def test_object_cells_mark_where_objects_are():
    from spacetime.world.dataset import WorldClips

    hl = _load("heldout_loss")
    batch = WorldClips(shapes=[(9, 64, 64)], fps=8.0, batch_size=3, seed=2).batch(0)
    cells = hl.object_cells(batch, (3, 16, 3, 8, 8))
    assert cells.shape == (3, 1, 3, 8, 8) and cells.dtype == torch.bool
    assert 0 < cells.float().mean() < 0.6  # objects are a minority of the cells
    # a clip whose pixels are its empty background shows no object anywhere
    from dataclasses import replace

    from spacetime.world.render import render
    from spacetime.world.scene import Scene

    scene = Scene.from_json(batch["scene"][0])
    empty = render(replace(scene, objects=[], collide=False), 64, 64, 8.0, 9)
    batch["video"][0] = torch.from_numpy(empty).permute(3, 0, 1, 2).float() / 127.5 - 1
    assert not hl.object_cells(batch, (3, 16, 3, 8, 8))[0].any()


def test_heldout_loss_reports_every_level_and_sees_frame_order(pipe):
    from types import SimpleNamespace

    hl = _load("heldout_loss")
    kw = dict(batches=1, noise_levels=(0.5, 1.0), batch_size=2, shape=(17, 32, 32))
    report = hl.measure(pipe, **kw)
    assert report["clips"] == 2
    assert all(report[f"loss@{t:g}"] > 0 and np.isfinite(report[f"temporal_gain@{t:g}"]) for t in (0.5, 1.0))
    assert 0 < report["object_cells"] < 1
    # the plain loss is the cell-weighted mean of its object and background parts
    share = report["object_cells"]
    for t in (0.5, 1.0):
        mixed = share * report[f"object_loss@{t:g}"] + (1 - share) * report[f"background_loss@{t:g}"]
        assert mixed == pytest.approx(report[f"loss@{t:g}"], rel=0.05)

    def framewise(x, t, text, mask):  # each voxel on its own: at t = 1 the loss is mean(x0^2), order-free
        return x

    def uses_order(x, t, text, mask):  # the velocity depends on the previous latent frame
        return 4 * (x - torch.roll(x, 1, dims=2))

    # At t = 1 the input is pure noise, so no model can see the order there: the gain is read below 1.
    blind = hl.measure(SimpleNamespace(vae=pipe.vae, text_encoder=pipe.text_encoder, dit=framewise), **kw)
    seeing = hl.measure(SimpleNamespace(vae=pipe.vae, text_encoder=pipe.text_encoder, dit=uses_order), **kw)
    assert abs(blind["temporal_gain@1"]) < 1e-4 * blind["loss@1"]
    assert abs(seeing["temporal_gain@0.5"]) > 1e-2 * seeing["loss@0.5"]
    # Noise shared by the frames mostly cancels in a difference of frames: the order-reading velocity gets closer.
    shared = hl.measure(SimpleNamespace(vae=pipe.vae, text_encoder=pipe.text_encoder, dit=uses_order), **kw,
                        noise_correlation=0.9)
    assert shared["loss@0.5"] < 0.5 * seeing["loss@0.5"]


def test_motion_probe_clips_read_as_their_motion_and_the_probe_trains(pipe):
    """The motion probes' clips are what they say (the evaluator reads each rendered clip's
    motion), and the shared fine-tuning loop changes the DiT and returns its EMA."""
    from spacetime.world.evaluate import evaluate_many
    from spacetime.world.render import render

    ml = _load("motion_learnability")
    items = []
    for i, motion in enumerate(ml.all_motions()):
        scene = ml.scene_of(motion, np.random.default_rng(i))
        items.append({"frames": render(scene, ml.SIZE, ml.SIZE, ml.FPS, ml.FRAMES), "fps": ml.FPS,
                      "positions_known": False, "expected": scene.to_dict()})
    rates = evaluate_many(items)["rates"]
    assert rates["motion"]["rate"] == 1.0 and rates["moves"]["rate"] == 1.0
    assert ml.scene_of("left", np.random.default_rng(0), fixed=True).objects[0].start == \
        ml.scene_of("left", np.random.default_rng(1), fixed=True).objects[0].start

    mc = _load("_model_choice")
    dit = copy.deepcopy(pipe.dit)  # the module's pipe stays untrained for the other tests
    before = [p.detach().clone() for p in dit.parameters()]
    x = torch.randn(2, dit.config.in_channels, 2, 4, 4)
    text, mask = torch.randn(2, 3, dit.config.text_dim), torch.ones(2, 3, dtype=torch.bool)
    ema, steps = mc.finetune_for(dit, 0.002, lambda: dit(x, torch.full((2, 2), 0.5), text, mask).pow(2).mean())
    assert steps >= 1 and ema is not dit
    assert any(not torch.equal(a, b) for a, b in zip(before, dit.parameters()))


def test_word_loss_swaps_one_word_and_reads_a_text_blind_model_as_blind(pipe):
    """word_loss.py: each clip moves the way its caption says, each swapped caption differs from the
    right one in exactly one word, and the paired noise makes a model that ignores the text show
    no gap at all, while one that reads it shows one."""
    from types import SimpleNamespace

    from spacetime.world import vocab
    from spacetime.world.evaluate import evaluate_many
    from spacetime.world.render import render

    wl = _load("word_loss")
    rng = np.random.default_rng(0)
    items = []
    for i in range(8):
        centred = i % 2 == 1  # centred clips start near the centre whatever their direction
        scene, words = wl.clip_of(rng, centred)
        assert words["motion"] in wl.DIRECTIONS
        start, heading = np.array(scene.objects[0].start), np.array(vocab.DIRECTIONS[words["motion"]])
        assert np.abs(start).max() <= 0.15 if centred else start @ heading < 0  # else: starts on the far side
        assert ("slowly" in wl.caption_of(words)) == centred
        right = wl.caption_of(words).split()
        for word in ("color", "shape", "motion"):
            other = wl.caption_of(wl.swapped(words, word, rng)).split()
            assert len(other) == len(right) and sum(a != b for a, b in zip(right, other)) == 1
        items.append({"frames": render(scene, wl.SIZE, wl.SIZE, wl.FPS, wl.FRAMES), "fps": wl.FPS,
                      "positions_known": False, "expected": scene.to_dict()})
    assert evaluate_many(items)["rates"]["motion"]["rate"] == 1.0

    report = wl.measure(pipe, 3, [0.5, 1.0], batch=2)
    middle = wl.measure(pipe, 3, [0.5, 1.0], batch=2, middle_known=True)  # the middle frame given: others scored
    assert set(report) == set(middle) == {"0.5", "1.0"} and middle["0.5"]["loss"] != report["0.5"]["loss"]
    for row in [*report.values(), *middle.values()]:
        assert row["loss"] > 0 and all(np.isfinite(row[v]["gap_pct"]) for v in ("color", "shape", "motion", "empty"))
    json.dumps(report, allow_nan=False)

    def blind(x, t, text, mask):
        return 0.5 * x

    def reading(x, t, text, mask):  # (the text states are layer-normed: their mean over channels is 0)
        return 0.5 * x + text[:, :, 0].mean(dim=1)[:, None, None, None, None]

    stand_in = dict(vae=pipe.vae, text_encoder=pipe.text_encoder, defaults={})
    none = wl.measure(SimpleNamespace(**stand_in, dit=blind), 2, [0.7], batch=2)["0.7"]
    some = wl.measure(SimpleNamespace(**stand_in, dit=reading), 2, [0.7], batch=2)["0.7"]
    assert all(none[v]["gap_pct"] == 0 and none[v]["wins"] == 0 for v in ("color", "shape", "motion", "empty"))
    assert any(abs(some[v]["gap_pct"]) > 0.01 for v in ("color", "shape", "motion"))

    sampled = wl.sample_motion(pipe, 2, centred=True)  # image to video from each clip's first frame
    assert 0 <= sampled["motion"] <= 1 and "moves" in sampled


def test_word_loss_probe_can_train_on_the_world_streams_captions_and_masks(pipe, monkeypatch):
    """word_loss.py --world-captions --train-masks world: the fine-tuning batches carry world
    captions (not the one template) and flow's random known-frame masks (not the measured first frame)."""
    from types import SimpleNamespace

    from spacetime import flow

    _load("_model_choice")  # word_loss imports it by name, as when run from benchmarks/
    wl = _load("word_loss")
    captions, mask_kinds = [], []

    class Recording:
        def encode(self, prompts):
            captions.extend(p for p in prompts if p)
            return pipe.text_encoder.encode(prompts)

    def recording_mask(batch, frames, generator=None, probs=None, device=None):
        mask_kinds.append(probs)
        return random_known_mask(batch, frames, generator=generator, probs=probs, device=device)

    random_known_mask = flow.random_known_mask
    monkeypatch.setattr(flow, "random_known_mask", recording_mask)
    probe = SimpleNamespace(vae=pipe.vae, text_encoder=Recording(), dit=copy.deepcopy(pipe.dit), defaults={})
    import argparse

    mask_probs = wl.parse_mask_probs(argparse.ArgumentParser(), ["world"])
    assert mask_probs == flow.DEFAULT_MASK_PROBS
    assert wl.parse_mask_probs(argparse.ArgumentParser(), ["none=1", "first_frame=3"]) == {"none": 1, "first_frame": 3}
    with pytest.raises(SystemExit):
        wl.parse_mask_probs(argparse.ArgumentParser(), ["sideways=1"])
    steps = wl.finetune(probe, 0.0001, first_known=True, world_captions=True, mask_probs=mask_probs)
    assert steps == 1 and len(captions) == 8
    assert not any(c.endswith(" background") and " moving " in c for c in captions)  # the template's form
    assert mask_kinds == [flow.DEFAULT_MASK_PROBS]

    captions.clear(), mask_kinds.clear()
    probe.dit = copy.deepcopy(pipe.dit)
    wl.finetune(probe, 0.0001, first_known=True)
    assert all(c.endswith(" background") and " moving " in c for c in captions) and mask_kinds == []


def test_a_benchmark_given_a_folder_that_is_no_model_says_so_in_one_line(tmp_path):
    """benchmarks/*.py end like `spacetime` commands: a user's mistake is one line and status 2."""
    import subprocess

    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "word_loss.py"), "--model", str(tmp_path),
                             "--clips", "2", "--threads", "1"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [f"word_loss.py: error: {tmp_path / 'model_index.json'} is missing; "
                                                  f"{tmp_path} is not a spacetime model folder (see `spacetime export`)"]


def test_embedded_quality_true_first_frame_animates_each_scenes_own_render(pipe, tmp_path, monkeypatch):
    from spacetime.world.render import render
    from spacetime.world.scene import sample_scene

    eq = _load("embedded_quality")
    given = []
    animate = pipe.animate
    monkeypatch.setattr(pipe, "image", lambda *a, **kw: pytest.fail("no image pass: the first frame is the render"))
    monkeypatch.setattr(pipe, "animate", lambda image, prompt, **kw: given.append(image) or animate(image, prompt, **kw))
    report, result = eq.measure(pipe, 2, out=tmp_path, log=lambda _: None, true_first_frame=True)
    assert result["true_first_frame"] and not result["two_pass"] and report["clips"] == 2 and len(given) == 2
    d = pipe.defaults
    lines = [json.loads(line) for line in (tmp_path / "manifest.jsonl").read_text().splitlines()]
    assert len(lines) == 2 and all(i.shape == (d["height"], d["width"], 3) and i.dtype == np.uint8 for i in given)
    first = render(sample_scene(np.random.default_rng(eq.SCENE_SEED_BASE), num_objects=(1, 1), scenarios=("single",),
                                seconds=float(d["seconds"]), aspect=d["width"] / d["height"]),
                   d["width"], d["height"], float(d["fps"]), 1)[0]
    assert np.array_equal(given[0], first)  # scene 0's own first frame
    with pytest.raises(ValueError, match="second pass alone"):
        eq.measure(pipe, 1, out=tmp_path, log=lambda _: None, true_first_frame=True, two_pass=False)


def test_motion_estimate_keeps_the_first_frame_clean_and_reads_the_named_motions(tmp_path, monkeypatch, capsys):
    folder = write_tiny_model_folder(tmp_path / "tiny")
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))  # its sibling motion_learnability
    me = _load("motion_estimate")
    read = me.read
    calls = []
    monkeypatch.setattr(me, "read", lambda pipe, z, scenes: calls.append((z, scenes)) or read(pipe, z, scenes))
    monkeypatch.setattr(sys, "argv", ["motion_estimate.py", "--model", str(folder), "--clips", "2", "--threads", "1",
                                      "--motions", "bounce", "orbit", "--first-frame", "--sample"])
    assert me.main() == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["motions"] == ["bounce", "orbit"] and result["first_frame"]
    assert set(result["levels"]) == {str(level) for level in me.LEVELS}
    assert set(result["levels"]["0.5"]["estimate"]["motion_by_word"]) == {"bounce", "orbit"}
    assert set(result["sampled"]["motion_by_word"]) == {"bounce", "orbit"} and _in_unit(result["sampled"]["presence"])
    assert [s.objects[0].motion for s in calls[0][1]] == ["bounce", "orbit"]
    for (estimate, _), (x_t, _) in zip(calls[::2], calls[1::2]):  # the frame given stays what it was
        assert torch.equal(estimate[:, :, 0], x_t[:, :, 0])
    assert not torch.equal(calls[-2][0][:, :, 1:], calls[-1][0][:, :, 1:])  # the others are estimated


def test_first_frame_placement_reads_starts_along_the_direction(tmp_path, monkeypatch, capsys):
    from spacetime.world.render import render
    from spacetime.world.scene import Scene, SceneObject

    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))  # its sibling embedded_quality
    ffp = _load("first_frame_placement")
    # the tracker's reading of a rendered start, projected: ahead of the centre is positive
    for motion, start, sign in (("right", (0.25, 0.0), 1), ("right", (-0.25, 0.1), -1), ("up-left", (0.2, 0.2), -1)):
        obj = SceneObject(color="red", shape="circle", size="medium", motion=motion, start=start)
        frame = render(Scene(background="black", objects=[obj]), 64, 64, 8.0, 1)[0]
        value = ffp.start_along(frame, obj)
        assert value is not None and np.sign(value) == sign
        assert value == pytest.approx(ffp.along(*start, motion), abs=0.03)
    assert ffp.start_along(np.zeros((64, 64, 3), np.uint8), obj) is None
    assert ffp.read_as({"measured": {"motion": "left"}}, "right") == "backward"
    assert ffp.read_as({"measured": {"motion": "up-right"}}, "right") == "sideways"
    assert ffp.read_as({"measured": {"motion": "still"}}, "right") == "still"
    bins = ffp.by_bin([-0.3, 0.0, 0.2, 0.3, None], [True, False, False, True, False],
                      ["right", "still", "backward", "right", "unseen"])
    assert [(b["passed"], b["n"]) for b in bins] == [(1, 1), (0, 1), (1, 2)]
    assert bins[1]["failed_read_as"] == {"still": 1} and bins[2]["failed_read_as"] == {"backward": 1}

    folder = write_tiny_model_folder(tmp_path / "tiny")
    monkeypatch.setattr(sys, "argv", ["first_frame_placement.py", "--model", str(folder), "--prompts", "8",
                                      "--animate", "--one-pass", "--guidance", "1", "2"])
    assert ffp.main() == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    n = result["straight_line"]
    assert n >= 1 and result["world"]["n"] == n and result["world"]["share_ahead"] == 0.0  # the world keeps room
    assert set(result["image_pass"]) == {"1.0", "2.0"} and result["one_pass"]["n"] == n
    for row in result["image_pass"].values():
        assert row["n"] == n and sum(b["n"] for b in row["motion_by_start"]) == n - row["missing"]
        assert row["motion_passed"] == sum(b["passed"] for b in row["motion_by_start"]) or row["missing"]


def test_latent_phase_finds_the_frames_an_object_fades_in(tmp_path):
    from spacetime.video.write import write_video
    from spacetime.world.render import render
    from spacetime.world.scene import Scene, SceneObject

    lp = _load("latent_phase")
    # a small still circle, gone from the first frame of every latent group after the first (1, 5, 9, 13)
    obj = SceneObject(color="red", shape="circle", size="small", motion="still", start=(0.1, -0.1))
    frames = render(Scene(background="gray", objects=[obj]), 64, 64, 8.0, 17)
    empty = render(Scene(background="gray", objects=[]), 64, 64, 8.0, 17)
    frames[1::4] = empty[1::4]
    write_video(tmp_path / "clip_0000.mp4", frames, 8.0)
    entry = {"path": "clip_0000.mp4", "scene": {"objects": [{"color": "red", "size": "small", "motion": "still"}]}}
    (tmp_path / "manifest.jsonl").write_text(json.dumps(entry) + "\n")
    result = lp.read_folder(tmp_path, frames_per_latent=4, faint=0.5)
    assert result["clips"] == 1
    for table in (result["all"], result["small_or_orbit"]):
        assert table["1"] == {"frames": 4, "mean_ratio": 0.0, "faint_share": 1.0}
        assert [table[p]["faint_share"] for p in ("0", "2", "3")] == [0.0, 0.0, 0.0]
        assert table["0"]["mean_ratio"] == pytest.approx(1.0, abs=0.1)

    # the same scene drawn with its object about twice as large (a medium circle): the sizes ratio shows it
    big = tmp_path / "big"
    big.mkdir()
    write_video(big / "clip_0000.mp4", render(Scene(background="gray", objects=[
        SceneObject(color="red", shape="circle", size="medium", motion="still", start=(0.1, -0.1))]), 64, 64, 8.0, 17), 8.0)
    (big / "manifest.jsonl").write_text(json.dumps(entry) + "\n")
    sizes = lp.size_ratios(big, tmp_path)
    assert sizes["clips"] == 1 and sizes["percentiles"]["50"] > 1.5
    assert lp.size_ratios(tmp_path, tmp_path)["percentiles"]["50"] == 1.0
    other = dict(entry, scene={"objects": [{"color": "blue", "size": "small", "motion": "still"}]})
    (big / "manifest.jsonl").write_text(json.dumps(other) + "\n")
    with pytest.raises(Exception, match="do not hold the same scenes"):
        lp.size_ratios(big, tmp_path)
    (big / "manifest.jsonl").write_text(json.dumps(entry) + "\n" + json.dumps(entry) + "\n")
    with pytest.raises(Exception, match="holds 2 clips"):
        lp.size_ratios(big, tmp_path)


def test_latent_disturbance_keeps_the_first_latent_frame_and_mixes_the_rest(pipe, tmp_path):
    eq = _load("embedded_quality")
    assert eq.latent_disturbance(0.0, 0.0) is None
    z = torch.arange(5, dtype=torch.float32).reshape(1, 1, 5, 1, 1).expand(1, 2, 5, 3, 3).contiguous()
    blurred = eq.latent_disturbance(blur=0.5)(z)
    assert torch.equal(blurred[:, :, 0], z[:, :, 0])
    # frame 2: 0.5 x 2 + 0.5 x mean(1, 3) = 2; frame 1: its own value stands in for frame 0; frame 4 likewise
    assert blurred[0, 0, :, 0, 0].tolist() == [0.0, 1.25, 2.0, 3.0, 3.75]
    noisy = eq.latent_disturbance(noise=0.5)(z)
    assert torch.equal(noisy[:, :, 0], z[:, :, 0])
    assert 0.3 < float((noisy - z)[:, :, 1:].std()) < 0.7
    with pytest.raises(ValueError, match="blur"):
        eq.latent_disturbance(blur=1.5)

    _load("capability_quality")
    _, plain = eq.measure(pipe, 1, out=tmp_path / "plain", log=lambda _: None, vae_ceiling=True)
    _, disturbed = eq.measure(pipe, 1, out=tmp_path / "noisy", log=lambda _: None, vae_ceiling=True,
                              ceiling_noise=3.0)
    assert "ceiling_noise" not in plain and disturbed["ceiling_noise"] == 3.0
    from spacetime.video.read import read_video

    a, b = (read_video(tmp_path / d / "clip_0000.mp4").frames for d in ("plain", "noisy"))
    assert np.array_equal(a[0], b[0]) and not np.array_equal(a[1:], b[1:])
    with pytest.raises(ValueError, match="vae_ceiling"):
        eq.measure(pipe, 1, out=tmp_path, log=lambda _: None, ceiling_noise=0.1)


def test_finetune_for_keeps_the_frozen_weights(pipe):
    """_model_choice.finetune_for(freeze=...): the named weights stay as they were, the rest train."""
    mc = _load("_model_choice")
    dit = copy.deepcopy(pipe.dit)
    before = {name: p.detach().clone() for name, p in dit.named_parameters()}
    x = torch.randn(2, dit.config.in_channels, 2, 4, 4)
    text, mask = torch.randn(2, 3, dit.config.text_dim), torch.ones(2, 3, dtype=torch.bool)
    sl = _load("shape_learnability")
    mc.finetune_for(dit, 0.002, lambda: dit(x, torch.full((2, 2), 0.5), text, mask).pow(2).mean(),
                    freeze=sl.text_reading_weights())
    after = dict(dit.named_parameters())
    frozen = [n for n in before if n.startswith(("text_embed.", "pooled_text_embed.")) or ".cross.kv." in n]
    assert frozen and all(torch.equal(before[n], after[n]) for n in frozen)
    assert any(not torch.equal(before[n], p) for n, p in after.items() if n not in frozen)
    with pytest.raises(Exception, match="names no weight"):
        mc.finetune_for(dit, 0.001, lambda: None, freeze=["no_such_weight.*"])


def test_shape_probe_captions_name_the_shape_by_its_own_word_or_the_worlds():
    """shape_learnability.prompt_of: the fixed sentence or a world style, with the shape's own word
    (no synonym ever) or the world's synonyms, and the world's word lists left as they were."""
    from spacetime.world import captions
    from spacetime.world.parse import parse_prompt

    sl = _load("shape_learnability")
    words = copy.deepcopy(captions.SHAPE_WORDS)
    synonyms = {w for shape_words in words.values() for w in shape_words} - set(sl.SHAPES)
    rng = np.random.default_rng(0)
    for style in ("fixed", "varied"):
        seen = set()
        for i in range(60):
            scene = sl.scene_of(sl.SHAPES[i % 3], np.random.default_rng(i), vary_all=True)
            own = sl.prompt_of(scene, rng, style, synonyms=False).lower()
            assert not synonyms & set(own.replace(".", " ").replace(",", " ").split()), own
            drawn = sl.prompt_of(scene, rng, style, synonyms=True)
            assert [o.shape for o in parse_prompt(drawn).objects] == [scene.objects[0].shape], drawn
            seen |= synonyms & set(drawn.lower().replace(".", " ").replace(",", " ").split())
        assert len(seen) >= 3, style  # the synonyms are drawn
    assert captions.SHAPE_WORDS == words


def test_null_pooled_state_gives_every_prompt_the_empty_prompts_pooled_state(pipe, monkeypatch):
    """embedded_quality --null-pooled: the DiT's pooled input no longer depends on the prompt."""
    from spacetime import dit

    monkeypatch.setattr(dit, "pooled_text", dit.pooled_text)  # restored after the test
    eq = _load("embedded_quality")
    text, mask = pipe.text_encoder.encode(["a red circle moving left", "a blue square"])
    assert not torch.allclose(*dit.pooled_text(text, mask))
    empty = dit.pooled_text(*pipe.text_encoder.encode([""]))[0]
    eq.null_pooled_state(pipe)
    pooled = dit.pooled_text(text, mask)
    assert pooled.shape == (2, text.shape[-1])
    assert torch.allclose(pooled[0], empty) and torch.allclose(pooled[1], empty)


def test_pooled_text_distance_reports_every_style(pipe, tmp_path):
    """benchmarks/pooled_text_distance.py on the tiny model: distances and retrieval for each style."""
    import subprocess

    folder = write_tiny_model_folder(tmp_path / "tiny")
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "pooled_text_distance.py"), "--model", str(folder),
                             "--scenes", "4"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(report["same_scene"]) == set(report["retrieval"]) == {"random again", "framed", "paraphrase"}
    assert all(0.0 <= r <= 1.0 for r in report["retrieval"].values()) and report["neighbouring_scene"] > 0


def test_shape_probe_world_scenes_and_saved_folder(tmp_path):
    """shape_learnability --scenes world draws the stream's one-object images; --save writes a
    folder that loads with the trained DiT's weights and the rest of the model as it was."""
    sl = _load("shape_learnability")
    scenes = [sl.world_scene(np.random.default_rng(i)) for i in range(30)]
    assert all(len(s.objects) == 1 and s.objects[0].motion == "still" for s in scenes)
    assert {s.objects[0].shape for s in scenes} == set(sl.SHAPES)
    assert len({s.background for s in scenes}) >= 3  # the world's backgrounds, not the probe's black
    folder = write_tiny_model_folder(tmp_path / "model")
    trained = Pipeline.from_pretrained(folder)
    with torch.no_grad():
        for p in trained.dit.parameters():
            p.add_(0.01)
    sl.save_folder(trained, str(folder), tmp_path / "saved")
    loaded = Pipeline.from_pretrained(tmp_path / "saved")
    for (name, p), q in zip(trained.dit.state_dict().items(), loaded.dit.state_dict().values()):
        assert torch.equal(p, q), name
    original = Pipeline.from_pretrained(folder)
    for p, q in zip(original.vae.state_dict().values(), loaded.vae.state_dict().values()):
        assert torch.equal(p, q)
