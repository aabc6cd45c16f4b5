/* Paced UDP load generator for `npm run bench`.
 * Replays the datagrams of FILE (each a 4-byte big-endian length + payload), cycling, until COUNT
 * datagrams have been sent at RATE datagrams/s, in sendmmsg batches. Written in C because a Node
 * sender tops out below the rates the server must be measured at. Prints: sent=N seconds=S */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 32

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: loadgen FILE HOST PORT RATE COUNT\n");
    return 2;
  }
  FILE *f = fopen(argv[1], "rb");
  if (!f) { perror(argv[1]); return 2; }
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *buf = malloc(size);
  if (fread(buf, 1, size, f) != (size_t)size) { perror("read"); return 2; }
  fclose(f);

  size_t n = 0, cap = 1024;
  struct iovec *iov = malloc(cap * sizeof *iov);
  for (long off = 0; off + 4 <= size;) {
    uint32_t len = (buf[off] << 24) | (buf[off + 1] << 16) | (buf[off + 2] << 8) | buf[off + 3];
    if (n == cap) iov = realloc(iov, (cap *= 2) * sizeof *iov);
    iov[n].iov_base = buf + off + 4;
    iov[n].iov_len = len;
    n++;
    off += 4 + len;
  }
  if (n == 0) { fprintf(stderr, "no datagrams in %s\n", argv[1]); return 2; }

  struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[3]))};
  if (inet_pton(AF_INET, argv[2], &to.sin_addr) != 1) { fprintf(stderr, "bad host\n"); return 2; }
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (connect(fd, (struct sockaddr *)&to, sizeof to) < 0) { perror("connect"); return 2; }

  double rate = atof(argv[4]);
  long long count = atoll(argv[5]), sent = 0;
  size_t next = 0;
  struct mmsghdr msgs[BATCH];
  double start = now();
  while (sent < count) {
    /* pace: how many should be out by now */
    double due = (now() - start) * rate;
    if (sent >= due) {
      double wait = (sent + BATCH - due) / rate;
      if (wait > 0.0005) usleep((useconds_t)(wait * 1e6 / 2));
      continue;
    }
    int k = 0;
    while (k < BATCH && sent + k < count) {
      memset(&msgs[k], 0, sizeof msgs[k]);
      msgs[k].msg_hdr.msg_iov = &iov[next];
      msgs[k].msg_hdr.msg_iovlen = 1;
      next = (next + 1) % n;
      k++;
    }
    int r = sendmmsg(fd, msgs, k, 0);
    if (r < 0) { perror("sendmmsg"); usleep(100); next = (next + n - k) % n; continue; }
    if (r < k) next = (next + n - (k - r)) % n;
    sent += r;
  }
  printf("sent=%lld seconds=%.3f\n", sent, now() - start);
  return 0;
}
