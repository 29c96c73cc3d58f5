/*
 * attention.h — neural compute for lctx: tensor helpers over OpenBLAS,
 * attention kernels, tokenizers, model loaders and encoders.
 *
 * Internal header of the attention/ module. Symbols use the prefixes
 * tensor_, attn_, spm_, wordpiece_, safetensors_, model_, encoder_ ...; the
 * public lctx_ prefix is kept for include/lctx.h.
 *
 * Layout conventions, fixed so encoders and kernels agree:
 *   - matrices are row-major float32;
 *   - a sequence of n tokens with H heads of size d is an n x (H*d) matrix
 *     (head h occupies columns h*d .. h*d+d-1), exactly what a linear layer
 *     produces; K and V have kv_heads heads (multi-query: kv_heads = 1,
 *     grouped-query: heads % kv_heads == 0, query head h reads kv head
 *     h / (heads / kv_heads)).
 *
 * Sections are owned by different people while the project grows: add to
 * your section, never rewrite the file whole.
 */
#ifndef LCTX_ATTENTION_H
#define LCTX_ATTENTION_H

#include <curl/curl.h>
#include <openssl/types.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* ============================================== tensor helpers (tensor.c) */

/* 64-byte aligned allocation (free with tensor_free). NULL on failure. */
float *tensor_alloc(size_t n_floats);
float *tensor_zalloc(size_t n_floats);
void tensor_free(float *p);

/* Number of threads OpenBLAS may use; 1 when the caller runs its own threads
 * so the two never oversubscribe the cores. */
void tensor_set_threads(int n);

/* y[n x out] = x[n x in] * W^T + b, with W stored as out x in (PyTorch's
 * nn.Linear layout). b may be NULL. */
void tensor_linear(const float *x, int n, int in, const float *W, const float *b,
                   int out, float *y);
/* y[n x out] = x[n x in] * W + b, with W stored as in x out (TensorFlow's
 * dense layout). b may be NULL. */
void tensor_linear_t(const float *x, int n, int in, const float *W, const float *b,
                     int out, float *y);
/* C[m x n] = alpha * A[m x k] * B[k x n] + beta * C, all row-major. */
void tensor_gemm(int m, int n, int k, float alpha, const float *A, const float *B,
                 float beta, float *C);

/* In place over rows of width dim: x = (x - mean) / sqrt(var + eps) * g + b. */
void tensor_layernorm(float *x, int rows, int dim, const float *g, const float *b, float eps);
void tensor_gelu_erf(float *x, size_t n);   /* 0.5 x (1 + erf(x / sqrt 2)) */
void tensor_gelu_tanh(float *x, size_t n);  /* 0.5 x (1 + tanh(sqrt(2/pi)(x + 0.044715 x^3))) */
void tensor_relu(float *x, size_t n);
void tensor_tanh(float *x, size_t n);
void tensor_softmax_rows(float *x, int rows, int cols); /* numerically stable */
void tensor_add(float *y, const float *x, size_t n);     /* y += x */
void tensor_l2_normalize_rows(float *x, int rows, int cols);
/* The current OpenBLAS thread count. */
int tensor_get_threads(void);
/* y[rows] = A[rows x cols] * x (row-major; y overwritten). */
void tensor_gemv(int rows, int cols, const float *A, const float *x, float *y);

/* ============================================== attention (attn_*.c) */

typedef enum attn_kind {
    ATTN_DENSE = 0,    /* tiled, online softmax, O(n*d) memory */
    ATTN_WINDOW,       /* sliding window of `window` each side + global tokens */
    ATTN_INFINI,       /* segments of `segment` tokens + compressive memory */
    ATTN_LSH,          /* Reformer-style bucketed attention */
    ATTN_NAIVE         /* explicit n x n reference; for tests and benchmarks */
} attn_kind;

typedef struct attn_config {
    attn_kind kind;
    int heads;           /* query heads */
    int kv_heads;        /* key/value heads; divides heads */
    int head_dim;        /* d */
    float scale;         /* score scale; 0 means 1/sqrt(head_dim) */
    int causal;          /* 1: token i sees keys j <= i */
    int alibi;           /* 1: add -slope_h * |i - j| with the standard slopes */
    int window;          /* ATTN_WINDOW: keys j with |i - j| <= window */
    const int *globals;  /* ATTN_WINDOW: global token positions, ascending */
    int n_globals;
    int segment;         /* ATTN_INFINI: segment length (0 = whole sequence) */
    int delta_rule;      /* ATTN_INFINI: 1 = delta update, 0 = linear */
    const float *infini_beta; /* ATTN_INFINI: per-head gate logits (heads floats);
                                 sigmoid(beta) weighs the memory; NULL = all 0 */
    int lsh_buckets;     /* ATTN_LSH: number of buckets (even, <= 2 * head_dim
                            rounded up to a power of two) */
    int lsh_rounds;      /* ATTN_LSH: hashing rounds */
    int lsh_chunk;       /* ATTN_LSH: most query rows per chunk of a sorted bucket */
    uint64_t lsh_seed;
} attn_config;

/* Fills *cfg with an ordinary multi-head dense configuration. */
void attn_config_init(attn_config *cfg, int heads, int head_dim);

