/*
 * errmsg.c — writing an error message into the caller's buffer.
 *
 * Every loader, tokenizer and encoder in attention/ reports a failure the
 * same way: the caller passes a buffer (err, errlen) and gets one line of
 * text in it, "what is wrong", or "NAME: what is wrong" when the failure
 * belongs to a named file or tensor. The caller may pass NULL or a zero
 * length when it does not want the text, so the check lives here once
 * rather than in front of every message.
 *
 * The text is cut to fit the buffer (snprintf's rules: always terminated).
 */
#include "attention/attention.h"

#include <stdarg.h>
#include <stdio.h>

void attn_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

void attn_verr_named(char *err, size_t errlen, const char *name, const char *fmt, va_list ap)
{
    if (!err || errlen == 0)
        return;
    int k = snprintf(err, errlen, "%s: ", name);
    if (k < 0 || (size_t)k >= errlen)
        return;
    vsnprintf(err + k, errlen - (size_t)k, fmt, ap);
}
