"""Depth probes, control tasks, the counter unit and the causal test, on planted representations."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from torch import nn

from baselines import LSTMLearner, MLPLearner, TransformerLearner
from baselines.architectures import ARCHITECTURES, EMBED, HIDDEN, Architecture, Site
from baselines.hooks import HookPoint, run_with_hooks
from baselines.lstm import LSTM, LSTMConfig
from mechanisms.plots_sequences import write_plots
from mechanisms.probes import (
    ProbeData,
    control_table,
    depth_analysis,
    fit_probe,
    innermost_type,
    probe_sites,
    running_depth,
)
from mechanisms.sequences import analyse, bracket_types, covered
from tasks import parse_task
from tasks.brackets import token_steps

DEPTH_UNIT, MIN_UNIT, TYPE_UNIT, MISMATCH_UNIT, D_HIDDEN = 3, 5, 6, 7, 16


class Layer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.hook_hidden = HookPoint()


class PlantedCounter(nn.Module):
    """A bracket classifier with its mechanism written in: hidden unit 3 is the running depth, unit 5
    the lowest depth so far, unit 6 the innermost open type, unit 7 how many closers so far did not
    match the innermost open bracket; the other units are small fixed random features of the token.
    The readout (at the separator) says "balanced" when the depth is 0, never went below 0 and no
    closer mismatched, reading all three from the hidden state, so removing the depth breaks it.

    ``noise=True``: the hidden state is instead noise independent of the input (no depth anywhere).
    """

    def __init__(self, n_types: int, noise: bool = False) -> None:
        super().__init__()
        self.n_types, self.noise = n_types, noise
        self.scale = nn.Parameter(torch.ones(()))  # a parameter, so the model has a device
        g = torch.Generator().manual_seed(1)
        self.features = 0.1 * torch.randn(2 * n_types + 2, D_HIDDEN, generator=g)
        self.hook_embed = HookPoint()
        self.layers = nn.ModuleList([Layer()])

    def forward(self, tokens: torch.Tensor, readout: torch.Tensor | None = None) -> torch.Tensor:
        X = tokens.numpy()
        steps = token_steps(X, self.n_types)
        depth = np.cumsum(steps, axis=1)
        low = np.minimum.accumulate(np.minimum(depth, 0), axis=1)
        kind = innermost_type(X, self.n_types)
        before = np.concatenate([np.full((len(X), 1), self.n_types), kind[:, :-1]], axis=1)
        mismatch = np.cumsum((steps < 0) & (before != X // 2), axis=1)
        self.hook_embed(self.features[tokens])
        h = self.features[tokens].clone()
        h[..., DEPTH_UNIT] = torch.as_tensor(depth, dtype=h.dtype)
        h[..., MIN_UNIT] = torch.as_tensor(low, dtype=h.dtype)
        h[..., TYPE_UNIT] = torch.as_tensor(kind, dtype=h.dtype)
        h[..., MISMATCH_UNIT] = torch.as_tensor(mismatch, dtype=h.dtype)
        if self.noise:
            h = torch.randn(h.shape, generator=torch.Generator().manual_seed(2))
        h = self.layers[0].hook_hidden(h * self.scale)
        if readout is not None:
            h = h[torch.arange(len(h)), readout][:, None]
        wrong = h[..., DEPTH_UNIT].abs() + h[..., MIN_UNIT].abs() + h[..., MISMATCH_UNIT].abs()
        balanced = 4.0 - 8.0 * wrong
        return torch.stack([torch.zeros_like(balanced), balanced], dim=-1)


def _data(split) -> ProbeData:
    """The split encoded like a sequence learner's input: the separator right after the last token."""
    X = split.X
    n, k = X.shape
    lengths = (X != split.pad_id).sum(axis=1)
    tokens = np.full((n, k + 1), split.pad_id)
    tokens[:, :k] = X
    tokens[np.arange(n), lengths] = split.pad_id + 1
    return ProbeData(X=X, tokens=tokens, readout=lengths, targets=split.y[:, None], pad_id=split.pad_id)


@pytest.fixture(scope="module", params=["dyck1", "dyck2"])
def brackets(request):
    task = parse_task(f"brackets:kind={request.param},n_test=400")
    return task, _data(task.train_split(400, 0)), _data(task.test_split())


# --- labels -----------------------------------------------------------------------------------------


