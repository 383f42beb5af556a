"""Real exports of the models users serve, made fresh: scikit-learn trees and forests (skl2onnx, default options so
ZipMap is in), XGBoost and LightGBM (onnxmltools), and hand-made tree ensembles that reach every corner of the
operators (every node mode, NaN routed by missing-value tracks, every post_transform, base values, aggregates,
int64 and string labels).

Each case is a model plus input batches: random rows, rows that sit exactly on thresholds, and NaN for missing
values. `write_repository(DIR)` lays them out as a Tensorwire model repository with DIR/<name>/inputs.npz beside each
model; `--fixtures DIR` writes the small hand-made ones as committed test fixtures (ONNX + onnxruntime's outputs as
JSON, the format of Tests/InferenceTests/Fixtures) into DIR/trees, DIR/ops, DIR/double and DIR/encoders.
"""
import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper

ML = "ai.onnx.ml"
# Cases served from the exporter's own files (name -> {file name: bytes}) rather than one saved model.onnx: torch's
# default export keeps the weights in model.onnx.data beside model.onnx.
EXPORTED_FILES = {}
MODES = ["BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT", "BRANCH_EQ", "BRANCH_NEQ"]
GRID = np.array([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0], dtype=np.float32)


def grid_rows(rng, rows, features, nan_rate=0.1):
    """Values drawn from GRID (so comparisons tie with thresholds drawn from it) and some NaN."""
    x = rng.choice(GRID, size=(rows, features)).astype(np.float32)
    x[rng.random((rows, features)) < nan_rate] = np.nan
    return x


def handmade_ensemble(seed, classifier, *, trees=6, depth=4, features=5, classes=3, modes=MODES, missing=0.3,
                      post_transform="NONE", base_count=0, aggregate="SUM", string_labels=False, layout="dense",
                      n_targets=1):
    """A random ensemble written with onnx.helper: thresholds on GRID, random modes and missing-value tracks."""
    rng = np.random.default_rng(seed)
    attrs = {k: [] for k in ["nodes_treeids", "nodes_nodeids", "nodes_featureids", "nodes_modes", "nodes_values",
                             "nodes_truenodeids", "nodes_falsenodeids", "nodes_missing_value_tracks_true"]}
    leaves = {"treeids": [], "nodeids": [], "ids": [], "weights": []}
    outputs = classes if classifier else n_targets
    for tree in range(trees):
        counter = [0]

        def grow(level):
            node = counter[0]
            counter[0] += 1
            index = len(attrs["nodes_nodeids"])
            for key in attrs:
                attrs[key].append(0)
            attrs["nodes_treeids"][index] = tree
            attrs["nodes_nodeids"][index] = node
            if level == depth or (level > 1 and rng.random() < 0.2):
                attrs["nodes_modes"][index] = "LEAF"
                attrs["nodes_values"][index] = 0.0
                if layout == "dense":
                    targets = range(outputs)
                elif layout == "per_tree":
                    targets = [tree % outputs]
                else:
                    targets = sorted(set(rng.integers(0, outputs, size=rng.integers(1, outputs + 1)).tolist()))
                for target in targets:
                    leaves["treeids"].append(tree)
                    leaves["nodeids"].append(node)
                    leaves["ids"].append(int(target))
                    weight = float(rng.normal()) if not classifier or post_transform != "NONE" else float(rng.random())
                    leaves["weights"].append(round(weight, 3))
                return node
            attrs["nodes_modes"][index] = str(rng.choice(modes))
            attrs["nodes_featureids"][index] = int(rng.integers(0, features))
            attrs["nodes_values"][index] = float(rng.choice(GRID))
            attrs["nodes_missing_value_tracks_true"][index] = int(rng.random() < missing)
            attrs["nodes_truenodeids"][index] = grow(level + 1)
            attrs["nodes_falsenodeids"][index] = grow(level + 1)
            return node

        grow(0)
    kwargs = dict(attrs)
    kwargs["post_transform"] = post_transform
    if base_count:
        kwargs["base_values"] = [round(float(v), 3) for v in rng.normal(size=base_count)]
    prefix = "class" if classifier else "target"
    for key, values in leaves.items():
        kwargs[f"{prefix}_{key}"] = values
    x = helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, features])
    if classifier:
        if string_labels:
            kwargs["classlabels_strings"] = [f"class_{i}" for i in range(classes)]
        else:
            kwargs["classlabels_int64s"] = [10 + 7 * i for i in range(classes)]
        node = helper.make_node("TreeEnsembleClassifier", ["X"], ["label", "probabilities"], domain=ML, **kwargs)
        outs = [helper.make_tensor_value_info("label", TensorProto.STRING if string_labels else TensorProto.INT64,
                                              [None]),
                helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, classes])]
    else:
        kwargs["n_targets"] = n_targets
        kwargs["aggregate_function"] = aggregate
        node = helper.make_node("TreeEnsembleRegressor", ["X"], ["variable"], domain=ML, **kwargs)
        outs = [helper.make_tensor_value_info("variable", TensorProto.FLOAT, [None, n_targets])]
    graph = helper.make_graph([node], "trees", [x], outs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(ML, 3)],
                              producer_name="tensorwire-interop")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model, {"X": grid_rows(rng, 37, features)}


def handmade_cases():
    """Every mode, missing tracks, post_transform, base-value count, aggregate, label type and leaf layout."""
    cases = {}
    for i, transform in enumerate(["NONE", "LOGISTIC", "SOFTMAX", "SOFTMAX_ZERO"]):
        for base in (0, 3):
            cases[f"hand_cls3_{transform.lower()}_b{base}"] = handmade_ensemble(
                100 + 10 * i + base, True, post_transform=transform, base_count=base, layout="sparse" if i % 2 else
                "dense", string_labels=bool(base))
    for i, (transform, base, layout) in enumerate([
            ("NONE", 0, "dense"), ("NONE", 0, "per_tree"), ("LOGISTIC", 1, "per_tree"), ("NONE", 1, "per_tree"),
            ("LOGISTIC", 2, "dense"), ("NONE", 2, "dense"), ("SOFTMAX", 0, "dense"), ("PROBIT", 0, "per_tree"),
            ("LOGISTIC", 0, "per_tree"), ("NONE", 2, "per_tree")]):
        cases[f"hand_bin_{i}_{transform.lower()}_b{base}_{layout}"] = handmade_ensemble(
            200 + i, True, classes=2, post_transform=transform, base_count=base, layout=layout,
            string_labels=i % 3 == 0)
    for aggregate in ["SUM", "AVERAGE", "MIN", "MAX"]:
        for targets in (1, 3):
            cases[f"hand_reg_{aggregate.lower()}_t{targets}"] = handmade_ensemble(
                300 + targets, False, aggregate=aggregate, n_targets=targets, base_count=targets,
                layout="dense" if targets == 1 else "sparse")
    cases["hand_reg_softmax_t3"] = handmade_ensemble(350, False, n_targets=3, post_transform="SOFTMAX",
                                                     layout="dense")
    cases["hand_reg_logistic_t1_b1"] = handmade_ensemble(351, False, post_transform="LOGISTIC", base_count=1)
    for mode in MODES:
        cases[f"hand_mode_{mode.lower()}"] = handmade_ensemble(400 + MODES.index(mode), False, modes=[mode],
                                                               missing=0.5, trees=4)
    cases["hand_deep"] = handmade_ensemble(500, False, trees=3, depth=12, features=9)
    return cases


