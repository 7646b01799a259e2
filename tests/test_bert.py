"""spacetime.bert: the plain-torch BERT path against transformers, and its loading errors."""

import os
import shutil
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file, save_file

from spacetime.bert import BertConfig, BertModel, BertTokenizer
from spacetime.errors import SpacetimeWarning, WeightsError
from spacetime.text import TextEncoder, default_encoder_path

pytestmark = pytest.mark.usefixtures("one_thread")

PROMPTS = [
    "a red circle moves to the left",
    "",
    "Ünïcode ACCENTS, CAPS and punctuation!? 3.14 -- café naïve 東京",
    "word " * 300,  # 302 tokens with [CLS] [SEP]: cut to 256
]
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")


@pytest.fixture(scope="module")
def minilm():
    return TextEncoder.from_pretrained()


@pytest.fixture(scope="module")
def reference():
    """transformers' own tokenizer and BertModel for the bundled MiniLM."""
    import transformers

    folder = str(default_encoder_path())
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model = transformers.BertModel.from_pretrained(folder, local_files_only=True, attn_implementation="eager")
    return tokenizer, model.eval()


def test_minilm_matches_transformers_tokens_masks_and_states(minilm, reference):
    tokenizer, model = reference
    assert isinstance(minilm.model, BertModel) and minilm.max_length == 256
    ref = tokenizer(PROMPTS, padding="longest", truncation=True, max_length=256, return_tensors="pt")
    ids, mask, lengths = minilm.tokenizer.encode(PROMPTS, 256)
    assert torch.equal(ids, ref["input_ids"]) and torch.equal(mask, ref["attention_mask"])
    assert lengths == [len(x) for x in tokenizer(PROMPTS, truncation=False)["input_ids"]]
    assert ids.shape == (4, 256) and ids[1, :2].tolist() == [101, 102] and mask[1].sum() == 2  # "" = [CLS] [SEP]
    assert ids[3, -1] == 102 and lengths[3] == 302  # cut prompts still end in [SEP]

    with pytest.warns(SpacetimeWarning, match="1 prompt.*longest: 302 tokens"):
        states, bool_mask = minilm.encode(PROMPTS)
    with torch.no_grad():
        expected = model(input_ids=ref["input_ids"], attention_mask=ref["attention_mask"]).last_hidden_state
    assert states.dtype == torch.float32 and torch.equal(bool_mask, mask.bool())
    real = bool_mask[..., None]
    assert torch.allclose(states * real, expected * real, atol=1e-4)