/* out[n x heads*d] = attention(q[n x heads*d], k[n x kv_heads*d],
 * v[n x kv_heads*d]). key_mask (may be NULL): n bytes, 0 = padding key that
 * no query may attend to. A query with no visible key gets zeros.
 * out must not overlap q, k or v. Returns 0, or -1 for an invalid
 * configuration (attn_config_check says why) / allocation failure.
 * Thread-safe; one allocation per call, O(tile^2) for dense/window/infini,
 * O(n) for LSH, n^2 floats for ATTN_NAIVE. Matrix products use as many
 * OpenBLAS threads as tensor_set_threads allows. Design: docs/attention.md. */
int attn_forward(const attn_config *cfg, const float *q, const float *k, const float *v,
                 const uint8_t *key_mask, int n, float *out);

/* Working memory attn_forward allocates for these arguments, in bytes
 * (benchmarks report it as peak_bytes). */
size_t attn_workspace_bytes(const attn_config *cfg, int n);

/* NULL when cfg is valid for n tokens, else a static one-line reason (what
 * attn_forward's -1 meant, when it was the configuration). */
const char *attn_config_check(const attn_config *cfg, int n);

/* Infini-attention memory of one KV head (attn_infini.c), exposed for tests
 * and for callers that carry a memory across attn_forward calls. M is d x d,
 * z is d, both zero to start; rows of k, v, q are ld floats apart.
 * update: M += s(K)^T V, z += sum_rows s(K) (delta_rule 0), or
 *         M += s(K)^T (V - s(K) M / (s(K) z)) (delta_rule 1), s = ELU + 1;
 *         rows with key_mask 0 are skipped.
 * retrieve: out[n x d] (row stride ldo) = s(Q) M / (s(Q) z); 0 where s(Q) z = 0.
 * Both return 0, or -1 on bad arguments / allocation failure. */
int attn_infini_update(float *M, float *z, const float *k, const float *v, int ld, int n,
                       int d, const uint8_t *key_mask, int delta_rule);
int attn_infini_retrieve(const float *M, const float *z, const float *q, int ld, int n,
                         int d, float *out, int ldo);

/* ============================================== encoders (encoder.c)
 * One interface over every embedding provider, used by the indexer (chunk
 * vectors) and the query side (query vectors, re-ranking):
 *   "use-lite"      the built-in Universal Sentence Encoder lite (encoder_use.c)
 *   "bert:DIR"      a Hugging Face BERT-family model directory (encoder_bert.c)
 *   "http:URL"      an OpenAI-compatible /v1/embeddings endpoint (encoder_http.c)
 * An encoder is thread-safe: encode may be called from several threads. */

typedef struct encoder encoder;

typedef struct encoder_info {
    char name[128];       /* "use-lite", "bert:/path", "http:..." */
    int dim;              /* embedding dimension */
    int max_tokens;       /* model window (0 = unbounded / remote) */
    int is_cross_encoder; /* 1: encoder_score works, encoder_encode does not */
} encoder_info;

/* spec as above; model_dir is where built-in models live (NULL = default:
 * $LCTX_MODEL_DIR, else ./models). On failure returns NULL with err set to one
 * line naming the file and what is wrong. */
encoder *encoder_open(const char *spec, const char *model_dir, char *err, size_t errlen);
void encoder_close(encoder *e);
const encoder_info *encoder_get_info(const encoder *e);
/* out[n x dim] = L2-normalised embeddings of texts[0..n). Returns 0 or -1
 * with err set. */
int encoder_encode(encoder *e, const char *const *texts, int n, float *out,
                   char *err, size_t errlen);
/* Cross-encoders: scores[i] = relevance logit of (query, passages[i]). */
int encoder_score(encoder *e, const char *query, const char *const *passages, int n,
                  float *scores, char *err, size_t errlen);
/* Token ids as the model's tokenizer produces them (special tokens included).
 * *ids is malloc'd. */
int encoder_tokenize(encoder *e, const char *text, int32_t **ids, int *n_ids,
                     char *err, size_t errlen);

/* ---------------------------------------------- encoder backends (encoder.c)
 * encoder.c dispatches on the spec prefix; each backend returns a heap
 * `encoder` whose vtable it fills. The struct is public inside the module so
 * a backend can embed it as the first member of its own state, or keep its
 * state behind `impl`. close frees everything, including the encoder itself.
 * A NULL vtable entry means "not supported by this backend" (for example
 * score on a bi-encoder); the dispatcher turns that into an error message. */

typedef struct encoder_vtable {
    int (*encode)(encoder *e, const char *const *texts, int n, float *out,
                  char *err, size_t errlen);
    int (*score)(encoder *e, const char *query, const char *const *passages, int n,
                 float *scores, char *err, size_t errlen);
    int (*tokenize)(encoder *e, const char *text, int32_t **ids, int *n_ids,
                    char *err, size_t errlen);
    void (*close)(encoder *e);
} encoder_vtable;

struct encoder {
    const encoder_vtable *vt;
    encoder_info info;
    void *impl;           /* backend state */
};

/* Backends. dir / url / path are what follows the prefix of the spec. */
encoder *encoder_use_open(const char *model_path, char *err, size_t errlen); /* encoder_use.c */
encoder *encoder_bert_open(const char *dir, char *err, size_t errlen);       /* encoder_bert.c */
encoder *encoder_http_open(const char *url, char *err, size_t errlen);       /* encoder_http.c */