def _model(nodes, inputs, outputs, initializers=(), opset=20, ml=False):
    graph = helper.make_graph(nodes, "ops", inputs, outputs, list(initializers))
    imports = [helper.make_opsetid("", opset)] + ([helper.make_opsetid(ML, 3)] if ml else [])
    model = helper.make_model(graph, opset_imports=imports, producer_name="tensorwire-interop")
    model.ir_version = 9
    onnx.checker.check_model(model)
    return model


def dense_cases():
    """The dense building blocks: an embedding + concat + layer-norm network with two inputs, slicing, splitting,
    expanding, reductions, Min/Max, ConstantOfShape, and the ai.onnx.ml Imputer and Binarizer."""
    from onnx import numpy_helper
    rng = np.random.default_rng(23)
    f32 = TensorProto.FLOAT

    def init(name, array):
        return numpy_helper.from_array(np.asarray(array), name)

    def info(name, dtype, dims):
        return helper.make_tensor_value_info(name, dtype, dims)

    cases = {}
    # Two inputs: dense features and categorical ids through an embedding table, as torch.cat of both.
    nodes = [
        helper.make_node("Gather", ["table", "ids"], ["emb"]),
        helper.make_node("Reshape", ["emb", "flat"], ["emb_flat"]),
        helper.make_node("Concat", ["dense", "emb_flat"], ["joined"], axis=1),
        helper.make_node("MatMul", ["joined", "w"], ["h"]),
        helper.make_node("Add", ["h", "b"], ["hb"]),
        helper.make_node("LayerNormalization", ["hb", "gamma", "beta"], ["ln"], axis=-1, epsilon=1e-5),
        helper.make_node("Gelu", ["ln"], ["y"]),
        helper.make_node("Gelu", ["hb"], ["y_tanh"], approximate="tanh"),
        helper.make_node("ReduceMean", ["y", "axis1"], ["mean"], keepdims=1),
        helper.make_node("ReduceSum", ["emb", "axis1"], ["emb_sum"], keepdims=0),
        helper.make_node("ReduceMax", ["joined", "axis1"], ["peak"], keepdims=0),
    ]
    inits = [init("table", rng.normal(size=(10, 4)).astype(np.float32)), init("flat", np.array([0, 8])),
             init("w", rng.normal(size=(11, 5)).astype(np.float32)), init("b", rng.normal(size=5).astype(np.float32)),
             init("gamma", rng.normal(size=5).astype(np.float32)), init("beta", rng.normal(size=5).astype(np.float32)),
             init("axis1", np.array([1]))]
    model = _model(nodes, [info("dense", f32, [None, 3]), info("ids", TensorProto.INT64, [None, 2])],
                   [info("y", f32, [None, 5]), info("y_tanh", f32, [None, 5]), info("mean", f32, [None, 1]),
                    info("emb_sum", f32, [None, 4]), info("peak", f32, [None])], inits)
    cases["ops_embedding_concat_layernorm"] = (model, {
        "dense": rng.normal(size=(9, 3)).astype(np.float32), "ids": rng.integers(-10, 10, size=(9, 2))})

    nodes = [
        helper.make_node("Slice", ["x", "s1", "e1", "a1", "st2"], ["every_other"]),
        helper.make_node("Slice", ["x", "sm1", "big_neg", "a1", "stm1"], ["reversed"]),
        helper.make_node("Split", ["x", "sizes"], ["left", "right"], axis=1),
        helper.make_node("Slice", ["x", "zero", "one", "a1"], ["first"]),
        helper.make_node("Expand", ["first", "wide"], ["expanded"]),
        helper.make_node("Min", ["left", "every_other"], ["low"]),
        helper.make_node("Slice", ["reversed", "zero", "four", "a1"], ["reversed_head"]),
        helper.make_node("Max", ["right", "c4", "reversed_head"], ["high"]),
        helper.make_node("ConstantOfShape", ["shape13"], ["twos"], value=helper.make_tensor("v", f32, [1], [2.0])),
        helper.make_node("Add", ["expanded", "twos"], ["shifted"]),
    ]
    inits = [init("s1", np.array([1])), init("e1", np.array([5])), init("a1", np.array([1])), init("st2", np.array([2])),
             init("sm1", np.array([-1])), init("big_neg", np.array([-100])), init("stm1", np.array([-1])),
             init("sizes", np.array([2, 4])), init("zero", np.array([0])), init("one", np.array([1])),
             init("four", np.array([4])), init("wide", np.array([1, 3])), init("shape13", np.array([1, 3])),
             init("c4", rng.normal(size=4).astype(np.float32))]
    model = _model(nodes, [info("x", f32, [None, 6])],
                   [info(n, f32, [None, d]) for n, d in [("every_other", 2), ("reversed", 6), ("left", 2),
                                                         ("right", 4), ("low", 2), ("high", 4), ("shifted", 3)]],
                   inits)
    cases["ops_slice_split_expand_minmax"] = (model, {"x": rng.normal(size=(7, 6)).astype(np.float32)})

    nodes = [
        helper.make_node("Imputer", ["x"], ["filled"], domain=ML, imputed_value_floats=[0.5, -1.0, 2.0, 0.0],
                         replaced_value_float=float("nan")),
        helper.make_node("Binarizer", ["filled"], ["bits"], domain=ML, threshold=0.25),
        helper.make_node("Imputer", ["x"], ["zeros_filled"], domain=ML, imputed_value_floats=[9.0],
                         replaced_value_float=0.0),
    ]
    x = rng.choice(np.array([0.0, 0.25, 1.5, -2.0, np.nan], dtype=np.float32), size=(8, 4))
    model = _model(nodes, [info("x", f32, [None, 4])],
                   [info("filled", f32, [None, 4]), info("bits", f32, [None, 4]), info("zeros_filled", f32, [None, 4])],
                   opset=17, ml=True)
    cases["ops_imputer_binarizer"] = (model, {"x": x})

    # Comparisons and Where (bool tensors come back as int64 0/1), Cast to bool, and Shape of the fixed axes
    # feeding a Reshape, as torch exports of x.view(-1, *x.shape[1:]) write it.
    nodes = [
        helper.make_node("Greater", ["x", "c"], ["above"]),
        helper.make_node("Less", ["x", "zero_f"], ["negative"]),
        helper.make_node("Cast", ["x"], ["xi"], to=TensorProto.INT64),
        helper.make_node("Equal", ["xi", "one_i"], ["is_one"]),
        helper.make_node("Cast", ["xi"], ["nonzero"], to=TensorProto.BOOL),
        helper.make_node("Where", ["above", "x", "c"], ["clipped"]),
        helper.make_node("Where", ["nonzero", "c", "x"], ["swapped"]),
        helper.make_node("Shape", ["x"], ["tail"], start=1),
        helper.make_node("Concat", ["minus_one", "tail"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "target"], ["reshaped"]),
    ]
    inits = [init("c", rng.normal(size=4).astype(np.float32)), init("zero_f", np.array(0.0, dtype=np.float32)),
             init("one_i", np.array(1)), init("minus_one", np.array([-1]))]
    x = rng.choice(np.array([-1.5, -1.0, 0.0, 0.4, 1.0, 1.7], dtype=np.float32), size=(6, 4))
    model = _model(nodes, [info("x", f32, [None, 4])],
                   [info("above", TensorProto.BOOL, [None, 4]), info("negative", TensorProto.BOOL, [None, 4]),
                    info("is_one", TensorProto.BOOL, [None, 4]), info("clipped", f32, [None, 4]),
                    info("swapped", f32, [None, 4]), info("reshaped", f32, [None, 4])], inits, opset=17)
    cases["ops_compare_where_shape"] = (model, {"x": x})

    # An int64 graph computed in int64: Abs, Neg, the reductions (Mean divides toward zero), ArgMax/ArgMin, and
    # wrapping arithmetic, with extremes of the type in the input.
    i64 = TensorProto.INT64
    nodes = [
        helper.make_node("Abs", ["x"], ["abs"]),
        helper.make_node("Neg", ["x"], ["neg"]),
        helper.make_node("ReduceSum", ["x", "axis1"], ["sum"], keepdims=0),
        helper.make_node("ReduceMean", ["x"], ["mean"], axes=[1], keepdims=0),
        helper.make_node("ReduceMax", ["x"], ["max"], axes=[1], keepdims=1),
        helper.make_node("ArgMax", ["x"], ["argmax"], axis=1, keepdims=0),
        helper.make_node("ArgMin", ["x"], ["argmin"], axis=1, keepdims=0, select_last_index=1),
        helper.make_node("Mul", ["x", "three"], ["tripled"]),
        helper.make_node("Sub", ["tripled", "x"], ["doubled"]),
    ]
    x = rng.integers(-9, 10, size=(7, 4)).astype(np.int64)
    x[0] = [-7, 2, 9, -3]
    x[1] = [5, 5, -1, 5]
    x[2] = [1 << 40, -(1 << 40), 3, -3]
    model = _model(nodes, [info("x", i64, [None, 4])],
                   [info(n, i64, d) for n, d in [("abs", [None, 4]), ("neg", [None, 4]), ("sum", [None]),
                                                 ("mean", [None]), ("max", [None, 1]), ("argmax", [None]),
                                                 ("argmin", [None]), ("doubled", [None, 4])]],
                   [init("axis1", np.array([1])), init("three", np.array(3))], opset=17)
    cases["ops_int64"] = (model, {"x": x})
    return cases


