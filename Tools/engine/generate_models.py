#!/usr/bin/env python3
"""Generates the inference engine's conformance fixtures and the built-in `digits` model.

For every model family the engine must run (PyTorch-style Gemm chains, Keras-style MatMul+Add, GELU/BatchNorm/
LeakyRelu, image inputs with Flatten, the skl2onnx estimators, odd sizes) this writes, under
Tests/InferenceTests/Fixtures/:

  <name>.onnx   the model
  <name>.json   {"inputs": [...], "outputs": [...]}: each {"name", "dtype", "shape", "data"} — the inputs fed to
                onnxruntime and the outputs it returned (the Swift tests compare against these)

and Sources/Inference/BuiltinModels+Digits.swift (the digits MLPClassifier, base64). Graphs are built with
onnx.helper in the shapes torch.onnx.export and tf2onnx emit, so the Swift tests need neither framework.

Usage: python3 Tools/engine/generate_models.py    (needs onnx, onnxruntime, scikit-learn, skl2onnx, numpy)
Deterministic: fixed seeds; re-running produces the same files for the same package versions.
"""
import base64
import json
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIXTURES = os.path.join(ROOT, "Tests", "InferenceTests", "Fixtures")
BUILTIN = os.path.join(ROOT, "Sources", "Inference", "BuiltinModels+Digits.swift")


def tensor_json(name, array):
    array = np.asarray(array)
    if array.dtype == np.float32:
        dtype, data = "float32", [float(x) for x in array.reshape(-1)]
    elif array.dtype == np.int64:
        dtype, data = "int64", [int(x) for x in array.reshape(-1)]
    elif array.dtype.kind in ("U", "O", "S"):
        dtype, data = "string", [str(x) for x in array.reshape(-1)]
    else:
        raise ValueError(f"{name}: unexpected dtype {array.dtype}")
    return {"name": name, "dtype": dtype, "shape": list(array.shape), "data": data}


def save(name, model, feeds):
    """Checks the model, runs it in onnxruntime and writes the model and its inputs/outputs."""
    onnx.checker.check_model(model)
    data = model.SerializeToString()
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    outputs = session.run(None, feeds)
    names = [o.name for o in session.get_outputs()]
    with open(os.path.join(FIXTURES, name + ".onnx"), "wb") as f:
        f.write(data)
    record = {
        "inputs": [tensor_json(k, v) for k, v in feeds.items()],
        "outputs": [tensor_json(n, v) for n, v in zip(names, outputs)],
    }
    with open(os.path.join(FIXTURES, name + ".json"), "w") as f:
        json.dump(record, f, separators=(",", ":"))
    return outputs


def make(nodes, inputs, outputs, initializers, opset, producer="pytorch", ml_opset=None):
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializers)
    opsets = [helper.make_opsetid("", opset)]
    if ml_opset:
        opsets.append(helper.make_opsetid("ai.onnx.ml", ml_opset))
    model = helper.make_model(graph, opset_imports=opsets, producer_name=producer)
    model.ir_version = 7
    return model


def init(name, array):
    return numpy_helper.from_array(np.asarray(array), name)


def linear(rng, fan_in, fan_out):
    bound = 1 / np.sqrt(fan_in)
    w = rng.uniform(-bound, bound, (fan_out, fan_in)).astype(np.float32)  # torch layout [out, in]
    b = rng.uniform(-bound, bound, (fan_out,)).astype(np.float32)
    return w, b


def batch_input(name, features, dim_param="batch_size"):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, [dim_param] + list(features))


def out(name, shape, elem=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, elem, shape)


# ----------------------------------------------------------------------------------------------------------------
# PyTorch-style: nn.Sequential(Linear, ReLU, Linear, ReLU, Linear) → Gemm(transB=1) chains.

def torch_mlp(rng):
    sizes = [20, 32, 16, 5]
    nodes, inits = [], []
    x = "input"
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        w, bias = linear(rng, a, b)
        inits += [init(f"{i * 2}.weight", w), init(f"{i * 2}.bias", bias)]
        y = f"/{i * 2}/Gemm_output_0" if i < len(sizes) - 2 else "output"
        nodes.append(helper.make_node("Gemm", [x, f"{i * 2}.weight", f"{i * 2}.bias"], [y], name=f"/{i * 2}/Gemm",
                                      alpha=1.0, beta=1.0, transB=1))
        if i < len(sizes) - 2:
            nodes.append(helper.make_node("Relu", [y], [f"/{i * 2 + 1}/Relu_output_0"], name=f"/{i * 2 + 1}/Relu"))
            x = f"/{i * 2 + 1}/Relu_output_0"
    model = make(nodes, [batch_input("input", [20])], [out("output", ["batch_size", 5])], inits, 17)
    save("torch_mlp", model, {"input": rng.standard_normal((7, 20)).astype(np.float32)})


