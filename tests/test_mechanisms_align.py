"""Alignment on a planted induction transformer (must find its circuit) and on untrained networks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from baselines.transformer import Transformer, TransformerConfig
from mechanisms.align import (
    AlignData,
    align,
    aligned_count,
    interchange_iia,
    make_pairs,
    program_variables,
    site_activations,
    untrained_like,
)
from mechanisms.heads import repeated_random_tokens
from mechanisms.probes import random_directions
from synth.dsl import parse_dsl
from synth.dsl_seq import REFERENCES

V, L = 8, 16  # tokens, positions
# The residual stream's blocks of one-hot dimensions: TOK = 0, PREV = V, POS = 2V, OUT = 2V + L.
S = 7.0  # query/key scale: a match scores S^2 / sqrt(d_head) = 12.25 (soft enough for DAS gradients)


def planted_induction(V: int = V, L: int = L, *, prev_head: int = 0, n_heads: int = 1) -> Transformer:
    """A 2-layer attention-only transformer wired as recent(sel_tok(prev(tokens), tokens), tokens).

    Layer 0's head ``prev_head`` writes the previous token (one-hot) into PREV (any other layer-0 head
    attends to its own position and writes nothing the readout reads); layer 1 attends from each
    query to the keys whose PREV equals the query's token (the most recent one by a small recency
    bias; never key 0, whose PREV is its own token) and copies that key's token into OUT, which the
    unembedding reads."""
    TOK, PREV, POS, OUT = 0, V, 2 * V, 2 * V + L  # noqa: N806 - the stream's blocks, as above
    d_head = max(L, V + 1)
    cfg = TransformerConfig(
        d_vocab=V,
        d_vocab_out=V,
        n_ctx=L,
        d_model=3 * V + L,
        n_layers=2,
        n_heads=n_heads,
        d_head=d_head,
        attn_only=True,
        use_bias=True,
    )
    model = Transformer(cfg, torch.Generator().manual_seed(0))
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model.W_E[torch.arange(V), TOK + torch.arange(V)] = 1.0
        model.W_pos[torch.arange(L), POS + torch.arange(L)] = 1.0
        a0, a1 = model.blocks[0].attn, model.blocks[1].attn
        h = prev_head
        for i in range(L):  # query i looks at key i - 1 (a decoy head: at key i)
            a0.W_Q[:, POS + i, i] = S
            if i + 1 < L:
                a0.W_K[h, POS + i, i + 1] = S
            for other in set(range(n_heads)) - {h}:
                a0.W_K[other, POS + i, i] = S
                a0.W_V[other, POS + i, i] = 1.0  # its own position, into a block nothing reads
        for t in range(V):
            a0.W_V[h, TOK + t, t] = 1.0
            a0.W_O[h, t, PREV + t] = 1.0
            a1.W_Q[0, TOK + t, t] = S
            a1.W_K[0, PREV + t, t] = S
            a1.W_V[0, TOK + t, t] = 1.0
            a1.W_O[0, t, OUT + t] = 1.0
            model.W_U[OUT + t, t] = 1.0
        a1.b_Q[0, V] = S  # a constant query component reads the keys' positions:
        a1.W_K[0, POS + 0, V] = -2 * S  # never key 0,
        a1.W_K[0, POS + 1 : POS + L, V] = 0.5 * torch.arange(1, L) * np.sqrt(d_head) / S  # later keys win
    return model.eval()


def induction_data(n: int, seed: int, V: int = V, L: int = L) -> AlignData:
    X = repeated_random_tokens(np.arange(V), n, L // 2, seed)
    scored = np.zeros(X.shape, bool)
    scored[:, L // 2 :] = True
    return AlignData(X=X, tokens=X, readout=None, scored=scored, pad_id=None)


DSL = parse_dsl(f"seq:d_vocab={V},pad=-1")
HEAD0, HEAD1 = "blocks.0.attn.hook_z[0]", "blocks.1.attn.hook_z[0]"
PROGRAM = DSL.parse(REFERENCES["induction"])


def test_the_planted_network_computes_the_program():
    model, data = planted_induction(), induction_data(64, 1)
    pred = model(torch.as_tensor(data.tokens)).argmax(-1).numpy()
    want = PROGRAM.evaluate(DSL.env(data.X)).astype(np.int64)
    assert np.array_equal(pred[data.scored], want[data.scored])


@pytest.fixture(scope="module")
def planted_result():
    return align(
        planted_induction(), PROGRAM, DSL, induction_data(120, 1), induction_data(120, 2), n_pairs=200, seed=0
    )


def test_alignment_finds_the_planted_sites(planted_result):
    subs = {s["expression"]: s for s in planted_result["subexpressions"]}
    prev, out = subs["prev(tokens)"], subs[REFERENCES["induction"]]
    assert (prev["site"], prev["site_kind"]) == (HEAD0, "head_output")  # the head that writes it
    assert (out["site"], out["site_kind"]) == (HEAD1, "head_output")
    for s in (prev, out):
        assert s["pairs"] >= 30 and s["headline"] == "iia" and s["iia_headline"] == s["iia"]
        assert s["probe_accuracy"] > 0.9 and s["selectivity"] > 0.3
        assert s["iia"] >= 0.95 and s["iia_corrected"] >= 0.95
        assert s["dimension"] == V - 1 or s["dimension"] == V  # the probe's whole row space
        assert s["iia_untrained"] <= 0.2
    # A random 7-of-16-dimensional subspace of the head's output moves the copy now and then; of
    # the residual stream it does not: bound fixed before running.
    assert prev["iia_random"] <= 0.2 and out["iia_random"] <= 0.5
    # Before layer 0 the previous token is not there: low probe accuracy, and swapping does nothing.
    embed = next(r for r in prev["by_site"] if r["site"] == "blocks.0.hook_resid_pre")
    assert embed["probe_accuracy"] < 0.6 and (embed["iia"] or 0.0) < 0.2
    assert aligned_count(planted_result) == (2, 2)


def test_the_grid_keeps_the_planted_alignment(planted_result):
    """What a grid cell stores of the planted network's report (mechanisms.alignment.grid_alignment):
    both subexpressions aligned, at the planted sites, and the layer-1 head as the selector."""
    from mechanisms.alignment import grid_alignment

    kept = grid_alignment({"alignments": [{"source": "reference", **planted_result}], **planted_result})
    assert (kept["aligned"], kept["of"]) == (2, 2)
    (program,) = kept["programs"]
    sites = {s["expression"]: s["site"] for s in program["subexpressions"]}
    assert sites == {"prev(tokens)": HEAD0, REFERENCES["induction"]: HEAD1}
    assert all(s["iia_corrected"] >= 0.95 and s["dimension"] >= V - 1 for s in program["subexpressions"])
    assert kept["headline"] == "iia"
    assert [s["head"] for s in program["selectors"]] == [[1, 0]]


def test_the_heatmap_grid_holds_the_planted_iias(planted_result, tmp_path):
    """mechanisms.plots_align: each subexpression's IIA is highest at its planted site (≥ 0.95, the
    embeddings < 0.2), and one PNG is written per program."""
    from mechanisms.plots_align import iia_grid, write_plots

    grid, sites = iia_grid(planted_result), planted_result["sites"]
    for i, sub in enumerate(planted_result["subexpressions"]):
        assert grid[i, sites.index(sub["site"])] == pytest.approx(sub["iia"])
        assert grid[i, sites.index(sub["site"])] >= 0.95
        assert np.nan_to_num(grid[i, sites.index("blocks.0.hook_resid_pre")]) < 0.2
    (path,) = write_plots({"alignments": [{"source": "reference", **planted_result}]}, tmp_path)
    assert path.name == "alignment_reference.png" and path.read_bytes()[:4] == b"\x89PNG"


def test_the_selector_is_the_second_layer_head(planted_result):
    (sel,) = planted_result["selectors"]
    assert sel["expression"] == "sel_tok(prev(tokens), tokens)"
    assert sel["head"] == [1, 0]
    assert sel["attention_on_selected"] > 0.95
    assert sel["by_head"][0][0] < 0.3


def test_random_subspaces_on_an_untrained_network_stay_below_a_bound():
    """Bound fixed before running: a random subspace on an untrained network gets IIA ≤ 0.15 (the
    untrained network rarely even matches the program's base output)."""
    untrained = untrained_like(planted_induction(), seed=3)
    test = induction_data(120, 2)
    rng = np.random.default_rng(0)
    for var in program_variables(PROGRAM, DSL, induction_data(8, 1), test):
        pairs = make_pairs(PROGRAM, DSL, untrained, var, test, 200, seed=5)
        acts = site_activations(untrained, test, ["blocks.0.hook_resid_post"])["blocks.0.hook_resid_post"]
        for k in (1, 8):
            basis = random_directions(acts.shape[-1], k, rng)
            iia = interchange_iia(untrained, "blocks.0.hook_resid_post", basis, pairs, test, acts)
            assert iia is not None and iia <= 0.15


def test_das_learns_the_planted_output_subspace():
    from mechanisms.align import das_basis

    model, train, test = planted_induction(), induction_data(60, 1), induction_data(60, 2)
    var = program_variables(PROGRAM, DSL, train, test)[-1]  # the program's output
    site = "blocks.1.hook_resid_post"
    acts = {name: site_activations(model, d, [site])[site] for name, d in (("train", train), ("test", test))}
    basis = das_basis(
        model,
        site,
        8,
        make_pairs(PROGRAM, DSL, model, var, train, 100, seed=1),
        train,
        acts["train"],
        seed=0,
        steps=60,
    )
    assert basis.shape == (8, acts["test"].shape[-1])
    assert np.allclose(basis @ basis.T, np.eye(8), atol=1e-6)
    pairs = make_pairs(PROGRAM, DSL, model, var, test, 100, seed=2)
    assert interchange_iia(model, site, basis, pairs, test, acts["test"]) >= 0.9


def test_swaps_inside_an_lstm_recurrence_and_through_hooks():
    """A swap with the source equal to the base changes nothing (inside the recurrence or through a
    hook); a full swap of an LSTM's hidden and cell state at the last step gives the source's output."""
    from baselines.lstm import LSTM, LSTMConfig
    from mechanisms.align import predictions, swap

    model = LSTM(
        LSTMConfig(d_vocab=4, d_vocab_out=3, d_embed=6, d_hidden=5), torch.Generator().manual_seed(0)
    )
    rng = np.random.default_rng(0)
    X = rng.integers(0, 3, size=(20, 7))
    data = AlignData(X=X, tokens=X, readout=np.full(20, 6), scored=np.ones((20, 1), bool))
    own = predictions(model, data)
    for site in ("hook_embed", "layers.0.hook_hidden", "layers.0.hook_cell"):
        acts = site_activations(model, data, [site])[site]
        pos = torch.as_tensor(rng.integers(0, 7, 20))
        same = swap(
            torch.eye(acts.shape[-1]).double(), torch.as_tensor(acts[np.arange(20), pos.numpy()]), pos
        )
        assert np.array_equal(predictions(model, data, site, same), own)
    # The cell state at the last step holds everything the readout reads (with the hidden state).
    source = np.roll(np.arange(20), 1)
    acts = site_activations(model, data, ["layers.0.hook_hidden"])["layers.0.hook_hidden"]
    last = torch.full((20,), 6)
    moved = swap(torch.eye(5).double(), torch.as_tensor(acts[source, 6]), last)
    assert np.array_equal(predictions(model, data, "layers.0.hook_hidden", moved), own[source])


def test_an_mlp_aligns_values_per_example_and_skips_per_position_ones():
    from baselines.mlp import MLP, MLPConfig

    model = MLP(
        MLPConfig(d_vocab=7, d_vocab_out=7, n_ctx=2, d_embed=4, d_mlp=16), torch.Generator().manual_seed(0)
    )
    dsl = parse_dsl("arith:p=7")
    X = np.array([(x, y) for x in range(7) for y in range(7)])
    data = AlignData(X=X, tokens=X, readout=None, scored=np.ones((49, 1), bool))
    result = align(model, dsl.parse("add(sq(x), y)"), dsl, data, data, n_pairs=64)
    assert [s["expression"] for s in result["subexpressions"]] == ["sq(x)", "add(sq(x), y)"]
    assert result["sites"] == ["hook_embed", "blocks.0.hook_pre", "blocks.0.hook_post"]
    assert result["skipped"] == []
    for s in result["subexpressions"]:
        assert s["pairs"] > 0 and s["iia"] is not None