def tree_ensemble_v5(seed, *, trees=5, depth=4, features=5, n_targets=1, aggregate=1, post_transform=0,
                     missing=0.3):
    """A random ai.onnx.ml opset-5 TreeEnsemble: every mode 0-6 (6 is BRANCH_MEMBER, with a set drawn from GRID),
    leaves addressed through nodes_trueleafs/falseleafs, one tree that is a single leaf, thresholds on GRID."""
    rng = np.random.default_rng(seed)
    nodes = {k: [] for k in ["featureids", "modes", "splits", "truenodeids", "falsenodeids", "trueleafs",
                             "falseleafs", "missing_value_tracks_true"]}
    leaf_targets, leaf_weights, members, roots = [], [], [], []

    def leaf():
        leaf_targets.append(int(rng.integers(0, n_targets)))
        leaf_weights.append(round(float(rng.normal()), 3))
        return len(leaf_targets) - 1

    def grow(level):
        index = len(nodes["modes"])
        for key in nodes:
            nodes[key].append(0)
        mode = int(rng.integers(0, 7))
        nodes["modes"][index] = mode
        nodes["featureids"][index] = int(rng.integers(0, features))
        nodes["splits"][index] = float(rng.choice(GRID))
        nodes["missing_value_tracks_true"][index] = int(rng.random() < missing)
        if mode == 6:
            # Sets of integers in 0..30: onnxruntime 1.32 truncates the feature to an integer for other sets,
            # where the ONNX definition (and Tensorwire) compare exactly.
            members.extend(sorted(set(rng.choice([0.0, 1.0, 2.0], size=int(rng.integers(1, 3))).tolist())) + [np.nan])
        for side in ("true", "false"):
            if level + 1 == depth or (level > 0 and rng.random() < 0.25):
                nodes[side + "leafs"][index] = 1
                nodes[side + "nodeids"][index] = leaf()
            else:
                nodes[side + "nodeids"][index] = grow(level + 1)
        return index

    for _ in range(trees):
        roots.append(grow(0))
    # A tree that is one leaf: a node whose branches both name the same leaf.
    single = leaf()
    roots.append(len(nodes["modes"]))
    for key, value in [("featureids", 0), ("modes", 0), ("splits", 0.0), ("truenodeids", single),
                       ("falsenodeids", single), ("trueleafs", 1), ("falseleafs", 1), ("missing_value_tracks_true", 0)]:
        nodes[key].append(value)
    f32 = TensorProto.FLOAT
    kwargs = {f"nodes_{k}": v for k, v in nodes.items() if k not in ("modes", "splits")}
    kwargs.update(
        nodes_modes=helper.make_tensor("modes", TensorProto.UINT8, [len(nodes["modes"])], nodes["modes"]),
        nodes_splits=helper.make_tensor("splits", f32, [len(nodes["splits"])], nodes["splits"]),
        leaf_targetids=leaf_targets, leaf_weights=helper.make_tensor("weights", f32, [len(leaf_weights)], leaf_weights),
        tree_roots=roots, n_targets=n_targets, aggregate_function=aggregate, post_transform=post_transform)
    if members:
        kwargs["membership_values"] = helper.make_tensor("members", f32, [len(members)], members)
    node = helper.make_node("TreeEnsemble", ["X"], ["Y"], domain=ML, **kwargs)
    graph = helper.make_graph([node], "trees", [helper.make_tensor_value_info("X", f32, [None, features])],
                              [helper.make_tensor_value_info("Y", f32, [None, n_targets])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21), helper.make_opsetid(ML, 5)],
                              producer_name="tensorwire-interop")
    model.ir_version = 10
    onnx.checker.check_model(model)
    return model, {"X": grid_rows(rng, 41, features, nan_rate=0.15)}


