#!/usr/bin/env python3
"""Writes the tree-ensemble benchmark models (Tools/bench/trees), trained on fixed-seed synthetic data:

  trees_models.py --random-forest PATH   RandomForestClassifier, 100 trees, max_depth 8, 64 features, 4 classes
                                         (skl2onnx, zipmap off: every leaf carries 4 class weights)
  trees_models.py --lightgbm PATH        LGBMRegressor, 300 trees, 63 leaves, 64 features (onnxmltools)
"""
import argparse
import warnings

import numpy as np

warnings.filterwarnings("ignore")


def data(rows=20000, features=64, seed=64):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, size=(rows, features)).astype(np.float32)
    score = x[:, 0] + np.sin(3 * x[:, 1]) * x[:, 2] + 0.5 * x[:, 3:8].sum(axis=1) + 0.3 * rng.normal(size=rows)
    return x, score.astype(np.float32)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--random-forest")
    parser.add_argument("--lightgbm")
    args = parser.parse_args()
    x, y = data()
    if args.random_forest:
        from skl2onnx import to_onnx
        from sklearn.ensemble import RandomForestClassifier
        classes = np.digitize(y, np.quantile(y, [0.25, 0.5, 0.75]))
        model = RandomForestClassifier(n_estimators=100, max_depth=8, random_state=0, n_jobs=1).fit(x, classes)
        onx = to_onnx(model, x[:1], options={id(model): {"zipmap": False}}, target_opset={"": 17, "ai.onnx.ml": 3})
        with open(args.random_forest, "wb") as handle:
            handle.write(onx.SerializeToString())
    if args.lightgbm:
        import lightgbm
        import onnxmltools
        from onnxmltools.convert.common.data_types import FloatTensorType
        model = lightgbm.LGBMRegressor(n_estimators=300, num_leaves=63, verbose=-1, random_state=0).fit(x, y)
        onx = onnxmltools.convert_lightgbm(model, initial_types=[("input", FloatTensorType([None, 64]))],
                                           target_opset=15)
        with open(args.lightgbm, "wb") as handle:
            handle.write(onx.SerializeToString())


if __name__ == "__main__":
    main()
