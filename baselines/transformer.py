"""A small decoder transformer with TransformerLens-style weights and hook names.

It expresses Nanda et al.'s grokking model (1 layer, d_model 128, 4 heads, d_mlp 512, ReLU, no
LayerNorm) and the 2-layer attention-only induction model. Weight shapes and names follow
TransformerLens (``W_Q``: ``(n_heads, d_model, d_head)``, ``W_O``: ``(n_heads, d_head, d_model)``),
so that analysis code written for it reads these models directly.

Hook points (``batch``, ``pos``, ``head`` are batch size, sequence length and head index)::

    hook_embed, hook_pos_embed                  (batch, pos, d_model)
    blocks.{l}.hook_resid_pre                   (batch, pos, d_model)
    blocks.{l}.ln1.hook_normalized              (batch, pos, d_model)   only with normalization
    blocks.{l}.attn.hook_q / hook_k / hook_v    (batch, pos, head, d_head)
    blocks.{l}.attn.hook_rot_q / hook_rot_k     (batch, pos, head, d_head)  only with rotary positions
    blocks.{l}.attn.hook_attn_scores            (batch, head, q_pos, k_pos)  before the softmax
    blocks.{l}.attn.hook_pattern                (batch, head, q_pos, k_pos)  attention weights
    blocks.{l}.attn.hook_z                      (batch, pos, head, d_head)   weighted values
    blocks.{l}.hook_attn_out                    (batch, pos, d_model)
    blocks.{l}.hook_resid_mid                   (batch, pos, d_model)   not when attn_only
    blocks.{l}.mlp.hook_pre / hook_post         (batch, pos, d_mlp)     not when attn_only
    blocks.{l}.hook_mlp_out                     (batch, pos, d_model)   not when attn_only
    blocks.{l}.hook_resid_post                  (batch, pos, d_model)
    ln_final.hook_normalized                    (batch, pos, d_model)   only with normalization
    hook_logits                                 (batch, pos, d_vocab_out)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from baselines.hooks import HookPoint, hooked
from baselines.params import activation, maybe_bias, normal
from baselines.stacking import Stackable, StackableModel, embed, linear, per_model, take

POSITIONAL = ("learned", "rotary", "relative", "none")
#: positional="relative": one learned bias per head for each offset 0..REL_BUCKETS-2 between query and
#: key, and one shared by all longer offsets, which is why it extends to longer sequences than trained
#: on (T5 buckets offsets alike; this is its simplest form).
REL_BUCKETS = 16


@dataclass
class TransformerConfig:
    """Architecture of :class:`Transformer` (TransformerLens names)."""

    d_vocab: int
    d_vocab_out: int
    n_ctx: int
    d_model: int = 128
    n_layers: int = 1
    n_heads: int = 4
    d_head: int | None = None  # None: d_model // n_heads
    d_mlp: int = 512
    attn_only: bool = False
    act: str = "relu"
    normalization: bool = False  # pre-LayerNorm before attention, MLP and unembedding
    use_bias: bool = True
    causal: bool = True
    positional: str = "learned"
    rotary_dim: int | None = None  # rotary: how many of each head's dims rotate (None: all)

    def __post_init__(self) -> None:
        if self.positional not in POSITIONAL:
            raise ValueError(f"unknown positional {self.positional!r}; accepted: {', '.join(POSITIONAL)}")
        if self.d_head is None:
            if self.d_model % self.n_heads:
                raise ValueError(f"d_model={self.d_model} is not divisible by n_heads={self.n_heads}")
            self.d_head = self.d_model // self.n_heads
        if self.rotary_dim is None:
            self.rotary_dim = self.d_head
        if self.positional == "rotary" and (self.rotary_dim % 2 or not 0 < self.rotary_dim <= self.d_head):
            raise ValueError(
                f"rotary_dim must be even and in (0, d_head={self.d_head}], got {self.rotary_dim}"
            )
        activation(self.act)  # validate early


class LayerNorm(Stackable):
    """LayerNorm written out in plain tensor ops, per model of a stack."""

    def __init__(self, d_model: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.ones(d_model))
        self.b = nn.Parameter(torch.zeros(d_model))
        self.eps = eps
        self.hook_normalized = HookPoint()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x - x.mean(-1, keepdim=True)
        x = x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        w, b = (per_model(self.lead(t), x.dim()) for t in (self.w, self.b))
        return self.hook(self.hook_normalized, torch.addcmul(b, x, w))


def _norm(cfg: TransformerConfig) -> nn.Module:
    return LayerNorm(cfg.d_model) if cfg.normalization else nn.Identity()


def rotate(
    x: torch.Tensor, positions: torch.Tensor, dims: int | None = None, base: float = 10000.0
) -> torch.Tensor:
    """Rotary position embedding of ``x`` (..., pos, head, d_head) at ``positions`` (pos,) or
    (..., pos): q·k then depends on the offset between query and key positions.

    Only the first ``dims`` dims of each head rotate (GPT-NeoX's partial rotary); the rest carry
    content free of position, which lets content matching (an induction head) work at offsets
    longer than any seen in training.
    """
    dims = x.shape[-1] if dims is None else dims
    if dims < x.shape[-1]:
        return torch.cat([rotate(x[..., :dims], positions, dims, base), x[..., dims:]], dim=-1)
    half = dims // 2
    freq = base ** (-torch.arange(half, device=x.device, dtype=x.dtype) / half)
    angle = positions.to(x.dtype)[..., None] * freq  # (..., pos, half)
    cos, sin = torch.cos(angle)[..., None, :], torch.sin(angle)[..., None, :]  # (..., pos, 1, half)
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)


def _project(x: torch.Tensor, W: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
    """``x`` (M, ..., d_model) through per-head weights ``W`` (M, head, d_model, d_head) and biases
    ``b`` (M, head, d_head), as one matrix product per model: (M, ..., head, d_head)."""
    h, e = W.shape[1], W.shape[3]
    return linear(x, _heads_side_by_side(W), None if b is None else b.flatten(1)).unflatten(-1, (h, e))


def _heads_side_by_side(W: torch.Tensor) -> torch.Tensor:
    """Per-head weights (M, head, d_model, d_head) as one matrix per model (M, d_model, head * d_head)."""
    M, h, d, e = W.shape
    return W.permute(0, 2, 1, 3).reshape(M, d, h * e)


@dataclass
class Embedded:
    """The first block's input when it is the embeddings alone: ``W_E[tokens] + W_pos[:n]`` (``W_E``
    (M, d_vocab, d_model), ``W_pos`` (M, n, d_model) or None, ``tokens`` (M, batch, n)). Its keys
    and values can then come from tables of d_vocab + n rows (:func:`_project_embedded`) instead of
    a product over every token: 13% less CPU a step for the quick preset's modular transformers; a
    single block read out at one position then needs the embeddings there alone (:meth:`at`)."""

    W_E: torch.Tensor
    W_pos: torch.Tensor | None
    tokens: torch.Tensor

    def worth_it(self) -> bool:
        """Whether the tables are much smaller than the tokens they stand for (tiny training sets
        are not: their direct product is cheaper)."""
        n_tables = self.W_E.shape[1] + (0 if self.W_pos is None else self.W_pos.shape[1])
        return 2 * n_tables < self.tokens[0].numel()

    def at(self, readout: torch.Tensor) -> torch.Tensor:
        """The embeddings at one position per row, ``readout`` (M, batch): (M, batch, 1, d_model)."""
        x = embed(self.W_E, torch.gather(self.tokens, 2, readout.unsqueeze(-1)))
        return x if self.W_pos is None else x + embed(self.W_pos, readout).unsqueeze(2)


def _project_embedded(emb: Embedded, W: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
    """:func:`_project` of the embeddings that ``emb`` stands for, as lookups in the projected tables
    ``W_E @ W`` and ``W_pos @ W`` (the same values up to summation order)."""
    h, e = W.shape[1], W.shape[3]
    flat = _heads_side_by_side(W)
    out = embed(torch.bmm(emb.W_E, flat), emb.tokens)  # (M, batch, n, h * e)
    if emb.W_pos is not None:
        out = out + torch.bmm(emb.W_pos, flat).unsqueeze(1)
    if b is not None:
        out = out + per_model(b.flatten(1), out.dim())
    return out.unflatten(-1, (h, e))


def _relative_bias(W_rel: torch.Tensor, query_pos: torch.Tensor, key_pos: torch.Tensor) -> torch.Tensor:
    """Biases ``W_rel`` (M, head, buckets) at each query-key offset, shaped to add to the scores
    (M, batch, head, q_pos, k_pos): (M, 1, head, q_pos, k_pos), or (M, batch, head, 1, k_pos) for
    readout queries (``query_pos`` (M, batch, 1))."""
    offset = (query_pos[..., None] - key_pos).clamp(0, REL_BUCKETS - 1)  # (q, k) or (M, batch, 1, k)
    if offset.dim() == 2:
        return W_rel[:, :, offset].unsqueeze(1)
    models = torch.arange(W_rel.shape[0], device=W_rel.device).view(-1, 1, 1, 1)
    return W_rel[models, :, offset].permute(0, 1, 4, 2, 3)  # (M, batch, 1, k, head) → heads third


#: Attention with at most this many (query, key) pairs per row multiplies and sums elementwise: a
#: CPU runs batched products of such tiny matrices 2-6x slower (measured here: 3 tokens of modular
#: inputs, 1 readout query over 16 keys, 8 x 8); at 16 x 16 the batched product is 3x faster.
SMALL_ATTENTION = 64


def _scores(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """q·k of queries (M, batch, q_pos, head, e) and keys (M, batch, k_pos, head, e), as
    (M, batch, head, q_pos, k_pos)."""
    if q.shape[2] * k.shape[2] > SMALL_ATTENTION:
        return torch.einsum("mbqhe,mbkhe->mbhqk", q, k)
    return (q.transpose(2, 3).unsqueeze(4) * k.transpose(2, 3).unsqueeze(3)).sum(-1)


def _mix(pattern: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Values (M, batch, k_pos, head, e) weighted by ``pattern`` (M, batch, head, q_pos, k_pos), as
    (M, batch, q_pos, head, e)."""
    if pattern.shape[3] * pattern.shape[4] > SMALL_ATTENTION:
        return torch.einsum("mbhqk,mbkhe->mbqhe", pattern, v)
    return (pattern.permute(0, 1, 3, 4, 2).unsqueeze(-1) * v.unsqueeze(2)).sum(3)