def torch_gelu_batchnorm(rng):
    """Linear → BatchNorm1d → GELU (erf) → Linear → LeakyReLU → Dropout → Linear → LogSoftmax, opset 13."""
    w1, b1 = linear(rng, 12, 24)
    w2, b2 = linear(rng, 24, 24)
    w3, b3 = linear(rng, 24, 4)
    gamma = rng.uniform(0.5, 1.5, 24).astype(np.float32)
    beta = rng.uniform(-0.5, 0.5, 24).astype(np.float32)
    mean = rng.uniform(-0.2, 0.2, 24).astype(np.float32)
    var = rng.uniform(0.5, 2.0, 24).astype(np.float32)
    inits = [init("fc1.weight", w1), init("fc1.bias", b1), init("bn.weight", gamma), init("bn.bias", beta),
             init("bn.running_mean", mean), init("bn.running_var", var), init("fc2.weight", w2),
             init("fc2.bias", b2), init("fc3.weight", w3), init("fc3.bias", b3)]
    nodes = [
        helper.make_node("Gemm", ["x", "fc1.weight", "fc1.bias"], ["h1"], name="/fc1/Gemm", transB=1),
        helper.make_node("BatchNormalization", ["h1", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"],
                         ["h2"], name="/bn/BatchNormalization", epsilon=1e-5, momentum=0.9),
        helper.make_node("Constant", [], ["sqrt2"], name="/act/Constant",
                         value=helper.make_tensor("v", TensorProto.FLOAT, [], [1.4142135381698608])),
        helper.make_node("Div", ["h2", "sqrt2"], ["g1"], name="/act/Div"),
        helper.make_node("Erf", ["g1"], ["g2"], name="/act/Erf"),
        helper.make_node("Constant", [], ["one"], name="/act/Constant_1",
                         value=helper.make_tensor("v", TensorProto.FLOAT, [], [1.0])),
        helper.make_node("Add", ["g2", "one"], ["g3"], name="/act/Add"),
        helper.make_node("Mul", ["h2", "g3"], ["g4"], name="/act/Mul"),
        helper.make_node("Constant", [], ["half"], name="/act/Constant_2",
                         value=helper.make_tensor("v", TensorProto.FLOAT, [], [0.5])),
        helper.make_node("Mul", ["g4", "half"], ["g5"], name="/act/Mul_1"),
        helper.make_node("Gemm", ["g5", "fc2.weight", "fc2.bias"], ["h3"], name="/fc2/Gemm", transB=1),
        helper.make_node("LeakyRelu", ["h3"], ["h4"], name="/act2/LeakyRelu", alpha=0.1),
        helper.make_node("Dropout", ["h4"], ["h5"], name="/drop/Dropout"),
        helper.make_node("Gemm", ["h5", "fc3.weight", "fc3.bias"], ["h6"], name="/fc3/Gemm", transB=1),
        helper.make_node("LogSoftmax", ["h6"], ["log_probs"], name="/LogSoftmax", axis=1),
    ]
    model = make(nodes, [batch_input("x", [12])], [out("log_probs", ["batch_size", 4])], inits, 13)
    save("torch_gelu_batchnorm", model, {"x": rng.standard_normal((9, 12)).astype(np.float32)})


def torch_image_flatten(rng):
    """An image classifier head: [N, 1, 8, 8] → Flatten → Linear → ReLU → Linear → Sigmoid, plus ArgMax."""
    w1, b1 = linear(rng, 64, 32)
    w2, b2 = linear(rng, 32, 10)
    nodes = [
        helper.make_node("Flatten", ["image"], ["flat"], name="/flatten/Flatten", axis=1),
        helper.make_node("Gemm", ["flat", "l1.weight", "l1.bias"], ["h1"], name="/l1/Gemm", transB=1),
        helper.make_node("Relu", ["h1"], ["h2"], name="/relu/Relu"),
        helper.make_node("Gemm", ["h2", "l2.weight", "l2.bias"], ["logits"], name="/l2/Gemm", transB=1),
        helper.make_node("Sigmoid", ["logits"], ["scores"], name="/sigmoid/Sigmoid"),
        helper.make_node("ArgMax", ["logits"], ["class"], name="/ArgMax", axis=1, keepdims=0),
    ]
    inits = [init("l1.weight", w1), init("l1.bias", b1), init("l2.weight", w2), init("l2.bias", b2)]
    model = make(nodes, [batch_input("image", [1, 8, 8], "N")],
                 [out("scores", ["N", 10]), out("class", ["N"], TensorProto.INT64)], inits, 11)
    save("torch_image_flatten", model, {"image": rng.standard_normal((5, 1, 8, 8)).astype(np.float32)})


def odd_sizes(rng):
    """1 → 1023 → 3 → 1 with Clip (opset 11 inputs) and a Tanh; batch of 1 and of 3 are separate fixtures."""
    w1, b1 = linear(rng, 1, 1023)
    w2, b2 = linear(rng, 1023, 3)
    w3, b3 = linear(rng, 3, 1)
    inits = [init("w1", w1), init("b1", b1), init("w2", w2), init("b2", b2), init("w3", w3), init("b3", b3),
             init("clip_min", np.array(-0.25, np.float32)), init("clip_max", np.array(0.5, np.float32))]
    nodes = [
        helper.make_node("Gemm", ["x", "w1", "b1"], ["h1"], name="gemm1", transB=1),
        helper.make_node("Tanh", ["h1"], ["h2"], name="tanh"),
        helper.make_node("Gemm", ["h2", "w2", "b2"], ["h3"], name="gemm2", transB=1),
        helper.make_node("Clip", ["h3", "clip_min", "clip_max"], ["h4"], name="clip"),
        helper.make_node("Gemm", ["h4", "w3", "b3"], ["y"], name="gemm3", transB=1),
    ]
    model = make(nodes, [batch_input("x", [1])], [out("y", ["batch_size", 1])], inits, 12)
    save("odd_sizes_b1", model, {"x": rng.standard_normal((1, 1)).astype(np.float32)})
    save("odd_sizes_b3", model, {"x": rng.standard_normal((3, 1)).astype(np.float32)})


# ----------------------------------------------------------------------------------------------------------------
# Keras through tf2onnx: MatMul with [in, out] kernels + Add bias, Softmax on the last axis, Identity outputs,
# NHWC inputs transposed and reshaped with -1.

def keras_mlp(rng):
    k1 = rng.standard_normal((10, 16)).astype(np.float32) * 0.3
    k2 = rng.standard_normal((16, 16)).astype(np.float32) * 0.3
    k3 = rng.standard_normal((16, 3)).astype(np.float32) * 0.3
    b1, b2, b3 = (rng.standard_normal(n).astype(np.float32) * 0.1 for n in (16, 16, 3))
    inits = [init("sequential/dense/MatMul/ReadVariableOp:0", k1), init("sequential/dense/BiasAdd/ReadVariableOp:0", b1),
             init("sequential/dense_1/MatMul/ReadVariableOp:0", k2),
             init("sequential/dense_1/BiasAdd/ReadVariableOp:0", b2),
             init("sequential/dense_2/MatMul/ReadVariableOp:0", k3),
             init("sequential/dense_2/BiasAdd/ReadVariableOp:0", b3)]
    nodes = [
        helper.make_node("MatMul", ["dense_input", "sequential/dense/MatMul/ReadVariableOp:0"], ["m1"],
                         name="sequential/dense/MatMul"),
        helper.make_node("Add", ["m1", "sequential/dense/BiasAdd/ReadVariableOp:0"], ["a1"],
                         name="sequential/dense/BiasAdd"),
        helper.make_node("Relu", ["a1"], ["r1"], name="sequential/dense/Relu"),
        helper.make_node("MatMul", ["r1", "sequential/dense_1/MatMul/ReadVariableOp:0"], ["m2"],
                         name="sequential/dense_1/MatMul"),
        helper.make_node("Add", ["m2", "sequential/dense_1/BiasAdd/ReadVariableOp:0"], ["a2"],
                         name="sequential/dense_1/BiasAdd"),
        helper.make_node("Elu", ["a2"], ["r2"], name="sequential/dense_1/Elu"),
        helper.make_node("MatMul", ["r2", "sequential/dense_2/MatMul/ReadVariableOp:0"], ["m3"],
                         name="sequential/dense_2/MatMul"),
        helper.make_node("Add", ["m3", "sequential/dense_2/BiasAdd/ReadVariableOp:0"], ["a3"],
                         name="sequential/dense_2/BiasAdd"),
        helper.make_node("Softmax", ["a3"], ["s"], name="sequential/dense_2/Softmax", axis=-1),
        helper.make_node("Identity", ["s"], ["dense_2"], name="Identity"),
    ]
    model = make(nodes, [batch_input("dense_input", [10], "unk__6")], [out("dense_2", ["unk__7", 3])], inits, 13,
                 producer="tf2onnx")
    save("keras_mlp", model, {"dense_input": rng.standard_normal((6, 10)).astype(np.float32)})


def keras_nhwc_image(rng):
    """[N, 8, 8, 1] → Transpose → Reshape(-1, 64) → MatMul/Add → Tanh → MatMul/Add → Softmax (opset 9, axis 1)."""
    k1 = rng.standard_normal((64, 20)).astype(np.float32) * 0.2
    k2 = rng.standard_normal((20, 4)).astype(np.float32) * 0.2
    b1 = rng.standard_normal(20).astype(np.float32) * 0.1
    b2 = rng.standard_normal(4).astype(np.float32) * 0.1
    inits = [init("k1", k1), init("b1", b1), init("k2", k2), init("b2", b2),
             init("new_shape", np.array([-1, 64], np.int64))]
    nodes = [
        helper.make_node("Transpose", ["input_1"], ["nchw"], name="transpose", perm=[0, 3, 1, 2]),
        helper.make_node("Reshape", ["nchw", "new_shape"], ["flat"], name="flatten/Reshape"),
        helper.make_node("MatMul", ["flat", "k1"], ["m1"], name="dense/MatMul"),
        helper.make_node("Add", ["m1", "b1"], ["a1"], name="dense/BiasAdd"),
        helper.make_node("Tanh", ["a1"], ["t1"], name="dense/Tanh"),
        helper.make_node("MatMul", ["t1", "k2"], ["m2"], name="dense_1/MatMul"),
        helper.make_node("Add", ["m2", "b2"], ["a2"], name="dense_1/BiasAdd"),
        helper.make_node("Softmax", ["a2"], ["probs"], name="dense_1/Softmax", axis=1),
    ]
    model = make(nodes, [batch_input("input_1", [8, 8, 1], "unk__1")], [out("probs", ["unk__2", 4])], inits, 9,
                 producer="tf2onnx")
    save("keras_nhwc_image", model, {"input_1": rng.standard_normal((4, 8, 8, 1)).astype(np.float32)})


def preprocessing_ops(rng):
    """Sub/Div standardisation, Unsqueeze/Squeeze, Pow, HardSigmoid, Softplus, Cast round trip, opset 21."""
    mean = rng.standard_normal(6).astype(np.float32)
    std = rng.uniform(0.5, 2, 6).astype(np.float32)
    w, b = linear(rng, 6, 8)
    inits = [init("mean", mean), init("std", std), init("w", w.T.copy()), init("b", b),
             init("axes", np.array([1], np.int64)), init("two", np.array(2.0, np.float32))]
    nodes = [
        helper.make_node("Sub", ["x", "mean"], ["c"], name="center"),
        helper.make_node("Div", ["c", "std"], ["z"], name="scale"),
        helper.make_node("Unsqueeze", ["z", "axes"], ["z3"], name="unsqueeze"),
        helper.make_node("Squeeze", ["z3", "axes"], ["z2"], name="squeeze"),
        helper.make_node("MatMul", ["z2", "w"], ["m"], name="matmul"),
        helper.make_node("Add", ["b", "m"], ["h"], name="bias"),
        helper.make_node("Pow", ["h", "two"], ["p"], name="pow"),
        helper.make_node("HardSigmoid", ["h"], ["hs"], name="hardsigmoid", alpha=0.3, beta=0.4),
        helper.make_node("Softplus", ["p"], ["sp"], name="softplus"),
        helper.make_node("Mul", ["sp", "hs"], ["y"], name="mul"),
        helper.make_node("Cast", ["y"], ["yi"], name="to_int", to=TensorProto.INT64),
        helper.make_node("Cast", ["yi"], ["y_rounded"], name="to_float", to=TensorProto.FLOAT),
    ]
    model = make(nodes, [batch_input("x", [6])], [out("y", ["batch_size", 8]), out("y_rounded", ["batch_size", 8])],
                 inits, 21)
    save("preprocessing_ops", model, {"x": (rng.standard_normal((5, 6)) * 3).astype(np.float32)})


# ----------------------------------------------------------------------------------------------------------------
# scikit-learn through skl2onnx.

def sklearn_models(rng):
    from skl2onnx import to_onnx
    from sklearn.datasets import load_diabetes, load_digits, load_iris, load_breast_cancer
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import Normalizer, StandardScaler

    opts = {"zipmap": False}
    iris = load_iris()
    x_iris = iris.data.astype(np.float32)

    model = LogisticRegression(max_iter=500).fit(x_iris, iris.target)
    onx = to_onnx(model, x_iris[:1], options=opts, target_opset={"": 15, "ai.onnx.ml": 3})
    save("sklearn_logreg_iris", onx, {"X": x_iris[::10]})

    names = np.array(iris.target_names)[iris.target]
    model = make_pipeline(StandardScaler(), Normalizer(norm="l2"), LogisticRegression(max_iter=500))
    model.fit(x_iris, names)
    onx = to_onnx(model, x_iris[:1], options={id(model.steps[-1][1]): opts}, target_opset={"": 15, "ai.onnx.ml": 3})
    save("sklearn_pipeline_strings", onx, {"X": x_iris[::10]})

    cancer = load_breast_cancer()
    x_cancer = cancer.data.astype(np.float32)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x_cancer, cancer.target)
    onx = to_onnx(model, x_cancer[:1], options={id(model.steps[-1][1]): opts}, target_opset={"": 15, "ai.onnx.ml": 3})
    save("sklearn_logreg_binary", onx, {"X": x_cancer[::40]})

    diabetes = load_diabetes()
    x_diabetes = diabetes.data.astype(np.float32)
    model = LinearRegression().fit(x_diabetes, diabetes.target)
    onx = to_onnx(model, x_diabetes[:1], target_opset={"": 15, "ai.onnx.ml": 3})
    save("sklearn_linreg", onx, {"X": x_diabetes[::30]})

    model = MLPRegressor(hidden_layer_sizes=(16,), max_iter=300, random_state=0).fit(x_diabetes, diabetes.target)
    onx = to_onnx(model, x_diabetes[:1], target_opset={"": 15, "ai.onnx.ml": 3})
    save("sklearn_mlp_regressor", onx, {"X": x_diabetes[::30]})

    # ZipMap left in: the engine must refuse it with advice.
    model = LogisticRegression(max_iter=500).fit(x_iris, iris.target)
    onx = to_onnx(model, x_iris[:1], target_opset={"": 15, "ai.onnx.ml": 3})
    onnx.checker.check_model(onx)
    with open(os.path.join(FIXTURES, "sklearn_zipmap.onnx"), "wb") as f:
        f.write(onx.SerializeToString())

    # The built-in model: MLPClassifier on sklearn's bundled digits (8×8 images, 64 features, 10 classes).
    digits = load_digits()
    x = digits.data.astype(np.float32)
    x_train, x_test, y_train, y_test = train_test_split(x, digits.target, test_size=0.2, random_state=0)
    model = MLPClassifier(hidden_layer_sizes=(64,), max_iter=400, random_state=0).fit(x_train, y_train)
    onx = to_onnx(model, x_train[:1], options=opts, target_opset={"": 15, "ai.onnx.ml": 3})
    onx.producer_name = "skl2onnx"
    outputs = save("digits", onx, {"X": x_test})
    accuracy = float(np.mean(outputs[0] == y_test))
    with open(os.path.join(FIXTURES, "digits_labels.json"), "w") as f:
        json.dump({"truth": [int(v) for v in y_test], "onnxruntime_accuracy": accuracy}, f)
    write_builtin(onx.SerializeToString(), accuracy)
    print(f"digits: onnxruntime accuracy on the test split {accuracy:.4f}")


