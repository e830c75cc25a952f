{
  "targets": [
    {
      "target_name": "tsxs_native",
      "sources": ["native/tsxs_native.c"],
      "cflags": ["-Wall", "-O2"]
    },
    {
      "target_name": "tsxs_xen",
      "sources": ["native/xen.c"],
      "cflags": ["-Wall", "-Wextra", "-Wno-unused-parameter", "-O2"],
      "libraries": ["-ldl"]
    }
  ]
}