class Attention(Stackable):
    def __init__(self, cfg: TransformerConfig, g: torch.Generator) -> None:
        super().__init__()
        h, d, e = cfg.n_heads, cfg.d_model, cfg.d_head
        std = 1 / math.sqrt(d)
        self.W_Q, self.W_K, self.W_V = (normal((h, d, e), std, g) for _ in range(3))
        self.W_O = normal((h, e, d), std, g)
        # No key bias: q·b_K is the same for every key, so the softmax ignores it; its gradient is pure
        # rounding noise, which Adam would amplify into a random walk.
        self.b_Q, self.b_V = (maybe_bias((h, e), cfg.use_bias) for _ in range(2))
        self.b_O = maybe_bias((d,), cfg.use_bias)
        self.causal = cfg.causal
        self.rotary = cfg.positional == "rotary"
        self.rotary_dim = cfg.rotary_dim
        if cfg.positional == "relative":
            self.W_rel = nn.Parameter(torch.zeros(h, REL_BUCKETS))
        rot = ("rot_q", "rot_k") if self.rotary else ()
        for name in ("q", "k", "v", *rot, "attn_scores", "pattern", "z"):
            setattr(self, f"hook_{name}", HookPoint())

    def forward(
        self,
        x: torch.Tensor,
        readout: torch.Tensor | None = None,
        embedded: Embedded | None = None,
        x_at_readout: bool = False,
    ) -> torch.Tensor:
        """``x`` (M, batch, pos, d_model): attend from every position, or (``readout`` (M, batch)
        given) from one query position per row. ``embedded``: what ``x`` is made of, when it is the
        embeddings alone (keys and values then come from projected tables); ``x_at_readout``: ``x``
        holds only the readout positions (M, batch, 1, d_model), the keys and values coming from
        ``embedded``."""
        W_Q, W_K, W_V, W_O, b_Q, b_V, b_O = map(
            self.lead, (self.W_Q, self.W_K, self.W_V, self.W_O, self.b_Q, self.b_V, self.b_O)
        )
        n = embedded.tokens.shape[-1] if x_at_readout else x.shape[2]
        key_pos = torch.arange(n, device=x.device)
        query_pos = key_pos if readout is None else readout[..., None]  # (q_pos,) or (M, batch, 1)
        x_q = x if readout is None or x_at_readout else take(x, readout)
        q = self.hook(self.hook_q, _project(x_q, W_Q, b_Q))
        if embedded is not None:
            k = self.hook(self.hook_k, _project_embedded(embedded, W_K))
            v = self.hook(self.hook_v, _project_embedded(embedded, W_V, b_V))
        else:
            k = self.hook(self.hook_k, _project(x, W_K))
            v = self.hook(self.hook_v, _project(x, W_V, b_V))
        if self.rotary:
            q = self.hook(self.hook_rot_q, rotate(q, query_pos, self.rotary_dim))
            k = self.hook(self.hook_rot_k, rotate(k, key_pos, self.rotary_dim))
        scores = _scores(q, k) / math.sqrt(q.shape[-1])
        if hasattr(self, "W_rel"):
            scores = scores + _relative_bias(self.lead(self.W_rel), query_pos, key_pos)
        if self.causal:
            future = key_pos > query_pos[..., None]  # (q_pos, k_pos) or (M, batch, 1, k_pos)
            scores = scores.masked_fill(future if readout is None else future.unsqueeze(2), float("-inf"))
        scores = self.hook(self.hook_attn_scores, scores)
        pattern = self.hook(self.hook_pattern, torch.softmax(scores, dim=-1))
        z = self.hook(self.hook_z, _mix(pattern, v))
        return linear(z.flatten(-2), W_O.flatten(1, 2), b_O)


