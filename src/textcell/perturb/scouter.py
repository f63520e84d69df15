"""A Scouter-style network (Zhu & Li 2025): control cell + perturbed gene's text embedding → cell.

A control-cell encoder and a perturbation encoder (from the gene's text embedding; a
combination sums its genes' unit vectors) meet in a generator that outputs the cell's shift;
the prediction for a condition is the mean over sampled control cells. Trained on (random
control cell of the same context, perturbed cell) pairs with GEARS' loss: the autofocus term
``|pred - y| ** (2 + gamma)`` plus a direction term. GEARS writes the direction term with
``sign(pred - ctrl)``, whose gradient is zero everywhere; here ``tanh`` stands in for the sign
of the prediction so the term trains. Scouter's targets are single cells; on sparse counts
both loss terms then pull the mean prediction away from the mean (the ``|.|**4`` minimiser of a
zero-inflated gene is not its mean, and most cells sit below a sparse gene's mean), so here a
target is the mean of ``target_cells`` random cells of the condition (``1`` gives Scouter's
single-cell targets). Early stopping on held-out conditions (see
:func:`train_scouter`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from .._progress import progress_bar
from .._torch import require_torch, torch_threads
from ..errors import InputError

logger = logging.getLogger("textcell")


@dataclass(frozen=True)
class ScouterConfig:
    """Options of the Scouter-style network: layer sizes, loss, optimiser, early stopping, sampling."""

    hidden: int = 256
    latent: int = 64
    perturbation_hidden: int = 128
    dropout: float = 0.1
    gamma: float = 2.0
    direction_lambda: float = 0.1
    lr: float = 2e-3
    weight_decay: float = 1e-4
    batch_size: int = 512
    max_epochs: int = 20
    patience: int = 4
    validation_fraction: float = 0.1
    n_control_samples: int = 300
    threads: int | None = None
    target_cells: int = 16
    max_cells_per_group: int | None = None  # train on at most this many cells per condition and context

    def __post_init__(self):
        if self.max_cells_per_group is not None and self.max_cells_per_group < self.target_cells:
            raise InputError(
                f"max_cells_per_group ({self.max_cells_per_group}) must be at least target_cells "
                f"({self.target_cells})"
            )

    def to_dict(self) -> dict:
        return asdict(self)


def build_network(n_genes: int, embedding_dim: int, config: ScouterConfig):
    torch = require_torch()
    nn = torch.nn

    class ScouterNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Sequential(
                nn.Linear(n_genes, config.hidden),
                nn.ReLU(),
                nn.Dropout(config.dropout),
                nn.Linear(config.hidden, config.latent),
            )
            self.perturbation = nn.Sequential(
                nn.Linear(embedding_dim, config.perturbation_hidden),
                nn.ReLU(),
                nn.Linear(config.perturbation_hidden, config.latent),
            )
            self.generator = nn.Sequential(
                nn.Linear(2 * config.latent, config.hidden),
                nn.ReLU(),
                nn.Dropout(config.dropout),
                nn.Linear(config.hidden, n_genes),
            )
            nn.init.zeros_(self.generator[-1].weight)  # start from "no change"
            nn.init.zeros_(self.generator[-1].bias)
            self.register_buffer("center", torch.zeros(n_genes))
            self.register_buffer("scale", torch.ones(n_genes))

        def forward(self, control, embedding):
            state = self.encoder((control - self.center) / self.scale)
            return self.generator(torch.cat([state, self.perturbation(embedding)], dim=1))

    return ScouterNet()


def gears_loss(torch, predicted, target, control_mean, config: ScouterConfig):
    autofocus = (predicted - target).abs().pow(2 + config.gamma).mean()
    direction = (torch.sign(target - control_mean) - torch.tanh(predicted - control_mean)).pow(2).mean()
    return autofocus + config.direction_lambda * direction


@dataclass
class TrainResult:
    net: object
    epochs: int
    best_epoch: int
    seconds: float
    history: list[float]
    validation: str


def train_scouter(
    expression: np.ndarray,
    cell_embedding: np.ndarray,
    perturbed: np.ndarray,
    cell_condition: np.ndarray,
    controls_by_context: list[np.ndarray],
    cell_context: np.ndarray,
    context_means: np.ndarray,
    *,
    config: ScouterConfig,
    seed: int,
) -> TrainResult:
    """Train on the perturbed cells ``perturbed`` (rows of ``expression``); each is paired each
    epoch with a random control cell of its context (``cell_context`` codes index
    ``controls_by_context`` and ``context_means``). ``cell_embedding`` and ``cell_condition``
    have one row per perturbed cell.

    With five or more training conditions, 15% of them (at least one) are held out to choose
    the number of epochs, since the model is meant for unseen perturbations; then the network
    is trained again on every condition for that many epochs. With fewer, 10% of the cells are
    held out and the early-stopped network is kept. ``config.max_cells_per_group`` caps, at
    random, the cells of each condition in each context (a time budget on large screens).
    """
    start = time.perf_counter()
    if config.max_cells_per_group is not None:
        keep = _cap_groups(cell_condition, cell_context, config.max_cells_per_group, seed)
        perturbed, cell_embedding = perturbed[keep], cell_embedding[keep]
        cell_condition, cell_context = cell_condition[keep], cell_context[keep]
    rng = np.random.default_rng(seed)
    conditions = np.unique(cell_condition)
    with torch_threads(config.threads) as torch:
        data = _Tensors(torch, expression, cell_embedding, context_means, controls_by_context)
        if len(conditions) >= 5:
            held = rng.choice(conditions, max(1, round(0.15 * len(conditions))), replace=False)
            is_val = np.isin(cell_condition, held)
            val, train = np.flatnonzero(is_val), np.flatnonzero(~is_val)
            validation = f"{len(held)} held-out conditions, then refit on all"
        else:
            order = rng.permutation(len(perturbed))
            n_val = round(config.validation_fraction * len(perturbed)) if len(perturbed) >= 20 else 0
            val, train = np.sort(order[:n_val]), np.sort(order[n_val:])
            validation = f"{n_val} held-out cells"
        net, history, best_epoch = _train(
            torch, data, perturbed, cell_condition, cell_context, train, val, config.max_epochs, config, seed
        )
        if len(conditions) >= 5:
            net, _, _ = _train(
                torch,
                data,
                perturbed,
                cell_condition,
                cell_context,
                np.arange(len(perturbed)),
                np.array([], int),
                best_epoch,
                config,
                seed,
            )
    seconds = time.perf_counter() - start
    logger.info("Scouter: %d epochs (best %d) in %.1f s.", len(history), best_epoch, seconds)
    return TrainResult(net, len(history), best_epoch, seconds, history, validation)


def _cap_groups(condition: np.ndarray, context: np.ndarray, cap: int, seed: int) -> np.ndarray:
    """Sorted row indices keeping at most ``cap`` random rows of each (condition, context)."""
    rng = np.random.default_rng([seed, cap])
    codes, _ = pd.factorize(pd.MultiIndex.from_arrays([condition, context]))
    kept = [
        rows if len(rows) <= cap else rng.choice(rows, cap, replace=False)
        for rows in (np.flatnonzero(codes == c) for c in range(codes.max() + 1))
    ]
    return np.sort(np.concatenate(kept))


class _Tensors:
    def __init__(self, torch, expression, cell_embedding, context_means, controls_by_context):
        self.x = torch.from_numpy(np.ascontiguousarray(expression, dtype=np.float32))
        self.emb = torch.from_numpy(np.ascontiguousarray(cell_embedding, dtype=np.float32))
        self.means = torch.from_numpy(np.asarray(context_means, dtype=np.float32))
        self.controls = np.concatenate(controls_by_context)
        self.sizes = np.array([len(c) for c in controls_by_context])
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)[:-1]])

    def targets(self, rows, members: _Groups, perturbed, n: int, generator) -> object:
        """Targets of ``rows``: the mean of ``n`` random cells of each row's condition and context."""
        if n == 1:
            return self.x[perturbed[rows]]
        picked = members.draw(rows, n, generator)
        return self.x[perturbed[picked.ravel()]].reshape(len(rows), n, -1).mean(1)

    def pair(self, contexts: np.ndarray, generator: np.random.Generator) -> np.ndarray:
        """A random control cell of each given context."""
        draw = (generator.random(len(contexts)) * self.sizes[contexts]).astype(np.int64)
        return self.controls[self.offsets[contexts] + draw]


