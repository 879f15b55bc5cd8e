#!/usr/bin/env node
// Builds the tokenizer test inputs (loaders/src/test/resources/tokenizer/cases.jsonl) and the
// benchmark text (benchmarks/src/main/resources/tokenizer/imdb-sample.txt) from hand-written
// strings and IMDb reviews. Run once from anywhere; the outputs are committed, so the Java tests
// never need the IMDb data:
//   node scripts/tokenizer/make_cases.js [/path/to/imdb/reviews.json.gz]
// Then run make_expected.js to (re)write the reference encoder's answers.
'use strict';
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');

const root = path.resolve(__dirname, '..', '..');
const imdbPath = process.argv[2] || path.resolve(root, '..', 'shared', 'data', 'imdb', 'reviews.json.gz');

// Deterministic xorshift32 so the random cases are the same on every run.
let seed = 20240229;
const rand = () => { seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5; return (seed >>> 0) / 4294967296; };
const randInt = (n) => Math.floor(rand() * n);
const pick = (s) => { const a = Array.from(s); return () => a[randInt(a.length)]; };
const repeat = (n, f) => Array.from({ length: n }, f).join('');

const cases = [];
const add = (name, text) => cases.push({ name, text });

// Basics and the pattern's alternatives.
add('empty', '');
add('hello', 'Hello world');
add('hello-punct', 'Hello, World! How are you?');
add('single-letter', 'a');
add('single-space', ' ');
add('leading-space-word', ' word');
add('sentence', 'The quick brown fox jumps over the lazy dog.');
// Contractions: only lowercase suffixes after an ASCII apostrophe are split off.
add('contractions-lower', "I'm sure we're done, you've seen it, they'll go, he'd say it's isn't");
add('contractions-upper', "I'M SURE WE'RE DONE, YOU'VE SEEN IT, THEY'LL GO, HE'D SAY IT'S ISN'T");
add('contractions-mixed', "'S 's 'T 't 'RE 're 'Re 'rE 'VE 've 'M 'm 'LL 'll 'Ll 'lL 'D 'd");
add('contractions-odd', "''s '''  ' s rock'n'roll 't' 'sss 'llama 'dog end'");
add('contraction-curly', 'don\u2019t won\u2019t it\u2019s');
add('contraction-at-start', "'s");
add('contraction-after-space', " 'll");
add('apostrophes-only', "''''");
// Whitespace runs: the \s+(?!\S) alternative leaves the last blank to the next word.
add('spaces-between', 'a   b');
add('tab', 'a\tb');
add('tabs', 'a\t\tb');
add('newlines', 'a\n\nb');
add('space-newline-space', 'a \n b');
add('all-blanks', ' \t\n\r\f\v');
add('trailing-spaces', 'abc   ');
add('leading-spaces', '   abc');
add('only-spaces', '     ');
add('newline', '\n');
add('crlf', 'line one\r\nline two\r\n');
add('nbsp', 'a\u00A0b a \u00A0 b \u00A0\u00A0x');
add('ideographic-space', '\u3000\u3000\u65E5\u3000');
add('line-separator', 'x\u2028y\u2029z');
add('bom', '\uFEFFhello \uFEFF world');
add('nel-not-space', 'a\u0085b \u0085 c');
add('mongolian-vowel-sep', 'a\u180Eb');
add('zero-width', 'a\u200Bb\u200Cc\u200Dd\u2060e');
add('en-spaces', 'a\u2000\u2001\u2002\u2003b\u2009c\u200Ad\u202Fe\u205Ff\u1680g');
add('spaces-1000', ' '.repeat(1000));
add('word-spaces-word', 'word' + ' '.repeat(500) + 'word');
add('tabs-100', 'x' + '\t'.repeat(100) + 'y');
add('newlines-300', '\n'.repeat(300));
add('mixed-blanks', repeat(200, pick(' \t\n\r')) + 'end' + repeat(50, pick(' \t\n')));
add('blank-before-punct', 'a  , b\t. c\n!');
add('blank-before-digit', 'a  1 b\t2 c \n3');
// Numbers.
add('digits', '123 4567 89');
add('number-formats', '1,234,567.89 3.14159 -42 +7 1e10 0x1F 007');
add('digits-long', '1234567890'.repeat(100));
add('number-letters', '123abc456def 7th 2nd');
add('unicode-numbers', '\u00BD \u00B2 \u0663\u0664 \uD835\uDFD8 \u2166 \u216B \u3007 \u2460');
// Punctuation.
add('punct-runs', '!!! ... ?!?! --- ((())) => @#$%^&* <<<>>> ~~~ ```');
add('punct-long', '-='.repeat(500));
add('quotes', '"quoted" \'single\' \u201Ccurly\u201D \u00ABguillemets\u00BB');
// Comma pairs that collide in the reference's string-keyed merge table ("a,b" keys).
add('comma-quote-1', '["a","b"],["c"] {"x":1},"y" [1],[2] ("a"),"b"');
add('comma-quote-2', '\',"\' .",""\',\' "],"x" .,"  ,",""');
add('comma-quote-3', '",",",",",","'.repeat(3) + ' ]],[[ ],[ \'\',\'\'');
// Scripts.
add('latin-accents', 'caf\u00E9 na\u00EFve Z\u00FCrich \u00C5ngstr\u00F6m fa\u00E7ade \u0152uvre');
add('greek', '\u0395\u03BB\u03BB\u03B7\u03BD\u03B9\u03BA\u03AC \u03BA\u03B5\u03AF\u03BC\u03B5\u03BD\u03BF');
add('cyrillic', '\u0420\u0443\u0441\u0441\u043A\u0438\u0439 \u0442\u0435\u043A\u0441\u0442, \u043F\u0440\u0438\u0432\u0435\u0442!');
add('japanese', '\u65E5\u672C\u8A9E\u306E\u30C6\u30AD\u30B9\u30C8\u3002\u3053\u3093\u306B\u3061\u306F\u3001\u4E16\u754C\uFF01');
add('chinese', '\u4E2D\u6587\u6587\u672C\u6D4B\u8BD5\uFF0C\u4F60\u597D\u4E16\u754C\u3002');
add('korean', '\uD55C\uAD6D\uC5B4 \uD14D\uC2A4\uD2B8 \uC548\uB155\uD558\uC138\uC694');
add('arabic', '\u0627\u0644\u0639\u0631\u0628\u064A\u0629 \u0645\u0631\u062D\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645 \u0661\u0662\u0663');
add('hebrew', '\u05E2\u05D1\u05E8\u05D9\u05EA \u05E9\u05DC\u05D5\u05DD');
add('devanagari', '\u0939\u093F\u0928\u094D\u0926\u0940 \u0928\u092E\u0938\u094D\u0924\u0947');
add('thai', '\u0E20\u0E32\u0E29\u0E32\u0E44\u0E17\u0E22 \u0E2A\u0E27\u0E31\u0E2A\u0E14\u0E35');
add('combining', 'e\u0301 a\u0308\u0304 n\u0303 \u1E69\u0323 o\u0338');
add('zalgo', 'Z\u0324\u0354\u0367\u0311\u0313a\u0308\u0356\u032D\u0308\u0307l\u036E\u0312\u036Bg\u030C\u0317\u035Ao\u0319\u0314\u036E\u0307\u0350\u0307');
add('math-alphanumerics', '\uD835\uDD18\uD835\uDD2B\uD835\uDD26\uD835\uDD20\uD835\uDD2C\uD835\uDD21\uD835\uDD22 \u2211\u222B\u2202 x\u00B2+y\u00B2=z\u00B2');
add('cjk-long', repeat(1500, () => String.fromCodePoint(0x4E00 + randInt(0x5000))));
add('cjk-ext-b', '\uD840\uDC00\uD840\uDC01\uD869\uDEDF');
// Letters that Unicode 17 added (the reference engine knows them; older tables call them unassigned).
add('unicode17-letters', 'x\u088F\u0C5C\u0CDC\uA7CE y ' + String.fromCodePoint(0x10940, 0x10941, 0x11DB0, 0x16EA0) + ' z');
// Emoji.
add('emoji', '\uD83D\uDE00 \uD83D\uDE02\uD83D\uDE02\uD83D\uDE02 I \u2764 NY \u2764\uFE0F');
add('emoji-skin-tones', '\uD83D\uDC4D\uD83C\uDFFD \uD83D\uDC4B\uD83C\uDFFF\uD83D\uDC4B\uD83C\uDFFB');
add('emoji-zwj-family', '\uD83D\uDC68\u200D\uD83D\uDC69\u200D\uD83D\uDC67\u200D\uD83D\uDC66 family');
add('emoji-zwj-astronaut', '\uD83E\uDDD1\uD83C\uDFFF\u200D\uD83D\uDE80 and \uD83C\uDFF3\uFE0F\u200D\uD83C\uDF08');
add('emoji-flags', '\uD83C\uDDFA\uD83C\uDDF8\uD83C\uDDEC\uD83C\uDDE7\uD83C\uDDEF\uD83C\uDDF5');
add('emoji-keycap', '1\uFE0F\u20E3 #\uFE0F\u20E3 *\uFE0F\u20E3');
add('emoji-in-words', 'great\uD83D\uDC4Dmovie\uD83C\uDF7F!!');
// Odd code points.
add('controls', '\u0000\u0001\u001F\u007F\u0080\u009F x\u0000y');
add('private-use', '\uE000\uF8FF ' + String.fromCodePoint(0xF0000, 0x10FFFD));
add('nonchars', '\uFFFE\uFFFF ' + String.fromCodePoint(0x10FFFF, 0x1FFFE));
add('tags-variation', 'a\uFE0F' + String.fromCodePoint(0xE0001, 0xE0041, 0xE007F, 0xE0100));
add('replacement-char', '\uFFFD x \uFFFD\uFFFD');
// Malformed UTF-16: lone surrogates become U+FFFD before byte-level encoding.
add('lone-high', '\uD800');
add('lone-low', 'a\uDC00b');
add('two-highs', '\uDBFF\uDBFF');
add('reversed-pair', '\uDC00\uD800');
add('truncated-emoji', '\uD83D\uDE00\uD83D');
add('lone-after-space', ' \uD800 x \uDFFF');
add('lone-in-word', 'abc\uD800def\uDC00ghi');
add('lone-with-fffd', '\uFFFD\uD800\uFFFD');
// The special token's literal text: ordinary text for the reference encoder.
add('eot', '<|endoftext|>');
add('eot-between', 'Hello<|endoftext|>World');
add('eot-spaced', ' <|endoftext|> ');
add('eot-twice', '<|endoftext|><|endoftext|>');
add('eot-partial', '<|endoftext| <|endof <endoftext|>');
// Code.
add('code-java', 'public static int[] encode(String text) {\n    return text.isEmpty() ? new int[0] : run(text);\n}\n');
add('code-python', 'def f(x):\n\tif x > 0:\n\t\treturn x ** 2  # square\n\treturn None\n');
add('code-json', '{"name": "densify", "ids": [1, 2, 3], "ok": true, "nested": {"a": null}}');
add('code-html', '<br /><br />This movie was <i>great</i> &amp; fun.<br/>');
add('code-shell', 'export JAVA_HOME=/usr/lib/jvm; ./mvnw -q -B -pl native,loaders -am verify 2>&1 | tail -n 20');
add('url-email', 'See https://example.com/path?q=1&r=two#frag or mail me@example.org.');
// Long single pieces (exercise the long-piece merge path).
add('long-word-repeat', 'supercalifragilistic'.repeat(100));
add('long-word-random', repeat(2000, pick('abcdefghijklmnopqrstuvwxyz')));
add('long-word-upper', repeat(800, pick('ABCDEFGHIJKLMNOPQRSTUVWXYZ')));
add('long-accented', repeat(600, pick('\u00E9\u00E8\u00EA\u00EB\u00E0\u00E2\u00E4\u00F4\u00F6\u00FB\u00FC\u00E7')));
add('long-emoji', repeat(300, () => String.fromCodePoint(0x1F600 + randInt(80))));
// Random mixes of many ranges, including lone surrogates.
const ranges = [[0x20, 0x7E], [0x09, 0x0D], [0xA0, 0x24F], [0x370, 0x52F], [0x590, 0x6FF], [0x900, 0x97F],
    [0x2000, 0x206F], [0x3000, 0x30FF], [0x4E00, 0x9FFF], [0xAC00, 0xD7A3], [0xD800, 0xDFFF], [0xE000, 0xFFFF],
    [0x1F300, 0x1FAFF], [0x10000, 0x10FFFF]];