/* The built-in model directory: model_dir if non-NULL, else $LCTX_MODEL_DIR,
 * else "./models". Writes into buf; returns buf. */
const char *encoder_model_dir(const char *model_dir, char *buf, size_t buflen);

/* ============================================== encoder backends (bert, http)
 * Hugging Face BERT-family models and the OpenAI-compatible HTTP embedder;
 * docs/bert.md tells the whole story. Files: safetensors.c, wordpiece.c,
 * hf_config.c, encoder_bert.c, encoder_http.c, hub.c. */

/* ---- safetensors (safetensors.c): 8-byte little-endian header length, a
 * JSON header, then the raw tensor bytes. Everything is validated at open;
 * afterwards a tensor's data pointer is safe to read for its byte size. */
typedef enum safetensors_dtype {
    SAFETENSORS_F32 = 0, SAFETENSORS_F16, SAFETENSORS_BF16
} safetensors_dtype;

#define SAFETENSORS_MAX_DIMS 8

typedef struct safetensors_tensor {
    const char *name;
    safetensors_dtype dtype;
    int ndim;
    int64_t shape[SAFETENSORS_MAX_DIMS];
    uint64_t count;        /* elements */
    uint64_t nbytes;
    const void *data;      /* into the mapping / caller's buffer */
} safetensors_tensor;

typedef struct safetensors safetensors;

/* mmaps and validates path. NULL with err = "PATH: what is wrong". */
safetensors *safetensors_open(const char *path, char *err, size_t errlen);
/* Same over a caller-owned buffer (kept, not copied); the fuzzer's entry. */
safetensors *safetensors_parse(const void *buf, size_t len, const char *name,
                               char *err, size_t errlen);
void safetensors_close(safetensors *st);
int safetensors_count(const safetensors *st);
const safetensors_tensor *safetensors_at(const safetensors *st, int i);
const safetensors_tensor *safetensors_find(const safetensors *st, const char *name);
const char *safetensors_dtype_name(safetensors_dtype d);
/* A float32 copy of the tensor (f16/bf16 widened); tensor_free it. */
float *safetensors_to_f32(const safetensors_tensor *t);
float safetensors_f16_to_f32(uint16_t h);
float safetensors_bf16_to_f32(uint16_t h);

/* ---- WordPiece with BertNormalizer and BertPreTokenizer (wordpiece.c) */
typedef struct wordpiece_opts {
    int clean_text;          /* drop control characters, whitespace -> ' ' (1) */
    int chinese_chars;       /* put spaces around CJK ideographs (1) */
    int lowercase;           /* (1) */
    int strip_accents;       /* -1: follow lowercase (HF's null), 0, 1 */
    int max_chars_per_word;  /* longer words become [UNK] (100) */
} wordpiece_opts;

typedef struct wordpiece wordpiece;

void wordpiece_opts_init(wordpiece_opts *o);
/* tokens[i] is the piece with id i (vocab.txt line order). Special tokens
 * [UNK] [CLS] [SEP] [PAD] [MASK] are found by name; [UNK], [CLS] and [SEP]
 * are required. name is used in messages. */
wordpiece *wordpiece_new(const char *const *tokens, int n, const wordpiece_opts *o,
                         const char *name, char *err, size_t errlen);
void wordpiece_free(wordpiece *w);
int wordpiece_vocab_size(const wordpiece *w);
int wordpiece_id(const wordpiece *w, const char *piece); /* -1 when absent */
int wordpiece_cls(const wordpiece *w);
int wordpiece_sep(const wordpiece *w);
int wordpiece_pad(const wordpiece *w);                    /* 0 when absent */
/* Ids of text without [CLS]/[SEP]; literal special tokens in the text
 * ("[MASK]") map to their ids, as HF's added tokens do. *ids malloc'd. */
int wordpiece_tokenize(const wordpiece *w, const char *text, size_t len,
                       int32_t **ids, int *n_ids, char *err, size_t errlen);
/* [CLS] a [SEP] (b [SEP]); b may be NULL. Truncated longest-first so the
 * whole fits max_len (>= 3; 0 = no limit). *ids and *type_ids (may be NULL)
 * are malloc'd; type ids are 0 for the first segment, 1 for the second. */
int wordpiece_encode(const wordpiece *w, const char *a, const char *b, int max_len,
                     int32_t **ids, int32_t **type_ids, int *n_ids,
                     char *err, size_t errlen);

/* ---- Hugging Face model directories (hf_config.c) */
/* The whole file at path into a malloc'd, NUL-terminated buffer (*len
 * bytes, the NUL not counted). Shared by every loader in attention/ that
 * reads JSON or vocabulary files. Returns 0; 1 when the file does not
 * exist (err untouched, so callers word it); -1 with err set on a read
 * error, a file over max bytes, or no memory. */
int attn_read_file(const char *path, size_t max, char **out, size_t *len,
                   char *err, size_t errlen);
typedef enum hf_pooling { HF_POOL_CLS = 0, HF_POOL_MEAN } hf_pooling;

