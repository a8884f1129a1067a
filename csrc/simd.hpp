// One SIMD vocabulary, three instruction sets. A translation unit defines exactly one of
// PYRERANK_ISA_AVX512 / PYRERANK_ISA_AVX2 / PYRERANK_ISA_GENERIC before including this header
// and is compiled with matching compiler flags (see CMakeLists.txt).
#pragma once
#include <cstdint>
#include <cstring>

#include "half.hpp"

#if defined(PYRERANK_ISA_AVX512) || defined(PYRERANK_ISA_AVX2)
#include <immintrin.h>
#endif

// Internal linkage: each instruction set's TU has its own copy, so the linker can never hand
// AVX-512 code to a caller compiled for the baseline.
namespace pyrerank {
namespace {
namespace simd {

#if defined(PYRERANK_ISA_AVX512)
using vec = __m512;
constexpr int kWidth = 16;
constexpr int kRowTileSingle = 8;  // rows per tile for one query: 8 accumulators
constexpr int kRowTilePair = 8;    // 8 rows x 2 queries = 16 of the 32 zmm registers
constexpr int kRowTileMulti = 4;   // 4 rows x 4 queries = 16 of the 32 zmm registers
constexpr int kQueryTile = 4;
// int8 rows, one or two queries: 8-row tiles were slower, the compiler spilling accumulators
// (benchmarks/test_kernel.py::test_topk, "subset" cases, two queries; see benchmarks/README.md).
constexpr int kRowTileInt8 = 4;
// Without the sums of squares (norms known) 8 rows x 2 queries fit: 1,000 cached rows, one
// query, 14.6-15.0 us a call against 17.4-17.5 summing squares at 4 rows
// (benchmarks/test_kernel.py::test_int8_row_norms; benchmarks/README.md, "Known int8 norms").
constexpr int kRowTileInt8KnownNorms = 8;
inline vec zero() {
  return _mm512_setzero_ps();
}
inline vec load(const float* p) {
  return _mm512_loadu_ps(p);
}
inline vec load(const std::uint16_t* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}
inline vec fmadd(vec a, vec b, vec c) {
  return _mm512_fmadd_ps(a, b, c);
}
inline vec add(vec a, vec b) {
  return _mm512_add_ps(a, b);
}
inline float hsum(vec v) {
  return _mm512_reduce_add_ps(v);
}
inline void prefetch(const void* p) {
  _mm_prefetch(static_cast<const char*>(p), _MM_HINT_T0);
}
// int8 rows: widened to int16, multiplied with int16 queries, pairs summed into int32 lanes.
using ivec = __m512i;
constexpr int kIntWidth = 32;  // int8 elements per step
inline ivec izero() {
  return _mm512_setzero_si512();
}
inline ivec widen(const std::int8_t* p) {
  return _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}
inline ivec iload(const std::int16_t* p) {
  return _mm512_loadu_si512(p);
}
#if defined(__AVX512VNNI__)
inline ivec madd(ivec a, ivec b, ivec acc) {
  return _mm512_dpwssd_epi32(acc, a, b);
}
#else
inline ivec madd(ivec a, ivec b, ivec acc) {
  return _mm512_add_epi32(acc, _mm512_madd_epi16(a, b));
}
#endif
inline std::int32_t ihsum(ivec v) {
  return _mm512_reduce_add_epi32(v);
}

#elif defined(PYRERANK_ISA_AVX2)
using vec = __m256;
constexpr int kWidth = 8;
constexpr int kRowTileSingle = 8;
constexpr int kRowTilePair = 4;   // 4 rows x 2 queries = 8 of the 16 ymm registers
constexpr int kRowTileMulti = 4;  // 4 rows x 2 queries = 8 of the 16 ymm registers
constexpr int kQueryTile = 2;
constexpr int kRowTileInt8 = 4;  // 4 x 2 accumulators + 4 sums of squares + queries + row
constexpr int kRowTileInt8KnownNorms = 4;
inline vec zero() {
  return _mm256_setzero_ps();
}
inline vec load(const float* p) {
  return _mm256_loadu_ps(p);
}
inline vec load(const std::uint16_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
inline vec fmadd(vec a, vec b, vec c) {
  return _mm256_fmadd_ps(a, b, c);
}
inline vec add(vec a, vec b) {
  return _mm256_add_ps(a, b);
}
inline float hsum(vec v) {
  __m128 lo = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
  lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
  return _mm_cvtss_f32(lo);
}
inline void prefetch(const void* p) {
  _mm_prefetch(static_cast<const char*>(p), _MM_HINT_T0);
}
using ivec = __m256i;
constexpr int kIntWidth = 16;
inline ivec izero() {
  return _mm256_setzero_si256();
}
inline ivec widen(const std::int8_t* p) {
  return _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
inline ivec iload(const std::int16_t* p) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}
inline ivec madd(ivec a, ivec b, ivec acc) {
  return _mm256_add_epi32(acc, _mm256_madd_epi16(a, b));
}
inline std::int32_t ihsum(ivec v) {
  __m128i x = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  x = _mm_add_epi32(x, _mm_shuffle_epi32(x, 0x4E));
  x = _mm_add_epi32(x, _mm_shuffle_epi32(x, 0xB1));
  return _mm_cvtsi128_si32(x);
}

#elif defined(PYRERANK_ISA_GENERIC)
using vec = float;
constexpr int kWidth = 1;
constexpr int kRowTileSingle = 4;
constexpr int kRowTilePair = 2;
constexpr int kRowTileMulti = 2;
constexpr int kQueryTile = 2;
constexpr int kRowTileInt8 = 2;
constexpr int kRowTileInt8KnownNorms = 2;
inline vec zero() {
  return 0.0f;
}
inline vec load(const float* p) {
  return *p;
}
inline vec load(const std::uint16_t* p) {
  return half_to_float(*p);
}
inline vec fmadd(vec a, vec b, vec c) {
  return a * b + c;
}
inline vec add(vec a, vec b) {
  return a + b;
}
inline float hsum(vec v) {
  return v;
}
#if defined(__GNUC__)
inline void prefetch(const void* p) {
  __builtin_prefetch(p, 0, 3);
}
#else
inline void prefetch(const void*) {}
#endif
using ivec = std::int32_t;
constexpr int kIntWidth = 1;
inline ivec izero() {
  return 0;
}
inline ivec widen(const std::int8_t* p) {
  return *p;
}
inline ivec iload(const std::int16_t* p) {
  return *p;
}
inline ivec madd(ivec a, ivec b, ivec acc) {
  return acc + a * b;
}
inline std::int32_t ihsum(ivec v) {
  return v;
}

#else
#error "define one PYRERANK_ISA_* macro before including simd.hpp"
#endif

inline float scalar(float x) {
  return x;
}
inline float scalar(std::uint16_t x) {
  return half_to_float(x);
}

}  // namespace simd
}  // namespace
}  // namespace pyrerank