def encoder_cases():
    """OneHot (default domain), LabelEncoder in its opset 1, 2 and 4 attribute forms (int64, float with a NaN key,
    and strings made inside the graph), and the opset-5 TreeEnsemble with BRANCH_MEMBER sets."""
    rng = np.random.default_rng(29)
    f32, i64, string = TensorProto.FLOAT, TensorProto.INT64, TensorProto.STRING
    from onnx import numpy_helper

    def init(name, array):
        return numpy_helper.from_array(np.asarray(array), name)

    def info(name, dtype, dims):
        return helper.make_tensor_value_info(name, dtype, dims)

    def model(nodes, inputs, outputs, inits=(), ml=None, opset=17):
        graph = helper.make_graph(nodes, "encoders", inputs, outputs, list(inits))
        imports = [helper.make_opsetid("", opset)] + ([helper.make_opsetid(ML, ml)] if ml else [])
        result = helper.make_model(graph, opset_imports=imports, producer_name="tensorwire-interop")
        result.ir_version = 9
        onnx.checker.check_model(result)
        return result

    cases = {}
    # OneHot in onnxruntime's type combinations: int64 indices (negative ones wrap, out-of-range ones give a row of
    # `off`) on the last axis with float and int64 values, and float indices on axis 1 with a float depth.
    nodes = [helper.make_node("OneHot", ["ids", "depth5", "float_values"], ["last"]),
             helper.make_node("OneHot", ["ids", "depth5", "int_values"], ["middle_int"], axis=-2),
             helper.make_node("OneHot", ["fids", "depth4", "float_values"], ["middle"], axis=1)]
    inits = [init("depth5", np.array(5)), init("depth4", np.array([4.0], dtype=np.float32)),
             init("float_values", np.array([0.25, 2.0], dtype=np.float32)), init("int_values", np.array([-3, 7]))]
    cases["enc_onehot"] = (model(nodes, [info("ids", i64, [None, 3]), info("fids", f32, [None, 2])],
                                 [info("last", f32, [None, 3, 5]), info("middle_int", i64, [None, 5, 3]),
                                  info("middle", f32, [None, 4, 2])], inits, opset=11), {
        "ids": rng.integers(-7, 8, size=(9, 3)), "fids": rng.integers(-5, 6, size=(9, 2)).astype(np.float32)})

    # Opset 2: int64 → strings (a default string), those strings → floats (default_float), floats → int64 with a
    # NaN key and 0 matching -0 (default_int64).
    nodes = [
        helper.make_node("LabelEncoder", ["k"], ["names"], domain=ML, keys_int64s=[3, 1, 4, 15, 9],
                         values_strings=["three", "one", "four", "fifteen", "nine"], default_string="none"),
        helper.make_node("LabelEncoder", ["names"], ["scores"], domain=ML,
                         keys_strings=["one", "four", "nine", "none"], values_floats=[1.5, 4.5, 9.5, -1.0],
                         default_float=0.125),
        helper.make_node("LabelEncoder", ["f"], ["codes"], domain=ML, keys_floats=[0.5, -1.0, float("nan"), 0.0],
                         values_int64s=[10, 20, 30, 40], default_int64=-7),
    ]
    x_f = rng.choice(np.array([0.5, -1.0, np.nan, 0.0, -0.0, 2.0], dtype=np.float32), size=(8, 2))
    cases["enc_label_encoder_v2"] = (model(
        nodes, [info("k", i64, [None, 1]), info("f", f32, [None, 2])],
        [info("names", string, [None, 1]), info("scores", f32, [None, 1]), info("codes", i64, [None, 2])], ml=2), {
        "k": rng.choice(np.array([3, 1, 4, 15, 9, 2, -1]), size=(8, 1)), "f": x_f})

    # Opset 4: keys and values as tensors, default_tensor.
    nodes = [
        helper.make_node("LabelEncoder", ["k"], ["weights"], domain=ML,
                         keys_tensor=helper.make_tensor("keys", i64, [4], [7, 8, 9, 10]),
                         values_tensor=helper.make_tensor("values", f32, [4], [0.7, 0.8, 0.9, 1.0]),
                         default_tensor=helper.make_tensor("default", f32, [1], [-5.0])),
        helper.make_node("LabelEncoder", ["f"], ["labels"], domain=ML,
                         keys_tensor=helper.make_tensor("fkeys", f32, [3], [0.25, float("nan"), 3.0]),
                         values_tensor=helper.make_tensor("fvalues", string, [3], [b"quarter", b"missing", b"three"])),
    ]
    cases["enc_label_encoder_v4"] = (model(
        nodes, [info("k", i64, [None, 3]), info("f", f32, [None])],
        [info("weights", f32, [None, 3]), info("labels", string, [None])], ml=4), {
        "k": rng.integers(6, 12, size=(6, 3)),
        "f": rng.choice(np.array([0.25, np.nan, 3.0, 1.0], dtype=np.float32), size=6)})

    # Opset 1: classes_strings, int64 positions → strings and back.
    nodes = [
        helper.make_node("LabelEncoder", ["k"], ["names"], domain=ML, classes_strings=["a", "b", "c"],
                         default_string="?"),
        helper.make_node("LabelEncoder", ["names"], ["positions"], domain=ML, classes_strings=["c", "a"],
                         default_int64=99),
    ]
    cases["enc_label_encoder_v1"] = (model(
        nodes, [info("k", i64, [None])], [info("names", string, [None]), info("positions", i64, [None])], ml=1), {
        "k": np.array([0, 1, 2, 3, -1, 2])})

    for i, (targets, aggregate, transform) in enumerate([(1, 1, 0), (3, 1, 0), (3, 0, 1), (2, 2, 0), (2, 3, 2),
                                                          (3, 1, 3)]):
        cases[f"enc_tree_ensemble_v5_{i}"] = tree_ensemble_v5(600 + i, n_targets=targets, aggregate=aggregate,
                                                              post_transform=transform)
    return cases


