/* stall_server.c - a deterministic HTTP/1.1 peer for frugal bench's end-to-end tests: answers every
 * request at once with 200 "ok" on keep-alive connections, except that after answering its STALL_AFTER-th
 * request it freezes for STALL_MS (no accept, no read, no answer), like a server in a long GC pause.
 * Single-threaded; a large listen backlog, so a burst of new connections is never refused (a full
 * accept queue would make the kernel drop handshakes and retransmit, adding random delays).
 * usage: stall_server PORT_FILE STALL_AFTER STALL_MS   (writes the port to PORT_FILE; stops on SIGTERM) */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 2048
#define BUF 65536

typedef struct {
    int fd;
    char buf[BUF];
    size_t len;
} client;

static volatile sig_atomic_t stop;
static void on_term(int s) {
    (void)s;
    stop = 1;
}

/* Length of the first complete request in c->buf (head + Content-Length body), or 0 when incomplete. */
static size_t request_len(const client *c) {
    for (size_t i = 0; i + 3 < c->len; i++)
        if (memcmp(c->buf + i, "\r\n\r\n", 4) == 0) {
            size_t head = i + 4, body = 0;
            for (size_t k = 0; k < i; k++)
                if ((k == 0 || c->buf[k - 1] == '\n') && strncasecmp(c->buf + k, "content-length:", 15) == 0)
                    body = (size_t)strtoul(c->buf + k + 15, NULL, 10);
            return c->len >= head + body ? head + body : 0;
        }
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: stall_server PORT_FILE STALL_AFTER STALL_MS\n");
        return 2;
    }
    long stall_after = atol(argv[2]), stall_ms = atol(argv[3]);
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_term};
    sigaction(SIGTERM, &sa, NULL);
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    if (bind(ls, (struct sockaddr *)&a, sizeof a) < 0 || listen(ls, 4096) < 0 ||
        getsockname(ls, (struct sockaddr *)&a, &al) < 0) {
        perror("stall_server: listen");
        return 1;
    }
    FILE *pf = fopen(argv[1], "w");
    if (!pf) {
        perror("stall_server: port file");
        return 1;
    }
    fprintf(pf, "%d\n", ntohs(a.sin_port));
    fclose(pf);
    static client cl[MAX_CONNS];
    static struct pollfd pfd[MAX_CONNS + 1];
    size_t n = 0;
    long answered = 0;
    static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok";
    while (!stop) {
        pfd[0] = (struct pollfd){.fd = ls, .events = POLLIN};
        for (size_t i = 0; i < n; i++)
            pfd[i + 1] = (struct pollfd){.fd = cl[i].fd, .events = POLLIN};
        if (poll(pfd, n + 1, 100) < 0 && errno != EINTR)
            break;
        if (pfd[0].revents & POLLIN) { /* take every queued connection, so few SYNs find the queue full */
            int fd;
            while (n < MAX_CONNS && (fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                cl[n].fd = fd;
                cl[n].len = 0;
                n++;
            }
        }
        for (size_t i = 0; i < n; i++) {
            if (!(pfd[i + 1].revents & (POLLIN | POLLHUP | POLLERR)) || i >= n)
                continue;
            client *c = &cl[i];
            ssize_t r = read(c->fd, c->buf + c->len, BUF - c->len);
            if (r < 0 && errno == EAGAIN)
                continue;
            if (r <= 0) {
                close(c->fd);
                cl[i] = cl[--n];
                pfd[i + 1] = pfd[n + 1];
                i--;
                continue;
            }
            c->len += (size_t)r;
            size_t q;
            while ((q = request_len(c)) > 0) {
                memmove(c->buf, c->buf + q, c->len - q);
                c->len -= q;
                if (write(c->fd, resp, sizeof resp - 1) < 0)
                    break;
                if (++answered == stall_after) {
                    struct timespec ts = {stall_ms / 1000, (stall_ms % 1000) * 1000000L};
                    while (nanosleep(&ts, &ts) < 0 && errno == EINTR && !stop) {
                    }
                }
            }
        }
    }
    for (size_t i = 0; i < n; i++)
        close(cl[i].fd);
    close(ls);
    return 0;
}
