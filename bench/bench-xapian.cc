/*
 * bench-xapian.cc — the Xapian baseline of the BM25 benchmark.
 *
 * Xapian as Debian ships it (libxapian30), used the way its documentation
 * shows, with nothing tuned:
 *
 *   indexing  a WritableDatabase; a TermGenerator with Stem("english") and
 *             its default strategy STEM_SOME (each word indexed unstemmed
 *             and, Z-prefixed, stemmed); title and text indexed as free text
 *             into the same unprefixed field, the title first with a position
 *             gap after it so no phrase spans the two; the external id kept
 *             as document data; commit() and close() inside the timed part.
 *   querying  a QueryParser with the same stemmer and strategy, default
 *             operator OR, FLAG_DEFAULT (phrases, boolean operators, +/-);
 *             Enquire with BM25Weight() at Xapian's default parameters
 *             (k1 = 1, k2 = 0, k3 = 1, b = 0.5, min_normlen = 0.5);
 *             get_mset(0, k), then each hit's document data (its id).
 *
 * No stopper is set, as by default. A query the parser rejects (stray
 * operators in natural-language text) is retried with no flags, which treats
 * every word as a plain term; the retry is counted inside the timed part,
 * as it is part of what a caller would have to do.
 *
 * C++ only because Xapian has no C API; the harness is bench/bm25_common.h,
 * shared with the C programs.
 */
#include <xapian.h>

#include <exception>
#include <string>

#include "bm25_common.h"

struct xapian_handle {
    Xapian::Database db;
    Xapian::QueryParser qp;
    Xapian::Enquire enquire;
    explicit xapian_handle(const std::string &path) : db(path), enquire(db) {}
};

static std::string xapian_path(const char *dir)
{
    return std::string(dir) + "/xapian";
}

static void xapian_error(const std::exception &ex, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s", ex.what());
}

static void xapian_error(const Xapian::Error &ex, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s", ex.get_description().c_str());
}

static int xapian_build(const char *dir, const bm25_doc *docs, size_t n, char *err, size_t errlen)
{
    try {
        Xapian::WritableDatabase db(xapian_path(dir), Xapian::DB_CREATE_OR_OPEN);
        Xapian::TermGenerator tg;
        tg.set_stemmer(Xapian::Stem("english"));
        tg.set_stemming_strategy(Xapian::TermGenerator::STEM_SOME);
        for (size_t i = 0; i < n; i++) {
            Xapian::Document doc;
            tg.set_document(doc);
            tg.index_text(std::string(docs[i].title, docs[i].title_len));
            tg.increase_termpos();
            tg.index_text(std::string(docs[i].text, docs[i].text_len));
            doc.set_data(docs[i].id);
            db.add_document(doc);
        }
        db.commit();
        db.close();
    } catch (const Xapian::Error &ex) {
        xapian_error(ex, err, errlen);
        return -1;
    } catch (const std::exception &ex) {
        xapian_error(ex, err, errlen);
        return -1;
    }
    return 0;
}

static void *xapian_open(const char *dir, char *err, size_t errlen)
{
    try {
        xapian_handle *h = new xapian_handle(xapian_path(dir));
        h->qp.set_stemmer(Xapian::Stem("english"));
        h->qp.set_stemming_strategy(Xapian::QueryParser::STEM_SOME);
        h->qp.set_default_op(Xapian::Query::OP_OR);
        h->enquire.set_weighting_scheme(Xapian::BM25Weight());
        return h;
    } catch (const Xapian::Error &ex) {
        xapian_error(ex, err, errlen);
    } catch (const std::exception &ex) {
        xapian_error(ex, err, errlen);
    }
    return NULL;
}

static Xapian::Query xapian_parse(xapian_handle *h, const char *query)
{
    try {
        return h->qp.parse_query(query, Xapian::QueryParser::FLAG_DEFAULT);
    } catch (const Xapian::QueryParserError &) {
        return h->qp.parse_query(query, 0);
    }
}

static int xapian_search(void *hv, const char *query, int k, bm25_hits *out, char *err,
                         size_t errlen)
{
    xapian_handle *h = static_cast<xapian_handle *>(hv);
    out->n = 0;
    try {
        h->enquire.set_query(xapian_parse(h, query));
        Xapian::MSet mset = h->enquire.get_mset(0, (Xapian::doccount)k);
        for (Xapian::MSetIterator it = mset.begin(); it != mset.end() && out->n < out->cap; ++it) {
            std::string id = it.get_document().get_data();
            if (bm25_hit_set(&out->v[out->n], id.data(), id.size(), it.get_weight()) != 0) {
                snprintf(err, errlen, "bad document id in result");
                return -1;
            }
            out->n++;
        }
    } catch (const Xapian::Error &ex) {
        xapian_error(ex, err, errlen);
        return -1;
    } catch (const std::exception &ex) {
        xapian_error(ex, err, errlen);
        return -1;
    }
    return 0;
}

static void xapian_close(void *hv)
{
    delete static_cast<xapian_handle *>(hv);
}

int main(int argc, char **argv)
{
    bm25_engine e;
    e.method = "xapian";
    e.version = Xapian::version_string();
    e.build = xapian_build;
    e.open = xapian_open;
    e.search = xapian_search;
    e.close = xapian_close;
    return bm25_main(argc, argv, &e);
}
