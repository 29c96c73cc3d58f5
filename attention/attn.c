/*
 * attn.c — the single entry point of the attention kernels.
 *
 * Encoders describe what attention they want in an attn_config (kind, heads,
 * kv_heads, window and global tokens, ALiBi, causal, Infini-attention and
 * LSH settings) and call attn_forward; they never pick a kernel function
 * themselves. This file checks the configuration, sizes the workspace,
 * makes the one allocation the kernel will use and dispatches.
 *
 * Workspace accounting is exact by construction: each kernel lays out its
 * scratch through an attn_arena, and attn_workspace_bytes runs the same
 * layout code against a counting arena (see attention.h). Benchmarks use
 * that number as peak_bytes.
 *
 * Also here: the ALiBi slopes and the per-head settings all kernels share.
 */
#include "attention/attention.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void attn_config_init(attn_config *cfg, int heads, int head_dim)
{
    if (!cfg)
        return;
    memset(cfg, 0, sizeof *cfg);
    cfg->kind = ATTN_DENSE;
    cfg->heads = heads;
    cfg->kv_heads = heads;
    cfg->head_dim = head_dim;
    cfg->scale = 0.0f;
    cfg->window = 0;
    cfg->segment = 0;
    cfg->lsh_buckets = 32;
    cfg->lsh_rounds = 2;
    cfg->lsh_chunk = 64;
    cfg->lsh_seed = 0x6c6374782d6c7368ull; /* "lctx-lsh" */
}

float attn_scale(const attn_config *cfg)
{
    return cfg->scale != 0.0f ? cfg->scale : 1.0f / sqrtf((float)cfg->head_dim);
}

/*
 * ALiBi slopes (Press, Smith, Lewis 2022). For H a power of two the slopes
 * are the geometric sequence 2^(-8/H), 2^(-16/H), ..., 2^(-8). For other H
 * the paper takes the slopes of the nearest smaller power of two P, then
 * fills the remaining H - P heads with the odd-indexed slopes of 2P
 * (every other one, starting with the first), which interleave with the
 * first set.
 */
float attn_alibi_slope(int heads, int h)
{
    if (heads <= 0 || h < 0 || h >= heads)
        return 0.0f;
    int p = 1;
    while (p * 2 <= heads)
        p *= 2;
    if (h < p)
        return exp2f(-8.0f * (float)(h + 1) / (float)p);
    /* slopes of 2p at indices 0, 2, 4, ...: exponent -8 (2i + 1) / (2p) */
    int i = h - p;
    return exp2f(-8.0f * (float)(2 * i + 1) / (float)(2 * p));
}

void attn_head_init(attn_head *h, const attn_config *cfg, int head,
                    const uint8_t *key_mask)
{
    memset(h, 0, sizeof *h);
    h->d = cfg->head_dim;
    h->scale = attn_scale(cfg);
    h->slope = cfg->alibi ? attn_alibi_slope(cfg->heads, head) : 0.0f;
    h->causal = cfg->causal;
    h->key_mask = key_mask;
    h->band = -1;
    h->outside_band = -1;
}

/* NULL when cfg is usable for a sequence of n tokens, else the reason. */
const char *attn_config_check(const attn_config *cfg, int n)
{
    if (!cfg)
        return "no attention config";
    if (n < 0)
        return "negative sequence length";
    if (cfg->heads <= 0 || cfg->head_dim <= 0)
        return "heads and head_dim must be positive";
    if (cfg->kv_heads <= 0 || cfg->heads % cfg->kv_heads != 0)
        return "kv_heads must be positive and divide heads";
    if ((size_t)cfg->heads * (size_t)cfg->head_dim > (size_t)1 << 20)
        return "heads * head_dim too large";
    switch (cfg->kind) {
    case ATTN_DENSE:
    case ATTN_NAIVE:
        return NULL;
    case ATTN_WINDOW:
        if (cfg->window < 0)
            return "window must be >= 0";
        if (cfg->n_globals < 0 || (cfg->n_globals > 0 && !cfg->globals))
            return "n_globals > 0 needs a globals array";
        for (int g = 0; g < cfg->n_globals; g++) {
            if (cfg->globals[g] < 0 || cfg->globals[g] >= n)
                return "global token position out of range";
            if (g > 0 && cfg->globals[g] <= cfg->globals[g - 1])
                return "global token positions must be strictly ascending";
        }
        return NULL;
    case ATTN_INFINI:
        if (cfg->segment < 0)
            return "segment must be >= 0 (0 = whole sequence)";
        return NULL;
    case ATTN_LSH:
        if (cfg->lsh_buckets < 2 || cfg->lsh_buckets % 2 != 0 || cfg->lsh_buckets > (1 << 16))
            return "lsh_buckets must be even, 2 .. 65536";
        if (cfg->lsh_rounds < 1 || cfg->lsh_rounds > 64)
            return "lsh_rounds must be 1 .. 64";
        if (cfg->lsh_chunk < 1)
            return "lsh_chunk must be positive";
        {
            int p = 1;
            while (p < cfg->head_dim)
                p *= 2;
            if (cfg->lsh_buckets / 2 > p)
                return "lsh_buckets / 2 must not exceed head_dim rounded up to a power of two";
            if ((long)cfg->lsh_rounds * p > 32L * 4096)
                return "lsh_rounds * head_dim too large for the hasher";
        }
        return NULL;
    }
    return "unknown attention kind";
}

/* Runs (or, with a counting arena, sizes) the kernel cfg asks for. */
static int dispatch(const attn_config *cfg, const float *q, const float *k, const float *v,
                    const uint8_t *key_mask, int n, float *out, attn_arena *a)
{
    switch (cfg->kind) {
    case ATTN_DENSE:  return attn_dense_run(cfg, q, k, v, key_mask, n, out, a);
    case ATTN_NAIVE:  return attn_naive_run(cfg, q, k, v, key_mask, n, out, a);
    case ATTN_WINDOW: return attn_window_run(cfg, q, k, v, key_mask, n, out, a);
    case ATTN_INFINI: return attn_infini_run(cfg, q, k, v, key_mask, n, out, a);
    case ATTN_LSH:    return attn_lsh_run(cfg, q, k, v, key_mask, n, out, a);
    }
    return -1;
}

size_t attn_workspace_bytes(const attn_config *cfg, int n)
{
    if (attn_config_check(cfg, n) || n == 0)
        return 0;
    attn_arena count = { NULL, 0 };
    if (dispatch(cfg, NULL, NULL, NULL, NULL, n, NULL, &count) != 0)
        return 0;
    return count.used;
}

int attn_forward(const attn_config *cfg, const float *q, const float *k, const float *v,
                 const uint8_t *key_mask, int n, float *out)
{
    if (attn_config_check(cfg, n))
        return -1;
    if (n == 0)
        return 0;
    if (!q || !k || !v || !out)
        return -1;
    attn_arena count = { NULL, 0 };
    if (dispatch(cfg, NULL, NULL, NULL, NULL, n, NULL, &count) != 0)
        return -1;
    attn_arena a = { NULL, 0 };
    a.base = aligned_alloc(64, count.used ? count.used : 64);
    if (!a.base)
        return -1;
    int rc = dispatch(cfg, q, k, v, key_mask, n, out, &a);
    free(a.base);
    return rc;
}
