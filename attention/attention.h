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
    int segment;         /* ATTN_INFINI: segment length */
    int delta_rule;      /* ATTN_INFINI: 1 = delta update, 0 = linear */
    const float *infini_beta; /* ATTN_INFINI: per-head gate logits (heads floats) */
    int lsh_buckets;     /* ATTN_LSH: number of buckets (even) */
    int lsh_rounds;      /* ATTN_LSH: hashing rounds */
    int lsh_chunk;       /* ATTN_LSH: chunk length of the sorted sequence */
    uint64_t lsh_seed;
} attn_config;

/* Fills *cfg with an ordinary multi-head dense configuration. */
void attn_config_init(attn_config *cfg, int heads, int head_dim);

/* out[n x heads*d] = attention(q[n x heads*d], k[n x kv_heads*d],
 * v[n x kv_heads*d]). key_mask (may be NULL): n bytes, 0 = padding key that
 * no query may attend to. A query with no visible key gets zeros.
 * Returns 0, or -1 for an invalid configuration / allocation failure.
 * Thread-safe; allocates only O(n*d + tile) working memory. */
int attn_forward(const attn_config *cfg, const float *q, const float *k, const float *v,
                 const uint8_t *key_mask, int n, float *out);

/* Working memory attn_forward allocates for these arguments, in bytes
 * (benchmarks report it as peak_bytes). */
size_t attn_workspace_bytes(const attn_config *cfg, int n);

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

#endif /* LCTX_ATTENTION_H */
