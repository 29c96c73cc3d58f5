/*
 * progress.c — the progress bar lctx-index draws while it ingests.
 *
 * Indexing a large corpus takes minutes; a bar that says how far it got and
 * when it will end is the difference between waiting and wondering whether
 * it hung. It is drawn on stderr only when stderr is a terminal and --quiet
 * is not given, so logs and pipes never fill with carriage returns.
 *
 * The library reports bytes done / bytes total of the input it is reading
 * (lctx_ingest_opts.progress). Several inputs make one bar: the bytes of
 * finished inputs are the base the current one adds to, and the total is
 * the sum of input sizes the caller measured up front. When the caller
 * could not (a directory, stdin) it passes 0 and the bar follows the
 * current input's own total as the library reports it; when that is unknown
 * too, only bytes and rate are shown.
 * Documents per second are known only once an input finishes (the callback
 * carries bytes, not documents), so the rate is shown from the finished ones.
 *
 * Redraws are limited to ten a second: the callback may fire far more often
 * and terminal output is not free.
 */
#include "cli/cli.h"

#include <string.h>

#define BAR_WIDTH 24
#define REDRAW_INTERVAL 0.1

void cli_progress_init(cli_progress *p, FILE *out, int enabled, uint64_t total_bytes)
{
    memset(p, 0, sizeof *p);
    p->out = out;
    p->enabled = enabled && out != NULL;
    p->started = cli_now();
    p->total_bytes = total_bytes;
}

static void human_bytes(char *buf, size_t len, double b)
{
    const char *unit[] = { "B", "KB", "MB", "GB", "TB" };
    int u = 0;
    while (b >= 1000.0 && u < 4) {
        b /= 1000.0;
        u++;
    }
    snprintf(buf, len, u ? "%.1f %s" : "%.0f %s", b, unit[u]);
}

static void human_duration(char *buf, size_t len, double s)
{
    if (s < 0 || s > 359999)
        s = 359999;
    unsigned t = (unsigned)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, len, "%u:%02u:%02u", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, len, "%u:%02u", t / 60, t % 60);
}

static void draw(cli_progress *p, uint64_t done, uint64_t total)
{
    double elapsed = cli_now() - p->started;
    char dbuf[32], tbuf[32], rbuf[32], eta[32];
    human_bytes(dbuf, sizeof dbuf, (double)done);
    human_bytes(rbuf, sizeof rbuf, elapsed > 0 ? (double)done / elapsed : 0);

    char docs[48] = "";
    if (p->docs > 0 && elapsed > 0)
        snprintf(docs, sizeof docs, "  %llu docs (%.0f docs/s)",
                 (unsigned long long)p->docs, (double)p->docs / elapsed);

    if (total > 0 && done <= total) {
        double frac = (double)done / (double)total;
        int fill = (int)(frac * BAR_WIDTH);
        char bar[BAR_WIDTH + 1];
        for (int i = 0; i < BAR_WIDTH; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[BAR_WIDTH] = '\0';
        human_bytes(tbuf, sizeof tbuf, (double)total);
        double rate = elapsed > 0 ? (double)done / elapsed : 0;
        if (rate > 0)
            human_duration(eta, sizeof eta, (double)(total - done) / rate);
        else
            snprintf(eta, sizeof eta, "?");
        fprintf(p->out, "\r[%s] %3.0f%%  %s / %s  %s/s  ETA %s%s\033[K",
                bar, frac * 100.0, dbuf, tbuf, rbuf, eta, docs);
    } else {
        fprintf(p->out, "\r%s  %s/s%s\033[K", dbuf, rbuf, docs);
    }
    fflush(p->out);
    p->drawn = 1;
}

void cli_progress_update(void *ctx, uint64_t done, uint64_t total)
{
    cli_progress *p = ctx;
    if (!p || !p->enabled)
        return;
    double now = cli_now();
    if (p->drawn && now - p->last_draw < REDRAW_INTERVAL)
        return;
    p->last_draw = now;
    if (p->total_bytes > 0)
        draw(p, p->base_bytes + done, p->total_bytes);
    else
        draw(p, done, total);
}

void cli_progress_input_done(cli_progress *p, uint64_t bytes, uint64_t docs)
{
    if (!p)
        return;
    p->base_bytes += bytes;
    p->docs += docs;
}

void cli_progress_clear(cli_progress *p)
{
    if (!p || !p->enabled || !p->drawn)
        return;
    fputs("\r\033[K", p->out);
    fflush(p->out);
    p->drawn = 0;
}