def _reference(row: np.ndarray, n_types: int) -> tuple[list[int], list[int]]:
    depth, stack, depths, types = 0, [], [], []
    for token in row:
        if token < 2 * n_types:
            if token % 2 == 0:
                depth += 1
                stack.append(token // 2)
            else:
                depth -= 1
                stack = stack[:-1]
        depths.append(depth)
        types.append(stack[-1] if stack else n_types)
    return depths, types


class PlantedArchitecture(Architecture):
    """The adapter of :class:`PlantedCounter`: an embedding and one hidden state, both read through
    hooks (no recurrence to act inside: the hidden hook's replacement is what the readout sees)."""

    name = "planted"
    model_class = PlantedCounter

    def sites(self, model: nn.Module) -> list[Site]:
        return [Site("hook_embed", EMBED, None, True), Site("layers.0.hook_hidden", HIDDEN, 0, True)]

    def alignment_sites(self, model: nn.Module) -> list[str]:
        return [site.name for site in self.sites(model)]

    def probe_sites(self, model: nn.Module) -> list[str]:
        return self.alignment_sites(model)


@pytest.fixture(autouse=True, scope="module")
def planted_architecture():
    """Analyses find a network's adapter by its class: register the planted model's while this
    module's tests run."""
    ARCHITECTURES[PlantedCounter] = PlantedArchitecture()
    yield
    del ARCHITECTURES[PlantedCounter]


@given(
    arrays(np.int64, st.tuples(st.integers(1, 4), st.integers(1, 12)), elements=st.integers(0, 4)),
    st.sampled_from([1, 2]),
)
def test_depth_and_innermost_type_follow_a_stack(X, n_types):
    X = np.minimum(X, 2 * n_types)  # the pad id is 2·n_types
    depth, kind = running_depth(X, n_types), innermost_type(X, n_types)
    assert np.array_equal(depth, np.cumsum(token_steps(X, n_types), axis=1))
    for r, row in enumerate(X):
        ref_depth, ref_type = _reference(row, n_types)
        assert depth[r].tolist() == ref_depth
        assert kind[r].tolist() == ref_type


@given(st.integers(0, 1000))
def test_control_labels_are_a_fixed_function_of_token_and_position(seed):
    labels = np.array([0, 0, 1, 2, 2, 2, 5])
    table = control_table(labels, 3, 7, seed)
    assert table.shape == (3, 7)
    assert set(np.unique(table)) <= {0, 1, 2, 5}
    assert np.array_equal(table, control_table(labels, 3, 7, seed))


# --- planted representations ------------------------------------------------------------------------


def test_probe_finds_the_planted_depth_unit_and_removing_it_breaks_the_model(brackets):
    task, train, test = brackets
    model = PlantedCounter(task.n_types)
    result = depth_analysis(model, train, test, task.n_types, seed=0)
    assert [s["site"] for s in result["sites"]] == ["hook_embed", "layers.0.hook_hidden"]
    hidden = result["sites"][1]
    assert hidden["probe_accuracy"] > 0.97
    assert hidden["selectivity"] > 0.3
    assert result["best_site"] == "layers.0.hook_hidden"
    assert result["counter_unit"]["site"] == "layers.0.hook_hidden"
    assert result["counter_unit"]["unit"] == DEPTH_UNIT
    assert result["counter_unit"]["correlation"] > 0.999
    if task.n_types == 2:
        assert hidden["type_probe_accuracy"] > 0.97 and hidden["type_selectivity"] > 0.3
    # The embedding does not reach the output in this model: the causal test runs at the hidden state.
    ablation = result["ablation"]
    assert ablation["site"] == "layers.0.hook_hidden"
    assert ablation["none"] == 1.0
    assert ablation["depth_r2"] > 0.9
    assert ablation["depth_direction"] < 0.75
    assert ablation["depth_direction"] < ablation["random_direction"] - 0.2
    assert len(ablation["random_directions"]) == 5
    subspace = ablation["subspace"]
    assert 1 <= subspace["dimension"] < D_HIDDEN
    assert subspace["depth_subspace"] < 0.75
    json.dumps(result)


def test_control_gives_no_selectivity_where_there_is_no_depth(brackets):
    task, train, test = brackets
    result = depth_analysis(PlantedCounter(task.n_types, noise=True), train, test, task.n_types, seed=0)
    hidden = result["sites"][1]
    depth = running_depth(test.X, task.n_types)[test.real]
    majority = np.unique(depth, return_counts=True)[1].max() / len(depth)
    assert hidden["probe_accuracy"] <= majority + 0.03
    assert abs(hidden["selectivity"]) < 0.1
    assert abs(result["counter_unit"]["correlation"]) < 0.1


def test_a_probe_with_one_training_label_predicts_it():
    acc, pred = fit_probe(np.zeros((5, 2)), np.full(5, 3), np.zeros((4, 2)), np.array([3, 3, 1, 3]))
    assert acc == 0.75 and pred.tolist() == [3, 3, 3, 3]


# --- the entry point on trained learners -------------------------------------------------------------


@pytest.mark.parametrize("kind", ["lstm", "transformer"])
def test_analyse_on_brackets_reports_depth(kind, tmp_path):
    torch.manual_seed(0)
    task = parse_task("brackets:kind=dyck1,n_test=200")
    train = task.train_split(256, 0)
    common = dict(
        d_vocab=task.pad_id + 1, n_classes=2, pad_id=task.pad_id, steps=30, batch_size=64, lr=1e-2,
        checkpoint_steps=(0, 30), eval_points=2, random_state=0, device="cpu",
    )  # fmt: skip
    if kind == "lstm":
        learner = LSTMLearner(d_embed=8, d_hidden=16, **common)
    else:
        learner = TransformerLearner(
            n_layers=2, d_model=16, n_heads=2, d_mlp=32, normalization=True, positional="rotary", **common
        )
    learner.fit(train.X, train.y)
    result = analyse(learner, task, train=train, n_probe=200, n_random=20)
    depth = result["depth"]
    sites = [s["site"] for s in depth["sites"]]
    assert sites == probe_sites(learner.model_)
    assert set(depth["sites"][0]) >= {"site", "probe_accuracy", "control_accuracy", "selectivity"}
    assert set(depth["ablation"]) >= {"none", "depth_direction", "random_direction"}
    assert depth["best_site"] in sites
    if kind == "lstm":
        assert sites == ["hook_embed", "layers.0.hook_hidden", "layers.0.hook_cell"]
        assert depth["counter_unit"]["site"] in sites[1:]
        assert depth["ablation"]["site"] in sites[1:]  # the recurrent states beat the embedding here
        assert "heads" not in result
    else:
        assert sites == ["blocks.0.hook_resid_pre", "blocks.0.hook_resid_post", "blocks.1.hook_resid_post"]
        assert depth["counter_unit"] is None
        assert "heads" in result and "ablation" in result
    assert [e["step"] for e in result["progress"]] == [0, 30]
    assert all("depth_probe_accuracy" in e for e in result["progress"])
    json.dumps(result)
    tokens = learner.encode(task.test_split().X[:1]).tokens
    names = sorted(p.name for p in write_plots(learner, result, tokens, tmp_path))
    expected = ["progress.png", "probes.png"] + (
        ["attention.png", "head_scores.png"] if kind != "lstm" else []
    )
    assert names == sorted(expected)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_a_hook_at_a_recurrent_state_feeds_back(cell):
    """The state hooks fire inside the recurrence: an identity hook leaves the logits as they are,
    and a change at step 0 alone moves every later step's output."""
    model = LSTM(
        LSTMConfig(d_vocab=5, d_vocab_out=2, d_embed=4, d_hidden=6, n_layers=2, cell=cell),
        torch.Generator().manual_seed(3),
    ).eval()
    tokens = torch.as_tensor(np.random.default_rng(0).integers(0, 5, size=(7, 9)))
    readout = torch.as_tensor([8, 3, 5, 0, 1, 8, 2])

    def first_only(x: torch.Tensor, _name: str) -> torch.Tensor:
        out = x.clone()
        out[:, 0] = 0.5 * x[:, 0]
        return out

    with torch.no_grad():
        for R in (None, readout):
            copy = {"layers.0.hook_hidden": lambda x, _n: x.clone()}
            same = run_with_hooks(model, tokens, R, fwd_hooks=copy)
            assert torch.allclose(same, model(tokens, R), atol=1e-6)
        moved = run_with_hooks(model, tokens, fwd_hooks={"layers.0.hook_hidden": first_only})
        plain = model(tokens)
        assert not torch.allclose(moved[:, 0], plain[:, 0])
        assert not torch.allclose(moved[:, -1], plain[:, -1], atol=1e-6)  # fed back through the steps


def test_sequence_coverage_is_decided_by_the_architecture_before_training():
    brackets, induction = parse_task("brackets:kind=dyck1").test_split(), parse_task("induction").test_split()
    covered(brackets, LSTMLearner())
    covered(brackets, TransformerLearner())
    covered(induction, TransformerLearner())
    with pytest.raises(ValueError, match="LSTM on data other than brackets is not covered"):
        covered(induction, LSTMLearner())
    for learner in (MLPLearner(), object()):  # no positions; no network
        with pytest.raises(ValueError, match="is not covered"):
            covered(brackets, learner)


def test_bracket_data_is_recognized_from_the_split_alone():
    assert bracket_types(parse_task("brackets:kind=dyck1").test_split()) == 1
    assert bracket_types(parse_task("brackets:kind=dyck2").test_split()) == 2
    assert bracket_types(parse_task("induction").test_split()) is None
    assert bracket_types(parse_task("modular:p=7").test_split()) is None