class MLPBlock(Stackable):
    def __init__(self, cfg: TransformerConfig, g: torch.Generator) -> None:
        super().__init__()
        std = 1 / math.sqrt(cfg.d_model)
        self.W_in = normal((cfg.d_model, cfg.d_mlp), std, g)
        self.W_out = normal((cfg.d_mlp, cfg.d_model), std, g)
        self.b_in = maybe_bias((cfg.d_mlp,), cfg.use_bias)
        self.b_out = maybe_bias((cfg.d_model,), cfg.use_bias)
        self.act = activation(cfg.act)
        self.hook_pre, self.hook_post = HookPoint(), HookPoint()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = self.hook(self.hook_pre, linear(x, self.lead(self.W_in), self.lead(self.b_in)))
        return linear(self.hook(self.hook_post, self.act(pre)), self.lead(self.W_out), self.lead(self.b_out))


class Block(Stackable):
    def __init__(self, cfg: TransformerConfig, g: torch.Generator) -> None:
        super().__init__()
        self.attn_only = cfg.attn_only
        self.ln1, self.attn = _norm(cfg), Attention(cfg, g)
        self.hook_resid_pre, self.hook_attn_out, self.hook_resid_post = HookPoint(), HookPoint(), HookPoint()
        if not cfg.attn_only:
            self.ln2, self.mlp = _norm(cfg), MLPBlock(cfg, g)
            self.hook_resid_mid, self.hook_mlp_out = HookPoint(), HookPoint()

    def forward(
        self,
        x: torch.Tensor,
        readout: torch.Tensor | None = None,
        embedded: Embedded | None = None,
        x_at_readout: bool = False,
    ) -> torch.Tensor:
        """See :meth:`Attention.forward` for the arguments."""
        x = self.hook(self.hook_resid_pre, x)
        attn_out = self.hook(self.hook_attn_out, self.attn(self.ln1(x), readout, embedded, x_at_readout))
        x = (x if readout is None or x_at_readout else take(x, readout)) + attn_out
        if not self.attn_only:
            x = self.hook(self.hook_resid_mid, x)
            x = x + self.hook(self.hook_mlp_out, self.mlp(self.ln2(x)))
        return self.hook(self.hook_resid_post, x)