typedef struct hf_bert_config {
    int is_cross_encoder;    /* architectures[0] == BertForSequenceClassification */
    int vocab_size, hidden, layers, heads, intermediate;
    int max_positions, type_vocab;
    int num_labels;
    float ln_eps;
    int gelu_tanh;           /* hidden_act gelu_new / gelu_pytorch_tanh; else erf GELU */
    hf_pooling pooling;      /* modules.json + 1_Pooling/config.json; CLS if absent */
    int normalize;           /* a Normalize module, or CLS-pooled default: 1 */
    int max_seq_length;      /* sentence_bert_config.json, else max_positions */
} hf_bert_config;

/* Reads DIR/config.json and the sentence-transformers files. */
int hf_read_bert_config(const char *dir, hf_bert_config *cfg, char *err, size_t errlen);
/* DIR/tokenizer.json (model.vocab + normalizer) or else DIR/vocab.txt. */
wordpiece *hf_read_tokenizer(const char *dir, char *err, size_t errlen);
wordpiece *hf_tokenizer_json(const char *path, char *err, size_t errlen);
wordpiece *hf_vocab_txt(const char *path, char *err, size_t errlen);

/* ---- BERT encoder (encoder_bert.c): BertModel + pooling for embeddings,
 * BertForSequenceClassification (one logit) for re-ranking. Text longer than
 * max_seq_length tokens is truncated, as sentence-transformers does. */
typedef struct bert_model bert_model;
bert_model *bert_model_open(const char *dir, char *err, size_t errlen);
void bert_model_close(bert_model *m);
const hf_bert_config *bert_model_config(const bert_model *m);
const wordpiece *bert_model_tokenizer(const bert_model *m);
/* Final hidden states out[n x hidden] of one sequence. */
int bert_model_forward(const bert_model *m, const int32_t *ids, const int32_t *type_ids,
                       int n, float *out, char *err, size_t errlen);
/* Several sequences at once: ids/type_ids (may be NULL) concatenated,
 * lens[0..nseq); out[sum(lens) x hidden]. Same results as one by one. */
int bert_model_forward_batch(const bert_model *m, const int32_t *ids, const int32_t *type_ids,
                             const int *lens, int nseq, float *out, char *err, size_t errlen);

/* ---- OpenAI-compatible embeddings over HTTP (encoder_http.c) */
typedef struct http_embed_opts {
    const char *url;         /* base ending in /v1, or the full .../embeddings */
    const char *model;       /* "model" field; NULL: $LCTX_EMBED_MODEL or "text-embedding-3-small" */
    const char *api_key;     /* NULL: $LCTX_EMBED_API_KEY (may be unset) */
    int batch;               /* texts per request (64) */
    long connect_timeout_ms; /* (10000) */
    long timeout_ms;         /* whole request (60000) */
    int max_retries;         /* on timeouts, 429 and 5xx (4) */
    long backoff_ms;         /* first retry delay, doubled each time (500) */
    int dim;                 /* expected dimension; 0: learn it with a probe at open */
} http_embed_opts;

void http_embed_opts_init(http_embed_opts *o);
encoder *http_embed_open(const http_embed_opts *o, char *err, size_t errlen);

/* ---- libcurl and libcrypto, opened when needed (dynlib.c) */
/* The entry points lctx uses, bound with dlopen/dlsym: the library is not
 * linked with them, so that programs that never embed over HTTP or fetch a
 * model do not load them (and the thirty libraries libcurl brings). Each
 * user opens its own table and closes it; the loader counts the opens. */
typedef struct dyn_curl {
    void *lib;               /* first: dynlib.c relies on it; NULL when closed */
    CURLcode (*global_init)(long flags);
    void (*global_cleanup)(void);
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *c, CURLoption opt, ...);
    CURLcode (*easy_perform)(CURL *c);
    CURLcode (*easy_getinfo)(CURL *c, CURLINFO info, ...);
    void (*easy_cleanup)(CURL *c);
    const char *(*easy_strerror)(CURLcode code);
    struct curl_slist *(*slist_append)(struct curl_slist *list, const char *s);
    void (*slist_free_all)(struct curl_slist *list);
} dyn_curl;

typedef struct dyn_crypto {
    void *lib;               /* first, as in dyn_curl */
    const EVP_MD *(*sha256)(void);
    int (*digest)(const void *data, size_t n, unsigned char *md, unsigned int *size,
                  const EVP_MD *type, ENGINE *impl);
    EVP_MD_CTX *(*ctx_new)(void);
    void (*ctx_free)(EVP_MD_CTX *ctx);
    int (*init_ex)(EVP_MD_CTX *ctx, const EVP_MD *type, ENGINE *impl);
    int (*update)(EVP_MD_CTX *ctx, const void *d, size_t n);
    int (*final_ex)(EVP_MD_CTX *ctx, unsigned char *md, unsigned int *size);
} dyn_crypto;

/* OpenBLAS's entry points that lctx calls, bound once per process: the
 * program's own when it links OpenBLAS (or defines all four), else
 * OpenBLAS opened with dlopen.
 * blas_ready: 0, or -1 with err (may be NULL) naming the library when
 * neither can be had. Code that reaches BLAS checks it at its entry point
 * (encoder open, exact search); the calls below assume it. Arguments are
 * cblas.h's (CblasRowMajor, CblasTrans, ...), as ints, so that this header
 * need not include cblas.h (whose <complex.h> defines I). */
