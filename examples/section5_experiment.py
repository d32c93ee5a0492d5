"""Reproduce Figure 1 of Chen, Li, Li and Meka (ICLR 2022): ReLU critics against Goldreich's PRG.

The generator is Goldreich's PRG with m = 50, d = 200 and the TSA predicate
x1*x2*x3*AND(x4, x5); the target is uniform {±1}^200. Critics with 1, 2, 3 and 4 hidden layers of
width 200 train with Adam (step 0.001, batch 128) on the DCGAN objective. The script logs the test
loss E[-log D(X)] + E[-log(1 - D(G(z)))] - 2 log 2, where 0 is chance and negative means detected.

Besides the paper's run it trains against three TSA variants and three weak controls that a
small critic must detect, so a flat curve means something:

    tsa              Definition 8 subsets (seed 0), fresh samples every step, several seeds
    tsa-overlap2     subsets drawn so that no two share more than 2 coordinates
    tsa-fixed        Definition 8 subsets, one fixed training set reshuffled every epoch
    copy             output l is seed bit l mod 50, so every bit appears 4 times
    and              AND(x1, x2) on random pairs: each output has mean -1/2
    overlap          TSA with all subsets inside the first 10 seed coordinates

Run from the repository root with relucc and its 'critic' extra installed:

    python examples/section5_experiment.py

It writes curves.csv, final.csv, figure1.png, all_runs.png and results.md under docs/section5/.
"""

from __future__ import annotations

import argparse
import csv
import logging
import platform
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

from relucc import subsets
from relucc.critic import CURVE_FIELDS, TrainSettings, plot_test_loss, train_critics
from relucc.critic_eval import OnnxGenerator, UniformBits, save_model

SEED_LENGTH = 50
OUTPUT_LENGTH = 200


@dataclass
class Run:
    name: str
    title: str
    build: object
    settings: TrainSettings


