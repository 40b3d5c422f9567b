"""Neural learners with the scikit-learn API: :class:`MLPLearner`, :class:`TransformerLearner` and
:class:`LSTMLearner`.

Each learner is a dataclass of its hyper-parameters (so ``get_params``/``clone`` and the spec
syntax see the same fields). ``fit(X, y, *, mask=None, eval_sets=None)`` trains; ``eval_sets`` (name
→ ``(X, y)`` or a ``tasks.Split``) are evaluated along the way into ``history_`` but never used for
stopping (an eval set a learner cannot read, such as longer rows for the MLP, is left out).

Fitted attributes: ``model_`` (the torch module, in eval mode; read its activations with
:mod:`baselines.hooks`), ``history_`` (dict of lists: ``step`` and ``<part>_loss`` /
``<part>_acc`` for ``train``, ``val`` when carved, and each eval set), ``checkpoints_`` (step →
state dict), ``stopped_step_``, ``fit_seconds_``, ``d_vocab_``, ``n_classes_``, ``per_position_``.

Sequence models (transformer, LSTM) read one label per example at a separator token ``"="`` (id
``d_vocab``) written right after each row's last non-pad token — Nanda's ``a b =`` for modular
inputs; per-position targets are read at every position (``y`` must then have ``X``'s width).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from baselines.architectures import LSTM_ARCHITECTURE, MLP_ARCHITECTURE, TRANSFORMER, Architecture
from baselines.base import (
    Learner,
    apply_mask,
    as_pair,
    check_tokens,
    check_X,
    check_Xy,
    infer_sizes,
    pad_to_width,
)
from baselines.devices import check_device, resolve_device  # also imported from here (compare/)
from baselines.encoding import Encoded, SequenceEncoding
from baselines.lstm import CELLS, LSTM, LSTMConfig
from baselines.mlp import MLP, MLPConfig
from baselines.params import ACTIVATIONS
from baselines.training import (
    STOP_MODES,
    Data,
    Engine,
    Result,
    SingleEngine,
    TrainConfig,
    eval_chunk,
    first_step,
    train_models,
)
from baselines.transformer import POSITIONAL, Transformer, TransformerConfig
from tasks import SpecError, Split
from tasks.learners import (
    AT_LEAST_1,
    FRACTION,
    NON_NEGATIVE,
    OPEN_FRACTION,
    POSITIVE,
    NotApplicable,
    Range,
    check_params,
    register_learner,
)

#: Part of every network cell's fingerprint: bump it when a change to the models or the training
#: loop changes what the same parameters and seed produce, so stored cells are not reused.
MODEL_VERSION = 1

TRAIN_FIELDS = tuple(f.name for f in dataclasses.fields(TrainConfig))


@dataclass(eq=False, repr=False, kw_only=True)
class NeuralLearner(Learner):
    """Training settings shared by the neural learners (see :class:`baselines.training.TrainConfig`).

    ``d_vocab``/``n_classes`` None: inferred from the training data and eval sets; pass the task's
    values so that tokens and labels seen only later (OOD splits) fit. ``early_stopping``: "none",
    "train" or "validation" (a ``validation_fraction`` carved from the training data): stop at the
    first evaluation whose accuracy reaches ``stop_accuracy`` or after ``patience`` evaluations
    without a lower loss. ``grokfast_lambda`` > 0 adds that many times an EMA of past gradients
    (decay ``grokfast_alpha``) to each gradient (Grokfast-EMA, Lee et al. 2024; 0: off).
    """

    #: True where inputs wider than the training rows cannot be taken.
    fixed_width: ClassVar[bool] = False
    has_model: ClassVar[bool] = True
    batchable: ClassVar[bool] = True
    #: The architecture's config dataclass (a saved network is rebuilt from it).
    config_class: ClassVar[type]
    #: What analyses may ask of the network (:mod:`baselines.architectures`).
    architecture: ClassVar[Architecture]
    budget_params: ClassVar[dict[str, str]] = {"steps": "steps"}
    #: From the training data (``data_params``), the cell's seed, and the device (written only when
    #: not the default: the device changes speed, not what is learned).
    not_canonical: ClassVar[tuple[str, ...]] = ("d_vocab", "n_classes", "pad_id", "random_state")
    #: Grokfast's settings are written only when set, so that cells trained before they existed keep
    #: their keys (their default is training without the filter).
    omit_when_default: ClassVar[tuple[str, ...]] = ("device", "grokfast_alpha", "grokfast_lambda")
    param_ranges: ClassVar[dict[str, Range]] = {
        "d_vocab": AT_LEAST_1, "n_classes": AT_LEAST_1, "pad_id": NON_NEGATIVE, "steps": NON_NEGATIVE,
        "lr": POSITIVE, "weight_decay": NON_NEGATIVE, "beta1": Range(0, 1, open_high=True),
        "beta2": Range(0, 1, open_high=True), "batch_size": AT_LEAST_1, "warmup_steps": NON_NEGATIVE,
        "eval_points": AT_LEAST_1, "checkpoint_steps": NON_NEGATIVE, "validation_fraction": OPEN_FRACTION,
        "stop_accuracy": FRACTION, "patience": NON_NEGATIVE,
        "grokfast_alpha": Range(0, 1, open_high=True), "grokfast_lambda": NON_NEGATIVE,
    }  # fmt: skip
    param_choices: ClassVar[dict[str, tuple[str, ...]]] = {"early_stopping": STOP_MODES}

    d_vocab: int | None = None
    n_classes: int | None = None
    pad_id: int | None = None
    steps: int = 2000
    lr: float = 1e-3
    weight_decay: float = 1.0
    beta1: float = 0.9
    beta2: float = 0.98
    batch_size: int | None = None
    warmup_steps: int = 0
    eval_points: int = 40
    checkpoint_steps: tuple[int, ...] = ()
    checkpoint_first_99: bool = False
    early_stopping: str = "none"
    validation_fraction: float = 0.1
    stop_accuracy: float = 1.0
    patience: int | None = None
    grokfast_alpha: float = 0.98
    grokfast_lambda: float = 0.0
    random_state: int | None = 0
    device: str = "auto"

    # --- the learner contract (tasks.learners) -------------------------------------------------
    @classmethod
    def data_params(cls, split: Split, params: dict) -> dict:
        data = {"d_vocab": split.d_vocab, "n_classes": split.n_classes, "pad_id": split.pad_id}
        return {k: v for k, v in data.items() if params.get(k) is None}

    @classmethod
    def fingerprint(cls, params: dict) -> str:
        return f"model-v{MODEL_VERSION}"

    def check(self) -> None:
        """SpecError naming the first parameter out of range (before any data is touched)."""
        check_params(self)
        check_device(self.device)

    def fitted_summary(self) -> dict:
        """Steps trained, and the first logged step at which each part reached 99% accuracy."""
        parts = [key[: -len("_acc")] for key in self.history_ if key.endswith("_acc")]
        return {
            "steps": int(self.stopped_step_),
            "first_step": {part: first_step(self.history_, f"{part}_acc", 0.99) for part in parts},
        }

    def can_read(self, X: np.ndarray) -> bool:
        """False for inputs this fitted learner cannot take (wider rows for a fixed-width model)."""
        return not self.fixed_width or np.shape(X)[1] <= self.n_features_in_

    # --- what analyses may use (the public side of the architecture's encoding) -------------
    def encode(self, X) -> Encoded:
        """Raw inputs ``X`` (n, k) as the fitted network reads them: input tokens and readout."""
        X = np.asarray(X)
        return Encoded(self._encode(X), self._readout_pos(X))

    def encode_targets(self, X, y) -> np.ndarray:
        """Targets (n, P) aligned with the network's output positions for ``X`` and labels ``y``
        (-1 where unscored: apply a mask first), as training scores them."""
        return self._targets(np.asarray(X), np.asarray(y))

    def build_model(
        self, width: int, eval_widths: tuple[int, ...] = (), generator: torch.Generator | None = None
    ) -> nn.Module:
        """An untrained network for rows of ``width`` tokens (and eval sets of ``eval_widths``), as
        ``fit`` builds it; needs the sizes ``fit`` sets (``d_vocab_``, ``n_classes_``,
        ``per_position_``, ``n_features_in_``). ``generator`` None: seeded with 0."""
        cfg = self._model_config(width, list(eval_widths))
        return self.model_from_config(cfg, generator)

    def model_from_config(self, cfg, generator: torch.Generator | None = None) -> nn.Module:
        """The network of config ``cfg`` (an instance of ``config_class``), initialized from
        ``generator`` (None: seeded with 0; e.g. to load saved weights into)."""
        return self._make_model(cfg, torch.Generator().manual_seed(0) if generator is None else generator)

    # --- what each architecture defines -------------------------------------------------------
    def _model_config(self, width: int, eval_widths: list[int]):
        raise NotImplementedError

    def _make_model(self, cfg, generator: torch.Generator) -> nn.Module:
        raise NotImplementedError

    def _encode(self, X: np.ndarray) -> np.ndarray:
        """Model input tokens for raw inputs ``X``."""
        raise NotImplementedError

    def _targets(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Targets (n, P) aligned with the model's output positions, -1 where unscored."""
        raise NotImplementedError

    def _readout_pos(self, X: np.ndarray) -> np.ndarray | None:
        """The position each row is read out at (n,), or None when every output position counts."""
        return None

    # --- the shared machinery -----------------------------------------------------------------
    def _train_config(self) -> TrainConfig:
        return TrainConfig(**{name: getattr(self, name) for name in TRAIN_FIELDS})

    def _data(self, X: np.ndarray, y: np.ndarray) -> Data:
        check_tokens(X, self.d_vocab_)
        return self._tensors(X, self._targets(X, y), resolve_device(self.device))

    def _tensors(self, X: np.ndarray, T: np.ndarray, device: torch.device) -> Data:
        tokens, readout = self.encode(X).tensors(device)
        return Data(tokens, None if T is None else torch.as_tensor(T, device=device), readout)

    def _split_validation(self, n: int, g: torch.Generator) -> tuple[np.ndarray, np.ndarray | None]:
        if self.early_stopping != "validation":
            return np.arange(n), None
        if n < 2:
            raise ValueError("early_stopping='validation' needs at least 2 training examples")
        n_val = min(n - 1, max(1, round(self.validation_fraction * n)))
        order = torch.randperm(n, generator=g).numpy()
        return np.sort(order[n_val:]), np.sort(order[:n_val])

    def _begin(self, X, y, eval_pairs: list[tuple[np.ndarray, np.ndarray]]):
        """Check the data, set the vocabulary, carve validation, build the seeded model."""
        X, y = check_Xy(X, y)
        self.d_vocab_, self.n_classes_ = infer_sizes(
            self.d_vocab, self.n_classes, self.pad_id, [(X, y), *eval_pairs]
        )
        self.per_position_ = y.ndim == 2
        self.n_features_in_ = X.shape[1]
        self.train_config_ = self._train_config()
        seed = self.random_state
        if seed is None:
            seed = int(np.random.SeedSequence().generate_state(1)[0])
        g = torch.Generator().manual_seed(seed)
        train, val = self._split_validation(len(X), g)
        cfg = self._model_config(X.shape[1], [p[0].shape[1] for p in eval_pairs])
        model = self._make_model(cfg, g).to(resolve_device(self.device))
        data = self._data(X[train], y[train])
        return cfg, model, data, None if val is None else self._data(X[val], y[val]), g

    def _end(self, model: nn.Module, result: Result, seconds: float) -> None:
        if result.final_state is not None:
            model.load_state_dict(result.final_state)
        self.model_ = model.eval()
        self.history_ = result.history
        self.checkpoints_ = result.checkpoints
        self.stopped_step_ = result.stopped_step
        self.fit_seconds_ = seconds

    def fit(
        self,
        X,
        y,
        *,
        mask=None,
        eval_sets: dict | None = None,
        progress: Callable[[int, dict], None] | None = None,
        tick: Callable[[int], None] | None = None,
    ):
        """Train on ``X`` (n, k) token ids and ``y`` (n,) or (n, L) labels, scored where ``mask``
        (default: where ``y != -1``).

        ``progress(step, metrics)``, if given, is called after each evaluation with the latest
        value of every history entry, and ``tick(steps_done)`` after each optimizer step (for
        progress reports; neither can change training).
        """

        def report(step: int, results: list[Result]) -> None:
            progress(step, {key: values[-1] for key, values in results[0].history.items()})

        pair = (X, apply_mask(y, mask))
        train_group([self], [pair], eval_sets, SingleEngine, None if progress is None else report, tick)
        return self

    def predict(self, X) -> np.ndarray:
        """Labels (n,), or (n, L) for per-position targets (meaningful where scored)."""
        X = check_X(X)
        check_tokens(X, self.d_vocab_)
        data = self._tensors(X, None, next(self.model_.parameters()).device)
        chunk = eval_chunk(1, data.X.shape[1])
        with torch.no_grad():
            preds = [
                self.model_(data.X[i : i + chunk], None if data.R is None else data.R[i : i + chunk]).argmax(
                    -1
                )
                for i in range(0, len(X), chunk)
            ]
        out = torch.cat(preds).cpu().numpy() if preds else np.zeros((0, 1), dtype=np.int64)
        return out if self.per_position_ else out[:, 0]

    def model_at(self, step: int) -> nn.Module:
        """A copy of ``model_`` with the weights of the checkpoint taken at ``step``."""
        if step not in self.checkpoints_:
            raise ValueError(f"no checkpoint at step {step}; have: {sorted(self.checkpoints_)}")
        model = self.model_from_config(self.model_.cfg)
        model.load_state_dict(self.checkpoints_[step])
        return model.to(next(self.model_.parameters()).device).eval()