int blas_ready(char *err, size_t errlen);
void blas_sgemm(int order, int trans_a, int trans_b, int m, int n, int k, float alpha,
                const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc);
void blas_sgemv(int order, int trans, int m, int n, float alpha, const float *a, int lda,
                const float *x, int incx, float beta, float *y, int incy);
void blas_set_threads(int n);
int blas_get_threads(void);

/* An entry point to bind: its name and where its pointer goes in a table. */
typedef struct dyn_sym {
    const char *name;
    size_t at;
} dyn_sym;

/* Opens soname and binds syms into the table api (size bytes, its first
 * member the library handle, void *). 0, or -1 with err set and api
 * zeroed: a missing library names the package to install, a missing
 * symbol itself. dyn_close closes a table so opened (or zeroed). For
 * libraries whose types this header should not carry (ICU: tok_sea.c). */
int dyn_open(void *api, size_t size, const char *soname, const char *package,
             const dyn_sym *syms, size_t n, char *err, size_t errlen);
void dyn_close(void *api, size_t size);

/* 0, or -1 with a one-line err naming the library and the package to
 * install. The _from forms take the soname (tests name a missing one). */
int dyn_curl_open(dyn_curl *c, char *err, size_t errlen);
int dyn_curl_open_from(dyn_curl *c, const char *soname, char *err, size_t errlen);
void dyn_curl_close(dyn_curl *c);
int dyn_crypto_open(dyn_crypto *c, char *err, size_t errlen);
int dyn_crypto_open_from(dyn_crypto *c, const char *soname, char *err, size_t errlen);
void dyn_crypto_close(dyn_crypto *c);

/* ---- Hugging Face hub download (hub.c) */
/* Downloads ORG/NAME's model files from $LCTX_HF_ENDPOINT (default
 * https://huggingface.co) into dest_dir, resuming .part files, and writes
 * dest_dir/manifest.sha256. progress (may be NULL) gets bytes done / total
 * of the current file. 0, or -1 with a one-line err. */
int hub_fetch(const char *org_name, const char *dest_dir,
              void (*progress)(void *, uint64_t, uint64_t), void *ctx,
              char *err, size_t errlen);
/* SHA-256 of a file as 64 hex digits + NUL. 0 or -1. */
int hub_sha256_file(const char *path, char hex[65], char *err, size_t errlen);
/* SHA-256 of a buffer. 0, or -1 with err set (libcrypto missing). */
int hub_sha256(const void *data, size_t len, uint8_t out[32], char *err, size_t errlen);

/* ============================================== lctx model files (model_file.c)
 * lctx's own single-file model format (docs/model-format.md): a header with
 * the architecture name and numeric hyper-parameters, a vocabulary of
 * (piece, score) pairs, and 64-byte aligned little-endian float32 tensors,
 * all covered by a checksum. Opened files are mmap'ed read-only; tensors
 * point straight into the mapping. */

#define MODEL_MAX_DIMS 4
#define MODEL_NAME_MAX 64

typedef struct model_tensor {
    char name[MODEL_NAME_MAX];
    int ndim;
    int64_t shape[MODEL_MAX_DIMS];
    size_t count;         /* number of floats */
    const float *data;    /* into the mapping (reader) or the caller (writer) */
} model_tensor;

typedef struct model_file model_file;

/* Opens and fully validates path (bounds, alignment, checksum). On failure
 * NULL with err = "PATH: what is wrong". */
model_file *model_file_open(const char *path, char *err, size_t errlen);
/* Same over a caller-owned buffer (kept, not copied); what the fuzzer drives.
 * name is used in messages only. */
model_file *model_file_parse(const void *buf, size_t len, const char *name,
                             char *err, size_t errlen);
void model_file_close(model_file *m);
const char *model_file_arch(const model_file *m);
const char *model_file_path(const model_file *m);
/* A numeric hyper-parameter; returns 0, or -1 when absent. */
int model_file_config(const model_file *m, const char *key, double *out);
int model_file_n_config(const model_file *m);
const char *model_file_config_key(const model_file *m, int i, double *value);
int model_file_n_tensors(const model_file *m);
const model_tensor *model_file_tensor_at(const model_file *m, int i);
const model_tensor *model_file_tensor(const model_file *m, const char *name);
/* Vocabulary: n pieces, each UTF-8 bytes (not NUL-terminated) and a score. */
int model_file_vocab_size(const model_file *m);
const char *model_file_piece(const model_file *m, int i, size_t *len);
double model_file_score(const model_file *m, int i);
/* Checksum over the whole file as stored in its header. */
uint64_t model_file_checksum(const model_file *m);
/* The checksum a file of these bytes must carry (its 8 bytes at
 * MODEL_FILE_CHECKSUM_OFFSET read as zero); lets tests and the fuzzer build
 * structurally broken files that still pass the checksum. */
#define MODEL_FILE_CHECKSUM_OFFSET 24
uint64_t model_file_hash(const void *buf, size_t len);

typedef struct model_writer model_writer;
model_writer *model_writer_new(const char *arch);
void model_writer_free(model_writer *w);
int model_writer_config(model_writer *w, const char *key, double value);
/* data is referenced, not copied: keep it alive until save. */
int model_writer_tensor(model_writer *w, const char *name, int ndim, const int64_t *shape,
                        const float *data);