def double_cases():
    """scikit-learn exports with DoubleTensorType inputs, computed in double by both engines: skl2onnx writes plain
    MatMul/Add/Sub/Div/Sigmoid/Softmax/ArgMax/ReduceSum(Square)/Sqrt/Cast graphs with double weights for linear
    models, scalers and MLPs (zipmap=False: ZipMap takes float only), and a TreeEnsembleClassifier on double input;
    plus a hand-made graph for the double operators skl2onnx does not reach (Gemm with C, Clip, Pow, Exp/Log/Tanh,
    LogSoftmax, ReduceMax/Mean, comparisons, Where, casts both ways). Also Not, ArgMin and ReduceLogSumExp from a
    log-loss SGD classifier, k-means and Gaussian naive Bayes."""
    import warnings
    warnings.filterwarnings("ignore")
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import DoubleTensorType
    from sklearn.cluster import KMeans
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge, SGDClassifier
    from sklearn.naive_bayes import GaussianNB
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler, Normalizer, StandardScaler
    rng = np.random.default_rng(64)
    f = 6
    x = rng.normal(size=(200, f)) * np.array([1.0, 1e3, 1e-3, 5.0, 1.0, 1e6])
    y = x @ rng.normal(size=f) + rng.normal(size=200)
    y2 = (y > np.median(y)).astype(int)
    y3 = np.digitize(y, np.quantile(y, [0.33, 0.66]))
    probe = np.concatenate([rng.normal(size=(13, f)) * np.array([1.0, 1e3, 1e-3, 5.0, 1.0, 1e6]),
                            np.zeros((1, f)), np.full((1, f), 1e-300), np.full((1, f), -1e12)])
    cases = {}
    for name, estimator, target, options in [
            ("dbl_linear_regression", LinearRegression(), y, None),
            ("dbl_scaler_linear_regression", make_pipeline(StandardScaler(), LinearRegression()), y, None),
            ("dbl_normalizer_minmax_ridge", make_pipeline(Normalizer(), MinMaxScaler(), Ridge()), y, None),
            ("dbl_logistic_binary", make_pipeline(StandardScaler(), LogisticRegression()), y2, {"zipmap": False}),
            ("dbl_logistic_3", make_pipeline(StandardScaler(), LogisticRegression()), y3, {"zipmap": False}),
            ("dbl_mlp_regressor", make_pipeline(StandardScaler(), MLPRegressor(hidden_layer_sizes=(16, 8), max_iter=60, random_state=0)),
             y, None),
            ("dbl_mlp_classifier", make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(16,), max_iter=60, random_state=0)),
             y3, {"zipmap": False}),
            ("dbl_random_forest_3", RandomForestClassifier(n_estimators=5, max_depth=4, random_state=0), y3,
             {"zipmap": False}),
            # Not, ArgMin and ReduceLogSumExp: a log-loss SGD classifier, k-means and Gaussian naive Bayes.
            ("dbl_sgd_log_loss_3", make_pipeline(StandardScaler(), SGDClassifier(loss="log_loss", random_state=0)),
             y3, {"zipmap": False}),
            ("dbl_kmeans", make_pipeline(StandardScaler(), KMeans(4, n_init=1, random_state=0)), None, None),
            ("dbl_gaussian_nb", make_pipeline(StandardScaler(), GaussianNB()), y3, {"zipmap": False})]:
        estimator.fit(x, target)
        final = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
        model = to_onnx(estimator, initial_types=[("X", DoubleTensorType([None, f]))],
                        options={id(final): options} if options else None, target_opset={"": 17, ML: 3})
        # skl2onnx lists the opsets in set order, which varies between runs: sorted, the fixture is reproducible.
        imports = sorted(((o.domain, o.version) for o in model.opset_import))
        del model.opset_import[:]
        model.opset_import.extend(helper.make_opsetid(d, v) for d, v in imports)
        cases[name] = (model, {"X": probe.copy()})

    from onnx import numpy_helper
    f64 = TensorProto.DOUBLE

    def init(name, array):
        return numpy_helper.from_array(np.asarray(array), name)

    nodes = [
        helper.make_node("Gemm", ["x", "w", "c"], ["g"], alpha=0.5, beta=2.0, transB=1),
        helper.make_node("Clip", ["g", "lo", "hi"], ["clipped"]),
        helper.make_node("Pow", ["x", "two"], ["squared"]),
        helper.make_node("Abs", ["x"], ["ax"]),
        helper.make_node("Add", ["ax", "one"], ["ax1"]),
        helper.make_node("Log", ["ax1"], ["logged"]),
        helper.make_node("Exp", ["clipped"], ["exped"]),
        helper.make_node("Tanh", ["g"], ["tanh"]),
        helper.make_node("LogSoftmax", ["g"], ["log_softmax"], axis=1),
        helper.make_node("ReduceMax", ["x"], ["peak"], axes=[1], keepdims=0),
        helper.make_node("ReduceMean", ["x"], ["mean"], axes=[1], keepdims=1),
        helper.make_node("Greater", ["x", "zero"], ["positive"]),
        helper.make_node("Where", ["positive", "x", "squared"], ["selected"]),
        helper.make_node("Cast", ["x"], ["as_int"], to=TensorProto.INT64),
        helper.make_node("Cast", ["x"], ["as_float"], to=TensorProto.FLOAT),
        helper.make_node("Cast", ["as_float"], ["round_trip"], to=TensorProto.DOUBLE),
    ]
    inits = [init("w", rng.normal(size=(3, 4))), init("c", rng.normal(size=(1, 3))), init("lo", np.array(-1.5)),
             init("hi", np.array(2.25)), init("two", np.array(2.0)), init("one", np.array(1.0)),
             init("zero", np.array(0.0))]
    outputs = [("g", [None, 3]), ("clipped", [None, 3]), ("squared", [None, 4]), ("logged", [None, 4]),
               ("exped", [None, 3]), ("tanh", [None, 3]), ("log_softmax", [None, 3]), ("peak", [None]),
               ("mean", [None, 1]), ("positive", [None, 4]), ("selected", [None, 4]), ("as_int", [None, 4]),
               ("as_float", [None, 4]), ("round_trip", [None, 4])]
    types = {"positive": TensorProto.BOOL, "as_int": TensorProto.INT64, "as_float": TensorProto.FLOAT}
    model = _model(nodes, [helper.make_tensor_value_info("x", f64, [None, 4])],
                   [helper.make_tensor_value_info(n, types.get(n, f64), d) for n, d in outputs], inits, opset=17)
    x = rng.normal(size=(9, 4)) * 3
    x[0] = [0.1, -0.1, 1e-9, 123456.789]
    cases["dbl_ops"] = (model, {"x": x})
    return cases


