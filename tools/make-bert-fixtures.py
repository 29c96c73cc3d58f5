#!/usr/bin/env python3
"""make-bert-fixtures.py -- reference fixtures for lctx's BERT-family encoders.

lctx reimplements, in C, three things Hugging Face does in Python and Rust:
WordPiece tokenization (BertNormalizer + BertPreTokenizer + WordPiece), the
BertModel forward pass with sentence-transformers pooling, and the
BertForSequenceClassification cross-encoder. The C tests can only claim
agreement if they compare against the real libraries, so this script runs
those libraries once (on a machine that has them: torch, transformers,
tokenizers, safetensors) and writes what they produce into tests/data/bert/.

What it writes (under OUTDIR, default tests/data/bert):

  minilm/   BertModel with all-MiniLM-L6-v2's structure (6 layers, 32-wide
            heads, GELU, mean pooling, normalize, max_seq_length 256) but
            hidden 128 / 4 heads / intermediate 512 and a 2000-entry vocab
            so the file stays small. float32. vocab.txt only.
  bge/      BertModel with bge-small-en-v1.5's structure (12 layers, 32-wide
            heads, CLS pooling, normalize, 512 positions) at hidden 96 /
            3 heads / intermediate 384. Weights rounded to float16 and saved
            as F16; tokenizer.json only (no vocab.txt) so that reader is used.
  cross/    BertForSequenceClassification, num_labels=1 (a cross-encoder),
            2 layers, hidden 128; weights rounded to bfloat16 and saved as
            BF16. vocab.txt only.
  reference.json   per model: the texts (or query/passage pairs), the token
            ids and token type ids the HF tokenizer produced, and the pooled,
            normalised embeddings (or the logits), computed in float32 on the
            CPU from exactly the weights that were saved.
  tokenization.json   >= 500 deterministic, varied strings and the token ids
            tokenizers.Tokenizer.from_file gives for each on the two real
            tokenizer files in tests/data/bert/tokenizers/ (no truncation,
            no padding, special tokens added).

Rounding the f16/bf16 models' weights *before* computing the reference means
the C side, which widens those weights to float32 at load, sees the very same
numbers, so the 1e-4 tolerance holds for every dtype.

All parameters (biases and LayerNorm weights included, which HF initialises
to 0 and 1) are drawn at random so a wrong bias or gain cannot hide.

Usage: python3 tools/make-bert-fixtures.py [OUTDIR]
"""
import json
import os
import random
import sys
import unicodedata

SEED = 20261122
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
TOKDIR = os.path.join(REPO, "tests", "data", "bert", "tokenizers")
REAL_TOKENIZERS = {
    "minilm": "all-minilm-l6-v2-tokenizer.json",
    "bge": "bge-small-en-v1.5-tokenizer.json",
}

# ------------------------------------------------------------------ strings
# Pools the random strings are drawn from. Each covers a case the C
# normalizer or pre-tokenizer treats specially.
ASCII_WORDS = ["the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog",
               "retrieval", "engine", "transformer", "embedding", "tokenization",
               "unbelievably", "antidisestablishmentarianism", "Hello", "WORLD",
               "CamelCaseWord", "snake_case_name", "e-mail", "don't", "U.S.A.",
               "x86_64", "C++", "node.js", "foo@bar.com", "http://example.org/a?b=c",
               "qwertzuiop", "zzzzzz", "xylophone", "supercalifragilistic"]
ACCENTED = ["café", "naïve", "résumé", "Ångström", "façade", "jalapeño", "Zürich",
            "São Paulo", "Ελληνικά", "Москва", "İstanbul", "ŁÓDŹ", "Dvořák",
            "coöperate", "ﬁnance", "Ǆemal", "ΣΊΣΥΦΟΣ", "straße", "Ⅻ", "ｆｕｌｌｗｉｄｔｈ",
            "e\u0301", "n\u0303o", "a\u0308\u0304", "हिन्दी", "العربية", "עברית", "ไทย"]
CJK = ["北京大学", "日本語のテキスト", "中文分词", "한국어 문장", "東京タワー", "漢字",
       "\U00020000\U0002A700", "\uF900\uFA0B", "カタカナ", "ひらがな", "㐀㐁", "〇"]
EMOJI = ["😀", "👍🏽", "👨\u200d👩\u200d👧", "🇫🇷", "❤️", "🥰", "✨", "☃", "🤖🤖"]
PUNCT = [".", ",", "!", "?", "...", "—", "–", "«", "»", "“quoted”", "'single'",
         "(paren)", "[bracket]", "{brace}", "#hash", "$100", "%", "^", "&", "*",
         "~tilde", "`tick`", "|pipe|", "\\back\\", "/slash/", "¿", "¡", "§", "¶",
         "†", "•", "…", "‰", "€", "£", "¥", "©", "®", "™", "°", "±", "×", "÷",
         "<tag>", "a=b", "+1", "@user", "、", "。", "「括弧」", "；", "：", "？"]
