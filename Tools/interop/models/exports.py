"""Real exports of the models users serve, made fresh: scikit-learn trees and forests (skl2onnx, default options so
ZipMap is in), XGBoost and LightGBM (onnxmltools), and hand-made tree ensembles that reach every corner of the
operators (every node mode, NaN routed by missing-value tracks, every post_transform, base values, aggregates,
int64 and string labels).

Each case is a model plus input batches: random rows, rows that sit exactly on thresholds, and NaN for missing
values. `write_repository(DIR)` lays them out as a Tensorwire model repository with DIR/<name>/inputs.npz beside each
model; `write_fixtures(DIR)` writes the small hand-made ones as committed test fixtures (ONNX + onnxruntime's outputs
as JSON, the format of Tests/InferenceTests/Fixtures).
"""
import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper

ML = "ai.onnx.ml"
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
        onnx.save(model, os.path.join(directory, name, "1", "model.onnx"))
        np.savez(os.path.join(directory, name, "inputs.npz"), **inputs)


def reference(model, inputs):
    """onnxruntime's outputs, ZipMap outputs as [N, classes] float arrays in class order."""
    import onnxruntime
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


def tensor_json(name, array):
    array = np.asarray(array)
    if array.dtype.kind in "OUS":
        dtype, data = "string", [str(v) for v in array.reshape(-1)]
    elif array.dtype.kind in "iu":
        dtype, data = "int64", [int(v) for v in array.reshape(-1)]
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
        write_fixtures(sys.argv[2], handmade_cases())
    elif len(sys.argv) == 3 and sys.argv[1] == "--repository":
        write_repository(sys.argv[2], {**handmade_cases(), **real_cases()})
    else:
        sys.exit("usage: exports.py --fixtures DIR | --repository DIR")