def framework_probes(rng, rows=24):
    """Inputs for the embedding MLPs below: random rows, large and zero rows, and ids at both ends of the table and
    counted from its end (negative: Gather wraps them, as onnxruntime does)."""
    dense = rng.normal(size=(rows, 3)).astype(np.float32)
    dense[0] = 0
    dense[1] = [1e4, -1e4, 3e3]
    dense[2] = [1e-30, -1e-30, 0.0]
    ids = rng.integers(0, 10, size=(rows, 2)).astype(np.int64)
    ids[0] = [0, 9]
    ids[1] = [-1, -10]
    return {"dense": dense, "ids": ids}


def torch_cases():
    """PyTorch (torch 2.13, CPU) exports of an MLP with an nn.Embedding and torch.cat, dynamic batch axis: through
    the default dynamo exporter (its files as written: the weights in model.onnx.data) and the TorchScript one
    (dynamo=False)."""
    import logging
    import warnings
    warnings.filterwarnings("ignore")
    import torch
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)  # "torchvision is not installed" notes

    class EmbeddingMLP(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = torch.nn.Embedding(10, 4)
            self.hidden = torch.nn.Linear(3 + 2 * 4, 16)
            self.norm = torch.nn.LayerNorm(16)
            self.out = torch.nn.Linear(16, 3)

        def forward(self, dense, ids):
            joined = torch.cat([dense, self.embedding(ids).flatten(1)], dim=1)
            h = torch.nn.functional.gelu(self.norm(self.hidden(joined)))
            logits = self.out(torch.relu(h) + h)
            return torch.softmax(logits, dim=1), logits

    torch.manual_seed(0)
    model = EmbeddingMLP().eval()
    example = (torch.randn(2, 3), torch.randint(0, 10, (2, 2)))
    names = {"input_names": ["dense", "ids"], "output_names": ["probabilities", "logits"]}
    rng = np.random.default_rng(13)
    cases = {}
    batch = torch.export.Dim("batch")
    # As torch.onnx.export(model, args, "model.onnx") leaves it by default: the weights in model.onnx.data.
    import tempfile
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.onnx")
        torch.onnx.export(model, example, path, dynamo=True, dynamic_shapes={"dense": {0: batch}, "ids": {0: batch}},
                          verbose=False, **names)
        files = {name: open(os.path.join(folder, name), "rb").read() for name in sorted(os.listdir(folder))}
        cases["torch_embedding_mlp_dynamo_external_data"] = (onnx.load(path), framework_probes(rng))
    assert "model.onnx.data" in files, files.keys()
    EXPORTED_FILES["torch_embedding_mlp_dynamo_external_data"] = files
    import io
    buffer = io.BytesIO()
    torch.onnx.export(model, example, buffer, dynamo=False,
                      dynamic_axes={n: {0: "batch"} for n in ["dense", "ids", "probabilities", "logits"]}, **names)
    cases["torch_embedding_mlp_torchscript"] = (onnx.load_from_string(buffer.getvalue()), framework_probes(rng))
    return cases


def keras_cases():
    """Keras 3 on the torch backend (KERAS_BACKEND=torch; TensorFlow does not install here): a functional model
    with two inputs, an Embedding, Concatenate, Dense and BatchNormalization, written by model.export(format="onnx")
    (which takes torch's TorchScript exporter for a dynamic batch)."""
    import warnings
    warnings.filterwarnings("ignore")
    os.environ["KERAS_BACKEND"] = "torch"
    import keras
    keras.utils.set_random_seed(0)
    dense = keras.Input((3,), name="dense")
    ids = keras.Input((2,), dtype="int64", name="ids")
    embedded = keras.layers.Flatten()(keras.layers.Embedding(10, 4)(ids))
    h = keras.layers.Dense(16, activation="relu", name="hidden")(keras.layers.Concatenate()([dense, embedded]))
    h = keras.layers.BatchNormalization()(h)
    out = keras.layers.Dense(3, activation="softmax", name="probabilities")(h)
    model = keras.Model([dense, ids], out)
    model.predict([np.zeros((2, 3), np.float32), np.zeros((2, 2), np.int64)], verbose=0)
    import tempfile
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.onnx")
        model.export(path, format="onnx", verbose=False)
        exported = onnx.load(path)
    return {"keras_embedding_concat": (exported, framework_probes(np.random.default_rng(17)))}


def training_data(rng, rows, features, classes=None, nan_rate=0.0):
    x = rng.normal(size=(rows, features)).astype(np.float32)
    score = x[:, 0] + 0.5 * x[:, 1] * x[:, 2] - 0.3 * x[:, 3 % features]
    if nan_rate:
        x[rng.random(x.shape) < nan_rate] = np.nan
    if classes is None:
        return x, score.astype(np.float32)
    edges = np.quantile(score, np.linspace(0, 1, classes + 1)[1:-1])
    return x, np.digitize(score, edges)


def probe_rows(rng, model_x, thresholds, rows=64, nan=False):
    """Random rows, rows whose features sit exactly on split thresholds, and (optionally) NaN."""
    features = model_x.shape[1]
    x = rng.normal(size=(rows, features)).astype(np.float32)
    if len(thresholds):
        tie = rng.random(x.shape) < 0.3
        x[tie] = rng.choice(thresholds, size=int(tie.sum()))
    if nan:
        x[rng.random(x.shape) < 0.1] = np.nan
    return x


def thresholds_of(model):
    values = []
    for node in model.graph.node:
        for attribute in node.attribute:
            if attribute.name == "nodes_values":
                values.extend(attribute.floats)
    return np.array(values, dtype=np.float32)


def real_cases(quick=False):
    """Real scikit-learn, XGBoost and LightGBM exports, small enough to train in a second or two."""
    import warnings
    warnings.filterwarnings("ignore")
    from skl2onnx import to_onnx
    from sklearn.ensemble import (ExtraTreesRegressor, GradientBoostingClassifier, GradientBoostingRegressor,
                                  HistGradientBoostingClassifier, HistGradientBoostingRegressor,
                                  RandomForestClassifier, RandomForestRegressor, ExtraTreesClassifier)
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    # skl2onnx 1.20 passes a Python bool as a leaf's missing-value track, which onnx 1.23's attribute builder
    # refuses for an ints attribute; hand it an int instead (the exported model is the same).
    from skl2onnx.common import tree_ensemble
    if not getattr(tree_ensemble.add_node, "tensorwire_shim", False):
        original = tree_ensemble.add_node

        def add_node(*args, nodes_missing_value_tracks_true=0, **kwargs):
            original(*args, nodes_missing_value_tracks_true=int(nodes_missing_value_tracks_true), **kwargs)
        add_node.tensorwire_shim = True
        tree_ensemble.add_node = add_node

    rng = np.random.default_rng(7)
    cases = {}

    def add(name, estimator, x, y, nan=False, labels=None):
        estimator.fit(x, y if labels is None else labels[y])
        model = to_onnx(estimator, x[:1], target_opset={"": 17, ML: 3})
        cases[name] = (model, {model.graph.input[0].name: probe_rows(rng, x, thresholds_of(model), nan=nan)})

    f = 8
    x2, y2 = training_data(rng, 400, f, classes=2)
    x3, y3 = training_data(rng, 400, f, classes=3)
    xr, yr = training_data(rng, 400, f)
    xn, yn = training_data(rng, 400, f, classes=3, nan_rate=0.1)
    xrn, yrn = training_data(rng, 400, f, nan_rate=0.1)
    strings = np.array(["setosa", "versicolor", "virginica"])
    add("skl_decision_tree_strings", DecisionTreeClassifier(max_depth=6, random_state=0), x3, y3, labels=strings)
    add("skl_decision_tree_regressor", DecisionTreeRegressor(max_depth=6, random_state=0), xr, yr)
    add("skl_random_forest_binary", RandomForestClassifier(n_estimators=20, max_depth=6, random_state=0), x2, y2)
    add("skl_random_forest_3", RandomForestClassifier(n_estimators=20, max_depth=6, random_state=0), x3, y3)
    add("skl_random_forest_regressor", RandomForestRegressor(n_estimators=20, max_depth=6, random_state=0), xr, yr)
    add("skl_extra_trees_3", ExtraTreesClassifier(n_estimators=20, max_depth=6, random_state=0), x3, y3)
    add("skl_extra_trees_regressor", ExtraTreesRegressor(n_estimators=20, max_depth=6, random_state=0), xr, yr)
    add("skl_gradient_boosting_binary", GradientBoostingClassifier(n_estimators=30, max_depth=3, random_state=0),
        x2, y2)
    add("skl_gradient_boosting_3", GradientBoostingClassifier(n_estimators=20, max_depth=3, random_state=0), x3, y3)
    add("skl_gradient_boosting_regressor", GradientBoostingRegressor(n_estimators=30, max_depth=3, random_state=0),
        xr, yr)
    add("skl_hist_gradient_boosting_3_nan", HistGradientBoostingClassifier(max_iter=20, random_state=0), xn, yn,
        nan=True)
    add("skl_hist_gradient_boosting_binary_nan", HistGradientBoostingClassifier(max_iter=20, random_state=0), xn,
        (yn > 0).astype(int), nan=True)
    add("skl_hist_gradient_boosting_regressor_nan", HistGradientBoostingRegressor(max_iter=20, random_state=0),
        xrn, yrn, nan=True)

    # A ColumnTransformer pipeline with five named inputs: StandardScaler on three float columns, OneHotEncoder on
    # two int64 category columns (an unknown category in the probes gives zeros), then a random forest.
    import pandas
    from skl2onnx.common.data_types import FloatTensorType as SkFloat, Int64TensorType
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler
    numbers = rng.normal(size=(300, 3)).astype(np.float32)
    categories = rng.integers(0, 4, size=(300, 2)).astype(np.int64)
    frame = pandas.DataFrame({"a": numbers[:, 0], "b": numbers[:, 1], "c": numbers[:, 2], "k1": categories[:, 0],
                              "k2": categories[:, 1]})
    target = (numbers[:, 0] + categories[:, 0] > 1.5).astype(int) + (categories[:, 1] == 2)
    pipeline = Pipeline([
        ("columns", ColumnTransformer([("num", StandardScaler(), ["a", "b", "c"]),
                                       ("cat", OneHotEncoder(handle_unknown="ignore"), ["k1", "k2"])])),
        ("forest", RandomForestClassifier(n_estimators=10, max_depth=5, random_state=0))]).fit(frame, target)
    model = to_onnx(pipeline, initial_types=[(n, SkFloat([None, 1])) for n in "abc"]
                    + [(n, Int64TensorType([None, 1])) for n in ("k1", "k2")], target_opset={"": 17, ML: 3})
    probes = {n: rng.normal(size=(40, 1)).astype(np.float32) for n in "abc"}
    probes.update({n: rng.integers(0, 5, size=(40, 1)).astype(np.int64) for n in ("k1", "k2")})
    cases["skl_column_transformer_onehot_scaler_forest"] = (model, probes)

    # OrdinalEncoder on an int64 and a float category column (LabelEncoder keys_int64s / keys_floats, unknown
    # categories as -1), beside a scaled number, then gradient boosting.
    from sklearn.ensemble import GradientBoostingRegressor as Boosting
    from sklearn.preprocessing import OrdinalEncoder
    sizes = rng.choice(np.array([1.5, 2.5, 4.0], dtype=np.float32), size=(300, 1))
    frame = pandas.DataFrame({"a": numbers[:, 0], "k1": categories[:, 0], "size": sizes[:, 0]})
    pipeline = Pipeline([
        ("columns", ColumnTransformer([
            ("num", StandardScaler(), ["a"]),
            ("ids", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, dtype=np.int64), ["k1"]),
            ("sizes", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1), ["size"])])),
        ("boost", Boosting(n_estimators=15, max_depth=3, random_state=0))]).fit(frame, numbers[:, 1] + sizes[:, 0])
    model = to_onnx(pipeline, initial_types=[("a", SkFloat([None, 1])), ("k1", Int64TensorType([None, 1])),
                                             ("size", SkFloat([None, 1]))], target_opset={"": 17, ML: 3})
    probes = {"a": rng.normal(size=(40, 1)).astype(np.float32), "k1": rng.integers(0, 6, size=(40, 1)),
              "size": rng.choice(np.array([1.5, 2.5, 4.0, 3.0], dtype=np.float32), size=(40, 1))}
    cases["skl_ordinal_encoder_boosting"] = (model, probes)

    import lightgbm
    import onnxmltools
    import xgboost
    from onnxmltools.convert.common.data_types import FloatTensorType

    types = [("input", FloatTensorType([None, f]))]

    def add_converted(name, model, x):
        cases[name] = (model, {"input": probe_rows(rng, x, thresholds_of(model), nan=True)})

    for name, estimator, x, y in [
            ("xgb_binary", xgboost.XGBClassifier(n_estimators=20, max_depth=4), xn, (yn > 0).astype(int)),
            ("xgb_3", xgboost.XGBClassifier(n_estimators=10, max_depth=4), xn, yn),
            ("xgb_regressor", xgboost.XGBRegressor(n_estimators=20, max_depth=4), xrn, yrn)]:
        estimator.fit(x, y)
        add_converted(name, onnxmltools.convert_xgboost(estimator, initial_types=types, target_opset=15), x)
    for name, estimator, x, y in [
            ("lgbm_binary", lightgbm.LGBMClassifier(n_estimators=20, num_leaves=15, verbose=-1), xn,
             (yn > 0).astype(int)),
            ("lgbm_3", lightgbm.LGBMClassifier(n_estimators=10, num_leaves=15, verbose=-1), xn, yn),
            ("lgbm_regressor", lightgbm.LGBMRegressor(n_estimators=20, num_leaves=15, verbose=-1), xrn, yrn)]:
        estimator.fit(x, y)
        add_converted(name, onnxmltools.convert_lightgbm(estimator, initial_types=types, target_opset=15,
                                                         zipmap=name != "lgbm_3"), x)
    return cases