def define_runs(args) -> list[Run]:
    paper = TrainSettings(steps=args.steps, seeds=args.seeds, test_size=args.test_size,
                          eval_every=args.eval_every, export=False)
    single = replace(paper, seeds=1)
    control = replace(single, steps=args.control_steps, eval_every=max(1, args.control_steps // 40))

    def tsa():
        return subsets.tsa_generator(SEED_LENGTH, OUTPUT_LENGTH, seed=0)

    return [
        Run("tsa", "TSA, Definition 8 subsets, fresh samples", tsa, paper),
        Run("tsa-overlap2", "TSA, pairwise subset overlap <= 2",
            lambda: subsets.tsa_generator(SEED_LENGTH, OUTPUT_LENGTH, seed=0, max_overlap=2), single),
        Run("tsa-fixed", f"TSA, fixed training set of {args.train_size}", tsa,
            replace(single, train_size=args.train_size)),
        Run("copy", "control: copy (each seed bit 4 times)",
            lambda: subsets.copy_generator(SEED_LENGTH, OUTPUT_LENGTH), control),
        Run("and", "control: AND(x1, x2), mean -1/2",
            lambda: subsets.and_generator(SEED_LENGTH, OUTPUT_LENGTH, seed=0), control),
        Run("overlap", "control: TSA inside 10 seed bits",
            lambda: subsets.overlap_generator(SEED_LENGTH, OUTPUT_LENGTH, seed=0), control),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6_000, help="Adam steps of the TSA runs (default: 6000)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds of the main TSA run (default: 3)")
    parser.add_argument("--control-steps", type=int, default=1_500, help="Adam steps of the controls (default: 1500)")
    parser.add_argument("--train-size", type=int, default=10_000, help="training set size of tsa-fixed (default: 10000)")
    parser.add_argument("--test-size", type=int, default=5_000, help="held-out samples per side (default: 5000)")
    parser.add_argument("--eval-every", type=int, default=200, help="steps between test evaluations (default: 200)")
    parser.add_argument("--generator", default=None, metavar="TSA.onnx",
                        help="use this ONNX TSA generator (m=50, d=200) for the tsa and tsa-fixed runs")
    parser.add_argument("--only", default=None, help="comma-separated run names to train (default: all)")
    parser.add_argument("--out", default="docs/section5", help="output folder (default: docs/section5)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")

    started = time.perf_counter()
    runs = define_runs(args)
    if args.only:
        runs = [run for run in runs if run.name in args.only.split(",")]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    results = []
    with tempfile.TemporaryDirectory(prefix="section5-") as work:
        for run in runs:
            generator = load_generator(run, args, Path(work))
            logging.info("training %s (%s)", run.name, run.title)
            results.append(train_critics(generator, UniformBits(OUTPUT_LENGTH), run.settings,
                                         Path(work) / run.name, run=run.name))
    wall = time.perf_counter() - started

    write_curves(results, out / "curves.csv")
    write_final(results, out / "final.csv")
    plot_test_loss(results[:1], out / "figure1.png", [runs[0].title])
    plot_test_loss(results, out / "all_runs.png", [run.title for run in runs])
    write_report(runs, results, args, wall, out / "results.md")
    print((out / "results.md").read_text())


def load_generator(run: Run, args, work: Path) -> OnnxGenerator:
    if args.generator and run.name in ("tsa", "tsa-fixed"):
        return OnnxGenerator(args.generator)
    path = work / f"{run.name}.onnx"
    save_model(run.build(), path)
    return OnnxGenerator(path)


def write_curves(results, path: Path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, fieldnames=CURVE_FIELDS)
        writer.writeheader()
        for result in results:
            for row in result.rows:
                writer.writerow({key: f"{value:.6g}" if isinstance(value, float) else value
                                 for key, value in row.items()})


FINAL_FIELDS = ("run", "depth", "step", "seeds", "test_loss_mean", "test_loss_min", "test_loss_max",
                "test_accuracy_mean")


def write_final(results, path: Path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, fieldnames=FINAL_FIELDS)
        writer.writeheader()
        for result in results:
            for depth, entry in sorted(result.final_by_depth().items()):
                row = {"run": result.run, "depth": depth, **entry}
                writer.writerow({key: f"{row[key]:.5g}" if isinstance(row[key], float) else row[key]
                                 for key in FINAL_FIELDS})


def write_report(runs, results, args, wall: float, path: Path) -> None:
    sampling = sum(result.timing.sampling for result in results)
    training = sum(result.timing.training for result in results)
    evaluation = sum(result.timing.evaluation for result in results)
    lines = [
        "# Section 5 results (generated by examples/section5_experiment.py)",
        "",
        f"Machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}.",
        f"Wall time {wall:.0f} s: sampling {sampling:.0f} s, training {training:.0f} s, "
        f"test evaluation {evaluation:.0f} s, the rest building generators and writing files.",
        "",
        f"Settings: m={SEED_LENGTH}, d={OUTPUT_LENGTH}, target uniform {{-1,+1}}^{OUTPUT_LENGTH}, critics with "
        "1-4 hidden layers of width 200, Adam step 0.001, batch 128 per side, DCGAN loss; "
        f"TSA runs {args.steps} steps, controls {args.control_steps} steps, test set {args.test_size} per side, "
        f"evaluation every {args.eval_every} steps (controls: every {max(1, args.control_steps // 40)}).",
        "Test loss = E[-log D(X)] + E[-log(1 - D(G(z)))] - 2 log 2 on held-out samples: 0 is chance, "
        "negative means the critic separates generator from target, -2 log 2 = -1.386 is perfect.",
        "",
        "| run | seeds | steps | train set | test loss, depth 1 / 2 / 3 / 4 | test accuracy, depth 1 / 2 / 3 / 4 | sampling s | training s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for run, result in zip(runs, results):
        final = result.final_by_depth()
        losses = " / ".join(f"{final[d]['test_loss_mean']:+.4f}" for d in sorted(final))
        accuracies = " / ".join(f"{final[d]['test_accuracy_mean']:.3f}" for d in sorted(final))
        train_set = "fresh" if run.settings.train_size is None else str(run.settings.train_size)
        lines.append(f"| {run.name} | {run.settings.seeds} | {run.settings.steps} | {train_set} | {losses} | "
                     f"{accuracies} | {result.timing.sampling:.0f} | {result.timing.training:.0f} |")
    lines += ["", "Low-order statistics of the generator's test samples against uniform bits:", ""]
    for run, result in zip(runs, results):
        lines.append(f"- {run.name}: {result.statistics.summary()}")
    lines += ["", "With several seeds the table shows the mean over seeds and figure1.png a min-max band.", ""]
    path.write_text("\n".join(lines), encoding="utf-8")


if __name__ == "__main__":
    main()
