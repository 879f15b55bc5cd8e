#!/usr/bin/env node
// Writes Hugging Face tokenizers' answers for HuggingFaceParityTest:
//   node scripts/tokenizer/make_hf_expected.js
// It npm-installs the tokenizers package (Hugging Face's Rust library through its Node bindings,
// version below) into a temporary folder (needs the npm registry), loads a vocabulary as GPT-2's
// tokenizer.json configures it (BPE model; ByteLevel pre-tokenizer with add_prefix_space false,
// trim_offsets true, use_regex true; ByteLevel post-processor and decoder; <|endoftext|> an added
// special token), encodes every well-formed case of cases.jsonl, and writes
//   loaders/src/test/resources/tokenizer/trained-1k/hf_expected.jsonl         ids per case, trained-1k vocabulary
//   loaders/src/test/resources/tokenizer/trained-1k/hf_decode_expected.jsonl  decode() of random id sequences
//   loaders/src/test/resources/tokenizer/gpt2_hf_expected.jsonl               the same with GPT-2's vocabulary; to keep
//       it small, a case whose ids equal the reference encoder's (expected.jsonl) says "reference": true
// Each file starts with a header line: the versions used and the sha256 of its inputs, which the
// test checks so that stale answers are reported as such. Rerun it whenever cases.jsonl or
// trained-1k/{vocab.json,merges.txt} change (HuggingFaceParityTest says when).
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const crypto = require('crypto');
const { execFileSync } = require('child_process');

const TOKENIZERS = '0.23.2';
const root = path.resolve(__dirname, '..', '..');
const res = path.join(root, 'loaders/src/test/resources/tokenizer');
const rel = (p) => path.relative(root, p);
const sha256 = (p) => crypto.createHash('sha256').update(fs.readFileSync(p)).digest('hex');

// GPT-2's tokenizer.json (the Hugging Face hub's "gpt2") with another vocabulary and merges.
function gpt2Json(vocab, merges) {
    const eot = vocab['<|endoftext|>'];
    if (eot === undefined) throw new Error('the vocabulary has no <|endoftext|>');
    return JSON.stringify({
        version: '1.0',
        truncation: null,
        padding: null,
        added_tokens: [{ id: eot, content: '<|endoftext|>', single_word: false, lstrip: false, rstrip: false,
            normalized: true, special: true }],
        normalizer: null,
        pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
        post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
        decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
        model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '',
            fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges },
    });
}

function load(tk, vocabPath, mergesPath) {
    const vocab = JSON.parse(fs.readFileSync(vocabPath, 'utf-8'));
    const merges = fs.readFileSync(mergesPath, 'utf-8').split('\n').filter((l) => l.length && !l.startsWith('#version'));
    const tok = tk.Tokenizer.fromString(gpt2Json(vocab, merges));
    if (tok.getVocabSize(true) !== Object.keys(vocab).length) throw new Error(`${rel(vocabPath)}: vocabulary size differs`);
    return tok;
}

function header(inputs) {
    const h = { generator: 'scripts/tokenizer/make_hf_expected.js', tokenizers: TOKENIZERS, node: process.version };
    for (const [key, p] of Object.entries(inputs)) h[key] = { file: rel(p), sha256: sha256(p) };
    return JSON.stringify(h);
}

// ids of every well-formed case (a lone surrogate cannot cross into Rust), and a check that decode gives the text back.
// With a map of reference ids by case name, ids equal to the reference's are written as "reference": true.
async function encodeCases(tok, cases, label, reference) {
    const lines = [];
    let notRoundTrip = 0, asReference = 0;
    for (const c of cases) {
        if (!c.text.isWellFormed()) continue;
        const ids = (await tok.encode(c.text)).getIds();
        const same = reference !== undefined && JSON.stringify(ids) === JSON.stringify(reference.get(c.name));
        if (same) asReference++;
        const line = same ? { name: c.name, reference: true } : { name: c.name, ids };
        const back = await tok.decode(ids, false);
        if (back !== c.text) {
            line.decoded = back;
            notRoundTrip++;
        }
        lines.push(JSON.stringify(line));
    }
    console.log(`${label}: ${lines.length} well-formed cases of ${cases.length}, ${notRoundTrip} do not decode back`
        + (reference === undefined ? '' : `, ${asReference} equal the reference encoder's ids`));
    return lines;
}

async function main() {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hf-tokenizers-'));
    try {
        execFileSync('npm', ['install', '--prefix', tmp, '--no-save', '--no-audit', '--no-fund', '--silent',
            `tokenizers@${TOKENIZERS}`], { stdio: ['ignore', 'ignore', 'inherit'] });
        const pkg = path.join(tmp, 'node_modules', 'tokenizers');
        const installed = JSON.parse(fs.readFileSync(path.join(pkg, 'package.json'), 'utf-8')).version;
        if (installed !== TOKENIZERS) throw new Error(`npm installed tokenizers ${installed}, not ${TOKENIZERS}`);
        const tk = require(pkg);

        const jsonl = (p) => fs.readFileSync(p, 'utf-8').split('\n').filter((l) => l.length).map((l) => JSON.parse(l));
        const casesPath = path.join(res, 'cases.jsonl'), expectedPath = path.join(res, 'expected.jsonl');
        const cases = jsonl(casesPath);

        // 1. The trained 1k vocabulary: every well-formed case.
        const dir = path.join(res, 'trained-1k');
        const inputs = { vocab: path.join(dir, 'vocab.json'), merges: path.join(dir, 'merges.txt'), cases: casesPath };
        const trained = load(tk, inputs.vocab, inputs.merges);
        const lines = await encodeCases(trained, cases, 'trained-1k');
        fs.writeFileSync(path.join(dir, 'hf_expected.jsonl'), [header(inputs), ...lines].join('\n') + '\n');

        // 2. decode() of random id sequences, biased to single-byte tokens so that many are malformed
        // UTF-8, with <|endoftext|> now and then.
        const size = trained.getVocabSize(true), eot = trained.tokenToId('<|endoftext|>');
        let seed = 11;
        const rand = (n) => { seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5; return (seed >>> 0) % n; };
        const decodes = [];
        for (let i = 0; i < 500; i++) {
            const ids = Array.from({ length: 1 + rand(8) }, () => {
                const r = rand(20);
                return r < 13 ? rand(256) : r < 19 ? rand(size) : eot;
            });
            decodes.push(JSON.stringify({ ids, text: await trained.decode(ids, false) }));
        }
        const decodeInputs = { vocab: inputs.vocab, merges: inputs.merges };
        fs.writeFileSync(path.join(dir, 'hf_decode_expected.jsonl'), [header(decodeInputs), ...decodes].join('\n') + '\n');

        // 3. GPT-2's own vocabulary: every well-formed case.
        const gpt2Inputs = { vocab: path.join(res, 'gpt2', 'encoder.json'), merges: path.join(res, 'gpt2', 'vocab.bpe'),
            cases: casesPath, reference: expectedPath };
        const gpt2 = load(tk, gpt2Inputs.vocab, gpt2Inputs.merges);
        const reference = new Map(jsonl(expectedPath).map((e) => [e.name, e.ids]));
        const gpt2Lines = await encodeCases(gpt2, cases, 'gpt2', reference);
        fs.writeFileSync(path.join(res, 'gpt2_hf_expected.jsonl'), [header(gpt2Inputs), ...gpt2Lines].join('\n') + '\n');
    } finally {
        fs.rmSync(tmp, { recursive: true, force: true });
    }
}

main().catch((e) => {
    console.error(e);
    process.exitCode = 1;
});