def write_repository(directory, cases):
    for name, (model, inputs) in cases.items():
        os.makedirs(os.path.join(directory, name, "1"), exist_ok=True)
        if name in EXPORTED_FILES:
            for file, data in EXPORTED_FILES[name].items():
                with open(os.path.join(directory, name, "1", file), "wb") as handle:
                    handle.write(data)
        else:
            onnx.save(model, os.path.join(directory, name, "1", "model.onnx"))
        np.savez(os.path.join(directory, name, "inputs.npz"), **inputs)


def reference(model, inputs):
    """onnxruntime's outputs, ZipMap outputs as [N, classes] float arrays in class order."""
    import onnxruntime
    model = swap_v5_transforms(model)
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # no warnings about exporters' declared label shapes
    session = onnxruntime.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    results = session.run(None, inputs)
    named = {}
    for output, value in zip(session.get_outputs(), results):
        if isinstance(value, list):  # ZipMap: a list of {label: probability}
            keys = list(value[0].keys()) if value else []
            value = np.array([[row[k] for k in keys] for row in value], dtype=np.float32)
        named[output.name] = np.asarray(value)
    return named


def swap_v5_transforms(model):
    """onnxruntime 1.32 reads an opset-5 TreeEnsemble's post_transform 1 as LOGISTIC and 2 as SOFTMAX, the reverse
    of the ONNX definition (1 SOFTMAX, 2 LOGISTIC) that Tensorwire follows: its reference run gets them swapped."""
    if not any(n.op_type == "TreeEnsemble" for n in model.graph.node):
        return model
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    for node in copy.graph.node:
        for attribute in node.attribute:
            if node.op_type == "TreeEnsemble" and attribute.name == "post_transform" and attribute.i in (1, 2):
                attribute.i = 3 - attribute.i
    return copy