NUMBERS = ["0", "42", "3.14159", "1,000,000", "-17", "1e10", "2026-11-22",
           "12:30", "v1.2.3", "0x1F", "١٢٣", "½", "²", "①"]
SPACES = [" ", "  ", "\t", "\n", "\r\n", "\u00a0", "\u2003", "\u3000", "\u2028",
          "\u200b", "\u000b", "\u000c", "\u0085"]
CONTROLS = ["\u0001", "\u0007", "\u001b", "\u007f", "\u00ad", "\u200d", "\ufeff",
            "\ufffd", "\u2060", "\ue000"]
SPECIALS = ["[CLS]", "[SEP]", "[MASK]", "[UNK]", "[PAD]", "[mask]"]


def long_word(rng, n):
    letters = "abcdefghijklmnopqrstuvwxyz"
    return "".join(rng.choice(letters) for _ in range(n))


def make_strings():
    """>= 500 deterministic strings: a hand-written list then random mixes."""
    rng = random.Random(SEED)
    fixed = [
        "", " ", "hello", "Hello, world!", "HELLO WORLD", "The quick brown fox.",
        "unaffable", "don't stop-believing", "a" * 100, "b" * 101, "é" * 100,
        "x" * 99 + "é", long_word(rng, 150), "word " + "c" * 120 + " word",
        "café naïve résumé", "北京欢迎你", "abc北京def", "I love 東京!",
        "emoji 😀 test 👍🏽", "tab\tseparated\tvalues", "line\nbreaks\r\nhere",
        "nbsp\u00a0space", "zero\u200bwidth", "soft\u00adhyphen", "bom\ufeffhere",
        "ctrl\u0001chars\u0007", "del\u007fchar", "replacement\ufffdchar",
        "İstanbul ıi", "ΣΊΣΥΦΟΣ σίσυφος", "Straße STRASSE", "ﬁ ligature",
        "Ⅻ roman", "ｆｕｌｌｗｉｄｔｈ ＡＢＣ", "１２３", "a.b.c", "...!!!???",
        "[CLS] is special", "x [SEP] y", "[MASK]", "[mask] lower", "a[UNK]b",
        "[PAD][PAD]", "state-of-the-art", "e-mail@example.com", "$3.50 off!",
        "C:\\Program Files\\x", "<html><body>hi</body></html>", "naïve façade",
        "Dvořák’s “New World”", "«guillemets»", "he said—no", "50°C ± 2",
        "हिन्दी भाषा", "مرحبا بالعالم", "שלום עולם", "สวัสดีครับ",
        "한국어 텍스트", "ひらがなとカタカナ", "\U00020000 ext-b", "e\u0301e\u0301",
        "Ǆ ǅ ǆ", "Ⓐⓑⓒ", "①②③", "½ cup", "x²+y²", "١٢٣٤", "   leading",
        "trailing   ", "\t\n\r", "\u3000ideographic\u3000space",
        "mixedCASEandNumbers123", "snake_case_identifier", "CONSTANT_NAME",
        "multiple     spaces", "🇫🇷🇩🇪", "👨\u200d👩\u200d👧 family",
        "the " * 60, "tokenization " * 30,
    ]
    pools = [ASCII_WORDS] * 4 + [ACCENTED] * 2 + [CJK, EMOJI, PUNCT, PUNCT,
                                                  NUMBERS, SPACES, CONTROLS,
                                                  SPECIALS]
    seps = [" ", " ", " ", "", "  ", "\t", "\n", "-", "_"]
    out = list(fixed)
    while len(out) < 560:
        k = rng.randint(1, 14)
        parts = []
        for _ in range(k):
            r = rng.random()
            if r < 0.03:
                parts.append(long_word(rng, rng.randint(95, 130)))
            else:
                parts.append(rng.choice(rng.choice(pools)))
            parts.append(rng.choice(seps))
        s = "".join(parts)
        if rng.random() < 0.2:
            s = s.upper()
        out.append(s)
    for s in out:
        assert "\x00" not in s
        for c in s:
            assert not (0xD800 <= ord(c) <= 0xDFFF)
    return out


