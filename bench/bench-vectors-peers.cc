/*
 * bench-vectors-peers.cc — the peers of lctx's LSH index on the same vectors
 * and queries as bench-vectors: FAISS IndexLSH (plain, and re-ranked exactly
 * with IndexRefineFlat), FAISS IndexHNSWFlat and hnswlib, single thread.
 *
 * Same files (--base, --queries: uint32 n, d then float32 rows), same
 * cosine similarity (vectors normalised, inner-product metric), same ground
 * truth (lctx's exact search, OpenBLAS), same JSON line per measurement as
 * bench-vectors --json, so bench/vectors.mk can concatenate and plot them.
 * memory_bytes is computed from each index's own arrays (codes, vectors,
 * graph links), as the libraries allocate them: the process's resident set
 * cannot tell one index from the memory a freed one left behind.
 *
 * Single thread: FAISS parallelises with OpenMP and BLAS; both are set to one
 * thread. omp_set_num_threads is looked up at run time (libgomp comes in with
 * libfaiss) so the build line needs no -fopenmp.
 *
 * usage: bench-vectors-peers [--base F --queries F] [--json] [--nbase N]
 *        [--nq N] [--only lsh|hnsw|hnswlib] [--M 16] [--efc 100]
 */
#include <dlfcn.h>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexLSH.h>
#include <faiss/IndexRefine.h>
#include <hnswlib/hnswlib.h>

extern "C" {
#include "query/query.h"

/* ef values swept for both HNSW implementations: dense around recall 0.90
 * to 0.97, where the comparison with lctx is made at matched recall. */
#define EF_GRID {10, 20, 40, 60, 80, 100, 120, 140, 160, 200, 240, 320, 480}
void openblas_set_num_threads(int);
}