int model_writer_piece(model_writer *w, const char *piece, size_t len, double score);
/* Writes path atomically (temporary file + rename). */
int model_writer_save(model_writer *w, const char *path, char *err, size_t errlen);

/* ============================================== SentencePiece unigram (spm.c)
 * Tokenizer of USE-lite, bit-compatible with the TensorFlow.js one: NFKC,
 * spaces to U+2581 with one in front, Viterbi over piece scores, unknown
 * characters as id 0 with consecutive unknowns merged. */

typedef struct spm spm;
/* pieces[i] has lens[i] bytes; the first `reserved` ids are control symbols
 * never matched in text. */
spm *spm_new(const char *const *pieces, const size_t *lens, const double *scores, int n,
             int reserved, char *err, size_t errlen);
spm *spm_from_model(const model_file *m, char *err, size_t errlen);
void spm_free(spm *s);
int spm_vocab_size(const spm *s);
/* *ids is malloc'd (NULL when *n_ids is 0). Returns 0, or -1 with err set
 * (allocation failure, text that is not UTF-8 is repaired, not refused). */
int spm_encode(const spm *s, const char *text, size_t len, int32_t **ids, int *n_ids,
               char *err, size_t errlen);

/* ============================================== TF.js conversion (tfjs_convert.c)
 * Converts a TensorFlow.js graph model of USE-lite (model.json + shards in
 * dir, plus vocab.json) into an lctx model file at out_path. */
int tfjs_convert_use(const char *dir, const char *vocab_path, const char *out_path,
                     char *err, size_t errlen);

/* ============================================== USE-lite (encoder_use.c) */

typedef struct use_model use_model;
use_model *use_model_open(const char *path, char *err, size_t errlen);
use_model *use_model_from_file(model_file *m, char *err, size_t errlen); /* takes m */
void use_model_close(use_model *u);
int use_model_dim(const use_model *u);
int use_model_max_tokens(const use_model *u);
const spm *use_model_spm(const use_model *u);

/* How sequences longer than max_tokens are handled. */
typedef enum use_long_mode {
    USE_LONG_WINDOW = 0,  /* default: sliding-window attention over all tokens */
    USE_LONG_TRUNCATE,    /* what the original graph does: keep the first max_tokens */
    USE_LONG_DENSE        /* full dense attention over all tokens (validation) */
} use_long_mode;

/* out[n x dim] from token ids: seqs[i] has lens[i] ids. Thread-safe. */
int use_embed_ids(const use_model *u, const int32_t *const *seqs, const int *lens, int n,
                  use_long_mode mode, float *out, char *err, size_t errlen);
int use_embed_texts(const use_model *u, const char *const *texts, int n, use_long_mode mode,
                    float *out, char *err, size_t errlen);

/* ============================================== LSH hashing (lsh_hash.c)
 * Signs of pseudo-random structured rotations (3 rounds of random +-1
 * diagonal then fast Walsh-Hadamard transform, on the dimension padded to a
 * power of two p), as FALCONN does. Shared by the vector index
 * (query/lsh_*.c) and Reformer-style LSH attention. A hasher is immutable
 * after creation (thread-safe); callers pass working memory. */

typedef struct lsh_hasher lsh_hasher;

/* dim >= 1, k_bits in 1..32 bits per table, n_tables in 1..4096. The seed
 * fully determines the rotations. NULL with err set on failure. */
lsh_hasher *lsh_hasher_new(int dim, int k_bits, int n_tables, uint64_t seed,
                           char *err, size_t errlen);
void lsh_hasher_free(lsh_hasher *h);
int lsh_hasher_dim(const lsh_hasher *h);
int lsh_hasher_bits(const lsh_hasher *h);
int lsh_hasher_tables(const lsh_hasher *h);
int lsh_hasher_padded_dim(const lsh_hasher *h);   /* p */
int lsh_hasher_rotations(const lsh_hasher *h);    /* R = ceil(L*K / p) */
size_t lsh_hasher_work_floats(const lsh_hasher *h); /* R * (p + 2) */

/* codes[0..L): bit j of table t is 1 when rotated coordinate t*K+j (rotations
 * laid end to end) is > 0. margins (may be NULL): L*K floats, |coordinate|,
 * the per-bit confidence used by multi-probe. work: lsh_hasher_work_floats. */
void lsh_hasher_hash(const lsh_hasher *h, const float *x, uint32_t *codes,
                     float *margins, float *work);
/* out[0..p) = rotation r (0..R-1) of x, orthonormal: out = p^-1.5 H D3 H D2 H D1 x. */
void lsh_hasher_rotate(const lsh_hasher *h, int r, const float *x, float *out);
/* In-place unnormalised Walsh-Hadamard transform, p a power of two. */
void lsh_fwht(float *x, int p);
/* Cross-polytope bucket in 0..2m-1: argmax_i |z_i|, + m when z_i < 0. */
int lsh_argmax_signed(const float *z, int m);

/* Cross-polytope family (FALCONN): each table concatenates per_table hash
 * functions, function f of table t being the signed argmax (lsh_argmax_signed)
 * of the first cp_dim coordinates of its own rotation t*per_table + f; a
 * function has 2*cp_dim values, log2(2*cp_dim) bits. With this family
 * lsh_hasher_hash's margins are the rotated coordinates (rotation r at
 * r*cp_dim), lsh_hasher_margin_floats of them. */