for (let i = 0; i < 40; i++) {
    const n = 1 + randInt(60);
    add('random-' + i, repeat(n, () => {
        const r = ranges[rand() < 0.4 ? 0 : randInt(ranges.length)];
        return String.fromCodePoint(r[0] + randInt(r[1] - r[0] + 1));
    }));
}
// ASCII soup heavy in apostrophes, blanks and digits.
for (let i = 0; i < 20; i++) {
    add('ascii-soup-' + i, repeat(1 + randInt(80), pick("aZ 'sltrvmdLSe \t\n09,.!\"")));
}

// IMDb reviews: mostly plain ones plus every non-ASCII one among the first few thousand.
const reviews = JSON.parse(zlib.gunzipSync(fs.readFileSync(imdbPath)).toString('utf-8'));
let plain = 0, nonAscii = 0;
for (let i = 0; i < reviews.length && (plain < 110 || nonAscii < 40); i++) {
    const t = reviews[i].t;
    if (t.length > 2500) continue;
    if (/[^\x00-\x7F]/.test(t)) {
        if (nonAscii++ < 40) add('imdb-' + i, t);
    } else if (i % 7 === 0 && plain < 110) {
        plain++;
        add('imdb-' + i, t);
    }
}

const casesPath = path.join(root, 'loaders/src/test/resources/tokenizer/cases.jsonl');
fs.writeFileSync(casesPath, cases.map((c) => JSON.stringify(c)).join('\n') + '\n');
console.log(`${casesPath}: ${cases.length} cases`);

// About 200 KB of other reviews for the benchmark (it repeats them to a few MB).
const sample = [];
let size = 0;
for (let i = 10000; size < 200 * 1024; i++) {
    sample.push(reviews[i].t);
    size += Buffer.byteLength(reviews[i].t) + 1;
}
const samplePath = path.join(root, 'benchmarks/src/main/resources/tokenizer/imdb-sample.txt');
fs.writeFileSync(samplePath, sample.join('\n') + '\n');
console.log(`${samplePath}: ${sample.length} reviews, ${size} bytes`);