class Transformer(StackableModel):
    """Token ids ``(batch, pos)`` → logits ``(batch, pos, d_vocab_out)``; a stack of ``M`` models
    (:func:`baselines.stacking.stack_modules`) maps ``(M, batch, pos)`` → ``(M, batch, pos, d_vocab_out)``.

    With ``readout`` (batch,) position indices, the last block computes only the query at that
    position of each row and the logits come out as ``(batch, 1, d_vocab_out)``: the same values,
    2–3× less work when only one position is scored (its hooks then hold one position).

    Initialization follows Nanda et al.'s grokking code (N(0, 1/d_model) for embeddings and
    attention/MLP weights, N(0, 1/d_vocab_out) for the unembedding, zero biases).
    """

    def __init__(self, cfg: TransformerConfig, generator: torch.Generator) -> None:
        super().__init__()
        self.cfg = cfg
        std = 1 / math.sqrt(cfg.d_model)
        self.W_E = normal((cfg.d_vocab, cfg.d_model), std, generator)
        if cfg.positional == "learned":
            self.W_pos = normal((cfg.n_ctx, cfg.d_model), std, generator)
        self.blocks = nn.ModuleList(Block(cfg, generator) for _ in range(cfg.n_layers))
        self.ln_final = _norm(cfg)
        self.W_U = normal((cfg.d_model, cfg.d_vocab_out), 1 / math.sqrt(cfg.d_vocab_out), generator)
        self.b_U = maybe_bias((cfg.d_vocab_out,), cfg.use_bias)
        self.hook_embed, self.hook_pos_embed, self.hook_logits = HookPoint(), HookPoint(), HookPoint()

    def _embedded(self, tokens: torch.Tensor) -> Embedded | None:
        """The first block's input as tables (:class:`Embedded`), where nothing can change it on
        its way there (no normalization, nothing hooked in between) and the tables are worth it."""
        if not self.blocks or self.cfg.normalization:
            return None
        points = (self.hook_embed, self.hook_pos_embed, self.blocks[0].hook_resid_pre)
        if any(hooked(p) for p in points):
            return None
        W_pos = self.lead(self.W_pos)[:, : tokens.shape[-1]] if self.cfg.positional == "learned" else None
        emb = Embedded(self.lead(self.W_E), W_pos, tokens)
        return emb if emb.worth_it() else None

    def run(self, tokens: torch.Tensor, readout: torch.Tensor | None) -> torch.Tensor:
        n = tokens.shape[-1]
        if self.cfg.positional == "learned" and n > self.cfg.n_ctx:
            raise ValueError(f"sequence length {n} exceeds n_ctx={self.cfg.n_ctx} (learned positions)")
        embedded = self._embedded(tokens)
        if embedded is not None and readout is not None and len(self.blocks) == 1:
            # One block read out at one position: the other positions' embeddings only enter through
            # the keys and values (tables), so the residual stream starts at the readout positions.
            x = self.blocks[0](embedded.at(readout), readout, embedded, x_at_readout=True)
        else:
            x = self.hook(self.hook_embed, embed(self.lead(self.W_E), tokens))
            if self.cfg.positional == "learned":
                x = x + self.hook(self.hook_pos_embed, self.lead(self.W_pos)[:, :n]).unsqueeze(1)
            for i, block in enumerate(self.blocks):
                x = block(x, readout if i == len(self.blocks) - 1 else None, embedded if i == 0 else None)
            if not self.blocks and readout is not None:
                x = take(x, readout)
        return self.hook(self.hook_logits, linear(self.ln_final(x), self.lead(self.W_U), self.lead(self.b_U)))