namespace {

const int TOPK = 10;

struct Matrix {
    uint32_t n = 0, d = 0;
    std::vector<float> v;
};

struct Opts {
    std::string base, queries, only;
    bool json = false;
    long nbase = 0, nq = 0;
    int M = 16, efc = 100;
};

double now_s()
{
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

bool load(const std::string &path, long max_rows, Matrix &m)
{
    FILE *f = fopen(path.c_str(), "rb");
    uint32_t hdr[2];
    if (!f || fread(hdr, 4, 2, f) != 2 || hdr[1] == 0) {
        fprintf(stderr, "bench-vectors-peers: %s: cannot read (run tools/fetch-glove.sh)\n", path.c_str());
        if (f)
            fclose(f);
        return false;
    }
    m.n = hdr[0];
    m.d = hdr[1];
    if (max_rows > 0 && (uint32_t)max_rows < m.n)
        m.n = (uint32_t)max_rows;
    m.v.resize((size_t)m.n * m.d);
    bool ok = fread(m.v.data(), 4, m.v.size(), f) == m.v.size();
    fclose(f);
    if (!ok) {
        fprintf(stderr, "bench-vectors-peers: %s: short file\n", path.c_str());
        return false;
    }
    for (uint32_t i = 0; i < m.n; i++) {
        float *x = &m.v[(size_t)i * m.d];
        double ss = 0;
        for (uint32_t j = 0; j < m.d; j++)
            ss += (double)x[j] * x[j];
        float inv = ss > 0 ? (float)(1.0 / sqrt(ss)) : 0.0f;
        for (uint32_t j = 0; j < m.d; j++)
            x[j] *= inv;
    }
    return true;
}

double recall_of(const std::vector<int64_t> &truth, const std::vector<int64_t> &got, size_t nq)
{
    size_t found = 0;
    for (size_t q = 0; q < nq; q++)
        for (int i = 0; i < TOPK; i++)
            for (int j = 0; j < TOPK; j++)
                found += got[q * TOPK + i] >= 0 && got[q * TOPK + i] == truth[q * TOPK + j];
    return (double)found / ((double)nq * TOPK);
}

void emit(const Opts &o, const char *method, const std::string &params, double recall, double qps,
          double build_s, size_t mem)
{
    if (o.json)
        printf("{\"method\":\"%s\",\"params\":%s,\"recall_at_10\":%.4f,\"qps\":%.1f,"
               "\"build_seconds\":%.3f,\"memory_bytes\":%zu}\n",
               method, params.c_str(), recall, qps, build_s, mem);
    else
        printf("%-18s %-52s recall@10 %.4f  %9.1f q/s  build %7.2f s  mem %7.1f MB\n", method,
               params.c_str(), recall, qps, build_s, mem / 1048576.0);
    fflush(stdout);
}

/* Runs the queries one at a time through a FAISS index; returns qps. */
double faiss_queries(const faiss::Index &ix, const Matrix &q, std::vector<int64_t> &got)
{
    std::vector<float> dist(TOPK);
    std::vector<faiss::Index::idx_t> lab(TOPK);
    double t0 = now_s();
    for (size_t i = 0; i < q.n; i++) {
        ix.search(1, &q.v[i * q.d], TOPK, dist.data(), lab.data());
        for (int j = 0; j < TOPK; j++)
            got[i * TOPK + j] = lab[j];
    }
    return q.n / (now_s() - t0);
}

void bench_faiss_lsh(const Opts &o, const Matrix &b, const Matrix &q,
                     const std::vector<int64_t> &truth, std::vector<int64_t> &got)
{
    for (int nbits : {256, 1024}) {
        double t0 = now_s();
        faiss::IndexLSH lsh(b.d, nbits, true, true);   /* random rotation, trained thresholds */
        lsh.train(b.n, b.v.data());
        lsh.add(b.n, b.v.data());
        double build = now_s() - t0;
        size_t mem = lsh.codes.size() + (size_t)b.d * nbits * 4 + nbits * 4;
        double qps = faiss_queries(lsh, q, got);
        emit(o, "faiss-lsh", "{\"nbits\":" + std::to_string(nbits) + ",\"rerank\":0}",
             recall_of(truth, got, q.n), qps, build, mem);
        /* Hamming candidates re-ranked exactly against the float vectors:
         * the fair comparison with lctx, which also re-scores. */
        faiss::IndexRefineFlat refine(&lsh, b.v.data());
        size_t mem2 = mem + (size_t)b.n * b.d * 4;
        for (float kf : {10.0f, 100.0f, 1000.0f}) {
            refine.k_factor = kf;
            qps = faiss_queries(refine, q, got);
            emit(o, "faiss-lsh-refine",
                 "{\"nbits\":" + std::to_string(nbits) + ",\"k_factor\":" + std::to_string((int)kf) + "}",
                 recall_of(truth, got, q.n), qps, build, mem2);
        }
    }
}

void bench_faiss_hnsw(const Opts &o, const Matrix &b, const Matrix &q,
                      const std::vector<int64_t> &truth, std::vector<int64_t> &got)
{
    double t0 = now_s();
    faiss::IndexHNSWFlat ix(b.d, o.M, faiss::METRIC_INNER_PRODUCT);
    ix.hnsw.efConstruction = o.efc;
    ix.add(b.n, b.v.data());
    double build = now_s() - t0;
    size_t mem = (size_t)b.n * b.d * 4 + ix.hnsw.neighbors.size() * sizeof(ix.hnsw.neighbors[0]) +
                 ix.hnsw.levels.size() * sizeof(int) + ix.hnsw.offsets.size() * sizeof(size_t);
    for (int ef : EF_GRID) {
        ix.hnsw.efSearch = ef;
        double qps = faiss_queries(ix, q, got);
        emit(o, "faiss-hnsw",
             "{\"M\":" + std::to_string(o.M) + ",\"efConstruction\":" + std::to_string(o.efc) +
                 ",\"efSearch\":" + std::to_string(ef) + "}",
             recall_of(truth, got, q.n), qps, build, mem);
    }
}

void bench_hnswlib(const Opts &o, const Matrix &b, const Matrix &q,
                   const std::vector<int64_t> &truth, std::vector<int64_t> &got)
{
    double t0 = now_s();
    hnswlib::InnerProductSpace space(b.d);
    hnswlib::HierarchicalNSW<float> ix(&space, b.n, o.M, o.efc);
    for (size_t i = 0; i < b.n; i++)
        ix.addPoint(&b.v[i * b.d], i);
    double build = now_s() - t0;
    /* level 0 block (links + vector + label per element) + upper-level links */
    size_t mem = ix.max_elements_ * ix.size_data_per_element_;
    for (size_t i = 0; i < b.n; i++)
        mem += (size_t)ix.element_levels_[i] * ix.size_links_per_element_ + sizeof(void *);
    for (int ef : EF_GRID) {
        ix.setEf(ef);
        double t1 = now_s();
        for (size_t i = 0; i < q.n; i++) {
            auto res = ix.searchKnn(&q.v[i * q.d], TOPK);
            /* a max-heap by distance: pop from the worst */
            for (int j = TOPK - 1; j >= 0; j--) {
                got[i * TOPK + j] = res.empty() ? -1 : (int64_t)res.top().second;
                if (!res.empty())
                    res.pop();
            }
        }
        double qps = q.n / (now_s() - t1);
        emit(o, "hnswlib",
             "{\"M\":" + std::to_string(o.M) + ",\"efConstruction\":" + std::to_string(o.efc) +
                 ",\"ef\":" + std::to_string(ef) + "}",
             recall_of(truth, got, q.n), qps, build, mem);
    }
}

bool parse(int argc, char **argv, Opts &o)
{
    const char *cache = getenv("LCTX_CACHE"), *home = getenv("HOME");
    std::string dir = cache ? std::string(cache) + "/glove100"
                            : std::string(home ? home : ".") + "/.cache/lctx/glove100";
    o.base = dir + "/base.fbin";
    o.queries = dir + "/queries.fbin";
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : nullptr;
        if (a == "--json") o.json = true;
        else if (a == "--base" && v) { o.base = v; i++; }
        else if (a == "--queries" && v) { o.queries = v; i++; }
        else if (a == "--nbase" && v) { o.nbase = atol(v); i++; }
        else if (a == "--nq" && v) { o.nq = atol(v); i++; }
        else if (a == "--only" && v) { o.only = v; i++; }
        else if (a == "--M" && v) { o.M = atoi(v); i++; }
        else if (a == "--efc" && v) { o.efc = atoi(v); i++; }
        else {
            fprintf(stderr, "usage: bench-vectors-peers [--base F --queries F] [--json] [--nbase N] [--nq N]\n"
                            "       [--only lsh|hnsw|hnswlib] [--M 16] [--efc 100]\n");
            return false;
        }
    }
    return true;
}

}  // namespace

