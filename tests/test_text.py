import warnings

import pytest
import torch

from spacetime.errors import SpacetimeWarning, WeightsError
from spacetime.text import TextEncoder, default_encoder_path


@pytest.fixture(scope="module")
def minilm():
    return TextEncoder.from_pretrained()


def test_default_minilm_encodes_prompts_with_mask(minilm):
    assert minilm.dim == 384 and minilm.max_length == 256
    states, mask = minilm.encode(["a red circle moves to the left", ""])
    assert states.dtype == torch.float32 and mask.dtype == torch.bool
    assert states.shape[:2] == mask.shape and states.shape[0] == 2 and states.shape[2] == 384
    assert mask[0].all() and 1 <= mask[1].sum() < mask[0].sum()  # "" is only [CLS] [SEP]
    again, _ = minilm.encode(["a red circle moves to the left"])
    assert torch.allclose(again[0], states[0, : again.shape[1]], atol=1e-5)  # padding does not leak
    other, _ = minilm.encode(["a blue square jumps"])
    assert not torch.allclose(other[0, 1], states[0, 1])
    null, null_mask = minilm.null(3)
    assert null.shape[0] == 3 and torch.equal(null_mask[0], mask[1, : null_mask.shape[1]])


def test_word_embeddings_follow_the_states_and_do_not_depend_on_the_sentence(minilm):
    words = TextEncoder.from_pretrained(word_embeddings=True)
    assert words.dim == 2 * minilm.dim == 768 and words.states_dim == minilm.dim
    prompts = ["a red circle moving left", "Watch as a red circle makes its way left, set against a black background."]
    states, mask = minilm.encode(prompts)
    both, both_mask = words.encode(prompts)
    assert both.shape == (*states.shape[:2], 768) and torch.equal(both_mask, mask)
    assert torch.equal(both[..., :384], states)  # the states are untouched
    ids = words.tokenizer.encode(prompts, words.max_length)[0]
    left = words.tokenizer.encode(["left"], 8)[0][0, 1]  # [CLS] left [SEP]
    first, second = (both[k, ids[k] == left][-1] for k in range(2))
    assert torch.equal(first[384:], second[384:])  # the word's embedding: the same in both sentences
    assert not torch.allclose(first[:384], second[:384], atol=1e-2)  # its state is not
    word = first[384:]  # layer-normalised:
    assert abs(float(word.mean())) < 1e-4 and abs(float(word.std(correction=0)) - 1) < 1e-2


@pytest.mark.parametrize("kind", ["bert", "t5"])
def test_word_embeddings_of_any_local_encoder(tmp_path, kind):
    enc = TextEncoder.from_pretrained(save_tiny_encoder(tmp_path / kind, kind), word_embeddings=True)
    states, mask = enc.encode(["hello world", "a much longer prompt than the first one"])
    assert enc.dim == 32 and states.shape == (2, mask.shape[1], 32)


def test_long_prompts_are_truncated_with_a_warning(minilm):
    with pytest.warns(SpacetimeWarning, match="cut"):
        states, mask = minilm.encode(["word " * 400])
    assert states.shape[1] == 256 and mask.all()
    with warnings.catch_warnings():
        warnings.simplefilter("error", SpacetimeWarning)
        minilm.encode(["short prompt"])


def save_tiny_encoder(folder, kind):
    """A tiny random encoder of `kind` with the MiniLM tokenizer saved beside it."""
    import transformers

    tokenizer = transformers.AutoTokenizer.from_pretrained(str(default_encoder_path()), local_files_only=True)
    vocab = len(tokenizer)
    if kind == "bert":
        config = transformers.BertConfig(
            vocab_size=vocab, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
            max_position_embeddings=64,
        )
        model = transformers.BertModel(config)
    elif kind == "t5":
        config = transformers.T5Config(
            vocab_size=vocab, d_model=16, d_kv=8, d_ff=32, num_layers=2, num_heads=2, decoder_start_token_id=0
        )
        model = transformers.T5EncoderModel(config)
    model.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return folder


@pytest.mark.parametrize("kind", ["bert", "t5"])
def test_any_local_encoder_folder_by_path(tmp_path, kind):
    folder = save_tiny_encoder(tmp_path / kind, kind)
    enc = TextEncoder.from_pretrained(folder)
    assert enc.dim == 16
    states, mask = enc.encode(["hello world", "a much longer prompt than the first one"])
    assert states.shape == (2, mask.shape[1], 16) and mask[1].all() and not mask[0].all()
    if kind == "bert":
        assert enc.max_length == 64  # the position table bounds it


def test_missing_or_broken_folders_are_one_line_errors(tmp_path):
    with pytest.raises(WeightsError, match="does not exist") as info:
        TextEncoder.from_pretrained(tmp_path / "nowhere")
    assert str(tmp_path / "nowhere") in str(info.value) and "\n" not in str(info.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(WeightsError, match="no config.json"):
        TextEncoder.from_pretrained(tmp_path / "empty")
    (tmp_path / "badjson").mkdir()
    (tmp_path / "badjson" / "config.json").write_text("{not json")
    with pytest.raises(WeightsError, match="not a valid JSON"):
        TextEncoder.from_pretrained(tmp_path / "badjson")
    folder = save_tiny_encoder(tmp_path / "noweights", "bert")
    (folder / "model.safetensors").unlink()
    with pytest.raises(WeightsError, match="cannot load text encoder") as info:
        TextEncoder.from_pretrained(folder)
    assert str(folder) in str(info.value) and "\n" not in str(info.value)
