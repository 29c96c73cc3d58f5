/*
 * doc_check.c — what a document must be before a batch takes it, and the
 * hash that tells an unchanged one.
 *
 * doc_check refuses what would be stored wrong or could never be shown:
 * an id, uri, title, text or metadata that is not UTF-8 (the id first,
 * before any message quotes it), text over LCTX_MAX_TEXT (checked before
 * the text is read), metadata that is not a JSON object. doc_content_hash
 * is stored with each document, so that lctx_add of an unchanged document
 * (same id, same hash) is a no-op.
 */
#include <cjson/cJSON.h>
#include <string.h>

#include "indexer/indexer.h"
#include "store/store.h"

/* The document's content hash, which makes re-adding an unchanged
 * document a no-op: of title, text, uri and metadata (the uri as empty
 * unless uri_is_content: lctx_ingest's FILE:LINE says where a document
 * was read, and a corpus exported again with a line added at the top
 * would otherwise be indexed all over again), each part's length
 * mixed in after it, so ("ab","c") and ("a","bc") differ. mix64 takes eight
 * bytes per multiply (read little-endian, so the stored values are the
 * same on every machine), then a final avalanche; FNV-1a, a multiply per
 * byte, was 5 % of a build's CPU on the thread that feeds the catalog.
 * Collections made before mix64 keep FNV-1a (db->hash_fnv), so their
 * stored hashes still match. */
static uint64_t mix64(uint64_t h, const unsigned char *p, size_t len)
{
    const uint64_t prime = 0x100000001b3ull;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        h = (h ^ le_load(p + i, 8)) * prime;
        h ^= h >> 29;
    }
    h = (h ^ le_load(p + i, len - i)) * prime;
    h ^= h >> 29;
    h = (h ^ (uint64_t)len) * prime;
    return h ^ (h >> 32);
}

static uint64_t fnv1a(uint64_t h, const unsigned char *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return (h ^ 0xffu) * 1099511628211ull; /* separator: ("ab","c") != ("a","bc") */
}

uint64_t doc_content_hash(const lctx_db *db, const lctx_doc *d, size_t text_len,
                          int uri_is_content)
{
    uint64_t h = 1469598103934665603ull;
    const char *uri = uri_is_content ? d->uri : NULL;
    const char *parts[4] = {d->title, d->text, uri, d->metadata};
    size_t lens[4] = {d->title ? strlen(d->title) : 0, text_len,
                      uri ? strlen(uri) : 0, d->metadata ? strlen(d->metadata) : 0};
    for (int p = 0; p < 4; p++) {
        const unsigned char *u = (const unsigned char *)(lens[p] ? parts[p] : "");
        h = db->hash_fnv ? fnv1a(h, u, lens[p]) : mix64(h, u, lens[p]);
    }
    if (db->hash_fnv)
        return h;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    return h ^ (h >> 33);
}

int doc_check(lctx_db *db, const lctx_doc *d, size_t text_len)
{
    size_t bad;
    if (!d->id || !*d->id)
        return store_err(db, LCTX_EINVAL, "document without an id");
    /* checked before the id is quoted in any message */
    if (!utf8_validate(d->id, strlen(d->id), &bad))
        return store_err(db, LCTX_EINVAL, "document id: invalid UTF-8 at byte %zu", bad);
    if (d->uri && !utf8_validate(d->uri, strlen(d->uri), &bad))
        return store_err(db, LCTX_EINVAL, "document '%s': invalid UTF-8 in uri at byte %zu",
                         d->id, bad);
    if (!d->text && !d->title)
        return store_err(db, LCTX_EINVAL, "document '%s': no title and no text", d->id);
    if (text_len > LCTX_MAX_TEXT)
        return store_err(db, LCTX_EINVAL, "document '%s': text of %zu MiB is over the %zu MiB "
                         "a document may hold", d->id, text_len >> 20, LCTX_MAX_TEXT >> 20);
    if (d->text && !utf8_validate(d->text, text_len, &bad))
        return store_err(db, LCTX_EINVAL, "document '%s': invalid UTF-8 in text at byte %zu",
                         d->id, bad);
    if (d->title && !utf8_validate(d->title, strlen(d->title), &bad))
        return store_err(db, LCTX_EINVAL, "document '%s': invalid UTF-8 in title at byte %zu",
                         d->id, bad);
    if (d->metadata && !utf8_validate(d->metadata, strlen(d->metadata), &bad))
        return store_err(db, LCTX_EINVAL, "document '%s': invalid UTF-8 in metadata at byte %zu",
                         d->id, bad);
    if (d->metadata) {
        cJSON *j = cJSON_Parse(d->metadata);
        int ok = j && cJSON_IsObject(j);
        cJSON_Delete(j);
        if (!ok)
            return store_err(db, LCTX_EINVAL, "document '%s': metadata is not a JSON object",
                             d->id);
    }
    return LCTX_OK;
}
