"""BERT encoder in plain torch, for loading BERT-family text encoders quickly.

BERT (Devlin et al. 2019, "BERT: Pre-training of Deep Bidirectional Transformers for Language
Understanding"): word + position + token-type embeddings and a LayerNorm, then post-LN blocks
(self-attention, dense + LayerNorm residual; GELU MLP, LayerNorm residual). Inference only:
no dropout, no pooler, no masked-LM head. Parameter names are those of Hugging Face's
`BertModel`, so a `model.safetensors` saved by transformers loads as it is.

Why not transformers: importing its modeling code takes seconds, which `spacetime generate`
paid on every start for a 6-layer encoder. `tests/test_bert.py` checks token ids, masks and
hidden states against `transformers.BertModel` + `AutoTokenizer`.

The tokenizer is the `tokenizers` library reading the folder's `tokenizer.json`, set up the way
transformers' `BertTokenizer` sets it up (normalizer, pad token and padding / truncation side from
tokenizer_config.json; padding to the longest prompt of the batch).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from spacetime.errors import WeightsError
from spacetime.modelio import read_safetensors, state_problems

# Keys a transformers BertModel checkpoint may hold that this encoder does not use.
_IGNORED_PREFIXES = ("pooler.", "embeddings.position_ids", "embeddings.token_type_ids")


@dataclass
class BertConfig:
    """The fields of a Hugging Face BERT config.json this encoder uses (defaults: transformers')."""

    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    layer_norm_eps: float = 1e-12
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    position_embedding_type: str = "absolute"

    def __post_init__(self):
        # ValueError (not WeightsError): a valid BERT that this module does not implement.
        if self.hidden_act != "gelu":
            raise ValueError(f"hidden_act {self.hidden_act!r} is not supported (only exact 'gelu')")
        if self.position_embedding_type != "absolute":
            raise ValueError(f"position_embedding_type {self.position_embedding_type!r} is not supported")

    @classmethod
    def from_dict(cls, data: dict, source: str = "config.json") -> "BertConfig":
        """Read the known fields of a transformers config, ignoring the rest (dropout, architectures, ...)."""
        fields = {}
        for f in dataclasses.fields(cls):
            value = data.get(f.name)
            if value is None:
                continue
            ok = {"int": isinstance(value, int) or isinstance(value, float) and value.is_integer(),
                  "float": isinstance(value, (int, float)), "str": isinstance(value, str)}[f.type]
            if not ok or isinstance(value, bool):
                raise WeightsError(f"{source}: bad BERT config value {f.name} = {value!r} (want {f.type})")
            fields[f.name] = {"int": int, "float": float, "str": str}[f.type](value)
        config = cls(**fields)
        positive = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                    "max_position_embeddings", "type_vocab_size")
        bad = [name for name in positive if getattr(config, name) <= 0]
        if bad:
            raise WeightsError(f"{source}: bad BERT config: {', '.join(bad)} must be positive")
        if config.hidden_size % config.num_attention_heads:
            raise WeightsError(f"{source}: bad BERT config: hidden_size must be a multiple of num_attention_heads")
        return config

    @classmethod
    def from_json(cls, path: str | Path) -> "BertConfig":
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
            raise WeightsError(f"{path} is not a readable JSON config ({e})") from None
        if not isinstance(data, dict):
            raise WeightsError(f"{path} must hold a JSON object")
        return cls.from_dict(data, source=str(path))


class Linear(nn.Linear):
    """nn.Linear without the random init (most of a second for MiniLM on CPU): weights come from the checkpoint."""

    def reset_parameters(self):
        pass


class Embedding(nn.Embedding):
    """nn.Embedding without the random init, as `Linear`."""

    def reset_parameters(self):
        pass


