#!/usr/bin/env python3
"""An Open Inference Protocol server for the tests and benchmarks: KServe's own model server
(PyPI `kserve`, REST v2 with the binary tensor extension) hosting a masked-language model exported
by `scripts/export_onnx.py`, run with onnxruntime on the CPU. This is the predictor class KServe
asks for; the protocol, batching of HTTP and the binary extension are KServe's.

    python3 tests/inference/serve_onnx.py --model_dir models/biomed-mini-onnx --model_name biomedbert --http_port 8011

`--vocab_size N` makes the metadata claim another vocabulary size (the mismatch test).
"""
import argparse
import os
import uuid

import kserve
import numpy as np
import onnxruntime
from kserve import InferOutput, InferRequest, InferResponse


class OnnxMaskedLm(kserve.Model):
    def __init__(self, name, model_dir, claimed_vocab_size=None):
        super().__init__(name)
        self.model_dir = model_dir
        self.claimed_vocab_size = claimed_vocab_size
        self.session = None
        self.vocab_size = None

    def load(self):
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = int(os.environ.get("SERVE_THREADS", "2"))
        self.session = onnxruntime.InferenceSession(
            os.path.join(self.model_dir, "model.onnx"), options, providers=["CPUExecutionProvider"]
        )
        self.vocab_size = self.session.get_outputs()[0].shape[-1]
        self.ready = True
        return self.ready

    def get_input_types(self):
        return [
            {"name": name, "datatype": "INT64", "shape": [-1, -1]}
            for name in ("input_ids", "attention_mask", "token_type_ids", "positions")
        ]

    def get_output_types(self):
        vocab_size = self.claimed_vocab_size or self.vocab_size
        return [{"name": "log_probabilities", "datatype": "FP32", "shape": [-1, -1, vocab_size]}]

    async def predict(self, payload: InferRequest, headers=None, response_headers=None):
        feeds = {tensor.name: tensor.as_numpy().astype(np.int64) for tensor in payload.inputs}
        (log_probabilities,) = self.session.run(None, feeds)
        output = InferOutput(
            name="log_probabilities", shape=list(log_probabilities.shape), datatype="FP32"
        )
        binary = payload.use_binary_outputs or any(
            (requested.parameters or {}).get("binary_data", False)
            for requested in (payload.request_outputs or [])
        )
        output.set_data_from_numpy(log_probabilities, binary_data=binary)
        return InferResponse(
            model_name=self.name,
            infer_outputs=[output],
            response_id=payload.id or str(uuid.uuid4()),
            use_binary_outputs=binary,
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(parents=[kserve.model_server.parser])
    parser.add_argument("--model_dir", required=True)
    parser.add_argument("--vocab_size", type=int, default=None)
    args, _ = parser.parse_known_args()
    model = OnnxMaskedLm(args.model_name, args.model_dir, args.vocab_size)
    model.load()
    kserve.ModelServer(workers=1).start([model])
