// Keeping freed memory in the process between training steps. Internal to sim/ and its programs.
#pragma once

namespace bitsim::sim {

// Tells glibc's malloc to keep large freed blocks for reuse instead of returning them to the kernel:
// blocks up to 32 MiB come from the heap rather than their own mmap, and the heap's top is never
// trimmed. Without this, the buffers a step frees and the next step allocates again are unmapped and
// faulted back in 4 KiB at a time, every step: on a virtual machine whose page faults cost 15 us
// that doubled the CNN's fp32 step (431 against 261 ms, bench_train_step). Call once, early, from a
// program's main (bitsim, the benchmarks); idempotent; does nothing on other C libraries.
void retain_freed_memory();

}  // namespace bitsim::sim
