"""The ``relucc`` command line: compile, check, info, sample (a thin layer over the Python API)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

from relucc import __version__
from relucc.errors import Diagnostic, RelucError, SourceLocation, UsageError

logger = logging.getLogger("relucc")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="relucc", description=(
        "Compile Boolean circuits and local PRGs into exact ReLU networks (ONNX) with a certificate "
        "of depth, size, Lipschitz bound and bit complexity."))
    parser.add_argument("--version", action="version", version=f"relucc {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress messages to stderr")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    compile_ = commands.add_parser("compile", help="compile a .circ file to ONNX and print its certificate")
    compile_.add_argument("file", help="source file (.circ, .bench, .aag, .aig, .blif)")
    compile_.add_argument("-o", "--output", required=True, help="ONNX file to write")
    _add_build_options(compile_)
    compile_.add_argument("--encoding", choices=("pm1", "01"), default="pm1",
                          help="Boolean encoding of inputs and outputs: pm1 ({-1,+1}, default) or 01 ({0,1}); "
                               "True is +1 or 1, and the change of variables is folded into the first and "
                               "last layers")
    compile_.add_argument("--opset", type=int, default=None,
                          help="ONNX opset of the model (default 17; 17 up to the newest that onnx and "
                               "onnxruntime support)")
    compile_.add_argument("--json", action="store_true", help="print the certificate as JSON")
    compile_.add_argument("--target", action="store_true",
                          help="write the target sampler H(I_r) of a compose block instead of the generator: "
                               "input z uniform on [0,1]^r, output H(z)")
    compile_.set_defaults(handler=command_compile)

    check = commands.add_parser("check", help="compile and verify the network against the Boolean reference")
    check.add_argument("file", help="source file (.circ, .bench, .aag, .aig, .blif)")
    check.add_argument("--samples", type=int, default=None,
                       help="random inputs to try when the input is too long to enumerate "
                            "(default: 10000 for generators, 100000 for circuits)")
    check.add_argument("--seed", type=int, default=0, help="seed of the random check (default 0)")
    check.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="onnxruntime device")
    check.add_argument("-o", "--output", help="also write the verified ONNX model, with the check recorded")
    _add_build_options(check)
    check.set_defaults(handler=command_check)

    info = commands.add_parser("info", help="recompute a model's certificate from its weights and compare")
    info.add_argument("model", help="ONNX file")
    info.add_argument("--graph", action="store_true", help="print a per-layer table")
    info.add_argument("--json", action="store_true", help="print the recomputed certificate as JSON")
    info.set_defaults(handler=command_info)

    sample = commands.add_parser("sample", help="draw seeds and run a generator through onnxruntime")
    sample.add_argument("model", help="ONNX generator (input z, output y)")
    sample.add_argument("-n", "--count", type=int, required=True, help="number of samples")
    sample.add_argument("--seed", type=int, default=0, help="seed of NumPy's default_rng (default 0)")
    sample.add_argument("-o", "--output", required=True, help=".npy file to write, float32 [N, d]")
    sample.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="onnxruntime device")
    sample.add_argument("--save-seeds", help="also write the seeds z to this .npy file")
    sample.add_argument("--seed-distribution", choices=("bits", "gaussian", "uniform01"), default=None,
                        help="seed distribution: bits (uniform on {-1,+1}^m), gaussian (standard normal) or "
                             "uniform01 (uniform on [0,1]^m); default: the one in the model's certificate, "
                             "else bits")
    sample.set_defaults(handler=command_sample)

    from relucc.distance import add_distance_command

    add_distance_command(commands)
    _add_optional_commands(commands)
    return parser


def _add_build_options(parser: argparse.ArgumentParser) -> None:
    from relucc.circuit_compiler import LAYOUTS as CIRCUIT_LAYOUTS
    from relucc.compiler import LAYOUTS, OBJECTIVES, STRATEGIES

    parser.add_argument("--layout", choices=tuple(dict.fromkeys(LAYOUTS + CIRCUIT_LAYOUTS)), default=None,
                        help="ONNX layout: local (Gather + one shared predicate network; the default for "
                             "local functions), dense (a plain Gemm/Relu MLP; the default for circuits up to "
                             "4M dense weights) or sparse (circuits only: per layer Gather, Mul, ReduceSum; the "
                             "default for bigger circuits)")
    parser.add_argument("--critic-xi", default=None, metavar="XI",
                        help="compile a circuit f as the critic f o h_xi on real inputs (Lemma 4.4), exact on "
                             "every x with all |x_i| >= XI; XI is a power of two such as 1/64")
    parser.add_argument("--strategy", choices=STRATEGIES, default="auto",
                        help="predicate lowering: auto (default) builds every strategy and keeps the best "
                             "for --optimize; paper is the Fourier construction of Lemma 3.3; tree, sums, "
                             "points, cubes, symmetric and decompose use biased gadgets (see relucc.strategies)")
    parser.add_argument("--optimize", choices=OBJECTIVES, default="size",
                        help="what --strategy auto minimises first: size (hidden neurons per output, default), "
                             "depth, or lipschitz (certified l2 bound); the other two break ties")
    parser.add_argument("--passes", choices=("on", "off"), default=None,
                        help="run the exactness-preserving optimisation passes after lowering "
                             "(default: on, except for --strategy paper)")


def _add_optional_commands(commands) -> None:
    try:
        from relucc.critic_cli import add_critic_commands
    except ImportError:
        return
    add_critic_commands(commands)


def command_compile(args) -> int:
    from relucc import api
    from relucc.emit import OPSET, save_atomically
    from relucc.report import certificate_summary

    started = time.perf_counter()
    compiled = api.compile(args.file, strategy=args.strategy, optimize=args.optimize,
                           passes=None if args.passes is None else args.passes == "on",
                           critic_xi=args.critic_xi)
    if args.target:
        target = getattr(compiled.compiled, "target", None)
        if target is None:
            raise UsageError(f"--target applies to a compose block with a bits_to_unit stage; "
                             f"{Path(args.file).name} emits {compiled.name}, which has no target")
        compiled = api.Compiled(target())
    args.layout = args.layout or compiled.layouts[0]
    opset = OPSET if args.opset is None else args.opset
    model = compiled.to_onnx(args.layout, opset=opset, encoding=args.encoding)
    save_atomically(model, args.output)
    certificate = api.stored_certificate(model)
    elapsed = time.perf_counter() - started
    if args.json:
        print(json.dumps(certificate, indent=2, sort_keys=True))
    else:
        summary = getattr(compiled.compiled, "summary", None)
        print(summary() if summary else certificate_summary(certificate))
        print(f"wrote {args.output} ({args.layout} layout, {args.encoding} encoding, opset {opset}) "
              f"in {elapsed:.2f} s")
    return 0


def command_check(args) -> int:
    from relucc.compiler import compile_file
    from relucc.runtime import check_against_reference

    compiled = compile_file(args.file, strategy=args.strategy, optimize=args.optimize,
                            passes=None if args.passes is None else args.passes == "on",
                            critic_xi=args.critic_xi)
    args.layout = args.layout or compiled.layouts[0]
    for record in compiled.certificate["verification"]:
        print(f"passed: {record['scope']} ({record['kind']}, {record['inputs']} inputs)")
    model = compiled.to_onnx(args.layout)
    check_model = getattr(compiled, "check_model", None)
    if check_model is not None:
        # Real-valued outputs: onnxruntime must agree with the exact values within the certified float32 error.
        record = check_model(model, args.samples or compiled.default_samples, args.seed, args.device)
        print(f"passed: {record['scope']} in onnxruntime ({record['kind']}, {record['inputs']} inputs, "
              f"max |difference| {record['max_abs_difference']:.3g} <= float32 error bound "
              f"{record['float32_error_bound']:.3g})")
    else:
        record = check_against_reference(model, compiled.reference, compiled.input_length,
                                         args.samples or compiled.default_samples, compiled.exhaustive_limit,
                                         args.seed, args.device)
        print(f"passed: {record['scope']} in onnxruntime ({record['kind']}, {record['inputs']} inputs, "
              f"{compiled.output_length} outputs each, exact equality)")
    if args.output:
        compiled.certificate["verification"].append(record)
        compiled.save(args.output, layout=args.layout)
        print(f"wrote {args.output} with the verification recorded in its certificate")
    print(f"{Path(args.file).name}: the {args.layout} network computes {compiled.name} exactly")
    return 0


def command_info(args) -> int:
    from relucc import api
    from relucc.reader import compare
    from relucc.report import comparison_table, layer_table

    saved = api.load(args.model)
    loaded, recomputed = saved.loaded, saved.recomputed
    if args.json:
        print(json.dumps(recomputed, indent=2, sort_keys=True))
        return 0
    print(f"{args.model}: {loaded.layout} layout, input {loaded.input_name} [N, {recomputed['inputs']}], "
          f"output y [N, {recomputed['outputs']}]")
    if loaded.stored_certificate is None:
        print("no relucc certificate stored in this model; the figures below are recomputed from the weights, "
              "with inputs taken in {-1,+1} as relucc encodes them")
        print(f"missing: {', '.join(saved.missing)} (only the compiler records them)")
    rows = compare(loaded.stored_certificate, recomputed)
    print(comparison_table(rows))
    if any(row[3] == "unconfirmed" for row in rows):
        print("float32_exact unconfirmed: interval bounds over [-1,1]^n are too loose for this depth to confirm "
              "it from the weights alone; the stored flag rests on the compiler's bounds on the exact domain")
    print(f"lipschitz method: {recomputed['lipschitz_bound']['method']}")
    print(f"max |activation| method: {recomputed['max_abs_activation']['method']}")
    if loaded.stored_certificate and "verification" in loaded.stored_certificate:
        for record in loaded.stored_certificate["verification"]:
            print(f"stored verification: {record.get('scope')} ({record.get('kind')}, "
                  f"{record.get('inputs')} inputs): {record.get('result')}")
    if args.graph:
        if loaded.layout == "local":
            print(f"per-layer table of the predicate network, shared by all {recomputed['outputs']} outputs:")
        else:
            print("per-layer table of the network:")
        print(layer_table(loaded.network))
    differs = any(row[3] == "DIFFERS" for row in rows)
    return 1 if differs else 0


def command_sample(args) -> int:
    from relucc.continuous import sample_seeds as continuous_seeds
    from relucc.runtime import run_batched, sample_seeds, session

    if args.count <= 0:
        raise UsageError(f"-n must be positive, got {args.count}")
    sess = session(str(_existing(args.model)), args.device)
    length = sess.get_inputs()[0].shape[-1]
    if not isinstance(length, int):
        raise UsageError(f"{args.model}: the input's last dimension is not fixed, so the seed length is unknown")
    distribution = args.seed_distribution or _stored_seed_distribution(args.model)
    rng = np.random.default_rng(args.seed)
    seeds = sample_seeds(args.count, length, rng) if distribution == "bits" else \
        continuous_seeds(distribution, args.count, length, rng)
    outputs = run_batched(sess, seeds, progress=True)
    _save_npy(outputs, args.output)
    if args.save_seeds:
        _save_npy(seeds, args.save_seeds)
    print(f"wrote {args.output}: {outputs.shape[0]} samples of dimension {outputs.shape[1]} "
          f"({SEED_WORDS[distribution].format(m=length)}, seed {args.seed}, {args.device})")
    return 0


SEED_WORDS = {"bits": "uniform seeds in {{-1,+1}}^{m}", "gaussian": "standard Gaussian seeds in R^{m}",
              "uniform01": "uniform seeds in [0,1]^{m}"}


def _stored_seed_distribution(path: str) -> str:
    import onnx

    from relucc.api import stored_certificate

    certificate = stored_certificate(onnx.load(path, load_external_data=False)) or {}
    return certificate.get("seed_distribution", "bits")


def _existing(path: str) -> Path:
    if not Path(path).is_file():
        raise UsageError(Diagnostic("file not found", SourceLocation(path), "check the path"))
    return Path(path)


def _save_npy(array: np.ndarray, path: str) -> None:
    import io

    from relucc.emit import write_bytes_atomically

    buffer = io.BytesIO()
    np.save(buffer, array)
    write_bytes_atomically(buffer.getvalue(), path)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="relucc: %(message)s")
    try:
        return args.handler(args)
    except RelucError as error:
        print(error.render(), file=sys.stderr)
        return error.exit_status
    except FileNotFoundError as error:
        print(f"{error.filename}: error: file not found", file=sys.stderr)
        return 2
    except IsADirectoryError as error:
        print(f"{error.filename}: error: is a directory, expected a file", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("relucc: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
