// Dot products of a block of catalog rows with a few queries: the one piece of pyrerank that
// is compiled once per instruction set. Everything above it (top-k, fusion, MMR, threads) is
// plain C++ shared by all instruction sets.
#pragma once
#include <cstdint>

namespace pyrerank {

// Scores rows [begin, end) of the candidate list against nq queries.
//   base:    catalog, C-contiguous (n_rows, dim), element type float, IEEE half (uint16) or
//            int8: a direction without its length, scored as <query, row> / ||row|| (0 for an
//            all-zero row); dim <= kMaxInt8Dim so integer sums cannot overflow
//   rows:    candidate row numbers into the catalog, or nullptr for rows begin..end-1
//   queries: (nq, dim) float32, C-contiguous
//   out:     (nq, end - begin) float32, out[q * (end - begin) + (i - begin)]
constexpr std::int64_t kMaxInt8Dim = 65536;

template <class T>
using DotBlockFn = void (*)(const T* base, std::int64_t dim, const std::int64_t* rows, std::int64_t begin,
                            std::int64_t end, const float* queries, std::int64_t nq, float* out);
// int8 rows, and row_scale: (n_rows,) 1 / ||row|| as the caller keeps it (0 for an all-zero
// row), which spares the kernel a third of its integer work; nullptr: the kernel sums squares.
using DotBlockInt8Fn = void (*)(const std::int8_t* base, std::int64_t dim, const std::int64_t* rows,
                                std::int64_t begin, std::int64_t end, const float* queries, std::int64_t nq,
                                const float* row_scale, float* out);

struct DotBlockKernels {
  const char* isa;
  DotBlockFn<float> f32;
  DotBlockFn<std::uint16_t> f16;
  DotBlockInt8Fn i8;
};

namespace isa_avx512vnni {
DotBlockKernels kernels();
}
namespace isa_avx512 {
DotBlockKernels kernels();
}
namespace isa_avx2 {
DotBlockKernels kernels();
}
namespace isa_generic {
DotBlockKernels kernels();
}

// The best kernels this CPU can run, chosen once at first use.
const DotBlockKernels& best_kernels();

}  // namespace pyrerank
