/*
 * tok_list.c — a tokenizer's output list: created empty, reset between
 * texts (keeping its memory, since one list serves a whole batch), freed.
 * Appending is tok_list_push in tokenize.c, inline on the hot path.
 */
#include <stdlib.h>
#include <string.h>

#include "indexer/indexer.h"

void tok_list_init(tok_list *l)
{
    memset(l, 0, sizeof *l);
}

void tok_list_reset(tok_list *l)
{
    l->n = 0;
    l->terms_len = 0;
    l->n_positions = 0;
    l->n_long = 0;
}

void tok_list_free(tok_list *l)
{
    if (!l)
        return;
    free(l->tokens);
    free(l->terms);
    tok_list_init(l);
}