# ------------------------------------------------------------------ vocab
def small_vocab(real_vocab, size=2000):
    """A WordPiece vocab of `size` entries cut from the real BERT one.

    Ids are renumbered ([PAD]=0, [UNK]=1, [CLS]=2, [SEP]=3, [MASK]=4) so the
    C side must read special ids from the vocabulary instead of assuming
    bert-base's 0/100/101/102/103. Keeps every single character, the ## form
    of ASCII letters and digits (so unknown English words split into pieces
    instead of becoming [UNK]), then the most frequent whole words and a few
    hundred ## suffixes.
    """
    by_id = sorted(real_vocab.items(), key=lambda kv: kv[1])
    toks = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    seen = set(toks)

    def add(t):
        if t not in seen and len(toks) < size:
            seen.add(t)
            toks.append(t)

    singles = [t for t, _ in by_id if len(t) == 1]
    for t in singles[:900]:
        add(t)
    for c in "abcdefghijklmnopqrstuvwxyz0123456789":
        add("##" + c)
    suffixes = [t for t, _ in by_id if t.startswith("##") and len(t) > 3]
    for t in suffixes[:300]:
        add(t)
    for t, _ in by_id:
        if not t.startswith("[") and not t.startswith("##") and len(t) > 1:
            add(t)
    assert len(toks) == size
    return toks


# ------------------------------------------------------------------ models
def randomize(model, torch, gen):
    """Every parameter random, biases and LayerNorm included."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "LayerNorm.weight" in name:
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=gen))
            elif name.endswith("bias"):
                p.copy_(0.05 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(0.08 * torch.randn(p.shape, generator=gen))


def round_weights(model, torch, dtype):
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.to(dtype).to(torch.float32))


def make_tokenizer(vocab):
    """The BERT uncased pipeline over `vocab`, built with `tokenizers` itself
    (what BertTokenizerFast wraps), so ids come from the reference library."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    t = Tokenizer(models.WordPiece({w: i for i, w in enumerate(vocab)}, unk_token="[UNK]",
                                   max_input_chars_per_word=100))
    t.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True,
                                              strip_accents=None, lowercase=True)
    t.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    cls, sep = vocab.index("[CLS]"), vocab.index("[SEP]")
    t.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    t.add_special_tokens(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    assert t.get_vocab_size() == len(vocab), t.get_vocab_size()
    probe = t.encode("hello world").ids
    assert 1 not in probe, probe
    return t


def write_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=True, indent=1)
        f.write("\n")


def sentence_transformers_files(d, dim, pooling, max_seq):
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ]
    write_json(os.path.join(d, "modules.json"), modules)
    os.makedirs(os.path.join(d, "1_Pooling"), exist_ok=True)
    write_json(os.path.join(d, "1_Pooling", "config.json"), {
        "word_embedding_dimension": dim,
        "pooling_mode_cls_token": pooling == "cls",
        "pooling_mode_mean_tokens": pooling == "mean",
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
    })
    os.makedirs(os.path.join(d, "2_Normalize"), exist_ok=True)
    write_json(os.path.join(d, "sentence_bert_config.json"),
               {"max_seq_length": max_seq, "do_lower_case": False})


EMBED_TEXTS = [
    "hello world",
    "The quick brown fox jumps over the lazy dog.",
    "Café naïve résumé — accents are stripped.",
    "北京大学 and 東京 are cities",
    "emoji 😀 and [MASK] and unknownwordzzz",
    "",
    "A retrieval engine ranks passages for a query; the best passage wins.",
    " ".join(["long"] + ["context", "window", "tokens", "retrieval"] * 160),
]
CROSS_PAIRS = [
    ["what is the capital of france", "Paris is the capital of France."],
    ["what is the capital of france", "The quick brown fox jumps over the lazy dog."],
    ["how do transformers work", "Attention layers mix information between tokens."],
    ["café", "naïve résumé"],
    ["long passage", " ".join(["passage", "text", "goes", "on"] * 200)],
]


def build_embedder(name, outdir, vocab, torch, transformers, gen, layers, hidden,
                   heads, inter, pooling, max_seq, dtype, keep_vocab_txt):
    d = os.path.join(outdir, name)
    os.makedirs(d, exist_ok=True)
    cfg = transformers.BertConfig(
        vocab_size=len(vocab), hidden_size=hidden, num_hidden_layers=layers,
        num_attention_heads=heads, intermediate_size=inter, hidden_act="gelu",
        max_position_embeddings=512, type_vocab_size=2, layer_norm_eps=1e-12,
        pad_token_id=0)
    model = transformers.BertModel(cfg)
    randomize(model, torch, gen)
    if dtype is not None:
        round_weights(model, torch, dtype)
    model.eval()
    os.makedirs(d, exist_ok=True)
    vpath = os.path.join(d, "vocab.txt")
    with open(vpath, "w", encoding="utf-8") as f:
        f.write("\n".join(vocab) + "\n")
    tok = make_tokenizer(vocab)
    if keep_vocab_txt:
        tok.enable_truncation(max_length=max_seq)
    else:
        tok.save(os.path.join(d, "tokenizer.json"))
        tok.enable_truncation(max_length=max_seq)
        os.remove(vpath)
    save = model if dtype is None else model.to(dtype)
    save.save_pretrained(d, safe_serialization=True)
    model = model.to(torch.float32)
    sentence_transformers_files(d, hidden, pooling, max_seq)

    cases = []
    with torch.no_grad():
        for text in EMBED_TEXTS:
            enc = tok.encode(text)
            ids = torch.tensor([enc.ids])
            out = model(input_ids=ids, attention_mask=torch.ones_like(ids),
                        token_type_ids=torch.tensor([enc.type_ids]))
            h = out.last_hidden_state[0]
            if pooling == "cls":
                v = h[0]
            else:
                v = h.mean(dim=0)
            v = v / v.norm()
            cases.append({"text": text,
                          "ids": enc.ids,
                          "hidden0": h[0][:8].tolist(),
                          "embedding": v.tolist()})
    return {"dir": name, "pooling": pooling, "max_seq_length": max_seq,
            "dim": hidden, "dtype": str(dtype) if dtype else "float32",
            "cases": cases}


