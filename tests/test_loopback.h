/*
 * test_loopback.h — a one-thread HTTP server on 127.0.0.1 for tests.
 *
 * The tests of the HTTP embedder and of the hub download talk to a server
 * they start themselves, so nothing leaves the machine. The kernel picks the
 * port; one thread accepts connections one at a time and hands each to the
 * test's handle() function, which reads the request and writes the whole
 * reply; the connection is closed afterwards ("Connection: close"). The
 * thread stops when loopback_stop() is called, or on its own after a
 * deadline, so a test that fails half-way cannot leave it running forever.
 *
 * Header-only (static functions) because the Makefile builds each
 * tests/test_*.c as its own binary. A test that includes it defines
 * _GNU_SOURCE first (strcasestr).
 */
#ifndef LCTX_TEST_LOOPBACK_H
#define LCTX_TEST_LOOPBACK_H

#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LOOPBACK_UNUSED __attribute__((unused))

typedef struct loopback {
    int fd, port;
    pthread_t th;
    atomic_int stop;
    int seconds;               /* the thread's own deadline */
    void (*handle)(int c);     /* answers one connection */
} loopback;

/* Send all n bytes, or give up quietly when the client has gone. */
LOOPBACK_UNUSED static void loopback_send_all(int c, const void *p, size_t n)
{
    const char *q = p;
    while (n > 0) {
        ssize_t k = send(c, q, n, MSG_NOSIGNAL);
        if (k <= 0)
            return;
        q += k;
        n -= (size_t)k;
    }
}

/* A JSON reply with the given status. */
LOOPBACK_UNUSED static void loopback_respond(int c, int status, const char *body)
{
    char head[256];
    int k = snprintf(head, sizeof head,
                     "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n", status, strlen(body));
    loopback_send_all(c, head, (size_t)k);
    loopback_send_all(c, body, strlen(body));
}

/* Read a request with a body (Content-Length) into buf, NUL-terminated.
 * Returns the start of the body inside buf, or NULL when the headers never
 * ended (client gone, or 2 s of silence). */
LOOPBACK_UNUSED static char *loopback_read_request(int c, char *buf, size_t cap)
{
    size_t len = 0;
    char *body = NULL;
    long clen = -1;
    struct pollfd p = {c, POLLIN, 0};
    while (len < cap - 1 && poll(&p, 1, 2000) > 0) {
        ssize_t k = recv(c, buf + len, cap - 1 - len, 0);
        if (k <= 0)
            break;
        len += (size_t)k;
        buf[len] = 0;
        char *end = strstr(buf, "\r\n\r\n");
        if (end && clen < 0) {
            char *cl = strcasestr(buf, "Content-Length:");
            clen = cl ? atol(cl + 15) : 0;
            body = end + 4;
        }
        if (body && (long)(len - (size_t)(body - buf)) >= clen)
            break;
    }
    return body;
}

static void *loopback_serve(void *arg)
{
    loopback *lb = arg;
    time_t deadline = time(NULL) + lb->seconds;
    while (!atomic_load(&lb->stop) && time(NULL) < deadline) {
        struct pollfd p = {lb->fd, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0)
            continue;
        int c = accept(lb->fd, NULL, NULL);
        if (c < 0)
            continue;
        lb->handle(c);
        close(c);
    }
    return NULL;
}

/* Listen on a kernel-chosen loopback port (lb->port) and start serving. */
LOOPBACK_UNUSED static void loopback_start(loopback *lb, void (*handle)(int), int seconds)
{
    memset(lb, 0, sizeof *lb);
    lb->handle = handle;
    lb->seconds = seconds;
    lb->fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(lb->fd >= 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(lb->fd, (struct sockaddr *)&sa, sizeof sa), 0);
    cr_assert_eq(listen(lb->fd, 16), 0);
    socklen_t sl = sizeof sa;
    getsockname(lb->fd, (struct sockaddr *)&sa, &sl);
    lb->port = ntohs(sa.sin_port);
    cr_assert_eq(pthread_create(&lb->th, NULL, loopback_serve, lb), 0);
}

/* Stop the thread, wait for it, and close the listening socket. */
LOOPBACK_UNUSED static void loopback_stop(loopback *lb)
{
    atomic_store(&lb->stop, 1);
    pthread_join(lb->th, NULL);
    close(lb->fd);
}

#endif
