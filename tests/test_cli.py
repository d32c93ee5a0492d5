"""The command line end to end: compile, check, info, sample, and bad input."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

from relucc import cli, fourier

ROOT = Path(__file__).resolve().parent.parent
TSA = ROOT / "examples" / "goldreich_tsa.circ"
TINY = ROOT / "examples" / "tiny_prg.circ"


def relucc(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "relucc.cli", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd)


@pytest.fixture(scope="module")
def tsa_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("tsa") / "tsa.onnx"
    result = relucc("compile", TSA, "-o", path, "--strategy", "paper")
    assert result.returncode == 0, result.stderr
    return path, result.stdout


def test_compile_prints_certificate_beside_paper(tsa_model):
    _, output = tsa_model
    assert "depth L (affine layers)" in output
    assert "paper bound" in output
    assert "Corollary 3.4" in output


def test_compiled_model_contract(tsa_model):
    path, _ = tsa_model
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    assert model.producer_name == "relucc"
    assert [i.name for i in model.graph.input] == ["z"]
    assert [o.name for o in model.graph.output] == ["y"]
    dims = model.graph.output[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "N"
    assert dims[1].dim_value == 200
    certificate = json.loads({p.key: p.value for p in model.metadata_props}["relucc.certificate"])
    for key in ("depth", "size", "size_per_output", "lipschitz_bound", "bit_complexity",
                "max_abs_activation", "exact_domain", "float32_exact", "verification"):
        assert key in certificate
    assert certificate["depth"] == 5
    assert certificate["size_per_output"] == 82
    assert certificate["size"] == 82 * 200
    assert certificate["bit_complexity"] == 1
    assert certificate["exact_domain"] == "{-1,+1}^50"
    assert certificate["float32_exact"] is True


def test_info_reproduces_certificate(tsa_model):
    path, _ = tsa_model
    result = relucc("info", path, "--graph")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "DIFFERS" not in result.stdout
    assert "missing" not in result.stdout
    assert "fourier_sum" in result.stdout


def test_info_dense_layout_agrees(tmp_path):
    path = tmp_path / "tiny_dense.onnx"
    assert relucc("compile", TINY, "-o", path, "--layout", "dense").returncode == 0
    result = relucc("info", path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "dense layout" in result.stdout
    assert "DIFFERS" not in result.stdout


def test_check_names_checks(tmp_path):
    result = relucc("check", TSA, "-o", tmp_path / "checked.onnx")
    assert result.returncode == 0, result.stderr
    assert "all 2^5 inputs" in result.stdout
    assert "10000 inputs" in result.stdout
    model = onnx.load(str(tmp_path / "checked.onnx"))
    certificate = json.loads({p.key: p.value for p in model.metadata_props}["relucc.certificate"])
    assert [record["result"] for record in certificate["verification"]] == ["passed", "passed"]


def test_check_small_seed_is_exhaustive():
    result = relucc("check", TINY)
    assert result.returncode == 0, result.stderr
    assert "exhaustive, onnxruntime" in result.stdout
    assert "256 inputs" in result.stdout


def test_check_reports_counterexample(monkeypatch, capsys):
    original = fourier.paper_network

    def corrupted(predicate):
        network, summary = original(predicate)
        network.layers[-1].bias[0] += 2**network.layers[-1].exponent
        return network, summary

    monkeypatch.setattr(fourier, "paper_network", corrupted)
    status = cli.main(["check", str(TINY), "--strategy", "paper"])
    captured = capsys.readouterr()
    assert status == 1
    assert "predicate network of" in captured.err
    assert "expected" in captured.err


def test_sample_matches_reference(tsa_model, tmp_path):
    path, _ = tsa_model
    out, seeds = tmp_path / "y.npy", tmp_path / "z.npy"
    result = relucc("sample", path, "-n", 500, "--seed", 7, "-o", out, "--save-seeds", seeds)
    assert result.returncode == 0, result.stderr
    samples, z = np.load(out), np.load(seeds)
    assert samples.shape == (500, 200)
    assert samples.dtype == np.float32
    from relucc.compiler import compile_file

    compiled = compile_file(str(TSA))
    assert np.array_equal(samples, compiled.reference(z).astype(np.float32))
    again = tmp_path / "y2.npy"
    relucc("sample", path, "-n", 500, "--seed", 7, "-o", again)
    assert np.array_equal(np.load(again), samples)


def test_sample_cuda_unavailable_is_clear(tsa_model, tmp_path):
    path, _ = tsa_model
    result = relucc("sample", path, "-n", 10, "-o", tmp_path / "y.npy", "--device", "cuda")
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("CUDA is available here")
    assert result.returncode == 2
    assert "CUDAExecutionProvider is not available" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "y.npy").exists()


def test_failed_compile_leaves_no_output(tmp_path):
    source = tmp_path / "bad.circ"
    source.write_text("predicate P(a, b) = a * c\nlocal G { m = 0  d = 2  predicate = P  subsets = random(seed = 1) }\n"
                      "generator G\n")
    target = tmp_path / "out.onnx"
    result = relucc("compile", source, "-o", target)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"{source}:1:" in result.stderr
    assert "^" in result.stderr
    assert not target.exists()
    assert list(tmp_path.iterdir()) == [source]


def test_missing_generator_declaration(tmp_path):
    source = tmp_path / "nogen.circ"
    source.write_text("predicate P(a, b) = a * b\n")
    result = relucc("compile", source, "-o", tmp_path / "out.onnx")
    assert result.returncode == 2
    assert "no generator declaration" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_file(tmp_path):
    result = relucc("compile", tmp_path / "absent.circ", "-o", tmp_path / "out.onnx")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "absent.circ" in result.stderr


def test_info_on_non_onnx(tmp_path):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"this is not a protobuf \x00\x01\x02")
    result = relucc("info", junk)
    assert result.returncode == 2
    assert "not an ONNX model" in result.stderr
    assert "Traceback" not in result.stderr


def test_sample_on_non_onnx(tmp_path):
    junk = tmp_path / "junk.onnx"
    junk.write_text("not a model\n")
    result = relucc("sample", junk, "-n", 10, "-o", tmp_path / "y.npy")
    assert result.returncode == 2
    assert "onnxruntime cannot load the model" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "y.npy").exists()


def test_output_directory_missing(tmp_path):
    target = tmp_path / "absent" / "out.onnx"
    result = relucc("compile", TINY, "-o", target)
    assert result.returncode == 2
    assert f"output directory {target.parent} does not exist" in result.stderr
    assert ".tmp" not in result.stderr


def test_output_path_is_directory(tmp_path):
    result = relucc("compile", TINY, "-o", tmp_path)
    assert result.returncode == 2
    assert "output path is a directory" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_non_finite_figures_stored_as_strict_json():
    import math

    from relucc.emit import strict_json
    from relucc.reader import _restore_non_finite

    certificate = {"lipschitz_bound": {"value": math.inf, "parts": [1.5, -math.inf]}, "depth": 3}
    text = json.dumps(strict_json(certificate), allow_nan=False)
    assert "Infinity" not in text
    restored = _restore_non_finite(json.loads(text))
    assert restored["lipschitz_bound"]["value"] == math.inf
    assert restored["lipschitz_bound"]["parts"] == [1.5, -math.inf]
    assert restored["depth"] == 3
