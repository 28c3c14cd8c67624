// Runs ONNX files in ONNX Runtime (CPU, onnxruntime-node) for the export tests.
//   node onnxruntime_run.js jobs.json
// jobs.json: [{"model": "a.onnx", "input": "x.f32", "shape": [N, C, H, W], "output": "y.f32",
// "optimize": true}, ...]; inputs and outputs are raw little-endian float32. "optimize": false runs
// the graph as written (no fusion: a BatchNormalization node runs as one), true with every
// optimization ONNX Runtime applies by default. Prints one JSON line per job (the output's
// dims); exits 1 with the runtime's message on the first failure. Finds onnxruntime-node through
// NODE_PATH (tools/onnxruntime/node_modules, installed by cmake/quickstart.sh).
'use strict';
const fs = require('fs');
const ort = require('onnxruntime-node');

async function runJob(job) {
  const session = await ort.InferenceSession.create(job.model, {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    graphOptimizationLevel: job.optimize === false ? 'disabled' : 'all',
  });
  const bytes = fs.readFileSync(job.input);
  // a copy: a Buffer's offset into its pool need not be a multiple of 4
  const data = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', data, job.shape) };
  const result = await session.run(feeds);
  const y = result[session.outputNames[0]];
  fs.writeFileSync(job.output, Buffer.from(y.data.buffer, y.data.byteOffset, y.data.byteLength));
  console.log(JSON.stringify({ model: job.model, dims: y.dims }));
}

async function main() {
  if (process.argv.length !== 3) throw new Error('usage: node onnxruntime_run.js jobs.json');
  const jobs = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  for (const job of jobs) await runJob(job);
}

main().catch((e) => {
  console.error('onnxruntime_run: ' + (e && e.message ? e.message : e));
  process.exit(1);
});
