{
  "targets": [
    {
      "target_name": "tsxs_native",
      "sources": ["native/tsxs_native.c"],
      "cflags": ["-Wall", "-O2"]
    },
    {
      "target_name": "tsxs_stream",
      "sources": ["native/unix-stream.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    },
    {
      "target_name": "tsxs_idle",
      "sources": ["native/idle-poll.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    },
    {
      "target_name": "tsxs_heap",
      "sources": ["native/heap.cc"],
      "cflags_cc": ["-Wall", "-Wextra", "-O2"]
    },
    {
      "target_name": "tsxs_xen",
      "sources": ["native/xen.c"],
      "cflags": ["-Wall", "-Wextra", "-Wno-unused-parameter", "-O2"],
      "libraries": ["-ldl"]
    },
    {
      "target_name": "tsxs_xen_emu",
      "type": "shared_library",
      "product_name": "tsxs_xen_emu",
      "sources": ["native/emu/xen-emu.c"],
      "cflags": ["-Wall", "-Wextra", "-O2", "-fvisibility=hidden", "-fPIC"],
      "libraries": ["-ldl"]
    }
  ]
}