class _Groups:
    """Rows of the same condition and context, to draw target cells from."""

    def __init__(self, rows: np.ndarray, group: np.ndarray):
        self.code = np.full(len(group), -1, dtype=np.int64)
        codes, _ = pd.factorize(group[rows])
        self.code[rows] = codes
        order = np.argsort(codes, kind="stable")
        self.members = rows[order]
        self.sizes = np.bincount(codes)
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)[:-1]])

    def draw(self, rows: np.ndarray, n: int, generator: np.random.Generator) -> np.ndarray:
        code = self.code[rows][:, None]
        draw = (generator.random((len(rows), n)) * self.sizes[code]).astype(np.int64)
        return self.members[self.offsets[code] + draw]


def _train(torch, data, perturbed, cell_condition, cell_context, train, val, epochs, config, seed):
    """Train a fresh network for up to ``epochs``; with ``val`` rows, stop early and keep the best."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = build_network(data.x.shape[1], data.emb.shape[1], config)
    control_cells = data.x[data.controls]
    net.center.copy_(control_cells.mean(0))
    net.scale.copy_(control_cells.std(0).clamp_min(1e-2))
    optimiser = torch.optim.Adam(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    group = cell_condition.astype(np.int64) * (int(cell_context.max()) + 1) + cell_context
    train_groups = _Groups(train, group)
    val_rng = np.random.default_rng(seed + 1)
    val_partners = data.pair(cell_context[val], val_rng)
    val_targets = (
        data.targets(val, _Groups(val, group), perturbed, config.target_cells, val_rng) if len(val) else None
    )
    best, best_state, best_epoch, waited, history = np.inf, None, epochs, 0, []
    batch = config.batch_size
    with progress_bar(total=epochs, desc="training scouter", unit="epoch") as bar:
        for epoch in range(epochs):
            net.train()
            shuffled = rng.permutation(train)
            partners = data.pair(cell_context[shuffled], rng)
            for begin in range(0, len(shuffled), batch):
                rows = shuffled[begin : begin + batch]
                ctrl = data.x[partners[begin : begin + batch]]
                predicted = ctrl + net(ctrl, data.emb[rows])
                target = data.targets(rows, train_groups, perturbed, config.target_cells, rng)
                loss = gears_loss(torch, predicted, target, data.means[cell_context[rows]], config)
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
            bar.update()
            if len(val) == 0:
                continue
            score = _validation_loss(torch, net, data, cell_context, val, val_partners, val_targets, config)
            history.append(score)
            if score < best - 1e-6:
                best, best_epoch, waited = score, epoch + 1, 0
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            else:
                waited += 1
                if waited >= config.patience:
                    break
    if best_state is not None:
        net.load_state_dict(best_state)
    net.eval()
    return net, history, best_epoch


def _validation_loss(torch, net, data, cell_context, val, partners, targets, config) -> float:
    net.eval()
    total = 0.0
    with torch.no_grad():
        for begin in range(0, len(val), 4096):
            rows = val[begin : begin + 4096]
            ctrl = data.x[partners[begin : begin + 4096]]
            predicted = ctrl + net(ctrl, data.emb[rows])
            target = targets[begin : begin + 4096]
            total += float(
                gears_loss(torch, predicted, target, data.means[cell_context[rows]], config)
            ) * len(rows)
    return total / len(val)


def predict_shift(net, controls: np.ndarray, embedding: np.ndarray, threads: int | None = None) -> np.ndarray:
    """Mean predicted shift over the given control cells for one perturbation embedding."""
    with torch_threads(threads) as torch, torch.no_grad():
        ctrl = torch.from_numpy(np.ascontiguousarray(controls, dtype=np.float32))
        emb = torch.from_numpy(np.asarray(embedding, dtype=np.float32)).expand(len(ctrl), -1)
        return net(ctrl, emb).double().mean(0).numpy()


def state_arrays(net) -> dict[str, np.ndarray]:
    return {k: v.detach().cpu().numpy() for k, v in net.state_dict().items()}


def network_from_arrays(arrays: dict[str, np.ndarray], n_genes: int, embedding_dim: int, config):
    torch = require_torch()
    net = build_network(n_genes, embedding_dim, config)
    net.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in arrays.items()})
    net.eval()
    return net
