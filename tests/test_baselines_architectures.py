"""The architecture adapters: one per network learner, sites that are real hook points in forward
order, and runs with a change at a site (through a hook, or inside an LSTM's recurrence)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from baselines.architectures import ARCHITECTURES, CELL, HIDDEN, architecture, split_site
from baselines.hooks import hook_points, hooks, run_with_cache
from baselines.learners import NeuralLearner
from baselines.lstm import LSTM, LSTMConfig
from baselines.mlp import MLP, MLPConfig
from baselines.transformer import Transformer, TransformerConfig
from tasks.learners import LEARNERS


def _models() -> dict[str, torch.nn.Module]:
    g = torch.Generator().manual_seed(0)
    return {
        "transformer": Transformer(
            TransformerConfig(d_vocab=6, d_vocab_out=5, n_ctx=8, d_model=16, n_layers=2, n_heads=2, d_mlp=32),
            g,
        ),
        "attn_only": Transformer(
            TransformerConfig(
                d_vocab=6, d_vocab_out=5, n_ctx=8, d_model=16, n_layers=2, n_heads=2, attn_only=True
            ),
            g,
        ),
        "lstm": LSTM(LSTMConfig(d_vocab=6, d_vocab_out=5, d_embed=4, d_hidden=5, n_layers=2), g),
        "gru": LSTM(LSTMConfig(d_vocab=6, d_vocab_out=5, d_embed=4, d_hidden=5, cell="gru"), g),
        "mlp": MLP(MLPConfig(d_vocab=6, d_vocab_out=5, n_ctx=7, d_embed=4, d_mlp=8, n_layers=2), g),
    }


MODELS = _models()
TOKENS = torch.as_tensor(np.random.default_rng(0).integers(0, 6, size=(5, 7)))


def test_every_network_learner_has_the_adapter_of_the_model_it_builds():
    networks = [cls for cls in LEARNERS.values() if issubclass(cls, NeuralLearner)]
    assert len(networks) == 3
    assert {cls.architecture.model_class for cls in networks} == set(ARCHITECTURES)
    for cls in networks:
        learner = cls()
        learner.d_vocab_, learner.n_classes_, learner.per_position_, learner.n_features_in_ = 5, 3, False, 4
        model = learner.build_model(4)
        assert architecture(model) is cls.architecture
        assert cls.architecture.name == cls.method_name


def test_an_unknown_model_names_the_known_architectures():
    with pytest.raises(ValueError, match="Transformer, LSTM, MLP"):
        architecture(torch.nn.Linear(2, 2))


@pytest.mark.parametrize("name", sorted(MODELS))
def test_sites_are_hook_points_in_the_order_the_forward_pass_reaches_them(name):
    model = MODELS[name]
    arch = architecture(model)
    sites = [s.name for s in arch.sites(model)]
    assert set(sites) <= set(hook_points(model))
    assert {split_site(s)[0] for s in arch.alignment_sites(model)} <= set(sites)
    assert set(arch.probe_sites(model)) <= set(sites)
    _, cache = run_with_cache(model, TOKENS, None, names=sites)  # a cache fills in firing order
    assert [n for n in cache if n in sites] == sites
    assert all(s.positions == arch.has_positions for s in arch.sites(model))


def test_site_lists_and_neuron_sites_per_architecture():
    t, a, lstm, gru, mlp = (MODELS[k] for k in ("transformer", "attn_only", "lstm", "gru", "mlp"))
    heads = ["attn.hook_z[0]", "attn.hook_z[1]"]
    block = [*heads, "hook_resid_mid", "mlp.hook_pre", "mlp.hook_post", "hook_resid_post"]
    assert architecture(t).alignment_sites(t) == ["blocks.0.hook_resid_pre"] + [
        f"blocks.{layer}.{name}" for layer in (0, 1) for name in block
    ]
    assert architecture(a).alignment_sites(a) == ["blocks.0.hook_resid_pre"] + [
        f"blocks.{layer}.{name}" for layer in (0, 1) for name in (block[0], block[1], block[-1])
    ]
    assert architecture(t).probe_sites(t) == [s for s in architecture(a).alignment_sites(a) if "[" not in s]
    assert architecture(lstm).alignment_sites(lstm) == [
        "hook_embed",
        "layers.0.hook_hidden",
        "layers.0.hook_cell",
        "layers.1.hook_hidden",
        "layers.1.hook_cell",
    ]
    assert architecture(gru).probe_sites(gru) == ["hook_embed", "layers.0.hook_hidden"]
    assert architecture(mlp).alignment_sites(mlp) == [
        "hook_embed", "blocks.0.hook_pre", "blocks.0.hook_post", "blocks.1.hook_pre", "blocks.1.hook_post",
    ]  # fmt: skip
    assert architecture(t).neuron_site(t.cfg) == "blocks.1.mlp.hook_post"
    assert architecture(mlp).neuron_site(mlp.cfg) == "blocks.1.hook_post"
    assert architecture(a).neuron_site(a.cfg) is None and architecture(lstm).neuron_site(lstm.cfg) is None
    assert [architecture(m).has_heads for m in (t, lstm, mlp)] == [True, False, False]
    assert [architecture(m).has_positions for m in (t, lstm, mlp)] == [True, True, False]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_an_identity_change_at_every_site_gives_the_plain_logits(name):
    model = MODELS[name].eval()
    arch = architecture(model)
    readout = torch.as_tensor([6, 3, 5, 0, 2])
    with torch.no_grad():
        for R in (None, readout):
            plain = model(TOKENS, R)
            for site in [s.name for s in arch.sites(model)] + arch.alignment_sites(model):
                changed = arch.run_with_change(model, TOKENS, R, site, lambda act: act.clone())
                assert torch.allclose(changed, plain, atol=1e-6), site


def test_a_change_at_a_head_site_moves_that_head_alone():
    """A head site's change sees that head's slice of hook_z and replaces it alone: the same as
    zeroing the slice through the hook directly."""
    model = MODELS["transformer"].eval()
    arch = architecture(model)
    given: list[torch.Tensor] = []

    def zero(act: torch.Tensor) -> torch.Tensor:
        given.append(act.clone())
        return torch.zeros_like(act)

    with torch.no_grad():
        _, cache = run_with_cache(model, TOKENS, None, names=["blocks.0.attn.hook_z"])
        for head in (0, 1):
            given.clear()
            moved = arch.run_with_change(model, TOKENS, None, f"blocks.0.attn.hook_z[{head}]", zero)
            assert torch.allclose(given[0], cache["blocks.0.attn.hook_z"][:, :, head])

            def direct(z: torch.Tensor, _n: str, head: int = head) -> torch.Tensor:
                z = z.clone()
                z[:, :, head] = 0
                return z

            with hooks(model, {"blocks.0.attn.hook_z": direct}):
                assert torch.allclose(moved, model(TOKENS, None), atol=1e-6)
            assert not torch.allclose(moved, model(TOKENS, None))


def test_a_change_at_an_lstm_state_acts_inside_the_recurrence():
    """A hook at a recurrent state fires once per step and what it returns feeds the later steps:
    halving the state at step 0 only changes the outputs of later steps too (a hook after the
    recurrence would change the readout of step 0 alone)."""
    torch.manual_seed(0)
    model = MODELS["lstm"].eval()
    arch = architecture(model)
    calls: list[int] = []

    def halve_first(act: torch.Tensor) -> torch.Tensor:
        calls.append(act.shape[1])
        out = act.clone()
        out[:, 0] = 0.5 * act[:, 0]
        return out

    with torch.no_grad():
        plain = model(TOKENS, None)
        for site in arch.sites(model):
            calls.clear()
            moved = arch.run_with_change(model, TOKENS, None, site.name, halve_first)
            assert not torch.allclose(moved[:, 0], plain[:, 0])  # the cell state too
            if site.kind in (HIDDEN, CELL):  # once per step, each seeing the whole sequence's shape
                assert arch.recurrent_state(site.name) == (site.layer, site.kind)
                assert calls == [TOKENS.shape[1]] * TOKENS.shape[1]
                assert not torch.allclose(moved[:, -1], plain[:, -1])  # later steps see the change
            else:
                assert len(calls) == 1


def test_the_lstm_cache_holds_every_step_and_training_ignores_the_hooks():
    model = MODELS["lstm"].eval()
    names = [s.name for s in architecture(model).sites(model)]
    with torch.no_grad():
        out, cache = run_with_cache(model, TOKENS, None, names=names)
        assert torch.allclose(out, model(TOKENS, None))
    for name in names:
        assert cache[name].shape[:2] == TOKENS.shape and cache[name].abs().sum(-1).min() > 0


def test_cost_shapes():
    t, lstm, mlp = MODELS["transformer"], MODELS["lstm"], MODELS["mlp"]
    assert [architecture(m).tokens_per_row(7, False) for m in (t, lstm, mlp)] == [8, 8, 1]
    assert [architecture(m).tokens_per_row(7, True) for m in (t, lstm, mlp)] == [7, 7, 1]
    assert architecture(t).attention_flops(t.cfg, 8) == 4 * 8 * 8 * 2 * 8 * 2
    assert architecture(lstm).attention_flops(lstm.cfg, 8) == 0.0
    assert [architecture(m).step_ops(m.cfg, 8) for m in (t, lstm, mlp)] == [3, 1 + 2 * 8, 3]


def test_an_untrained_copy_has_the_architecture_and_fresh_weights():
    for model in MODELS.values():
        fresh = architecture(model).untrained(model, seed=5)
        assert type(fresh) is type(model) and fresh.cfg == model.cfg and not fresh.training
        again = architecture(model).untrained(model, seed=5)
        assert all(torch.equal(p, q) for p, q in zip(fresh.parameters(), again.parameters(), strict=True))
