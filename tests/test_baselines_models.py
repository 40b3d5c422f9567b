"""The torch models: output and hook shapes, causality, the readout shortcut, hooks that intervene."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from baselines.hooks import hook_points, hooks, run_with_cache, run_with_hooks
from baselines.lstm import LSTM, LSTMConfig
from baselines.mlp import MLP, MLPConfig
from baselines.stacking import stack_modules
from baselines.transformer import Transformer, TransformerConfig

B, POS, VOCAB, OUT = 3, 7, 11, 5


def transformer(**kw) -> Transformer:
    cfg = dict(d_vocab=VOCAB, d_vocab_out=OUT, n_ctx=16, d_model=16, n_heads=2, d_mlp=24) | kw
    return Transformer(TransformerConfig(**cfg), torch.Generator().manual_seed(0))


def relative_transformer() -> Transformer:
    """Relative position biases made non-zero (they start at zero), so that the tests see them."""
    model = transformer(n_layers=2, positional="relative")
    with torch.no_grad():
        for block in model.blocks:
            block.attn.W_rel.normal_(generator=torch.Generator().manual_seed(1))
    return model


def lstm(**kw) -> LSTM:
    cfg = dict(d_vocab=VOCAB, d_vocab_out=OUT, d_embed=8, d_hidden=12) | kw
    return LSTM(LSTMConfig(**cfg), torch.Generator().manual_seed(0))


def tokens(seed: int = 0, pos: int = POS) -> torch.Tensor:
    return torch.randint(0, VOCAB, (B, pos), generator=torch.Generator().manual_seed(seed))


def test_transformer_hook_shapes_follow_transformerlens_names():
    model = transformer(n_layers=2, normalization=True)
    logits, cache = run_with_cache(model, tokens())
    assert logits.shape == (B, POS, OUT)
    expected = {
        "hook_embed": (B, POS, 16),
        "blocks.0.attn.hook_q": (B, POS, 2, 8),
        "blocks.0.attn.hook_pattern": (B, 2, POS, POS),
        "blocks.1.attn.hook_z": (B, POS, 2, 8),
        "blocks.1.hook_resid_mid": (B, POS, 16),
        "blocks.1.mlp.hook_post": (B, POS, 24),
        "blocks.1.hook_resid_post": (B, POS, 16),
        "ln_final.hook_normalized": (B, POS, 16),
        "hook_logits": (B, POS, OUT),
    }
    for name, shape in expected.items():
        assert tuple(cache[name].shape) == shape, name
    assert torch.allclose(cache["blocks.0.attn.hook_pattern"].sum(-1), torch.ones(B, 2, POS))


def test_attention_only_has_no_mlp_and_rotary_has_no_learned_positions():
    model = transformer(attn_only=True, positional="rotary")
    names = hook_points(model)
    assert not any("mlp" in n or "resid_mid" in n for n in names)
    assert "blocks.0.attn.hook_rot_q" in names
    assert not hasattr(model, "W_pos")


@settings(max_examples=15)
@given(
    j=st.integers(0, POS - 1),
    seed=st.integers(0, 1000),
    kind=st.sampled_from(["learned", "rotary", "relative", "ln", "lstm", "gru"]),
)
def test_outputs_before_a_changed_token_do_not_change(j, seed, kind):
    """Causal masking: the logits at positions < j ignore the token at j."""
    models = {
        "learned": transformer(n_layers=2),
        "rotary": transformer(n_layers=2, positional="rotary", attn_only=True, rotary_dim=4),
        "relative": relative_transformer(),
        "ln": transformer(normalization=True),
        "lstm": lstm(),
        "gru": lstm(cell="gru", n_layers=2),
    }
    model = models[kind]
    x = tokens(seed)
    x2 = x.clone()
    x2[:, j] = (x2[:, j] + 1) % VOCAB
    with torch.no_grad():
        a, b = model(x), model(x2)
    assert torch.allclose(a[:, :j], b[:, :j], atol=1e-6)
    assert not torch.allclose(a[:, j:], b[:, j:])


@settings(max_examples=15)
@given(seed=st.integers(0, 1000), kind=st.sampled_from(["learned", "rotary", "relative", "ln", "lstm"]))
def test_readout_equals_the_full_forward_at_that_position(seed, kind):
    model = {
        "learned": transformer(n_layers=2),
        "rotary": transformer(positional="rotary", use_bias=False),
        "relative": relative_transformer(),
        "ln": transformer(normalization=True, attn_only=True),
        "lstm": lstm(),
    }[kind]
    x = tokens(seed)
    readout = torch.randint(0, POS, (B,), generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        full = model(x)[torch.arange(B), readout]
        part = model(x, readout)
    assert part.shape == (B, 1, OUT)
    assert torch.allclose(full, part[:, 0], atol=1e-5)


def test_learned_positions_reject_sequences_longer_than_n_ctx():
    with pytest.raises(ValueError, match="n_ctx"):
        transformer(n_ctx=4)(tokens())


def test_config_errors_name_the_accepted_values():
    with pytest.raises(ValueError, match="accepted: learned, rotary, relative, none"):
        TransformerConfig(d_vocab=3, d_vocab_out=3, n_ctx=3, positional="alibi")
    with pytest.raises(ValueError, match="accepted: relu, gelu, quadratic"):
        MLPConfig(d_vocab=3, d_vocab_out=3, n_ctx=2, act="tanh")
    with pytest.raises(ValueError, match="accepted: lstm, gru"):
        LSTMConfig(d_vocab=3, d_vocab_out=3, cell="rnn")


def test_mlp_shapes_and_hooks():
    model = MLP(MLPConfig(d_vocab=VOCAB, d_vocab_out=OUT, n_ctx=2, n_layers=2, d_mlp=10), torch.Generator())
    logits, cache = run_with_cache(model, tokens(pos=2))
    assert logits.shape == (B, 1, OUT)
    assert cache["hook_embed"].shape == (B, 2, 32)
    assert cache["blocks.1.hook_post"].shape == (B, 10)
    with pytest.raises(ValueError, match="takes 2 tokens"):
        model(tokens(pos=3))


def test_lstm_hooks():
    _, cache = run_with_cache(lstm(), tokens())
    assert cache["layers.0.hook_hidden"].shape == (B, POS, 12)
    assert cache["layers.0.hook_cell"].shape == (B, POS, 12)


def test_hooks_can_replace_activations_and_are_removed_afterwards():
    model, x = transformer(), tokens()
    with torch.no_grad():
        before = model(x)
        ablated = run_with_hooks(model, x, fwd_hooks={"blocks.0.hook_attn_out": lambda a, name: a * 0})
        after = model(x)
    assert not torch.allclose(before, ablated)
    assert torch.equal(before, after)
    with pytest.raises(ValueError, match="unknown hook point 'nope'"):
        run_with_cache(model, x, names=["nope"])


def test_same_seed_same_weights():
    a, b = transformer(), transformer()
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))


def test_relative_positions_extend_to_any_length_and_rotary_dim_is_checked():
    model = relative_transformer()
    assert model(tokens(pos=40)).shape == (B, 40, OUT)  # n_ctx is 16: no learned positions to run out of
    with pytest.raises(ValueError, match="rotary_dim must be even"):
        TransformerConfig(d_vocab=3, d_vocab_out=3, n_ctx=3, d_model=16, positional="rotary", rotary_dim=3)


def stack_of(kind: str, seeds: list[int]) -> tuple[list[torch.nn.Module], torch.nn.Module]:
    """Single models of one architecture (``kind``) with their own seeds, and their stack."""
    make = {
        "learned": lambda g: Transformer(TransformerConfig(**ARCH, n_layers=2), g),
        "rotary": lambda g: Transformer(TransformerConfig(**ARCH, positional="rotary", rotary_dim=4), g),
        "relative": lambda g: Transformer(
            TransformerConfig(**ARCH, positional="relative", attn_only=True), g
        ),
        "ln": lambda g: Transformer(TransformerConfig(**ARCH, normalization=True, use_bias=False), g),
        "lstm": lambda g: LSTM(LSTMConfig(d_vocab=VOCAB, d_vocab_out=OUT, d_embed=8, d_hidden=12), g),
        "gru": lambda g: LSTM(
            LSTMConfig(d_vocab=VOCAB, d_vocab_out=OUT, d_hidden=12, cell="gru", n_layers=2), g
        ),
        "mlp": lambda g: MLP(MLPConfig(d_vocab=VOCAB, d_vocab_out=OUT, n_ctx=POS, n_layers=2, d_mlp=10), g),
    }[kind]
    models = [make(torch.Generator().manual_seed(s)) for s in seeds]
    for m, seed in zip(models, seeds, strict=True):  # relative biases start at zero: make them visible
        for name, p in m.named_parameters():
            if name.endswith("W_rel"):
                with torch.no_grad():
                    p.normal_(generator=torch.Generator().manual_seed(seed))
    return models, stack_modules(models)


ARCH = dict(d_vocab=VOCAB, d_vocab_out=OUT, n_ctx=16, d_model=16, n_heads=2, d_mlp=24)
KINDS = ["learned", "rotary", "relative", "ln", "lstm", "gru", "mlp"]


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 1000), n_models=st.integers(1, 4), kind=st.sampled_from(KINDS), readout=st.booleans()
)
def test_a_stack_computes_what_its_models_compute_alone(seed, n_models, kind, readout):
    """Each model of a stack, on its own inputs, gives its single model's logits (readout too)."""
    models, stack = stack_of(kind, [seed + i for i in range(n_models)])
    g = torch.Generator().manual_seed(seed)
    X = torch.randint(0, VOCAB, (n_models, B, POS), generator=g)
    R = torch.randint(0, POS, (n_models, B), generator=g) if readout else None
    with torch.no_grad():
        together = stack(X, R)
        for m, model in enumerate(models):
            alone = model(X[m], None if R is None else R[m])
            assert torch.allclose(together[m], alone, atol=1e-5), (kind, m)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 1000), kind=st.sampled_from(KINDS), m=st.integers(0, 2))
