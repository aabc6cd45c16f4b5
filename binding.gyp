{
  "targets": [
    {
      "target_name": "udp_ring",
      "sources": ["agent/udp/native/udp_ring.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags!": ["-O3"],
      "cflags": ["-O2", "-pthread", "-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "ldflags": ["-pthread"]
    }
  ]
}
