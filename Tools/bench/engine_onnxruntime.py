#!/usr/bin/env python3
"""onnxruntime side of the engine benchmark, timed the way tensorwire-engine-bench times the engine.

  engine_onnxruntime.py --write-mlp-large PATH          writes mlp-large (1024→4096→4096→1024, relu, fixed seed)
  engine_onnxruntime.py --model PATH --name NAME [--batches 1,8,32,128] [--threads 2] [--repeats 7] [--seconds 2]
                        [--variants K] [--clock wall|cpu]

Prints TSV rows: onnxruntime, name, batch, rows/s (median), median µs, min µs, max µs.
"""
import argparse
import time

import numpy as np


def write_mlp_large(path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(1024)
    sizes = [1024, 4096, 4096, 1024]
    nodes, inits = [], []
    x = "input"
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        bound = 1 / np.sqrt(a)
        inits.append(numpy_helper.from_array(rng.uniform(-bound, bound, (b, a)).astype(np.float32), f"fc{i}.weight"))
        inits.append(numpy_helper.from_array(rng.uniform(-bound, bound, (b,)).astype(np.float32), f"fc{i}.bias"))
        y = f"h{i}" if i < 2 else "output"
        nodes.append(helper.make_node("Gemm", [x, f"fc{i}.weight", f"fc{i}.bias"], [y], name=f"fc{i}", transB=1))
        if i < 2:
            nodes.append(helper.make_node("Relu", [y], [f"r{i}"], name=f"relu{i}"))
            x = f"r{i}"
    graph = helper.make_graph(nodes, "mlp_large",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1024])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 1024])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="pytorch")
    model.ir_version = 8
    onnx.save(model, path)


def measure(run, repeats, seconds, clock=time.perf_counter):
    run()
    start = clock()
    run()
    once = max(clock() - start, 1e-7)
    iterations = max(1, int(seconds / repeats / once))
    samples = []
    for _ in range(repeats):
        begin = clock()
        for _ in range(iterations):
            run()
        samples.append((clock() - begin) / iterations * 1e6)
    return sorted(samples)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--write-mlp-large")
    parser.add_argument("--model")
    parser.add_argument("--name", default="model")
    parser.add_argument("--batches", default="1,8,32,128")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                        help="cpu: the process's CPU time (time it ran, not time it waited for a core)")
    parser.add_argument("--variants", type=int, default=1,
                        help="distinct input batches run in turn, so that branch predictors cannot learn one batch")
    args = parser.parse_args()
    if args.write_mlp_large:
        write_mlp_large(args.write_mlp_large)
        return
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(args.model, options, providers=["CPUExecutionProvider"])
    inp = session.get_inputs()[0]
    rng = np.random.default_rng(12345)
    for batch in [int(b) for b in args.batches.split(",")]:
        shape = [batch if not isinstance(d, int) or d <= 0 else d for d in inp.shape]
        feeds = []
        for _ in range(max(1, args.variants)):
            x = rng.uniform(-1, 1, shape).astype(np.float32)
            if args.name == "digits":
                x = (x + 1) * 8
            feeds.append({inp.name: x})
        turn = [0]

        def run():
            turn[0] += 1
            session.run(None, feeds[turn[0] % len(feeds)])
        samples = measure(run, args.repeats, args.seconds,
                          time.process_time if args.clock == "cpu" else time.perf_counter)
        median = samples[len(samples) // 2]
        print(f"onnxruntime\t{args.name}\t{batch}\t{batch / (median * 1e-6):.2f}\t{median:.2f}\t{samples[0]:.2f}\t"
              f"{samples[-1]:.2f}")


if __name__ == "__main__":
    main()