int main(int argc, char **argv)
{
    Opts o;
    if (!parse(argc, argv, o))
        return 2;
    openblas_set_num_threads(1);
    if (auto set = (void (*)(int))dlsym(RTLD_DEFAULT, "omp_set_num_threads"))
        set(1);
    Matrix b, q;
    if (!load(o.base, o.nbase, b) || !load(o.queries, o.nq, q))
        return 1;
    if (b.d != q.d) {
        fprintf(stderr, "bench-vectors-peers: dimension mismatch\n");
        return 1;
    }
    std::vector<int64_t> truth((size_t)q.n * TOPK), got((size_t)q.n * TOPK);
    if (lsh_exact_topk(b.v.data(), b.n, (int)b.d, q.v.data(), q.n, TOPK, nullptr, truth.data(),
                       nullptr) != 0) {
        fprintf(stderr, "bench-vectors-peers: out of memory\n");
        return 1;
    }
    if (!o.json)
        printf("base %u x %u, queries %u, top-%d, cosine, single thread\n", b.n, b.d, q.n, TOPK);
    if (o.only.empty() || o.only == "lsh")
        bench_faiss_lsh(o, b, q, truth, got);
    if (o.only.empty() || o.only == "hnsw")
        bench_faiss_hnsw(o, b, q, truth, got);
    if (o.only.empty() || o.only == "hnswlib")
        bench_hnswlib(o, b, q, truth, got);
    return 0;
}