enum { LSH_HYPERPLANE = 0, LSH_CROSSPOLYTOPE = 1 };
lsh_hasher *lsh_hasher_new_xp(int dim, int per_table, int cp_dim, int n_tables, uint64_t seed,
                              char *err, size_t errlen);
int lsh_hasher_family(const lsh_hasher *h);
int lsh_hasher_per_table(const lsh_hasher *h);
int lsh_hasher_cp_dim(const lsh_hasher *h);
int lsh_hasher_fn_bits(const lsh_hasher *h);
size_t lsh_hasher_margin_floats(const lsh_hasher *h);

/* ============================================== kernel internals (attn_*.c)
 * Shared by the attention kernels, their tests and the benchmark only.
 */
/*
 * what the attention kernels (attn_*.c) share and nobody
 * else needs: the tiled online-softmax step, the workspace arena, ALiBi
 * slopes and config checks.
 *
 * The one idea every fast kernel here is built on is the tile step
 * (attn_tile.c): given a block of query rows with their running softmax state
 * (max m, normaliser l, unnormalised output O) and a block of keys/values, it
 * folds the keys into the state with two sgemm calls and a rescale, so that
 * the full n x n score matrix never exists. Dense attention walks every key
 * block, the sliding window walks the band plus a gathered block of global
 * keys, Infini-attention walks its segment, LSH walks the keys of matching
 * buckets. Masking rules differ between kernels, so the step takes a small
 * description of which (query, key) pairs are visible.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Tile sizes. 256 query rows x 256 keys: the score tile is 256 KiB, the
 * query block (d = 64) 64 KiB, a key block and a value block 64 KiB each,
 * together under 512 KiB, inside a 1 MiB (AMD Zen) or 2 MiB (Intel) L2, and
 * big enough that OpenBLAS's fixed costs per call (packing the key block,
 * the edges of the micro-kernel grid) are spread over many rows. Measured
 * against 64/128 rows and 128/512 keys: see docs/attention.md. The sliding
 * window uses half-height query blocks, because a block of tq rows must
 * touch tq + 2w keys to cover 2w + 1 useful ones. */
#ifndef ATTN_TILE_Q
#define ATTN_TILE_Q 256
#endif
#ifndef ATTN_TILE_K
#define ATTN_TILE_K 256
#endif
#ifndef ATTN_WINDOW_TILE_Q
#define ATTN_WINDOW_TILE_Q 128
#endif

/* ------------------------------------------------------------ arena
 * Every kernel takes its working memory from one allocation. It describes
 * its pieces twice with the same code: once against a counting arena (base
 * NULL) to learn the size, which attn_workspace_bytes reports, and once
 * against the real block. So the reported figure is what is allocated. */
typedef struct attn_arena {
    char *base;     /* NULL while counting */
    size_t used;    /* bytes handed out so far, 64-byte granules */
} attn_arena;

/* n floats from the arena (NULL while counting). */
float *attn_arena_floats(attn_arena *a, size_t n);
int *attn_arena_ints(attn_arena *a, size_t n);

/* ------------------------------------------------------------ tile step */

/* Which (query i, key j) pairs a step may use, per head. */
typedef struct attn_head {
    int d;
    float scale;            /* applied to q.k */
    float slope;            /* ALiBi: score -= slope * |i - j|; 0 = off */
    int causal;             /* hide j > i */
    const uint8_t *key_mask;/* by key position; 0 = hidden; NULL = all visible */
    int band;               /* >= 0: hide |i - j| > band */
    int outside_band;       /* >= 0: hide |i - j| <= outside_band (global keys
                               already covered by the band pass) */
    /* LSH rule (qcode NULL = none): the caller pairs only queries and keys
     * of the same bucket in round code_round; the step hides pairs that
     * already shared a bucket in an earlier round (qcode[r n + i] ==
     * kcode[r n + j], r < code_round), so a key matching in several rounds
     * is counted once. n = code_n. */
    const int *qcode, *kcode;
    int code_n, code_round;
} attn_head;

/* A block of query rows and its running state. Row r sits at position
 * pos ? pos[r] : first + r in the sequence. */
typedef struct attn_rows {
    const float *q; int ldq;
    float *o; int ldo;      /* running unnormalised output, then the result */
    float *m, *l;           /* running max and normaliser, one per row */
    int n, first;
    const int *pos;
} attn_rows;

/* A block of keys and values (same row stride). */
typedef struct attn_keys {
    const float *k, *v; int ld;
    int n, first;
    const int *pos;
} attn_keys;

/* Scratch for one step: scores of up to tile_q x tile_k, one row of
 * key-mask bias (0 or -inf per key) and the keys' positions. */
typedef struct attn_scratch {
    float *s;
    float *kb;
    int *kp;
    int tile_q, tile_k;
} attn_scratch;

void attn_scratch_take(attn_arena *a, attn_scratch *sc, int tile_q, int tile_k);

/* m = -inf, l = 0, O = 0 for the rows. */
void attn_rows_begin(const attn_rows *rows, int d);
/* Folds keys into rows. keys->n <= sc->tile_k and rows->n <= sc->tile_q. */
void attn_tile_step(const attn_head *h, attn_scratch *sc, const attn_rows *rows,
                    const attn_keys *keys);