class BertLayer(nn.Module):
    """One post-LN transformer block, with transformers' module names."""

    def __init__(self, c: BertConfig):
        super().__init__()
        self.n_head = c.num_attention_heads
        h = c.hidden_size
        self.attention = nn.ModuleDict(dict(
            self=nn.ModuleDict(dict(query=Linear(h, h), key=Linear(h, h), value=Linear(h, h))),
            output=nn.ModuleDict(dict(dense=Linear(h, h), LayerNorm=nn.LayerNorm(h, eps=c.layer_norm_eps))),
        ))
        self.intermediate = nn.ModuleDict(dict(dense=Linear(h, c.intermediate_size)))
        self.output = nn.ModuleDict(dict(
            dense=Linear(c.intermediate_size, h), LayerNorm=nn.LayerNorm(h, eps=c.layer_norm_eps),
        ))

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor) -> torch.Tensor:
        B, L, H = x.shape
        qkv, out = self.attention["self"], self.attention["output"]
        q, k, v = (qkv[n](x).view(B, L, self.n_head, H // self.n_head).transpose(1, 2)  # (B, nh, L, hd)
                   for n in ("query", "key", "value"))
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)  # (B, nh, L, hd)
        a = a.transpose(1, 2).reshape(B, L, H)  # (B, L, H)
        x = out["LayerNorm"](x + out["dense"](a))  # (B, L, H)
        m = F.gelu(self.intermediate["dense"](x))  # (B, L, I), exact erf GELU
        return self.output["LayerNorm"](x + self.output["dense"](m))  # (B, L, H)


class BertModel(nn.Module):
    """BERT encoder: `forward(input_ids, attention_mask)` -> last hidden state (B, L, hidden).

    `BertModel(config)` leaves the weights uninitialised; `from_pretrained` fills them.
    """

    def __init__(self, config: BertConfig):
        super().__init__()
        self.config = c = config
        self.embeddings = nn.ModuleDict(dict(
            word_embeddings=Embedding(c.vocab_size, c.hidden_size),
            position_embeddings=Embedding(c.max_position_embeddings, c.hidden_size),
            token_type_embeddings=Embedding(c.type_vocab_size, c.hidden_size),
            LayerNorm=nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps),
        ))
        self.encoder = nn.ModuleDict(dict(layer=nn.ModuleList(BertLayer(c) for _ in range(c.num_hidden_layers))))

    def get_input_embeddings(self) -> nn.Embedding:
        """The token embedding table (as transformers' models name it)."""
        return self.embeddings["word_embeddings"]

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        L = input_ids.shape[1]
        if L > self.config.max_position_embeddings:
            raise ValueError(f"{L} tokens, but the encoder has {self.config.max_position_embeddings} positions")
        e = self.embeddings
        pos = torch.arange(L, device=input_ids.device)  # (L,)
        x = e["word_embeddings"](input_ids) + e["token_type_embeddings"].weight[0]  # (B, L, H), all of type 0
        x = e["LayerNorm"](x + e["position_embeddings"](pos))  # (B, L, H)
        mask = None
        if attention_mask is not None:
            mask = attention_mask.bool()[:, None, None, :]  # (B, 1, 1, L): keys a query may attend to
        for layer in self.encoder["layer"]:
            x = layer(x, mask)  # (B, L, H)
        return x

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> "BertModel":
        """Build from `folder/config.json` and load `folder/model.safetensors` strictly, in its dtype."""
        folder = Path(folder)
        config = BertConfig.from_json(folder / "config.json")
        model = cls(config)  # not on the meta device: initialising there imports torch._dynamo (seconds)
        model.load_state_dict(load_bert_state(folder / "model.safetensors", model), strict=True, assign=True)
        return model.eval()


def load_bert_state(path: Path, model: nn.Module) -> dict[str, torch.Tensor]:
    """A transformers BERT checkpoint as `model`'s state dict; WeightsError naming any mismatch.

    Accepted and dropped: the pooler, the `position_ids` / `token_type_ids` buffers, and, when
    the keys carry the `bert.` prefix of a BertFor* model, the task heads beside it.
    Old `LayerNorm.gamma` / `.beta` names are read as `.weight` / `.bias`, as transformers does.
    """
    state = read_safetensors(path, remedy="re-download the text encoder")
    if any(k.startswith("bert.") for k in state):
        state = {k[len("bert."):]: v for k, v in state.items() if k.startswith("bert.")}
    state = {k.replace("LayerNorm.gamma", "LayerNorm.weight").replace("LayerNorm.beta", "LayerNorm.bias"): v
             for k, v in state.items() if not k.startswith(_IGNORED_PREFIXES)}
    problems = state_problems(model.state_dict(), state)
    if problems:
        raise WeightsError(f"{path} does not match its BERT config: " + "; ".join(problems))
    return state