def write_builtin(data, accuracy):
    encoded = base64.b64encode(data).decode("ascii")
    lines = [encoded[i:i + 116] for i in range(0, len(encoded), 116)]
    body = "\n".join(lines)
    with open(BUILTIN, "w") as f:
        f.write("// Generated by Tools/engine/generate_models.py; do not edit.\n")
        f.write("// scikit-learn MLPClassifier(hidden_layer_sizes=(64,)) trained on sklearn's bundled digits data set,\n")
        f.write(f"// exported with skl2onnx (zipmap=False); onnxruntime accuracy on the 20% test split: {accuracy:.4f}.\n\n")
        f.write("extension BuiltinModels {\n")
        f.write("    /// The ONNX bytes of the digits model, base64 (a string literal compiles fast; an array literal does not).\n")
        f.write('    static let digitsBase64 = """\n')
        f.write(body + "\n")
        f.write('"""\n')
        f.write("}\n")


def main():
    os.makedirs(FIXTURES, exist_ok=True)
    rng = np.random.default_rng(20240607)
    torch_mlp(rng)
    torch_gelu_batchnorm(rng)
    torch_image_flatten(rng)
    odd_sizes(rng)
    keras_mlp(rng)
    keras_nhwc_image(rng)
    preprocessing_ops(rng)
    sklearn_models(rng)
    total = sum(os.path.getsize(os.path.join(FIXTURES, f)) for f in os.listdir(FIXTURES))
    print(f"fixtures: {len(os.listdir(FIXTURES))} files, {total / 1024:.0f} KiB")


if __name__ == "__main__":
    sys.exit(main())
