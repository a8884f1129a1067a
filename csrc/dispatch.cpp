// Chooses the dot-product kernels for this CPU at run time, so one wheel runs everywhere:
// AVX-512 with VNNI (int8 rows in fused multiply-adds), then AVX-512 F+BW, then AVX2+FMA+F16C,
// then portable C++.
#include <atomic>
#include <stdexcept>
#include <string>
#include <vector>

#include "dispatch.hpp"
#include "dot_block.hpp"

#if defined(PYRERANK_HAVE_AVX2) || defined(PYRERANK_HAVE_AVX512)
#include <cpuid.h>
#endif

namespace pyrerank {
namespace {

#if defined(PYRERANK_HAVE_AVX2) || defined(PYRERANK_HAVE_AVX512)
struct CpuFeatures {
  bool avx2_fma_f16c = false;
  bool avx512_f_bw = false;
  bool avx512_vnni = false;
};

CpuFeatures detect() {
  CpuFeatures f;
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  const bool osxsave = c & (1u << 27), fma = c & (1u << 12), f16c = c & (1u << 29);
  if (!osxsave) return f;
  unsigned xcr0_lo, xcr0_hi;
  __asm__("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
  const bool os_ymm = (xcr0_lo & 0x6u) == 0x6u;    // SSE and AVX state saved by the OS
  const bool os_zmm = (xcr0_lo & 0xE6u) == 0xE6u;  // ... plus opmask and ZMM state
  if (__get_cpuid_max(0, nullptr) < 7) return f;
  __cpuid_count(7, 0, a, b, c, d);
  const bool avx2 = b & (1u << 5), avx512f = b & (1u << 16), avx512bw = b & (1u << 30), vnni = c & (1u << 11);
  f.avx2_fma_f16c = os_ymm && avx2 && fma && f16c;
  f.avx512_f_bw = f.avx2_fma_f16c && os_zmm && avx512f && avx512bw;
  f.avx512_vnni = f.avx512_f_bw && vnni;
  return f;
}
#endif

std::vector<DotBlockKernels> runnable() {  // best first
  std::vector<DotBlockKernels> out;
#if defined(PYRERANK_HAVE_AVX2) || defined(PYRERANK_HAVE_AVX512)
  const CpuFeatures cpu = detect();
#endif
#if defined(PYRERANK_HAVE_AVX512)
  if (cpu.avx512_vnni) out.push_back(isa_avx512vnni::kernels());
  if (cpu.avx512_f_bw) out.push_back(isa_avx512::kernels());
#endif
#if defined(PYRERANK_HAVE_AVX2)
  if (cpu.avx2_fma_f16c) out.push_back(isa_avx2::kernels());
#endif
  out.push_back(isa_generic::kernels());
  return out;
}

const std::vector<DotBlockKernels>& all_runnable() {
  static const std::vector<DotBlockKernels> kernels = runnable();
  return kernels;
}

std::atomic<const DotBlockKernels*> active{nullptr};

}  // namespace

const DotBlockKernels& best_kernels() {
  const DotBlockKernels* k = active.load(std::memory_order_acquire);
  return k ? *k : all_runnable().front();
}

std::vector<std::string> runnable_isas() {
  std::vector<std::string> names;
  for (const auto& k : all_runnable()) names.emplace_back(k.isa);
  return names;
}

void use_isa(const std::string& name) {
  for (const auto& k : all_runnable()) {
    if (name == k.isa) {
      active.store(&k, std::memory_order_release);
      return;
    }
  }
  std::string known;
  for (const auto& k : all_runnable()) known += std::string(known.empty() ? "" : ", ") + k.isa;
  throw std::invalid_argument("isa must be one this CPU and build can run (" + known + "), got '" + name +
                              "'");
}

}  // namespace pyrerank
