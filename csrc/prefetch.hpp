// A read prefetch into every cache level, for translation units compiled without an ISA's
// intrinsics (the kernels use simd::prefetch); nothing where the compiler has no builtin.
#pragma once

namespace pyrerank {

inline void prefetch(const void* p) {
#if defined(__GNUC__)
  __builtin_prefetch(p, 0, 3);
#endif
}

}  // namespace pyrerank