def build_cross(outdir, vocab, torch, transformers, gen):
    d = os.path.join(outdir, "cross")
    os.makedirs(d, exist_ok=True)
    cfg = transformers.BertConfig(
        vocab_size=len(vocab), hidden_size=128, num_hidden_layers=2,
        num_attention_heads=4, intermediate_size=512, hidden_act="gelu",
        max_position_embeddings=512, type_vocab_size=2, num_labels=1,
        architectures=["BertForSequenceClassification"])
    model = transformers.BertForSequenceClassification(cfg)
    randomize(model, torch, gen)
    round_weights(model, torch, torch.bfloat16)
    model.eval()
    vpath = os.path.join(d, "vocab.txt")
    with open(vpath, "w", encoding="utf-8") as f:
        f.write("\n".join(vocab) + "\n")
    tok = make_tokenizer(vocab)
    tok.enable_truncation(max_length=512)
    model.to(torch.bfloat16).save_pretrained(d, safe_serialization=True)
    model = model.to(torch.float32)
    cases = []
    with torch.no_grad():
        for q, p in CROSS_PAIRS:
            enc = tok.encode(q, p)
            ids = torch.tensor([enc.ids])
            logit = model(input_ids=ids, attention_mask=torch.ones_like(ids),
                          token_type_ids=torch.tensor([enc.type_ids])).logits[0][0].item()
            cases.append({"query": q, "passage": p,
                          "ids": enc.ids,
                          "type_ids": enc.type_ids,
                          "logit": logit})
    return {"dir": "cross", "dtype": "torch.bfloat16", "cases": cases}


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO, "tests", "data", "bert")
    os.makedirs(outdir, exist_ok=True)
    strings = make_strings()
    if os.environ.get("FIXTURES_DRY_RUN"):
        print(len(strings), "strings")
        return
    import tokenizers
    import torch
    import transformers
    import safetensors
    print("torch", torch.__version__, "transformers", transformers.__version__,
          "tokenizers", tokenizers.__version__, "safetensors", safetensors.__version__,
          flush=True)
    torch.manual_seed(SEED)

    # Token ids from the two real tokenizers, untruncated.
    tok_out = {"strings": strings}
    real_vocab = None
    for key, fname in REAL_TOKENIZERS.items():
        t = tokenizers.Tokenizer.from_file(os.path.join(TOKDIR, fname))
        t.no_truncation()
        t.no_padding()
        tok_out[key] = [t.encode(s).ids for s in strings]
        if real_vocab is None:
            real_vocab = t.get_vocab()
    write_json(os.path.join(outdir, "tokenization.json"), tok_out)
    print("tokenization:", len(strings), "strings", flush=True)

    vocab = small_vocab(real_vocab)
    gen = torch.Generator().manual_seed(SEED)
    ref = {"models": []}
    ref["models"].append(build_embedder("minilm", outdir, vocab, torch, transformers, gen,
                                        layers=6, hidden=128, heads=4, inter=512,
                                        pooling="mean", max_seq=256, dtype=None,
                                        keep_vocab_txt=True))
    ref["models"].append(build_embedder("bge", outdir, vocab, torch, transformers, gen,
                                        layers=12, hidden=96, heads=3, inter=384,
                                        pooling="cls", max_seq=512, dtype=torch.float16,
                                        keep_vocab_txt=False))
    ref["cross"] = build_cross(outdir, vocab, torch, transformers, gen)
    write_json(os.path.join(outdir, "reference.json"), ref)
    for root, _, files in os.walk(outdir):
        for f in files:
            p = os.path.join(root, f)
            print(os.path.getsize(p), p)


if __name__ == "__main__":
    main()
