"""Alignment on planted networks at the sizes the suite uses, and its nulls (issue 27): a hand-wired
induction transformer over 24 tokens, one whose previous-token head is the second of two, a
hand-wired LSTM counter swapped inside its recurrence, and networks that must score nothing."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_mechanisms_align import induction_data, planted_induction

from baselines.lstm import LSTM, LSTMConfig
from mechanisms.align import (
    AlignData,
    align,
    aligned_count,
    interchange_scores,
    make_pairs,
    predictions,
    program_variables,
    site_activations,
    untrained_like,
)
from synth.dsl import parse_dsl
from synth.dsl_seq import REFERENCES

V24, L24 = 24, 32


def _by_site(sub: dict, site: str) -> dict:
    return next(r for r in sub["by_site"] if r["site"] == site)


@pytest.fixture(scope="module")
def wide():
    """The planted induction network over 24 tokens (a token-valued variable needs 23 directions)."""
    torch.manual_seed(0)
    dsl = parse_dsl(f"seq:d_vocab={V24},pad=-1")
    program = dsl.parse(REFERENCES["induction"])
    model = planted_induction(V24, L24)
    train, test = induction_data(200, 1, V24, L24), induction_data(200, 2, V24, L24)
    return align(model, program, dsl, train, test, n_pairs=200, seed=0)


def test_induction_over_24_tokens_aligns_at_the_planted_head_and_residual(wide):
    subs = {s["expression"]: s for s in wide["subexpressions"]}
    prev, out = subs["prev(tokens)"], subs[REFERENCES["induction"]]
    assert prev["site"] == "blocks.0.attn.hook_z[0]" and out["site"] == "blocks.1.attn.hook_z[0]"
    for sub, residual in ((prev, "blocks.0.hook_resid_post"), (out, "blocks.1.hook_resid_post")):
        assert sub["dimension"] >= V24 - 1  # the whole row space: no cap at 16
        assert sub["pairs"] >= 50 and sub["iia"] >= 0.95
        assert _by_site(sub, residual)["iia"] >= 0.95  # the residual stream that carries it, too
        assert sub["iia_untrained"] <= 0.2
    assert _by_site(prev, "blocks.0.hook_resid_pre")["iia"] <= 0.2  # not there before layer 0
    assert aligned_count(wide) == (2, 2)


def test_a_variable_one_head_writes_is_found_at_that_head():
    """Two heads in layer 0; the second writes the previous token, the first attends to its own
    position: prev(tokens) is found at head 1's output, and head 0's swaps do nothing."""
    torch.manual_seed(0)
    dsl = parse_dsl("seq:d_vocab=8,pad=-1")
    program = dsl.parse(REFERENCES["induction"])
    model = planted_induction(prev_head=1, n_heads=2)
    result = align(model, program, dsl, induction_data(120, 1), induction_data(120, 2), n_pairs=200, seed=0)
    prev = next(s for s in result["subexpressions"] if s["expression"] == "prev(tokens)")
    assert (prev["site"], prev["site_kind"]) == ("blocks.0.attn.hook_z[1]", "head_output")
    assert prev["iia"] >= 0.95
    assert (_by_site(prev, "blocks.0.attn.hook_z[0]")["iia"] or 0.0) <= 0.1


def planted_lstm_counter(L: int) -> LSTM:
    """An LSTM whose cell unit 0 holds 0.1·tally(is(tokens, tok0)) (input, forget and output gates
    saturated open; the candidate is ±0.1 by token), and whose readout says tally > 0 from hidden
    unit 0 = tanh(cell unit 0)."""
    cfg = LSTMConfig(d_vocab=2, d_vocab_out=2, d_embed=2, d_hidden=2)
    model = LSTM(cfg, torch.Generator().manual_seed(0))
    d = 2
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model.W_E.copy_(torch.eye(2))
        layer = model.layers[0]
        for gate in (0, 1, 3):  # i, f, o: open
            layer.b_ih[gate * d] = 20.0
        layer.W_ih[0, 2 * d] = np.arctanh(0.1)  # g: +0.1 for tok0, −0.1 for tok1
        layer.W_ih[1, 2 * d] = -np.arctanh(0.1)
        model.W_U[0, 1] = 100.0  # class 1 (true) when tanh(0.1·tally) > 0.05, i.e. tally ≥ 1
        model.b_U[1] = -5.0
    return model.eval()


def _counter_data(n: int, L: int, seed: int) -> AlignData:
    X = np.random.default_rng(seed).integers(0, 2, size=(n, L))
    scored = np.zeros(X.shape, bool)
    scored[:, -1] = True  # the answer after the last token: a swap at the last step reaches it
    return AlignData(X=X, tokens=X, readout=None, scored=scored, pad_id=None)


def test_a_planted_lstm_counter_aligns_its_tally_at_the_cell_state():
    """The tally lives in the cell state: swapped there (inside the recurrence, so the hidden state
    of the same step reads the swapped cell), the output follows the program's counterfactual."""
    torch.manual_seed(0)
    L = 8
    dsl = parse_dsl("seq:d_vocab=2,pad=-1")
    program = dsl.parse("gt0(tally(is(tokens, tok0)))")
    model = planted_lstm_counter(L)
    train, test = _counter_data(300, L, 1), _counter_data(300, L, 2)
    want = program.evaluate(dsl.env(test.X)).astype(np.int64)
    assert np.array_equal(predictions(model, test)[:, -1], want[:, -1])
    result = align(model, program, dsl, train, test, n_pairs=600, seed=0)
    assert result["headline"] == "iia_corrected"  # a two-valued output
    tally = next(s for s in result["subexpressions"] if s["expression"] == "tally(is(tokens, tok0))")
    cell = _by_site(tally, "layers.0.hook_cell")
    assert cell["iia"] >= 0.95 and cell["iia_corrected"] >= 0.95
    assert tally["site"] in ("layers.0.hook_cell", "layers.0.hook_hidden")
    assert tally["pairs_corrected"] >= 10 and tally["iia_headline"] >= 0.95
    assert (_by_site(tally, "hook_embed")["iia_corrected"] or 0.0) <= 0.2


