"""Neural learners with the scikit-learn API: :class:`MLPLearner`, :class:`TransformerLearner` and
:class:`LSTMLearner`.

Each learner is a dataclass of its hyper-parameters (so ``get_params``/``clone`` and the spec
syntax see the same fields). ``fit(X, y, eval_sets=None)`` trains; ``eval_sets`` (name → ``(X, y)``
or a ``tasks.Split``) are evaluated along the way into ``history_`` but never used for stopping.

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

from baselines.base import Learner, as_pair, check_tokens, check_X, check_Xy, infer_sizes
from baselines.lstm import LSTM, LSTMConfig
from baselines.mlp import MLP, MLPConfig
from baselines.training import EVAL_BUDGET, Data, Engine, Result, SingleEngine, TrainConfig, train_models
from baselines.transformer import Transformer, TransformerConfig

TRAIN_FIELDS = tuple(f.name for f in dataclasses.fields(TrainConfig))


def resolve_device(device: str) -> torch.device:
    """``"auto"``: CUDA when present, else the CPU; anything else is passed to ``torch.device``."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


@dataclass(eq=False, repr=False, kw_only=True)
class NeuralLearner(Learner):
    """Training settings shared by the neural learners (see :class:`baselines.training.TrainConfig`).

    ``d_vocab``/``n_classes`` None: inferred from the training data and eval sets; pass the task's
    values so that tokens and labels seen only later (OOD splits) fit. ``early_stopping``: "none",
    "train" or "validation" (a ``validation_fraction`` carved from the training data): stop at the
    first evaluation whose accuracy reaches ``stop_accuracy`` or after ``patience`` evaluations
    without a lower loss.
    """

    #: True where inputs wider than the training rows cannot be taken.
    fixed_width: ClassVar[bool] = False

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
    early_stopping: str = "none"
    validation_fraction: float = 0.1
    stop_accuracy: float = 1.0
    patience: int | None = None
    random_state: int | None = 0
    device: str = "auto"

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
        R = self._readout_pos(X)
        return Data(
            *(None if a is None else torch.as_tensor(a, device=device) for a in (self._encode(X), T, R))
        )

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

    def fit(self, X, y, eval_sets: dict | None = None, progress: Callable[[int, dict], None] | None = None):
        """Train on ``X`` (n, k) token ids and ``y`` (n,) or (n, L) labels (-1 = unscored).

        ``progress(step, metrics)``, if given, is called after each evaluation with the latest
        value of every history entry (for progress reports; it cannot change training).
        """

        def report(step: int, results: list[Result]) -> None:
            progress(step, {key: values[-1] for key, values in results[0].history.items()})

        train_group([self], [(X, y)], eval_sets, SingleEngine, None if progress is None else report)
        return self

    def predict(self, X) -> np.ndarray:
        """Labels (n,), or (n, L) for per-position targets (meaningful where scored)."""
        X = check_X(X)
        check_tokens(X, self.d_vocab_)
        data = self._tensors(X, None, next(self.model_.parameters()).device)
        k = data.X.shape[1]
        chunk = max(1, EVAL_BUDGET // (k * (512 + 4 * k)))
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
        cfg = self.model_.cfg
        model = self._make_model(cfg, torch.Generator().manual_seed(0))
        model.load_state_dict(self.checkpoints_[step])
        return model.to(next(self.model_.parameters()).device).eval()


def train_group(
    learners: list[NeuralLearner],
    pairs: list[tuple],
    eval_sets: dict | None,
    make_engine: Callable[[list[nn.Module]], Engine],
    on_eval: Callable[[int, list[Result]], None] | None = None,
) -> None:
    """Fit ``learners[i]`` on ``pairs[i]`` in one training run over ``make_engine(models)``.

    All learners must build the same architecture (same config); the eval sets are shared.
    """
    start = time.perf_counter()
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
    )
    seconds = (time.perf_counter() - start) / len(learners)
    for learner, model, result in zip(learners, models, results, strict=True):
        learner._end(model, result, seconds)


class SequenceEncoding:
    """Separator-token readout for sequence models (see the module docstring)."""

    def _readout_pos(self, X: np.ndarray) -> np.ndarray | None:
        n, k = X.shape
        if self.per_position_:
            return None
        if self.pad_id is None:
            return np.full(n, k)
        real = X != self.pad_id
        last = k - 1 - np.argmax(real[:, ::-1], axis=1)
        return np.where(real.any(axis=1), last + 1, 0)

    def _encode(self, X: np.ndarray) -> np.ndarray:
        if self.per_position_:
            return X
        n, k = X.shape
        out = np.full((n, k + 1), 0 if self.pad_id is None else self.pad_id, dtype=np.int64)
        out[:, :k] = X
        out[np.arange(n), self._readout_pos(X)] = self.d_vocab_
        return out

    def _targets(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        if self.per_position_:
            if y.shape != X.shape:
                raise ValueError(f"per-position targets need y of X's shape {X.shape}, got {y.shape}")
            return y
        return y[:, None]  # read out at the separator (_readout_pos)

    def _model_vocab(self) -> int:
        return self.d_vocab_ + (0 if self.per_position_ else 1)


@dataclass(eq=False, repr=False, kw_only=True)
class TransformerLearner(SequenceEncoding, NeuralLearner):
    """A decoder transformer (:mod:`baselines.transformer`); defaults are Nanda's grokking model.

    ``n_ctx`` None: twice the encoded training width (and at least the eval sets' widths), so that
    longer out-of-distribution inputs fit; learned positions never seen in training stay untrained.
    """

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


@dataclass(eq=False, repr=False, kw_only=True)
class LSTMLearner(SequenceEncoding, NeuralLearner):
    """A left-to-right LSTM or GRU (:mod:`baselines.lstm`); takes inputs of any length."""

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

    d_embed: int = 32
    d_mlp: int = 128
    n_layers: int = 1
    act: str = "relu"
    use_bias: bool = True

    def _model_config(self, width: int, eval_widths: list[int]) -> MLPConfig:
        return MLPConfig(
            d_vocab=self.d_vocab_, d_vocab_out=self.n_classes_, n_ctx=width,
            d_embed=self.d_embed, d_mlp=self.d_mlp, n_layers=self.n_layers, act=self.act,
            use_bias=self.use_bias,
        )  # fmt: skip

    def _begin(self, X, y, eval_pairs):
        if np.ndim(y) == 2:
            raise ValueError(
                "MLPLearner takes one label per example; per-position targets need a causal sequence "
                "model (transformer, lstm)"
            )
        return super()._begin(X, y, eval_pairs)

    def _make_model(self, cfg: MLPConfig, generator: torch.Generator) -> nn.Module:
        return MLP(cfg, generator)

    def _encode(self, X: np.ndarray) -> np.ndarray:
        width = self.n_features_in_
        if X.shape[1] > width:
            raise ValueError(f"the MLP was fitted on {width} tokens per example; got {X.shape[1]}")
        if X.shape[1] < width:
            if self.pad_id is None:
                raise ValueError(
                    f"the MLP takes {width} tokens per example and has no pad_id; got {X.shape[1]}"
                )
            X = np.pad(X, ((0, 0), (0, width - X.shape[1])), constant_values=self.pad_id)
        return X

    def _targets(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        return y[:, None]
