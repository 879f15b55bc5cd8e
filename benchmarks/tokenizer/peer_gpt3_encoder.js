#!/usr/bin/env node
// Peer for TokenizerBenchmark: GPT-2's reference JavaScript encoder (gpt-3-encoder 1.1.4) on the
// same text. Run from the repository root (needs the npm registry once, to pack the package):
//   node benchmarks/tokenizer/peer_gpt3_encoder.js
// Prints MB/s for a fresh module (empty cache) on the sample, for a warm cache on the sample
// repeated 10 times, and for decode, each the best of several runs. The text is encoded one review
// (line) at a time: the package grows its output with Array.concat, which is quadratic in the
// number of tokens of one call (2 MB in one call takes many minutes).
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { execFileSync } = require('child_process');

const root = path.resolve(__dirname, '..', '..');
const sample = fs.readFileSync(path.join(root, 'benchmarks/src/main/resources/tokenizer/imdb-sample.txt'), 'utf-8');
const lines = sample.split('\n');
const encodeAll = (enc, times) => {
    let n = 0;
    for (let k = 0; k < times; k++) for (const line of lines) n += enc.encode(line).length;
    return n;
};
const mb = (s) => Buffer.byteLength(s) / 1e6;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gpt-3-encoder-'));
try {
    execFileSync('npm', ['pack', '--silent', 'gpt-3-encoder@1.1.4'], { cwd: tmp, stdio: ['ignore', 'ignore', 'inherit'] });
    execFileSync('tar', ['xzf', 'gpt-3-encoder-1.1.4.tgz'], { cwd: tmp });
    const modulePath = require.resolve(path.join(tmp, 'package', 'Encoder.js'));
    const fresh = () => {
        delete require.cache[modulePath]; // the piece cache lives in the module
        return require(modulePath);
    };
    const best = (runs, f) => {
        let t = Infinity;
        for (let i = 0; i < runs; i++) {
            const t0 = process.hrtime.bigint();
            f();
            t = Math.min(t, Number(process.hrtime.bigint() - t0) / 1e9);
        }
        return t;
    };
    // Fresh cache: new module each run (the first runs also warm the JIT).
    const coldS = best(5, () => encodeAll(fresh(), 1));
    const enc = fresh();
    encodeAll(enc, 1);
    const warmS = best(5, () => encodeAll(enc, 10));
    const ids = lines.map((l) => enc.encode(l));
    const decodeS = best(10, () => ids.forEach((x) => enc.decode(x)));
    const count = ids.reduce((a, x) => a + x.length, 0);
    console.log(`node ${process.version}, gpt-3-encoder 1.1.4, sample ${Buffer.byteLength(sample)} bytes, ${count} ids`);
    console.log(`encode, fresh cache: ${(mb(sample) / coldS).toFixed(2)} MB/s`);
    console.log(`encode, warm cache:  ${(10 * mb(sample) / warmS).toFixed(2)} MB/s`);
    console.log(`decode:              ${(mb(sample) / decodeS).toFixed(2)} MB/s`);
} finally {
    fs.rmSync(tmp, { recursive: true, force: true });
}
