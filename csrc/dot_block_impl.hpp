// Body of the per-instruction-set dot-product kernels; included by dot_block_<isa>.cpp, each
// compiled with its own -m flags and its own namespace (PYRERANK_ISA_NAMESPACE).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#include "dot_block.hpp"
#include "simd.hpp"

namespace pyrerank::PYRERANK_ISA_NAMESPACE {
namespace {

using simd::ivec;
using simd::vec;

// The queries as tiles read them: float32 for float rows. For int8 rows, int16 copies scaled
// so that no integer sum can overflow, per query the factor back to float, and the rows'
// inverse norms where the caller keeps them (see DotBlockInt8Fn).
template <class T>
struct TileQueries {
  const float* data;
};
template <>
struct TileQueries<std::int8_t> {
  const std::int16_t* data;
  const float* unscale;
  const float* row_scale;  // (n_rows,) or nullptr
};

// R rows x Q queries, accumulated in R*Q registers; one load of each row and query per step.
// next_ptr (or nullptr): R rows to prefetch, spread over the steps. Without it a tile of two or
// more queries is long enough that the out-of-order window never reaches the next tile's loads,
// and gathered rows arrive one tile at a time (benchmarks/test_kernel.py::test_topk, "subset"
// cases, two queries; the gain is in benchmarks/README.md).
// (kKnownNorms: int8 rows only.)
template <int R, int Q, bool kKnownNorms, class T>
inline void dot_tile(const T* const* row_ptr, const float*, const TileQueries<T>& queries,
                     std::int64_t first_query, std::int64_t dim, float* out, std::int64_t out_stride,
                     const T* const* next_ptr) {
  static_assert(!kKnownNorms, "float rows have no norms to know");
  const float* query_ptr[Q];
  for (int q = 0; q < Q; ++q) query_ptr[q] = queries.data + (first_query + q) * dim;
  vec acc[R][Q];
  for (int r = 0; r < R; ++r)
    for (int q = 0; q < Q; ++q) acc[r][q] = simd::zero();
  std::int64_t j = 0;
  for (; j + simd::kWidth <= dim; j += simd::kWidth) {
    vec qv[Q];
    for (int q = 0; q < Q; ++q) qv[q] = simd::load(query_ptr[q] + j);
    if (next_ptr && (j * sizeof(T)) % 64 == 0)  // one cache line of each next row per line read
      for (int r = 0; r < R; ++r) simd::prefetch(next_ptr[r] + j);
    for (int r = 0; r < R; ++r) {
      const vec x = simd::load(row_ptr[r] + j);
      for (int q = 0; q < Q; ++q) acc[r][q] = simd::fmadd(x, qv[q], acc[r][q]);
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int q = 0; q < Q; ++q) {
      float s = simd::hsum(acc[r][q]);
      for (std::int64_t t = j; t < dim; ++t) s += simd::scalar(row_ptr[r][t]) * query_ptr[q][t];
      out[q * out_stride + r] = s;
    }
  }
}

// int8 rows (directions, see dot_block.hpp): exact integer dot products with the int16
// queries, back to float once per row. inverse_norms: the R rows' 1 / ||row|| (kKnownNorms),
// else each row's sum of squares is taken from the same loads, a third more integer work.
template <int R, int Q, bool kKnownNorms>
inline void dot_tile(const std::int8_t* const* row_ptr, const float* inverse_norms,
                     const TileQueries<std::int8_t>& queries, std::int64_t first_query, std::int64_t dim,
                     float* out, std::int64_t out_stride, const std::int8_t* const* next_ptr) {
  const std::int16_t* query_ptr[Q];
  for (int q = 0; q < Q; ++q) query_ptr[q] = queries.data + (first_query + q) * dim;
  ivec acc[R][Q], squares[R];
  for (int r = 0; r < R; ++r) {
    squares[r] = simd::izero();
    for (int q = 0; q < Q; ++q) acc[r][q] = simd::izero();
  }
  std::int64_t j = 0;
  for (; j + simd::kIntWidth <= dim; j += simd::kIntWidth) {
    ivec qv[Q];
    for (int q = 0; q < Q; ++q) qv[q] = simd::iload(query_ptr[q] + j);
    if (next_ptr && j % 64 == 0)
      for (int r = 0; r < R; ++r) simd::prefetch(next_ptr[r] + j);
    for (int r = 0; r < R; ++r) {
      const ivec x = simd::widen(row_ptr[r] + j);
      if constexpr (!kKnownNorms) squares[r] = simd::madd(x, x, squares[r]);
      for (int q = 0; q < Q; ++q) acc[r][q] = simd::madd(x, qv[q], acc[r][q]);
    }
  }
  // Every accumulator reduced before the tail loops: vector code there (the compiler
  // vectorises integer sums) would otherwise keep the accumulators on the stack throughout.
  std::int32_t dots[R][Q], sum_squares[R];
  for (int r = 0; r < R; ++r) {
    sum_squares[r] = simd::ihsum(squares[r]);
    for (int q = 0; q < Q; ++q) dots[r][q] = simd::ihsum(acc[r][q]);
  }
  for (; j < dim; ++j) {
    for (int r = 0; r < R; ++r) {
      if constexpr (!kKnownNorms) sum_squares[r] += row_ptr[r][j] * row_ptr[r][j];
      for (int q = 0; q < Q; ++q) dots[r][q] += row_ptr[r][j] * query_ptr[q][j];
    }
  }
  for (int r = 0; r < R; ++r) {
    float inverse_norm;
    if constexpr (kKnownNorms)
      inverse_norm = inverse_norms[r];
    else
      inverse_norm = sum_squares[r] > 0 ? 1.0f / std::sqrt(static_cast<float>(sum_squares[r])) : 0.0f;
    for (int q = 0; q < Q; ++q)
      out[q * out_stride + r] =
          static_cast<float>(dots[r][q]) * queries.unscale[first_query + q] * inverse_norm;
  }
}

// One row, one query, four independent accumulators: reads the row strictly front to back,
// so a scan of contiguous rows is one stream for the hardware prefetcher. On a full scan
// (benchmarks/test_kernel.py::test_topk, "full" cases) it beats 8-row tiles for float16, not for
// float32.
template <class T>
inline float dot_row(const T* row, const float* query, std::int64_t dim) {
  vec acc[4] = {simd::zero(), simd::zero(), simd::zero(), simd::zero()};
  std::int64_t j = 0;
  for (; j + 4 * simd::kWidth <= dim; j += 4 * simd::kWidth) {
    for (int u = 0; u < 4; ++u)
      acc[u] = simd::fmadd(simd::load(row + j + u * simd::kWidth), simd::load(query + j + u * simd::kWidth),
                           acc[u]);
  }
  for (; j + simd::kWidth <= dim; j += simd::kWidth)
    acc[0] = simd::fmadd(simd::load(row + j), simd::load(query + j), acc[0]);
  float s = simd::hsum(simd::add(simd::add(acc[0], acc[1]), simd::add(acc[2], acc[3])));
  for (; j < dim; ++j) s += simd::scalar(row[j]) * query[j];
  return s;
}

// Queries in tiles of QT (at most 16 accumulators), then pairs, then singles.
template <int R, bool kKnownNorms, class T>
inline void dot_rows(const T* const* row_ptr, const float* inverse_norms, const TileQueries<T>& queries,
                     std::int64_t dim, std::int64_t nq, float* out, std::int64_t out_stride,
                     const T* const* next_ptr) {
  constexpr int QT = (R * simd::kQueryTile <= 16) ? simd::kQueryTile : 1;
  std::int64_t q = 0;
  if constexpr (QT > 2) {
    for (; q + QT <= nq; q += QT)
      dot_tile<R, QT, kKnownNorms>(row_ptr, inverse_norms, queries, q, dim, out + q * out_stride, out_stride,
                                   q == 0 ? next_ptr : nullptr);
  }
  if constexpr (R * 2 <= 16) {
    for (; q + 2 <= nq; q += 2)
      dot_tile<R, 2, kKnownNorms>(row_ptr, inverse_norms, queries, q, dim, out + q * out_stride, out_stride,
                                  q == 0 ? next_ptr : nullptr);
  }
  for (; q < nq; ++q)
    dot_tile<R, 1, kKnownNorms>(row_ptr, inverse_norms, queries, q, dim, out + q * out_stride, out_stride,
                                q == 0 ? next_ptr : nullptr);
}

template <int R, class T>
inline void load_row_ptrs(const T* base, std::int64_t dim, const std::int64_t* rows, std::int64_t i,
                          const T** row_ptr) {
  for (int r = 0; r < R; ++r) {
    const std::int64_t row = rows ? rows[i + r] : i + r;
    row_ptr[r] = base + row * dim;
  }
}

// Gathered rows are requested this many rows ahead of the tile being computed: one tile ahead
// leaves less than a DRAM round trip between a row's prefetch and its first load, and cold
// candidate rows (benchmarks/test_kernel.py::test_topk "subset" cases, test_reranker.py "cold")
// arrive ~1.4x faster at 16 rows than at one 4-row tile.
constexpr int kPrefetchRows = 16;

// kKnownNorms: the tile's inverse norms read from queries.row_scale (int8 rows), each requested
// with its row.
template <int R, bool kKnownNorms, class T>
void dot_block_tiled(const T* base, std::int64_t dim, const std::int64_t* rows, std::int64_t begin,
                     std::int64_t end, const TileQueries<T>& queries, std::int64_t nq, float* out) {
  constexpr int D = std::max(1, kPrefetchRows / R);  // tiles ahead
  const std::int64_t out_stride = end - begin;
  const T* row_ptr[R];
  const T* next_ptr[R];
  float inverse_norms[R];
  const auto row_of = [rows](std::int64_t i) { return rows ? rows[i] : i; };
  const auto request = [&](std::int64_t i) {  // row i's lines (and its norm) towards the cache
    for (std::int64_t j = 0; j < dim * static_cast<std::int64_t>(sizeof(T)); j += 64)
      simd::prefetch(reinterpret_cast<const char*>(base + row_of(i) * dim) + j);
    if constexpr (kKnownNorms) simd::prefetch(queries.row_scale + row_of(i));
  };
  const auto read_norms = [&](std::int64_t i, int count) {
    if constexpr (kKnownNorms)
      for (int r = 0; r < count; ++r) inverse_norms[r] = queries.row_scale[row_of(i + r)];
  };
  std::int64_t i = begin;
  if (rows && D > 1)  // the first D tiles at once; each tile then requests the one D tiles on
    for (std::int64_t r = begin; r < std::min(begin + D * R, end); ++r) request(r);
  for (; i + R <= end; i += R) {
    load_row_ptrs<R>(base, dim, rows, i, row_ptr);
    read_norms(i, R);
    // Gathered rows: request the rows D tiles on while this one computes, spread over its
    // steps (a contiguous scan is left to the hardware prefetcher).
    const bool fetch_next = rows && i + (D + 1) * R <= end;
    if (fetch_next) {
      load_row_ptrs<R>(base, dim, rows, i + D * R, next_ptr);
      if constexpr (kKnownNorms)
        for (int r = 0; r < R; ++r) simd::prefetch(queries.row_scale + rows[i + D * R + r]);
    }
    dot_rows<R, kKnownNorms>(row_ptr, inverse_norms, queries, dim, nq, out + (i - begin), out_stride,
                             fetch_next ? next_ptr : nullptr);
  }
  for (; i < end; ++i) {
    load_row_ptrs<1>(base, dim, rows, i, row_ptr);
    read_norms(i, 1);
    dot_rows<1, kKnownNorms>(row_ptr, inverse_norms, queries, dim, nq, out + (i - begin), out_stride,
                             static_cast<const T* const*>(nullptr));
  }
}

// Row tiles sized so accumulators, queries and the row fit the registers (see simd.hpp).
template <class T>
void dot_block_by_tiles(const T* base, std::int64_t dim, const std::int64_t* rows, std::int64_t begin,
                        std::int64_t end, const TileQueries<T>& queries, std::int64_t nq, float* out) {
  if (nq == 1) {
    dot_block_tiled<simd::kRowTileSingle, false>(base, dim, rows, begin, end, queries, nq, out);
  } else if (nq == 2) {  // an interest plus the short-term vector: the fusion ranker's usual case
    dot_block_tiled<simd::kRowTilePair, false>(base, dim, rows, begin, end, queries, nq, out);
  } else {
    dot_block_tiled<simd::kRowTileMulti, false>(base, dim, rows, begin, end, queries, nq, out);
  }
}

template <>
void dot_block_by_tiles(const std::int8_t* base, std::int64_t dim, const std::int64_t* rows,
                        std::int64_t begin, std::int64_t end, const TileQueries<std::int8_t>& queries,
                        std::int64_t nq, float* out) {
  if (queries.row_scale) {
    if (nq <= 2)
      dot_block_tiled<simd::kRowTileInt8KnownNorms, true>(base, dim, rows, begin, end, queries, nq, out);
    else
      dot_block_tiled<simd::kRowTileMulti, true>(base, dim, rows, begin, end, queries, nq, out);
  } else if (nq <= 2) {
    dot_block_tiled<simd::kRowTileInt8, false>(base, dim, rows, begin, end, queries, nq, out);
  } else {
    dot_block_tiled<simd::kRowTileMulti, false>(base, dim, rows, begin, end, queries, nq, out);
  }
}

template <class T>
void dot_block(const T* base, std::int64_t dim, const std::int64_t* rows, std::int64_t begin,
               std::int64_t end, const float* queries, std::int64_t nq, float* out) {
  if (sizeof(T) == 2 && nq == 1 && rows == nullptr) {
    for (std::int64_t i = begin; i < end; ++i) out[i - begin] = dot_row(base + i * dim, queries, dim);
  } else {
    dot_block_by_tiles(base, dim, rows, begin, end, TileQueries<T>{queries}, nq, out);
  }
}

// int8 rows: each query rounded to int16 with the largest scale at which |<row, query>| stays
// below 2^31 for any int8 row (|row_j| <= 127), at most 32767 per element.
void dot_block_int8(const std::int8_t* base, std::int64_t dim, const std::int64_t* rows, std::int64_t begin,
                    std::int64_t end, const float* queries, std::int64_t nq, const float* row_scale,
                    float* out) {
  std::vector<std::int16_t> rounded(static_cast<std::size_t>(nq * dim));
  std::vector<float> unscale(static_cast<std::size_t>(nq));
  const float limit = std::min(32767.0f, 2147483647.0f / (127.0f * static_cast<float>(dim)));
  for (std::int64_t q = 0; q < nq; ++q) {
    const float* query = queries + q * dim;
    std::uint32_t largest_bits = 0;           // max |query[j]| on the bits: finite non-negative floats order
    for (std::int64_t j = 0; j < dim; ++j) {  // as their bit patterns, and an integer max vectorises
      std::uint32_t bits;
      std::memcpy(&bits, query + j, sizeof bits);
      largest_bits = std::max(largest_bits, bits & 0x7FFFFFFFu);
    }
    float largest;
    std::memcpy(&largest, &largest_bits, sizeof largest);
    const float scale = largest > 0.0f ? std::floor(limit) / largest : 0.0f;
    for (std::int64_t j = 0; j < dim; ++j) {  // round half away from zero (vectorises, unlike lrint)
      const float v = query[j] * scale;
      rounded[q * dim + j] = static_cast<std::int16_t>(v + (v >= 0.0f ? 0.5f : -0.5f));
    }
    unscale[q] = scale > 0.0f ? 1.0f / scale : 0.0f;
  }
  dot_block_by_tiles(base, dim, rows, begin, end,
                     TileQueries<std::int8_t>{rounded.data(), unscale.data(), row_scale}, nq, out);
}

}  // namespace

DotBlockKernels kernels() {
  return {PYRERANK_ISA_NAME, &dot_block<float>, &dot_block<std::uint16_t>, &dot_block_int8};
}

}  // namespace pyrerank::PYRERANK_ISA_NAMESPACE