class BertTokenizer:
    """WordPiece tokenizer from `tokenizer.json`, configured as transformers' `BertTokenizer` is.

    `encode(prompts, max_length)` -> input_ids (B, L) long, attention_mask (B, L) long (0 on
    padding), and each prompt's untruncated length in tokens (with [CLS] and [SEP]).
    """

    def __init__(self, tokenizer, pad_token: str = "[PAD]", model_max_length: int = int(1e30),
                 padding_side: str = "right", truncation_side: str = "right"):
        self.tokenizer = tokenizer
        self.pad_token = pad_token
        self.pad_id = tokenizer.token_to_id(pad_token)
        if self.pad_id is None:
            raise WeightsError(f"the tokenizer has no pad token {pad_token!r} in its vocabulary")
        if {padding_side, truncation_side} - {"left", "right"}:
            raise WeightsError(f"padding_side / truncation_side must be 'left' or 'right', got {padding_side!r}, "
                               f"{truncation_side!r}")
        self.model_max_length = model_max_length
        self.padding_side, self.truncation_side = padding_side, truncation_side

    @classmethod
    def from_folder(cls, folder: str | Path) -> "BertTokenizer":
        from tokenizers import Tokenizer, normalizers, processors

        folder = Path(folder)
        settings = {}
        if (folder / "tokenizer_config.json").is_file():
            settings.update(_read_json(folder / "tokenizer_config.json"))
        if (folder / "special_tokens_map.json").is_file():
            for name, value in _read_json(folder / "special_tokens_map.json").items():
                settings.setdefault(name, value)
        try:
            tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        except Exception as e:  # tokenizers raises plain Exception on a bad file
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise WeightsError(f"{folder / 'tokenizer.json'} is not a readable tokenizer ({first})") from None
        # transformers' BertTokenizer builds the normalizer from tokenizer_config.json (these defaults).
        tokenizer.normalizer = normalizers.BertNormalizer(
            clean_text=True,
            handle_chinese_chars=bool(settings.get("tokenize_chinese_chars", True)),
            strip_accents=settings.get("strip_accents"),
            lowercase=bool(settings.get("do_lower_case", True)),
        )
        if tokenizer.post_processor is None:
            cls_token, sep_token = _token(settings, "cls_token", "[CLS]"), _token(settings, "sep_token", "[SEP]")
            tokenizer.post_processor = processors.TemplateProcessing(
                single=f"{cls_token}:0 $A:0 {sep_token}:0",
                special_tokens=[(t, tokenizer.token_to_id(t)) for t in (cls_token, sep_token)],
            )
        limit = settings.get("model_max_length")
        limit = int(limit) if isinstance(limit, (int, float)) and not isinstance(limit, bool) else int(1e30)
        return cls(tokenizer, _token(settings, "pad_token", "[PAD]"), limit,
                   str(settings.get("padding_side", "right")), str(settings.get("truncation_side", "right")))

    def encode(self, prompts: list[str], max_length: int) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
        # tokenizer.json may carry its own padding and truncation (MiniLM's: fixed 128): set both here.
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()
        lengths = [len(e.ids) for e in self.tokenizer.encode_batch(prompts)]
        self.tokenizer.enable_truncation(max_length, stride=0, strategy="longest_first", direction=self.truncation_side)
        self.tokenizer.enable_padding(direction=self.padding_side, pad_id=self.pad_id, pad_token=self.pad_token)
        batch = self.tokenizer.encode_batch(prompts)
        input_ids = torch.tensor([e.ids for e in batch], dtype=torch.long)  # (B, L)
        attention_mask = torch.tensor([e.attention_mask for e in batch], dtype=torch.long)  # (B, L)
        return input_ids, attention_mask, lengths


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise WeightsError(f"{path} is not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise WeightsError(f"{path} must hold a JSON object")
    return data


def _token(settings: dict, name: str, default: str) -> str:
    """A special token from tokenizer settings: a string, or an AddedToken dict with "content"."""
    value = settings.get(name) or default
    return str(value.get("content", default)) if isinstance(value, dict) else str(value)