def test_each_model_of_a_stack_gets_the_gradient_of_its_own_loss_only(seed, kind, m):
    _, stack = stack_of(kind, [seed, seed + 1, seed + 2])
    X = torch.randint(0, VOCAB, (3, B, POS), generator=torch.Generator().manual_seed(seed))
    stack(X)[m].square().sum().backward()
    for name, p in stack.named_parameters():
        others = torch.cat([p.grad[:m], p.grad[m + 1 :]])
        assert torch.equal(others, torch.zeros_like(others)), name


def test_stack_keeps_parameter_names_and_hooks_see_the_model_axis():
    models, stack = stack_of("learned", [0, 1, 2])
    assert [n for n, _ in stack.named_parameters()] == [n for n, _ in models[0].named_parameters()]
    assert stack.blocks[0].attn.W_Q.shape == (3, *models[0].blocks[0].attn.W_Q.shape)
    _, cache = run_with_cache(
        stack, torch.stack([tokens(s) for s in range(3)]), names=["blocks.0.attn.hook_pattern"]
    )
    assert cache["blocks.0.attn.hook_pattern"].shape == (3, B, 2, POS, POS)


def _direct(model: Transformer):
    """A no-op hook on ``hook_embed``: the first block then projects every token itself (the table
    path of :class:`baselines.transformer.Embedded` only runs where nothing is hooked before it)."""
    return hooks(model, {"hook_embed": lambda x, _name: None})


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 1000),
    kind=st.sampled_from(["learned", "rotary", "relative", "none"]),
    n_layers=st.integers(1, 2),
    readout=st.booleans(),
    use_bias=st.booleans(),
)
def test_first_block_tables_give_the_direct_projections(seed, kind, n_layers, readout, use_bias):
    """Keys and values of the first block looked up in projected tables (W_E @ W_K, W_pos @ W_K)
    give the logits and gradients of projecting every token: a batch of 24 rows of 7 tokens is
    worth the tables (11 + 7 rows), so the fast path runs, and it is checked to; so does, for one
    block read out at one position, a residual stream that starts at the readout positions."""
    import baselines.transformer as tr

    cfg = TransformerConfig(**ARCH, n_layers=n_layers, positional=kind, use_bias=use_bias)
    stack = stack_modules([Transformer(cfg, torch.Generator().manual_seed(seed + i)) for i in range(2)])
    g = torch.Generator().manual_seed(seed)
    X = torch.randint(0, VOCAB, (2, 24, POS), generator=g)
    R = torch.randint(0, POS, (2, 24), generator=g) if readout else None
    used, at_readout = [], []
    original, original_at = tr._project_embedded, tr.Embedded.at

    def run() -> tuple[torch.Tensor, list[torch.Tensor]]:
        stack.zero_grad()
        out = stack(X, R)
        out.square().sum().backward()
        return out.detach(), [p.grad.clone() for p in stack.parameters()]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tr, "_project_embedded", lambda *a: used.append(1) or original(*a))
        mp.setattr(tr.Embedded, "at", lambda *a: at_readout.append(1) or original_at(*a))
        fast, fast_grads = run()
        assert used, "the table path did not run"
        # One block read out at one position: its residual stream starts at the readout positions.
        assert bool(at_readout) == (readout and n_layers == 1)
        used.clear()
        at_readout.clear()
        with _direct(stack):
            slow, slow_grads = run()
        assert not used and not at_readout
    assert torch.allclose(fast, slow, atol=1e-5)
    for a, b in zip(fast_grads, slow_grads, strict=True):
        assert torch.allclose(a, b, atol=1e-4, rtol=1e-4)


def test_a_hook_before_the_first_block_still_changes_its_input():
    """Zeroing ``blocks.0.hook_resid_pre`` (an ablation) gives what a model with zero embeddings gives,
    on a batch where the table path would otherwise run."""
    model = transformer()
    zeroed = transformer()
    with torch.no_grad():
        zeroed.W_E.zero_()
        zeroed.W_pos.zero_()
    x = torch.randint(0, VOCAB, (24, POS), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        zero = {"blocks.0.hook_resid_pre": lambda a, _n: torch.zeros_like(a)}
        patched = run_with_hooks(model, x, fwd_hooks=zero)
        assert torch.allclose(patched, zeroed(x), atol=1e-6)
        assert not torch.allclose(patched, model(x), atol=1e-3)