def train_group(
    learners: list[NeuralLearner],
    pairs: list[tuple],
    eval_sets: dict | None,
    make_engine: Callable[[list[nn.Module]], Engine],
    on_eval: Callable[[int, list[Result]], None] | None = None,
    on_step: Callable[[int], None] | None = None,
) -> None:
    """Fit ``learners[i]`` on ``pairs[i]`` in one training run over ``make_engine(models)``.

    All learners must build the same architecture (same config); the eval sets are shared.
    """
    start = time.perf_counter()
    for learner in learners:
        learner.check()
    if learners[0].fixed_width:  # leave out eval sets wider than the training rows (they cannot be read)
        width = np.shape(as_pair(pairs[0])[0])[1]
        eval_sets = {k: v for k, v in (eval_sets or {}).items() if np.shape(as_pair(v)[0])[1] <= width}
    eval_pairs = [tuple(map(np.asarray, as_pair(v))) for v in (eval_sets or {}).values()]
    begun = [learner._begin(X, y, eval_pairs) for learner, (X, y) in zip(learners, pairs, strict=True)]
    configs = {repr(b[0]) for b in begun}
    if len(configs) > 1:
        raise ValueError(f"models trained together must share one architecture, got {sorted(configs)}")
    first = learners[0]
    evals = {name: first._data(*map(np.asarray, as_pair(v))) for name, v in (eval_sets or {}).items()}
    models = [b[1] for b in begun]
    vals = [b[3] for b in begun]
    results = train_models(
        make_engine(models),
        [b[2] for b in begun],
        first.train_config_,
        [b[4] for b in begun],
        vals if any(v is not None for v in vals) else None,
        evals,
        on_eval,
        on_step,
    )
    seconds = (time.perf_counter() - start) / len(learners)
    for learner, model, result in zip(learners, models, results, strict=True):
        learner._end(model, result, seconds)


