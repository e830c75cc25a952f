{
  "targets": [
    {
      "target_name": "tsxs_native",
      "sources": ["native/tsxs_native.c"],
      "cflags": ["-Wall", "-O2"]
    }
  ]
}
