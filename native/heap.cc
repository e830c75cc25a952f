// tsxs_heap: the V8 and C-library calls the daemon needs to give memory
// back, which Node.js does not expose to JavaScript. After a burst (a populate of thousands of guests) V8 keeps
// the heap it grew to, several times what is live, until its own memory
// reducer happens to run; the daemon, which knows when it has gone idle,
// asks V8 to compact and give the free pages back. Built by `npm ci`
// (node-gyp) against Node's own headers; V8's C++ API, hence not Node-API.
#include <node.h>
#include <v8.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace {

// memoryPressure(level): tell V8 how short of memory the process is.
//   level 0: none (V8's ordinary heuristics again),
//   level 1: moderate (an incremental, memory-reducing collection starts),
//   level 2: critical (a full, compacting collection now, on this thread,
//            that returns the free pages to the system).
// Anything else is a TypeError. Returns undefined.
void MemoryPressure(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  if (args.Length() != 1 || !args[0]->IsInt32()) {
    isolate->ThrowException(v8::Exception::TypeError(
        v8::String::NewFromUtf8Literal(isolate, "memoryPressure(level): level is 0, 1 or 2")));
    return;
  }
  int level = args[0].As<v8::Int32>()->Value();
  v8::MemoryPressureLevel to;
  switch (level) {
    case 0: to = v8::MemoryPressureLevel::kNone; break;
    case 1: to = v8::MemoryPressureLevel::kModerate; break;
    case 2: to = v8::MemoryPressureLevel::kCritical; break;
    default:
      isolate->ThrowException(v8::Exception::TypeError(
          v8::String::NewFromUtf8Literal(isolate, "memoryPressure(level): level is 0, 1 or 2")));
      return;
  }
  isolate->MemoryPressureNotification(to);
}

// trimMalloc(): give the C heap's free memory back to the system (glibc
// malloc_trim(0): every arena, not only its top). Node's buffers, socket
// reads and V8's compiler zones are malloc'd; after a burst glibc keeps
// the freed pages resident (measured: 30 MiB after 10,000 guests).
// Returns true when memory was released, false when there was none or
// the C library is not glibc. Takes no arguments (others are ignored).
void TrimMalloc(const v8::FunctionCallbackInfo<v8::Value>& args) {
#if defined(__GLIBC__)
  args.GetReturnValue().Set(malloc_trim(0) == 1);
#else
  args.GetReturnValue().Set(false);
#endif
}

// limitMallocArenas(n): let threads that have not used malloc yet share
// the first n arenas (glibc mallopt(M_ARENA_MAX, n)) instead of each
// getting one of its own. V8's worker threads (collector, compiler) each
// kept an arena of 1-2 MiB resident that malloc_trim could not give back
// (measured: 6 MiB of 54 MiB private after 10,000 guests). n is an
// integer from 1 to 64, else a TypeError. Returns true when set, false
// when the C library is not glibc or refused it.
void LimitMallocArenas(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  if (args.Length() != 1 || !args[0]->IsInt32() || args[0].As<v8::Int32>()->Value() < 1 ||
      args[0].As<v8::Int32>()->Value() > 64) {
    isolate->ThrowException(v8::Exception::TypeError(
        v8::String::NewFromUtf8Literal(isolate, "limitMallocArenas(n): n is an integer from 1 to 64")));
    return;
  }
#if defined(__GLIBC__)
  args.GetReturnValue().Set(mallopt(M_ARENA_MAX, args[0].As<v8::Int32>()->Value()) == 1);
#else
  args.GetReturnValue().Set(false);
#endif
}

void Init(v8::Local<v8::Object> exports, v8::Local<v8::Value>, void*) {
  NODE_SET_METHOD(exports, "memoryPressure", MemoryPressure);
  NODE_SET_METHOD(exports, "trimMalloc", TrimMalloc);
  NODE_SET_METHOD(exports, "limitMallocArenas", LimitMallocArenas);
}

}  // namespace

NODE_MODULE(NODE_GYP_MODULE_NAME, Init)