def test_default_encoder_loads_without_transformers():
    code = (
        "import sys; from spacetime.text import TextEncoder; e = TextEncoder.from_pretrained(); "
        "e.encode(['a prompt', '']); "
        "print(sorted(m for m in sys.modules if m == 'transformers' or m.startswith('transformers.')))"
    )
    env = dict(os.environ, OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def tiny_bert_folder(folder, **config):
    """A tiny random transformers BertModel saved with the MiniLM tokenizer beside it."""
    import transformers

    fields = dict(vocab_size=30522, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                  intermediate_size=32, max_position_embeddings=64)
    fields.update(config)
    transformers.BertModel(transformers.BertConfig(**fields)).save_pretrained(str(folder))
    for name in TOKENIZER_FILES:
        shutil.copy(default_encoder_path() / name, folder / name)
    return folder


def test_tiny_bert_matches_transformers_and_keeps_dtype(tmp_path, reference):
    import transformers

    folder = tiny_bert_folder(tmp_path / "tiny")
    enc = TextEncoder.from_pretrained(folder)
    assert isinstance(enc.model, BertModel) and enc.dim == 16 and enc.max_length == 64
    ids, mask, _ = enc.tokenizer.encode(PROMPTS[:3], 64)
    ref = transformers.BertModel.from_pretrained(str(folder), local_files_only=True).eval()
    with torch.no_grad():
        expected = ref(input_ids=ids, attention_mask=mask).last_hidden_state
    states, bool_mask = enc.encode(PROMPTS[:3])
    real = bool_mask[..., None]
    assert torch.allclose(states * real, expected * real, atol=1e-5)
    enc.model.to(torch.bfloat16)  # dtype follows the weights; encode still returns float32
    low, _ = enc.encode(PROMPTS[:3])
    assert low.dtype == torch.float32 and torch.allclose(low * real, states * real, atol=0.1)


def test_checkpoint_prefix_pooler_and_old_names_are_accepted(tmp_path):
    folder = tiny_bert_folder(tmp_path / "prefixed")
    state = load_file(str(folder / "model.safetensors"))
    plain = BertModel.from_pretrained(folder)
    renamed = {"bert." + k.replace("LayerNorm.weight", "LayerNorm.gamma"): v for k, v in state.items()}
    renamed["bert.embeddings.position_ids"] = torch.arange(64)[None]
    renamed["cls.predictions.bias"] = torch.zeros(30522)  # a BertForMaskedLM head beside the encoder
    assert any(k.startswith("bert.pooler.") for k in renamed)
    save_file(renamed, str(folder / "model.safetensors"))
    model = BertModel.from_pretrained(folder)
    ids = torch.tensor([[101, 2417, 4418, 102]])
    assert torch.equal(model(ids, torch.ones_like(ids)), plain(ids, torch.ones_like(ids)))


def test_missing_unexpected_and_misshapen_keys_are_one_line_errors(tmp_path):
    folder = tiny_bert_folder(tmp_path / "broken")
    state = load_file(str(folder / "model.safetensors"))
    cases = {
        "missing keys \\[encoder.layer.1.output.dense.weight\\]": lambda s: s.pop("encoder.layer.1.output.dense.weight"),
        "unexpected keys \\[encoder.layer.2.": lambda s: s.update({"encoder.layer.2.output.dense.bias": torch.zeros(16)}),
        "shape mismatch \\[embeddings.word_embeddings.weight \\(30522, 8\\)": lambda s: s.update(
            {"embeddings.word_embeddings.weight": torch.zeros(30522, 8)}),
    }
    for message, damage in cases.items():
        broken = dict(state)
        damage(broken)
        save_file(broken, str(folder / "model.safetensors"))
        with pytest.raises(WeightsError, match=message) as info:
            TextEncoder.from_pretrained(folder)
        assert str(folder / "model.safetensors") in str(info.value) and "\n" not in str(info.value)
    (folder / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not a header")
    with pytest.raises(WeightsError, match="not a readable safetensors file") as info:
        TextEncoder.from_pretrained(folder)
    assert "\n" not in str(info.value)


def test_corrupt_config_and_tokenizer_are_one_line_errors(tmp_path):
    folder = tmp_path / "minilm"
    folder.mkdir()
    for name in TOKENIZER_FILES + ("sentence_bert_config.json",):
        shutil.copy(default_encoder_path() / name, folder / name)
    (folder / "model.safetensors").symlink_to(default_encoder_path() / "model.safetensors")
    config = (default_encoder_path() / "config.json").read_text()
    for old, new, message in [
        ('"hidden_size": 384', '"hidden_size": "wide"', "bad BERT config value"),
        ('"num_attention_heads": 12', '"num_attention_heads": 7', "multiple of num_attention_heads"),
        ('"num_hidden_layers": 6', '"num_hidden_layers": -1', "num_hidden_layers must be positive"),
    ]:
        assert old in config
        (folder / "config.json").write_text(config.replace(old, new))
        with pytest.raises(WeightsError, match=message) as info:
            TextEncoder.from_pretrained(folder)
        assert str(folder / "config.json") in str(info.value) and "\n" not in str(info.value)
    (folder / "config.json").write_text(config)
    assert isinstance(TextEncoder.from_pretrained(folder).model, BertModel)
    (folder / "tokenizer.json").write_text('{"version": "1.0", "model": ')
    with pytest.raises(WeightsError, match="not a readable tokenizer") as info:
        BertTokenizer.from_folder(folder)
    assert "\n" not in str(info.value)


def test_unsupported_variants_go_through_transformers(tmp_path):
    with pytest.raises(ValueError, match="gelu_new"):
        BertConfig(hidden_act="gelu_new")
    with pytest.raises(ValueError, match="relative_key"):
        BertConfig.from_dict({"position_embedding_type": "relative_key"})
    folder = tiny_bert_folder(tmp_path / "gelu_new", hidden_act="gelu_new")
    enc = TextEncoder.from_pretrained(folder)
    assert not isinstance(enc.model, BertModel) and type(enc.model).__name__ == "BertModel"
    states, mask = enc.encode(["hello world", ""])
    assert states.shape == (2, mask.shape[1], 16) and mask[1].sum() == 2


def test_tokenizer_follows_tokenizer_config_like_transformers(tmp_path):
    import json

    import transformers

    for name in TOKENIZER_FILES:
        shutil.copy(default_encoder_path() / name, tmp_path / name)
    settings = json.loads((tmp_path / "tokenizer_config.json").read_text())
    settings.update(padding_side="left", truncation_side="left", do_lower_case=False)
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(settings))
    ref = transformers.AutoTokenizer.from_pretrained(str(tmp_path), local_files_only=True)
    expected = ref(PROMPTS, padding="longest", truncation=True, max_length=12, return_tensors="pt")
    ids, mask, _ = BertTokenizer.from_folder(tmp_path).encode(PROMPTS, 12)
    assert torch.equal(ids, expected["input_ids"]) and torch.equal(mask, expected["attention_mask"])
    assert ids[0, :4].tolist() == [0, 0, 0, 101] and mask[1, :-2].sum() == 0  # padded on the left
    assert ids[3, 0] == 101 and ids[3, -1] == 102  # a prompt cut on the left keeps [CLS] and [SEP]
    assert 100 in ids[2].tolist()  # not lowercased: "ACCENTS" is [UNK] in the uncased vocabulary
