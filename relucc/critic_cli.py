"""The ``relucc critic train`` and ``relucc critic eval`` subcommands.

``add_critic_commands(subparsers)`` registers them on an argparse subparsers object; each parsed
namespace carries its handler in ``args.handler``, which returns the exit status and raises a
``relucc.errors.RelucError`` for bad input.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from relucc.critic_eval import (
    SEED_DISTRIBUTIONS,
    OnnxCritic,
    OnnxGenerator,
    estimate_gap,
    load_target,
)
from relucc.errors import RelucError, UsageError

# Exit status after Ctrl-C, as shells report a process ended by SIGINT.
INTERRUPTED_STATUS = 130


def add_critic_commands(subparsers) -> None:
    """Register ``critic train`` and ``critic eval`` on an argparse subparsers object."""
    critic = subparsers.add_parser("critic", help="train and evaluate ReLU critics against ONNX generators",
                                   description="Train and evaluate ReLU critics (discriminators) against ONNX generators.")
    commands = critic.add_subparsers(dest="critic_command", metavar="COMMAND")
    commands.required = True
    _add_train_parser(commands)
    _add_eval_parser(commands)


def _add_target_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", default="bits", metavar="bits|uniform01|FILE.onnx",
                        help="distribution the generator is compared with: uniform {-1,+1}^d, uniform [0,1]^d, "
                             "or another ONNX generator (default: bits)")
    parser.add_argument("--seed-distribution", choices=SEED_DISTRIBUTIONS, default="bits",
                        help="seed distribution of the generator: uniform ±1 bits, standard Gaussian or "
                             "uniform [0,1) (default: bits)")
    parser.add_argument("--target-seed-distribution", choices=SEED_DISTRIBUTIONS, default="bits",
                        help="seed distribution of an ONNX target (default: bits)")


def _add_train_parser(commands) -> None:
    train = commands.add_parser(
        "train", help="train ReLU critics against a fixed generator",
        description="Train one ReLU critic per depth to tell target samples (label 1) from generator "
                    "samples (label 0) with the DCGAN binary cross-entropy objective, and log the test loss "
                    "E[-log D(X)] + E[-log(1 - D(G(z)))] - 2 log 2: 0 is chance, negative means detected.")
    train.add_argument("generator", metavar="GEN.onnx", help="generator model: input z [N, m], output y [N, d]")
    _add_target_options(train)
    train.add_argument("--depths", default="1,2,3,4", help="comma-separated hidden-layer counts, one critic each (default: 1,2,3,4)")
    train.add_argument("--width", type=int, default=200, help="neurons per hidden layer (default: 200)")
    train.add_argument("--steps", type=int, default=10_000, help="Adam steps per critic (default: 10000)")
    train.add_argument("--lr", type=float, default=1e-3, help="Adam step size (default: 0.001)")
    train.add_argument("--batch", type=int, default=128,
                       help="samples per side in each batch: this many target and as many generator rows (default: 128)")
    train.add_argument("--seed", type=int, default=0, help="first random seed; seed s fixes data and initialisation (default: 0)")
    train.add_argument("--seeds", type=int, default=1,
                       help="number of seeds (seed, seed+1, ...); the plot shows a min-max band over them (default: 1)")
    train.add_argument("--train-size", type=int, default=None, metavar="N",
                       help="fix a training set of N samples per side, reshuffled each epoch; without it every "
                            "batch is fresh, so the critic cannot overfit (default: fresh samples)")
    train.add_argument("--test-size", type=int, default=10_000, help="held-out samples per side (default: 10000)")
    train.add_argument("--eval-every", type=int, default=None, metavar="STEPS",
                       help="steps between test evaluations (default: steps/100)")
    train.add_argument("--out", default=None, metavar="DIR",
                       help="output folder for curves.csv, test_loss.png, summary.json and the critics "
                            "(default: critic-runs/GEN stem)")
    train.add_argument("--threads", type=int, default=1, help="torch threads for training (default: 1)")
    train.add_argument("--no-export", action="store_true", help="do not write the trained critics as ONNX")
    train.set_defaults(handler=run_train)


def _add_eval_parser(commands) -> None:
    evaluate = commands.add_parser(
        "eval", help="estimate |E f(G(z)) - E f(target)| for an ONNX critic",
        description="Estimate |E f(G(z)) - E f(target)| for an ONNX critic f (input x [N, d], one output "
                    "column) from independent samples of each side, with a normal (CLT) confidence interval.")
    evaluate.add_argument("critic", metavar="CRITIC.onnx", help="critic model: input x [N, d], output [N, 1]")
    evaluate.add_argument("--generator", required=True, metavar="GEN.onnx", help="generator model: input z [N, m], output y [N, d]")
    _add_target_options(evaluate)
    evaluate.add_argument("--samples", type=int, default=100_000, help="samples per side (default: 100000)")
    evaluate.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    evaluate.add_argument("--confidence", type=float, default=0.95, help="confidence level of the interval (default: 0.95)")
    evaluate.set_defaults(handler=run_eval)


def _parse_depths(text: str) -> tuple[int, ...]:
    try:
        depths = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise UsageError(f"invalid --depths {text!r}: expected comma-separated integers such as 1,2,3,4") from None
    if not depths:
        raise UsageError("--depths is empty: give at least one hidden-layer count")
    return depths


def run_train(args: argparse.Namespace) -> int:
    """Handle ``relucc critic train``: train, write outputs, print the final test losses."""
    from relucc.critic import TrainSettings, train_critics

    settings = TrainSettings(depths=_parse_depths(args.depths), width=args.width, steps=args.steps,
                             learning_rate=args.lr, batch_size=args.batch, seed=args.seed, seeds=args.seeds,
                             train_size=args.train_size, test_size=args.test_size, eval_every=args.eval_every,
                             export=not args.no_export, threads=args.threads)
    settings.validate()
    generator = OnnxGenerator(args.generator, args.seed_distribution)
    target = load_target(args.target, generator, args.target_seed_distribution)
    out_dir = Path(args.out) if args.out else Path("critic-runs") / Path(args.generator).stem

    result = train_critics(generator, target, settings, out_dir, run=Path(args.generator).stem)

    _print_train_report(result, out_dir)
    return INTERRUPTED_STATUS if result.interrupted else 0


def _print_train_report(result, out_dir: Path) -> None:
    if result.statistics is not None:
        print(result.statistics.summary())
    for depth, entry in sorted(result.final_by_depth().items()):
        spread = ""
        if entry["seeds"] > 1:
            spread = f" (min {entry['test_loss_min']:+.4f}, max {entry['test_loss_max']:+.4f}, {entry['seeds']} seeds)"
        print(f"depth {depth}: test loss {entry['test_loss_mean']:+.4f}{spread}, "
              f"test accuracy {entry['test_accuracy_mean']:.3f} at step {entry['step']}")
    timing = result.timing
    print(f"time: {timing.wall:.1f} s wall, {timing.sampling:.1f} s sampling, {timing.training:.1f} s training, "
          f"{timing.evaluation:.1f} s test evaluation")
    if result.interrupted:
        print(f"interrupted: the {len(result.rows)} curve rows logged so far are in {out_dir / 'curves.csv'}, "
              f"plotted in {out_dir / 'test_loss.png'}; no critics were exported for the unfinished seed",
              file=sys.stderr)
    else:
        print(f"wrote {out_dir / 'curves.csv'}, {out_dir / 'test_loss.png'}, {out_dir / 'summary.json'}"
              + (f" and {len(result.critic_paths)} critics" if result.critic_paths else ""))


def run_eval(args: argparse.Namespace) -> int:
    """Handle ``relucc critic eval``: print the gap estimate and its confidence interval."""
    critic = OnnxCritic(args.critic)
    generator = OnnxGenerator(args.generator, args.seed_distribution)
    target = load_target(args.target, generator, args.target_seed_distribution)

    estimate = estimate_gap(critic, generator, target, args.samples, args.seed, args.confidence)

    print(estimate.summary())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="relucc", description="relucc critic commands")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress messages")
    add_critic_commands(parser.add_subparsers(dest="command", metavar="COMMAND", required=True))
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``critic train`` or ``critic eval`` on their own, as ``python -m relucc.critic_cli critic ...``."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        return args.handler(args)
    except RelucError as error:
        print(error.render(), file=sys.stderr)
        return error.exit_status


if __name__ == "__main__":
    sys.exit(main())
