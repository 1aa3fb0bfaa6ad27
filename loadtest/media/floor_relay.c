/*
 * floor_relay: the least a userspace RTP relay can do, as the per-packet CPU floor for
 * loadtest/media-relay.sh. Same topology as ccd's bridge: one UDP socket per leg, a
 * level-triggered epoll set per thread, one recvfrom per ready socket per wake-up, and a
 * sendto from the other leg's socket. No parsing, no header rewrite, no timers.
 *
 * Pair i has leg A on 127.0.0.1:BASE+2i and leg B on 127.0.0.1:BASE+2i+1. A leg's peer is
 * the address its last datagram came from (latching, as symmetric RTP does); a datagram
 * arriving before the other leg's peer is known is dropped.
 *
 * usage: floor_relay BASE_PORT PAIRS [THREADS]   (runs until killed)
 * build: gcc -O2 -Wall -o floor_relay floor_relay.c -lpthread
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

struct leg {
    int fd;
    int known;
    struct sockaddr_in peer;
};

static struct leg *legs;

struct range {
    int first, last; /* pair indexes [first, last) */
};

static void *loop(void *arg) {
    struct range *r = arg;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) {
        perror("epoll_create1");
        exit(1);
    }
    for (int i = 2 * r->first; i < 2 * r->last; i++) {
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, legs[i].fd, &ev) < 0) {
            perror("epoll_ctl");
            exit(1);
        }
    }
    struct epoll_event ready[256];
    char buf[2048];
    for (;;) {
        int n = epoll_wait(ep, ready, 256, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("epoll_wait");
            exit(1);
        }
        for (int k = 0; k < n; k++) {
            struct leg *in = &legs[ready[k].data.u32];
            struct leg *out = &legs[ready[k].data.u32 ^ 1];
            socklen_t fromlen = sizeof in->peer;
            ssize_t len = recvfrom(in->fd, buf, sizeof buf, 0, (struct sockaddr *)&in->peer, &fromlen);
            if (len < 0)
                continue;
            in->known = 1;
            if (out->known)
                sendto(out->fd, buf, (size_t)len, 0, (struct sockaddr *)&out->peer, sizeof out->peer);
        }
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s BASE_PORT PAIRS [THREADS]\n", argv[0]);
        return 2;
    }
    int base = atoi(argv[1]), pairs = atoi(argv[2]);
    int threads = argc > 3 ? atoi(argv[3]) : 2;
    if (base <= 0 || pairs <= 0 || threads <= 0 || base + 2 * pairs > 65536) {
        fprintf(stderr, "bad arguments\n");
        return 2;
    }
    if (threads > pairs)
        threads = pairs;
    legs = calloc(2 * (size_t)pairs, sizeof *legs);
    for (int i = 0; i < 2 * pairs; i++) {
        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)(base + i))};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0) {
            fprintf(stderr, "bind 127.0.0.1:%d: %s\n", base + i, strerror(errno));
            return 1;
        }
        legs[i].fd = fd;
    }
    pthread_t tids[64];
    struct range ranges[64];
    if (threads > 64)
        threads = 64;
    for (int t = 0; t < threads; t++) {
        ranges[t].first = (int)((long)pairs * t / threads);
        ranges[t].last = (int)((long)pairs * (t + 1) / threads);
        pthread_create(&tids[t], NULL, loop, &ranges[t]);
    }
    printf("floor_relay ready: %d pairs on 127.0.0.1:%d-%d, %d threads\n", pairs, base,
           base + 2 * pairs - 1, threads);
    fflush(stdout);
    for (int t = 0; t < threads; t++)
        pthread_join(tids[t], NULL);
    return 0;
}