@register_learner("transformer")
@dataclass(eq=False, repr=False, kw_only=True)
class TransformerLearner(SequenceEncoding, NeuralLearner):
    """A decoder transformer (:mod:`baselines.transformer`); defaults are Nanda's grokking model.

    ``n_ctx`` None: twice the encoded training width (and at least the eval sets' widths), so that
    longer out-of-distribution inputs fit; learned positions never seen in training stay untrained.
    """

    config_class: ClassVar[type] = TransformerConfig
    architecture: ClassVar[Architecture] = TRANSFORMER
    param_ranges: ClassVar[dict[str, Range]] = NeuralLearner.param_ranges | {
        "n_layers": NON_NEGATIVE, "n_heads": AT_LEAST_1, "d_model": AT_LEAST_1, "d_head": AT_LEAST_1,
        "d_mlp": AT_LEAST_1, "rotary_dim": Range(2), "n_ctx": AT_LEAST_1,
    }  # fmt: skip
    param_choices: ClassVar[dict[str, tuple[str, ...]]] = NeuralLearner.param_choices | {
        "act": tuple(ACTIVATIONS), "positional": POSITIONAL,
    }

    def check(self) -> None:
        super().check()
        if self.d_head is None and self.d_model % self.n_heads:
            raise SpecError(
                f"transformer: d_model={self.d_model} is not divisible by n_heads={self.n_heads}; "
                "change one, or set d_head"
            )
        head = self.d_head or self.d_model // self.n_heads
        if self.positional == "rotary" and self.rotary_dim is not None and (
            self.rotary_dim % 2 or self.rotary_dim > head
        ):
            raise SpecError(f"transformer: rotary_dim={self.rotary_dim} must be even and <= d_head={head}")

    n_layers: int = 1
    n_heads: int = 4
    d_model: int = 128
    d_head: int | None = None
    d_mlp: int = 512
    attn_only: bool = False
    act: str = "relu"
    normalization: bool = False
    use_bias: bool = True
    causal: bool = True
    positional: str = "learned"
    rotary_dim: int | None = None
    n_ctx: int | None = None

    def _model_config(self, width: int, eval_widths: list[int]) -> TransformerConfig:
        extra = 0 if self.per_position_ else 1
        n_ctx = self.n_ctx or max([2 * (width + extra)] + [w + extra for w in eval_widths])
        return TransformerConfig(
            d_vocab=self._model_vocab(), d_vocab_out=self.n_classes_, n_ctx=n_ctx, d_model=self.d_model,
            n_layers=self.n_layers, n_heads=self.n_heads, d_head=self.d_head, d_mlp=self.d_mlp,
            attn_only=self.attn_only, act=self.act, normalization=self.normalization,
            use_bias=self.use_bias, causal=self.causal, positional=self.positional,
            rotary_dim=self.rotary_dim,
        )  # fmt: skip

    def _make_model(self, cfg: TransformerConfig, generator: torch.Generator) -> nn.Module:
        return Transformer(cfg, generator)