def tensor_json(name, array):
    array = np.asarray(array)
    if array.dtype.kind in "OUS":
        dtype, data = "string", [str(v) for v in array.reshape(-1)]
    elif array.dtype.kind in "iub":  # bool tensors are int64 0/1 in Tensorwire
        dtype, data = "int64", [int(v) for v in array.reshape(-1)]
    elif array.dtype == np.float64:  # Python's float repr round-trips every double exactly
        dtype, data = "float64", [None if np.isnan(v) else float(v) for v in array.reshape(-1)]
    else:
        dtype, data = "float32", [None if np.isnan(v) else float(v) for v in array.reshape(-1).astype(np.float32)]
    return {"name": name, "dtype": dtype, "shape": list(array.shape), "data": data}


def write_fixtures(directory, cases):
    for name, (model, inputs) in cases.items():
        onnx.save(model, os.path.join(directory, name + ".onnx"))
        outputs = reference(model, inputs)
        record = {"inputs": [tensor_json(k, v) for k, v in inputs.items()],
                  "outputs": [tensor_json(k, v) for k, v in outputs.items()]}
        with open(os.path.join(directory, name + ".json"), "w") as handle:
            json.dump(record, handle, separators=(",", ":"))
            handle.write("\n")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--fixtures":
        for folder, cases in (("trees", handmade_cases()), ("ops", dense_cases()), ("double", double_cases()),
                              ("encoders", encoder_cases())):
            os.makedirs(os.path.join(sys.argv[2], folder), exist_ok=True)
            write_fixtures(os.path.join(sys.argv[2], folder), cases)
    elif len(sys.argv) == 3 and sys.argv[1] == "--repository":
        write_repository(sys.argv[2], {**handmade_cases(), **dense_cases(), **double_cases(), **encoder_cases(), **real_cases(),
                                       **torch_cases(), **keras_cases()})
    else:
        sys.exit("usage: exports.py --fixtures DIR | --repository DIR")