def test_chance_corrected_iia_of_a_network_that_ignores_the_swap_is_zero():
    """A network that always answers "true" ignores every swap: plain IIA is the share of
    counterfactuals that happen to be its answer (about half), the chance-corrected IIA is 0."""
    torch.manual_seed(0)
    L = 8
    dsl = parse_dsl("seq:d_vocab=2,pad=-1")
    program = dsl.parse("gt0(tally(is(tokens, tok0)))")
    model = planted_lstm_counter(L)
    with torch.no_grad():
        model.W_U.zero_()  # the readout reads nothing: always class 1
        model.b_U[1] = 5.0
    test = _counter_data(300, L, 2)
    tally = program_variables(program, dsl, test, test)[1]
    pairs = make_pairs(program, dsl, model, tally, test, 2000, seed=3)
    site = "layers.0.hook_cell"
    acts = site_activations(model, test, [site])[site]
    scores = interchange_scores(model, site, np.eye(acts.shape[-1]), pairs, test, acts)
    assert scores.pairs_corrected > 0 and scores.iia_corrected == 0.0
    assert 0.2 < scores.iia < 0.8  # plain IIA credits the answers that happen to agree


def test_das_on_an_untrained_network_stays_below_a_bound():
    """Bound fixed before running: DAS (its dimension picked on the calibration half) on an untrained
    induction network gets chance-corrected IIA ≤ 0.3 for every subexpression, where the planted
    network's DAS reaches ≥ 0.9 for the output."""
    torch.manual_seed(0)
    dsl = parse_dsl("seq:d_vocab=8,pad=-1")
    program = dsl.parse(REFERENCES["induction"])
    planted = planted_induction()
    untrained = untrained_like(planted, seed=3)
    train, test = induction_data(100, 1), induction_data(100, 2)
    result = align(untrained, program, dsl, train, test, n_pairs=150, seed=0, das=True, baselines=False)
    for sub in result["subexpressions"]:
        assert sub["dimension_das"] is not None
        assert sub["iia_das_corrected"] is None or sub["iia_das_corrected"] <= 0.3
    planted_result = align(planted, program, dsl, train, test, n_pairs=150, seed=0, das=True, baselines=False)
    assert planted_result["subexpressions"][-1]["iia_das"] >= 0.9