@register_learner("lstm")
@dataclass(eq=False, repr=False, kw_only=True)
class LSTMLearner(SequenceEncoding, NeuralLearner):
    """A left-to-right LSTM or GRU (:mod:`baselines.lstm`); takes inputs of any length."""

    config_class: ClassVar[type] = LSTMConfig
    architecture: ClassVar[Architecture] = LSTM_ARCHITECTURE
    param_ranges: ClassVar[dict[str, Range]] = NeuralLearner.param_ranges | {
        "d_embed": AT_LEAST_1, "d_hidden": AT_LEAST_1, "n_layers": AT_LEAST_1,
    }
    param_choices: ClassVar[dict[str, tuple[str, ...]]] = NeuralLearner.param_choices | {"cell": CELLS}

    d_embed: int = 32
    d_hidden: int = 64
    n_layers: int = 1
    cell: str = "lstm"

    def _model_config(self, width: int, eval_widths: list[int]) -> LSTMConfig:
        return LSTMConfig(
            d_vocab=self._model_vocab(), d_vocab_out=self.n_classes_, d_embed=self.d_embed,
            d_hidden=self.d_hidden, n_layers=self.n_layers, cell=self.cell,
        )  # fmt: skip

    def _make_model(self, cfg: LSTMConfig, generator: torch.Generator) -> nn.Module:
        return LSTM(cfg, generator)


