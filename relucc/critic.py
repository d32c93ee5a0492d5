"""Training ReLU discriminators (critics) against a fixed ONNX generator with torch.

The setup follows Section 5 of Chen, Li, Li and Meka (ICLR 2022). The critics are fully
connected ReLU networks with 1 to 4 hidden layers of width 200, trained by Adam with step size
0.001 and batch 128 on the DCGAN binary cross-entropy objective, with the generator fixed.

Samples come from onnxruntime, not from a torch port of the generator. Running the ONNX file
itself is exact for relucc's generators (their certificate says float32 evaluation is exact on
±1 seeds) and works for any generator with the ``z`` -> ``y`` interface, whatever produced it.
Torch only trains the critic, on float32 arrays, and is imported when training starts, so
``import relucc`` works without it.

Sign convention. D(x) = sigmoid(critic(x)) is the probability that x came from the target. The
test loss is E[-log D(X)] + E[-log(1 - D(G(z)))] - 2 log 2 with X from the target and z a seed.
The constant critic D = 1/2 scores exactly 0 and the best critic scores -2 JS(target, G(z)), so
a negative test loss means the critic tells the two apart on held-out samples. A positive one
means it does worse than a coin, which is what Figure 1 of the paper shows for the TSA generator.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from relucc.critic_eval import (
    LowOrderStatistics,
    OnnxCritic,
    OnnxGenerator,
    finish_model,
    low_order_statistics,
    save_model,
)
from relucc.errors import UsageError

logger = logging.getLogger(__name__)

LOG_FOUR = 2 * math.log(2)

CURVE_FIELDS = ("run", "seed", "depth", "step", "train_loss", "test_loss", "test_accuracy", "elapsed_seconds")


@dataclass
class TrainSettings:
    """Hyperparameters of ``train_critics``; the defaults are those of the paper's Section 5.

    ``train_size`` None draws fresh generator and target samples for every step, so no sample is
    used twice and the test loss estimates the population objective. A positive value then cannot
    come from memorising a finite training set. An integer fixes a training set of
    that many samples per side, drawn once and reshuffled every epoch, which lets a width-200
    critic overfit and pushes the test loss above zero over time. The paper does not say which
    it used, nor how many steps, so the defaults here are fresh samples and 10,000 steps.

    ``threads`` sets torch's intra-op threads while training. One is the default because
    200-wide layers gain little from more, and on a 2-core CPU shared with other work two
    threads made each step about 12 times slower than one (measured: 283 ms against 23 ms).
    """

    depths: tuple[int, ...] = (1, 2, 3, 4)
    width: int = 200
    steps: int = 10_000
    learning_rate: float = 1e-3
    batch_size: int = 128
    seed: int = 0
    seeds: int = 1
    train_size: int | None = None
    test_size: int = 10_000
    eval_every: int | None = None
    export: bool = True
    threads: int = 1

    def validate(self) -> None:
        """Raise ``UsageError`` listing every invalid value."""
        problems = []
        if not self.depths or any(depth < 1 for depth in self.depths):
            problems.append(f"depths must be positive hidden-layer counts, got {list(self.depths)}")
        for name in ("width", "steps", "batch_size", "seeds", "test_size", "threads"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be at least 1, got {getattr(self, name)}")
        if not self.learning_rate > 0:
            problems.append(f"learning_rate must be positive, got {self.learning_rate}")
        if self.train_size is not None and self.train_size < self.batch_size:
            problems.append(f"train_size ({self.train_size}) must be at least the batch size ({self.batch_size})")
        if self.eval_every is not None and self.eval_every < 1:
            problems.append(f"eval_every must be at least 1, got {self.eval_every}")
        if problems:
            raise UsageError("; ".join(problems))

    @property
    def evaluation_interval(self) -> int:
        return self.eval_every if self.eval_every is not None else max(1, self.steps // 100)


@dataclass
class Timing:
    """Seconds spent drawing samples (onnxruntime and numpy), in optimizer steps and in test evaluation."""

    sampling: float = 0.0
    training: float = 0.0
    evaluation: float = 0.0
    wall: float = 0.0


@dataclass
class TrainResult:
    """Output of ``train_critics``: curve rows, low-order statistics, exported critics and timing."""

    run: str
    rows: list[dict] = field(default_factory=list)
    statistics: LowOrderStatistics | None = None
    critic_paths: list[str] = field(default_factory=list)
    timing: Timing = field(default_factory=Timing)
    interrupted: bool = False

    def final_rows(self) -> list[dict]:
        """Return the last logged row of each (seed, depth)."""
        last: dict[tuple[int, int], dict] = {}
        for row in self.rows:
            last[(row["seed"], row["depth"])] = row
        return [last[key] for key in sorted(last)]

    def final_by_depth(self) -> dict[int, dict]:
        """Return, per depth, the mean, min and max over seeds of the final test loss and accuracy."""
        summary: dict[int, dict] = {}
        for row in self.final_rows():
            summary.setdefault(row["depth"], {"test_loss": [], "test_accuracy": [], "step": row["step"]})
            summary[row["depth"]]["test_loss"].append(row["test_loss"])
            summary[row["depth"]]["test_accuracy"].append(row["test_accuracy"])
        for entry in summary.values():
            losses = entry.pop("test_loss")
            accuracies = entry.pop("test_accuracy")
            entry.update(test_loss_mean=float(np.mean(losses)), test_loss_min=float(np.min(losses)),
                         test_loss_max=float(np.max(losses)), test_accuracy_mean=float(np.mean(accuracies)),
                         seeds=len(losses))
        return summary


def _import_torch():
    try:
        import torch
    except ImportError:
        raise UsageError("critic training needs torch: install the 'critic' extra "
                         "(pip install 'relucc[critic]')") from None
    return torch


def build_critic(dimension: int, width: int, depth: int):
    """Return a torch ReLU network R^d -> R with ``depth`` hidden layers of ``width``, outputting a logit."""
    torch = _import_torch()
    layers = []
    fan_in = dimension
    for _ in range(depth):
        layers += [torch.nn.Linear(fan_in, width), torch.nn.ReLU()]
        fan_in = width
    layers.append(torch.nn.Linear(fan_in, 1))
    return torch.nn.Sequential(*layers)


class BatchStream:
    """Training batches (target rows, generator rows), each [batch, d] float32.

    With ``train_size`` None every batch is fresh: samples are drawn ``refill_steps`` batches at a
    time to amortise onnxruntime calls. Otherwise a fixed set of ``train_size`` rows per side is
    drawn once and visited in a new random order every epoch.
    """

    def __init__(self, generator: OnnxGenerator, target, settings: TrainSettings,
                 rng: np.random.Generator, timing: Timing, refill_steps: int = 64):
        self.generator = generator
        self.target = target
        self.batch_size = settings.batch_size
        self.rng = rng
        self.timing = timing
        self.fixed = settings.train_size is not None
        self.rows = settings.train_size if self.fixed else refill_steps * settings.batch_size
        self.position = self.rows
        self.target_rows = self.generator_rows = None
        if self.fixed:
            self.target_rows, self.generator_rows = self._draw(self.rows)

    def _draw(self, rows: int) -> tuple[np.ndarray, np.ndarray]:
        start = time.perf_counter()
        target_rows = self.target.sample(rows, self.rng)
        generator_rows = self.generator.sample(rows, self.rng)
        self.timing.sampling += time.perf_counter() - start
        return target_rows, generator_rows

    def next(self) -> tuple[np.ndarray, np.ndarray]:
        if self.position + self.batch_size > self.rows:
            self._refill()
        batch = slice(self.position, self.position + self.batch_size)
        self.position += self.batch_size
        return self.target_rows[batch], self.generator_rows[batch]

    def _refill(self) -> None:
        self.position = 0
        if not self.fixed:
            self.target_rows, self.generator_rows = self._draw(self.rows)
            return
        order = self.rng.permutation(self.rows)
        self.target_rows = self.target_rows[order]
        self.generator_rows = self.generator_rows[order]


class CurveLog:
    """Curve rows kept in memory and appended to a CSV file as they arrive, so an interrupted run
    keeps every row logged before the interruption."""

    def __init__(self, path: Path | None, rows: list[dict]):
        self.rows = rows
        self.path = path
        self.stream = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.stream = open(path, "w", newline="", encoding="utf-8")
            self.writer = csv.DictWriter(self.stream, fieldnames=CURVE_FIELDS)
            self.writer.writeheader()

    def append(self, row: dict) -> None:
        self.rows.append(row)
        if self.stream is not None:
            self.writer.writerow({key: _format_value(row[key]) for key in CURVE_FIELDS})
            self.stream.flush()

    def close(self) -> None:
        if self.stream is not None:
            self.stream.close()


def _format_value(value):
    return f"{value:.6g}" if isinstance(value, float) else value


def train_critics(generator: OnnxGenerator, target, settings: TrainSettings, out_dir: str | Path | None = None,
                  run: str = "run", progress: bool | None = None) -> TrainResult:
    """Train one critic per depth and seed against a fixed generator, logging test curves.

    For each seed the critics of every depth see the same stream of batches (``batch_size`` target
    rows labelled 1 and as many generator rows labelled 0) and are scored on the same held-out
    test set of ``test_size`` rows per side. Writes ``curves.csv`` under ``out_dir`` as rows
    arrive, then the Figure 1 plot, ``summary.json`` and, unless ``settings.export`` is False,
    one ONNX critic per depth and seed. Ctrl-C stops training, and the rows logged so far are
    still plotted and summarised; ``result.interrupted`` is then True.
    """
    settings.validate()
    torch = _import_torch()
    out_path = Path(out_dir) if out_dir is not None else None
    result = TrainResult(run=run)
    log = CurveLog(out_path / "curves.csv" if out_path is not None else None, result.rows)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(settings.threads)
    started = time.perf_counter()

    try:
        for seed_index in range(settings.seeds):
            seed = settings.seed + seed_index
            critics = _train_one_seed(torch, generator, target, settings, seed, result, log, progress)
            if settings.export and out_path is not None:
                result.critic_paths += export_seed_critics(critics, out_path, seed, generator, target, run)
    except KeyboardInterrupt:
        result.interrupted = True
        logger.warning("training interrupted; keeping the %d curve rows logged so far", len(result.rows))
    finally:
        log.close()
        torch.set_num_threads(previous_threads)
        result.timing.wall = time.perf_counter() - started

    if out_path is not None:
        write_outputs(result, settings, generator, target, out_path)
    return result


def _train_one_seed(torch, generator, target, settings: TrainSettings, seed: int, result: TrainResult,
                    log: CurveLog, progress: bool | None) -> dict:
    from tqdm import tqdm

    stream_seed, test_seed = np.random.SeedSequence(seed).spawn(2)
    timing = result.timing
    test_target, test_generator = _draw_test_set(generator, target, settings.test_size,
                                                 np.random.default_rng(test_seed), timing)
    if result.statistics is None:
        result.statistics = low_order_statistics(test_generator, test_target)
        logger.info("%s: %s", result.run, result.statistics.summary())
    test_inputs = torch.from_numpy(np.concatenate([test_target, test_generator]))
    stream = BatchStream(generator, target, settings, np.random.default_rng(stream_seed), timing)

    torch.manual_seed(seed)
    critics = {depth: build_critic(generator.dimension, settings.width, depth) for depth in settings.depths}
    optimizers = {depth: torch.optim.Adam(critic.parameters(), lr=settings.learning_rate)
                  for depth, critic in critics.items()}
    labels = torch.cat([torch.ones(settings.batch_size), torch.zeros(settings.batch_size)])
    running = {depth: [] for depth in settings.depths}
    started = time.perf_counter()

    def evaluate(step: int) -> None:
        evaluation_start = time.perf_counter()
        for depth, critic in critics.items():
            test_loss, accuracy = _test_metrics(torch, critic, test_inputs, settings.test_size)
            train_loss = float(np.mean(running[depth])) if running[depth] else float("nan")
            running[depth].clear()
            log.append({"run": result.run, "seed": seed, "depth": depth, "step": step,
                        "train_loss": train_loss, "test_loss": test_loss, "test_accuracy": accuracy,
                        "elapsed_seconds": time.perf_counter() - started})
        timing.evaluation += time.perf_counter() - evaluation_start

    bar = tqdm(total=settings.steps, desc=f"{result.run} seed {seed}", unit="step", leave=False,
               disable=not sys.stderr.isatty() if progress is None else not progress)
    try:
        evaluate(0)
        for step in range(1, settings.steps + 1):
            target_rows, generator_rows = stream.next()
            step_start = time.perf_counter()
            inputs = torch.from_numpy(np.concatenate([target_rows, generator_rows]))
            for depth, critic in critics.items():
                running[depth].append(_optimizer_step(torch, critic, optimizers[depth], inputs, labels))
            timing.training += time.perf_counter() - step_start
            if step % settings.evaluation_interval == 0 or step == settings.steps:
                evaluate(step)
                bar.set_postfix(test_loss=" ".join(f"{row['test_loss']:+.3f}" for row in log.rows[-len(critics):]))
            bar.update(1)
    finally:
        bar.close()
    return critics


def _draw_test_set(generator, target, rows: int, rng: np.random.Generator, timing: Timing):
    start = time.perf_counter()
    test_target = target.sample(rows, rng)
    test_generator = generator.sample(rows, rng)
    timing.sampling += time.perf_counter() - start
    return test_target, test_generator


def _optimizer_step(torch, critic, optimizer, inputs, labels) -> float:
    """Take one Adam step on the DCGAN discriminator loss; return that batch's loss minus 2 log 2.

    The loss is mean_target[-log D] + mean_generator[-log(1 - D)], twice the binary cross-entropy
    of the balanced batch, so it is on the test loss's scale.
    """
    optimizer.zero_grad(set_to_none=True)
    logits = critic(inputs).squeeze(1)
    loss = 2 * torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)
    loss.backward()
    optimizer.step()
    return float(loss.detach()) - LOG_FOUR


def _test_metrics(torch, critic, test_inputs, rows: int) -> tuple[float, float]:
    """Return (test loss, accuracy) on a test set of ``rows`` target rows then ``rows`` generator rows."""
    with torch.no_grad():
        logits = critic(test_inputs).squeeze(1).double()
    target_logits, generator_logits = logits[:rows], logits[rows:]
    # -log D = softplus(-logit) and -log(1 - D) = softplus(logit), computed without overflow.
    target_term = torch.nn.functional.softplus(-target_logits).mean()
    generator_term = torch.nn.functional.softplus(generator_logits).mean()
    correct = (target_logits > 0).sum() + (generator_logits <= 0).sum()
    return float(target_term + generator_term) - LOG_FOUR, float(correct) / (2 * rows)


def critic_model(critic, description: str, verification: str, input_box: tuple[float, float]) -> onnx.ModelProto:
    """Convert a torch critic (Linear/ReLU stack) to ONNX: input ``x`` [N, d], output ``y`` [N, 1], the logit.

    Each Linear layer becomes a Gemm with transB=1 and the float32 weights copied unchanged, so
    onnxruntime computes the same function up to float32 summation order. Apply a sigmoid to
    ``y`` to get the probability D(x) that x came from the target.
    """
    weights, biases = _linear_parameters(critic)
    nodes, initializers = [], []
    current = "x"
    for index, (weight, bias) in enumerate(zip(weights, biases)):
        initializers += [numpy_helper.from_array(weight, f"weight_{index}"),
                         numpy_helper.from_array(bias, f"bias_{index}")]
        last = index == len(weights) - 1
        affine = "y" if last else f"affine_{index}"
        nodes.append(helper.make_node("Gemm", [current, f"weight_{index}", f"bias_{index}"], [affine], transB=1))
        if not last:
            nodes.append(helper.make_node("Relu", [affine], [f"hidden_{index}"]))
            current = f"hidden_{index}"

    graph = helper.make_graph(
        nodes, "critic",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", weights[0].shape[1]])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 1])],
        initializers,
    )
    model = finish_model(graph, description)
    certificate = critic_certificate(weights, biases, verification, input_box)
    helper.set_model_props(model, {"relucc.certificate": json.dumps(certificate)})
    onnx.checker.check_model(model, full_check=True)
    return model


def _linear_parameters(critic) -> tuple[list[np.ndarray], list[np.ndarray]]:
    torch = _import_torch()
    linear = [module for module in critic if isinstance(module, torch.nn.Linear)]
    weights = [module.weight.detach().cpu().numpy().astype(np.float32) for module in linear]
    biases = [module.bias.detach().cpu().numpy().astype(np.float32) for module in linear]
    return weights, biases


def critic_certificate(weights: list[np.ndarray], biases: list[np.ndarray], verification: str,
                       input_box: tuple[float, float]) -> dict:
    """Return the certificate fields of a trained critic, computed from its float32 weights.

    The Lipschitz bound is the product of the layers' spectral norms. ``max_abs_activation`` is
    an interval-arithmetic bound over the box ``input_box``^d, because a trained critic has no
    exact Boolean domain.
    """
    lipschitz = float(np.prod([np.linalg.norm(weight.astype(np.float64), 2) for weight in weights]))
    parameters = np.concatenate([array.ravel() for array in weights + biases])
    return {
        "depth": len(weights),
        "size": int(sum(weight.shape[0] for weight in weights[:-1])),
        "size_per_output": int(sum(weight.shape[0] for weight in weights[:-1])),
        "lipschitz_bound": {"value": lipschitz, "method": "product of the layers' spectral norms"},
        "bit_complexity": float32_bit_complexity(parameters),
        "max_abs_activation": _interval_bound(weights, biases, input_box),
        "max_abs_activation_domain": f"[{input_box[0]:g}, {input_box[1]:g}]^{weights[0].shape[1]}",
        "exact_domain": None,
        "float32_exact": False,
        "verification": verification,
        "output": "logit; D(x) = sigmoid(y) is the probability that x came from the target",
    }


def float32_bit_complexity(values: np.ndarray) -> int:
    """Return the least tau such that every value is a multiple of 2^-tau with magnitude at most 2^tau.

    A nonzero float32 is an odd integer times 2^e, exactly; it needs tau >= -e and
    tau >= log2|value|.
    """
    values = np.asarray(values, dtype=np.float32).astype(np.float64)
    values = values[values != 0]
    if values.size == 0:
        return 0
    mantissa, exponent = np.frexp(values)
    integers = np.abs(mantissa * 2.0**53).astype(np.int64)
    lowest_bit = np.log2(integers & -integers).astype(np.int64)
    fraction_bits = int(np.max(53 - exponent - lowest_bit))
    magnitude_bits = int(np.max(np.ceil(np.log2(np.abs(values)))))
    return max(0, fraction_bits, magnitude_bits)


def _interval_bound(weights, biases, input_box: tuple[float, float]) -> float:
    low = np.full(weights[0].shape[1], input_box[0], dtype=np.float64)
    high = np.full(weights[0].shape[1], input_box[1], dtype=np.float64)
    largest = max(abs(input_box[0]), abs(input_box[1]))
    for index, (weight, bias) in enumerate(zip(weights, biases)):
        positive, negative = np.maximum(weight, 0), np.minimum(weight, 0)
        low, high = positive @ low + negative @ high + bias, positive @ high + negative @ low + bias
        largest = max(largest, float(np.max(np.abs(low))), float(np.max(np.abs(high))))
        if index < len(weights) - 1:
            low, high = np.maximum(low, 0), np.maximum(high, 0)
    return largest


def export_critic(critic, path: Path, description: str, target, check_rows: int = 1024,
                  seed: int = 0) -> float:
    """Write a torch critic as ONNX and check it against torch on random inputs.

    The check uses ``check_rows`` target samples and as many standard Gaussian vectors; returns
    the largest absolute difference between onnxruntime's and torch's logits.
    """
    torch = _import_torch()
    rng = np.random.default_rng(seed)
    dimension = critic[0].in_features
    inputs = np.concatenate([target.sample(check_rows, rng),
                             rng.standard_normal((check_rows, dimension), dtype=np.float32)])
    with torch.no_grad():
        expected = critic(torch.from_numpy(inputs)).squeeze(1).numpy().astype(np.float64)

    provisional = critic_model(critic, description, "pending", _input_box(target))
    save_model(provisional, path)
    difference = float(np.max(np.abs(OnnxCritic(path).evaluate(inputs) - expected)))
    verification = (f"random: onnxruntime against torch on {2 * check_rows} inputs ({check_rows} target "
                    f"samples, {check_rows} Gaussian), max abs logit difference {difference:.3g}")
    save_model(critic_model(critic, description, verification, _input_box(target)), path)
    return difference


def _input_box(target) -> tuple[float, float]:
    from relucc.critic_eval import UniformUnitCube

    return (0.0, 1.0) if isinstance(target, UniformUnitCube) else (-1.0, 1.0)


def export_seed_critics(critics: dict, out_path: Path, seed: int, generator, target, run: str) -> list[str]:
    """Export the critics of one seed as ``critic_depth{D}_seed{S}.onnx``; return their paths."""
    paths = []
    for depth, critic in critics.items():
        path = out_path / f"critic_depth{depth}_seed{seed}.onnx"
        description = (f"ReLU critic with {depth} hidden layers trained by relucc ({run}, seed {seed}) to "
                       f"tell {target.label} (label 1) from {generator.label} (label 0); output y is the logit")
        difference = export_critic(critic, path, description, target, seed=seed)
        logger.info("wrote %s (max abs difference from torch %.3g)", path, difference)
        paths.append(str(path))
    return paths


def write_outputs(result: TrainResult, settings: TrainSettings, generator, target, out_path: Path) -> None:
    """Write the Figure 1 plot and ``summary.json`` for one training run."""
    if result.rows:
        plot_test_loss([result], out_path / "test_loss.png")
    summary = {
        "run": result.run,
        "generator": str(generator.path),
        "seed_distribution": generator.seed_distribution,
        "target": target.label,
        "settings": asdict(settings),
        "timing_seconds": asdict(result.timing),
        "interrupted": result.interrupted,
        "final_by_depth": {str(depth): entry for depth, entry in result.final_by_depth().items()},
        "low_order_statistics": asdict(result.statistics) if result.statistics else None,
        "critics": result.critic_paths,
    }
    (out_path / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")


def plot_test_loss(results: list[TrainResult], path: Path, titles: list[str] | None = None) -> None:
    """Plot test loss against step, one panel per result and one curve per depth, as in Figure 1.

    With several seeds a curve is the mean over seeds and the band spans their minimum to maximum.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = min(3, len(results))
    rows = math.ceil(len(results) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(5.2 * columns, 3.8 * rows), squeeze=False)
    for index, result in enumerate(results):
        axis = axes[index // columns][index % columns]
        _plot_panel(axis, result, titles[index] if titles else result.run)
    for index in range(len(results), rows * columns):
        axes[index // columns][index % columns].set_visible(False)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)


def _plot_panel(axis, result: TrainResult, title: str) -> None:
    depths = sorted({row["depth"] for row in result.rows})
    for depth in depths:
        steps, mean, low, high = _curve_band(result.rows, depth)
        label = f"{depth} hidden layer" + ("s" if depth > 1 else "")
        line, = axis.plot(steps, mean, label=label, linewidth=1.2)
        if len({row["seed"] for row in result.rows}) > 1:
            axis.fill_between(steps, low, high, color=line.get_color(), alpha=0.2, linewidth=0)
    axis.axhline(0.0, color="black", linewidth=0.8, linestyle="--")
    axis.set_title(title, fontsize=10)
    axis.set_xlabel("training step")
    axis.set_ylabel("test loss (0 = chance)")
    axis.legend(fontsize=8)


def _curve_band(rows: list[dict], depth: int):
    by_step: dict[int, list[float]] = {}
    for row in rows:
        if row["depth"] == depth:
            by_step.setdefault(row["step"], []).append(row["test_loss"])
    steps = sorted(by_step)
    values = [by_step[step] for step in steps]
    return (steps, [float(np.mean(v)) for v in values], [float(np.min(v)) for v in values],
            [float(np.max(v)) for v in values])
