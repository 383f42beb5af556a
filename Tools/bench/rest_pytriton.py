#!/usr/bin/env python3
"""Serves an ONNX model through PyTriton (nvidia-pytriton 0.7.0) on CPU: the REST benchmark's reference server.

  rest_pytriton.py MODEL.onnx --name mlp_small --http-port P --grpc-port G --metrics-port M
                   [--max-batch-size 64] [--max-queue-delay-us 0] [--ort-threads 1] [--access-token T]

The model's `infer_func` runs the ONNX file with onnxruntime (CPU execution provider) on each batch that Triton's
dynamic batcher forms (`max_batch_size` 64), as a PyTriton user serving an ONNX model from Python would. Inputs and
outputs are read from the ONNX graph (float32, batch dimension first). Prints "pytriton: ready" once the model is
READY, then serves until SIGINT or SIGTERM. PyTriton restricts the statistics API that perf_analyzer reads to
holders of an access token (the `triton-access-token` header); --access-token fixes the token so that the load
generator can send it. Runs from its own virtual environment (Tools/bench/rest makes it from
Tools/bench/requirements-pytriton.txt), not the tests' .venv: PyTriton pins numpy below 2.
"""
import argparse
import logging
import signal
import sys
import threading

import numpy as np
import onnxruntime as ort
from pytriton.decorators import batch
from pytriton.model_config import DynamicBatcher, ModelConfig, Tensor
from pytriton.triton import Triton, TritonConfig, TritonSecurityConfig


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("--name", default="mlp_small")
    parser.add_argument("--http-port", type=int, required=True)
    parser.add_argument("--grpc-port", type=int, required=True)
    parser.add_argument("--metrics-port", type=int, required=True)
    parser.add_argument("--max-batch-size", type=int, default=64)
    parser.add_argument("--max-queue-delay-us", type=int, default=0)
    parser.add_argument("--ort-threads", type=int, default=1)
    parser.add_argument("--access-token")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    options = ort.SessionOptions()
    # One intra-op thread: onnxruntime's pool spins between batches, which on a 2-core machine shared with the load
    # generator and Triton's own threads costs more than it gives on a model this small.
    options.intra_op_num_threads = args.ort_threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(args.model, options, providers=["CPUExecutionProvider"])
    inputs = session.get_inputs()
    outputs = session.get_outputs()

    @batch
    def infer_func(**tensors):
        feeds = {i.name: np.ascontiguousarray(tensors[i.name], dtype=np.float32) for i in inputs}
        results = session.run(None, feeds)
        return {o.name: r for o, r in zip(outputs, results)}

    config = TritonConfig(http_address="127.0.0.1", http_port=args.http_port, grpc_address="127.0.0.1",
                          grpc_port=args.grpc_port, metrics_port=args.metrics_port, allow_gpu_metrics=False)
    security = TritonSecurityConfig(access_token=args.access_token)
    with Triton(config=config, security_config=security) as triton:
        triton.bind(
            model_name=args.name,
            infer_func=infer_func,
            inputs=[Tensor(name=i.name, dtype=np.float32, shape=tuple(i.shape[1:])) for i in inputs],
            outputs=[Tensor(name=o.name, dtype=np.float32, shape=tuple(o.shape[1:])) for o in outputs],
            config=ModelConfig(max_batch_size=args.max_batch_size,
                               batcher=DynamicBatcher(max_queue_delay_microseconds=args.max_queue_delay_us)),
            strict=False,
        )
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        triton.run()   # returns once the server is up and the model is loaded
        print("pytriton: ready", flush=True)
        while not stop.wait(1.0):
            if not triton.is_alive():
                print("pytriton: the Triton server or its proxy backend died", file=sys.stderr)
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