PER_POSITION_REFUSAL = (
    "MLPLearner takes one label per example; per-position targets need a causal sequence model "
    "(transformer, lstm)"
)


@register_learner("mlp")
@dataclass(eq=False, repr=False, kw_only=True)
class MLPLearner(NeuralLearner):
    """An MLP over concatenated token embeddings (:mod:`baselines.mlp`), for fixed-width inputs
    with one label each.

    Narrower inputs are padded with ``pad_id`` at predict time; wider ones raise ValueError.
    Per-position targets are rejected: the MLP sees every token at once, and a per-position target
    may be a later token of the same row (induction), which only a causal model must not see.
    """

    #: Inputs wider than the training rows cannot be taken (one embedding slot per position).
    fixed_width: ClassVar[bool] = True
    takes_per_position: ClassVar[bool] = False
    config_class: ClassVar[type] = MLPConfig
    architecture: ClassVar[Architecture] = MLP_ARCHITECTURE
    param_ranges: ClassVar[dict[str, Range]] = NeuralLearner.param_ranges | {
        "d_embed": AT_LEAST_1, "d_mlp": AT_LEAST_1, "n_layers": NON_NEGATIVE,
    }
    param_choices: ClassVar[dict[str, tuple[str, ...]]] = NeuralLearner.param_choices | {
        "act": tuple(ACTIVATIONS),
    }

    d_embed: int = 32
    d_mlp: int = 128
    n_layers: int = 1
    act: str = "relu"
    use_bias: bool = True

    @classmethod
    def data_params(cls, split: Split, params: dict) -> dict:
        if split.per_position:  # refused when a grid is built, not cell by cell as it runs
            raise NotApplicable(PER_POSITION_REFUSAL)
        return super().data_params(split, params)

    def _model_config(self, width: int, eval_widths: list[int]) -> MLPConfig:
        return MLPConfig(
            d_vocab=self.d_vocab_, d_vocab_out=self.n_classes_, n_ctx=width,
            d_embed=self.d_embed, d_mlp=self.d_mlp, n_layers=self.n_layers, act=self.act,
            use_bias=self.use_bias,
        )  # fmt: skip

    def _begin(self, X, y, eval_pairs):
        if np.ndim(y) == 2:
            raise ValueError(PER_POSITION_REFUSAL)
        return super()._begin(X, y, eval_pairs)

    def _make_model(self, cfg: MLPConfig, generator: torch.Generator) -> nn.Module:
        return MLP(cfg, generator)

    def _encode(self, X: np.ndarray) -> np.ndarray:
        return pad_to_width(X, self.n_features_in_, self.pad_id, "the MLP")

    def _targets(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        return y[:, None]