/* O /= l; rows that saw no visible key become zeros. */
void attn_rows_end(const attn_rows *rows, int d);

/*
 * e^x, vectorisable (a static inline so loops that call it vectorise), for
 * the attention rows and the activations in tensor.c.
 *
 * e^t = 2^k * e^r with k = round(t / ln 2) and r = t - k ln 2 in
 * [-ln2/2, ln2/2]. e^r is a degree-6 polynomial (the classic Cephes expf
 * coefficients, relative error about 1 ulp on that interval) evaluated by
 * Horner's rule with fused multiply-adds (fmaf is one instruction with
 * -march=native); 2^k is built by writing k + 127 into the exponent bits.
 * ln 2 is split into a high part with few mantissa bits and a small
 * correction so k ln 2 is subtracted without rounding error. k is rounded
 * by adding and subtracting 1.5 * 2^23 (the FPU rounds to nearest; floorf
 * would do, but GCC will not vectorise it without -ffast-math).
 *
 * t is clamped to [-87.3, 88.3] to keep k + 127 a valid exponent (plain
 * selects: single min/max instructions), and t below -87.3, including -inf
 * from masking, gives exactly 0.
 */
static inline float attn_expf(float t0)
{
    const float log2e = 1.44269504088896341f;
    const float ln2_hi = 0.693359375f;
    const float ln2_lo = -2.12194440e-4f;
    const float round_magic = 12582912.0f; /* 1.5 * 2^23 */
    float t = t0 > -87.3f ? t0 : -87.3f;
    t = t < 88.3f ? t : 88.3f;
    float kf = fmaf(t, log2e, round_magic) - round_magic;
    float r = fmaf(-kf, ln2_hi, t);
    r = fmaf(-kf, ln2_lo, r);
    float p = 1.9875691500e-4f;
    p = fmaf(p, r, 1.3981999507e-3f);
    p = fmaf(p, r, 8.3334519073e-3f);
    p = fmaf(p, r, 4.1665795894e-2f);
    p = fmaf(p, r, 1.6666665459e-1f);
    p = fmaf(p, r, 5.0000001201e-1f);
    p = fmaf(p, r * r, r) + 1.0f;
    int32_t bits = ((int32_t)kf + 127) << 23;   /* 2^k as float bits */
    float two_k;
    memcpy(&two_k, &bits, sizeof two_k);
    return t0 < -87.3f ? 0.0f : p * two_k;
}

/* e^x for a row, vectorisable, accurate to a few ulp; exactly 0 for
 * x = -inf (masked scores). Writes y[i] = e^(x[i] - shift), returns the sum. */
float attn_exp_shift_sum(float *x, int n, float shift);
/* Row sum and max, vectorised in fixed-order lanes. */
float attn_sum(const float *x, int n);
float attn_max(const float *x, int n);

/* ------------------------------------------------------------ helpers */

/* Standard ALiBi slope of head h of heads (Press et al.): for a power of two
 * H, 2^(-8(h+1)/H); otherwise the H' = 2^floor(log2 H) slopes followed by
 * every other slope of 2H'. */
float attn_alibi_slope(int heads, int h);

/* Fills the per-head fields shared by all kernels. */
void attn_head_init(attn_head *h, const attn_config *cfg, int head,
                    const uint8_t *key_mask);
float attn_scale(const attn_config *cfg);

/* LSH attention's hashing (attn_lsh.c), exposed so tests can rebuild the
 * buckets: the hasher attn_forward uses for cfg (one rotation per round,
 * from lsh_hash.c), and the bucket of x in a round (work: padded-dim floats). */
lsh_hasher *attn_lsh_hasher(const attn_config *cfg, char *err, size_t errlen);
int attn_lsh_bucket(const lsh_hasher *h, int round, int buckets, const float *x, float *work);

/* Kernels. Each lays out its workspace in *a; when a->base is NULL it only
 * counts and returns 0 without touching the data. */
int attn_dense_run(const attn_config *cfg, const float *q, const float *k, const float *v,
                   const uint8_t *key_mask, int n, float *out, attn_arena *a);
int attn_naive_run(const attn_config *cfg, const float *q, const float *k, const float *v,
                   const uint8_t *key_mask, int n, float *out, attn_arena *a);
int attn_window_run(const attn_config *cfg, const float *q, const float *k, const float *v,
                    const uint8_t *key_mask, int n, float *out, attn_arena *a);
int attn_infini_run(const attn_config *cfg, const float *q, const float *k, const float *v,
                    const uint8_t *key_mask, int n, float *out, attn_arena *a);
int attn_lsh_run(const attn_config *cfg, const float *q, const float *k, const float *v,
                 const uint8_t *key_mask, int n, float *out, attn_arena *a);

/* ============================================ error messages (errmsg.c) */

/* Formats a message into err[0..errlen); does nothing when err is NULL or
 * errlen is 0. */
void attn_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The same with "name: " in front (name must not be NULL), from a va_list,
 * for loaders whose messages name the file or tensor at fault. */
void attn_verr_named(char *err, size_t errlen, const char *name, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

#endif /* LCTX_ATTENTION_H */
