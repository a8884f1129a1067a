#include "rank.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "candidates.hpp"
#include "dot_block.hpp"
#include "half.hpp"
#include "parallel.hpp"
#include "topk_heap.hpp"

namespace pyrerank {
namespace {

// Candidates scored per kernel call: scores stay in L1 between the kernel and the epilogue.
constexpr std::int64_t kBlock = 256;

void dot(const Catalog& cat, const Candidates& cand, std::int64_t begin, std::int64_t end,
         const float* queries, std::int64_t nq, float* out) {
  const DotBlockKernels& k = best_kernels();
  switch (cat.dtype) {
    case DType::f32:
      k.f32(static_cast<const float*>(cat.data), cat.dim, cand.rows, begin, end, queries, nq, out);
      break;
    case DType::f16:
      k.f16(static_cast<const std::uint16_t*>(cat.data), cat.dim, cand.rows, begin, end, queries, nq, out);
      break;
    case DType::i8:
      k.i8(static_cast<const std::int8_t*>(cat.data), cat.dim, cand.rows, begin, end, queries, nq,
           cat.row_scale, out);
      break;
  }
}

// Scores candidates [begin, end) block by block; epilogue(block_begin, block_end, scores)
// gets scores laid out (nq, block_end - block_begin).
template <class Epilogue>
void for_each_block(const Catalog& cat, const Candidates& cand, const float* queries, std::int64_t nq,
                    std::int64_t begin, std::int64_t end, Epilogue&& epilogue) {
  std::unique_ptr<float[]> buffer(new float[static_cast<std::size_t>(nq * kBlock)]);
  for (std::int64_t b = begin; b < end; b += kBlock) {
    const std::int64_t e = std::min(b + kBlock, end);
    dot(cat, cand, b, e, queries, nq, buffer.get());
    epilogue(b, e, buffer.get());
  }
}

inline std::int64_t row_of(const Candidates& cand, std::int64_t i) {
  return cand.rows ? cand.rows[i] : i;
}

// Runs `fill(begin, end, heaps)` on each thread's range with n_heaps heaps of size k, merges
// the threads' heaps and writes each heap's result, best first, to out[h * k_out ...].
template <class Fill>
void select_parallel(std::int64_t n, std::int64_t n_heaps, std::int64_t k, int num_threads,
                     std::int64_t* out_rows, float* out_scores, Fill&& fill) {
  const std::int64_t k_out = std::min(k, n);
  const int threads = static_cast<int>(
      std::max<std::int64_t>(1, std::min<std::int64_t>(num_threads, (n + kBlock - 1) / kBlock)));
  std::vector<std::vector<TopK>> heaps(threads);
  for (auto& per_thread : heaps) per_thread.assign(n_heaps, TopK(k_out));
  parallel_ranges(n, threads,
                  [&](std::int64_t begin, std::int64_t end, int t) { fill(begin, end, heaps[t]); });
  for (std::int64_t h = 0; h < n_heaps; ++h) {
    for (int t = 1; t < threads; ++t) heaps[0][h].merge(heaps[t][h]);
    heaps[0][h].write_sorted(out_rows + h * k_out, out_scores + h * k_out);
  }
}

std::size_t element_size(DType dtype) {
  return dtype == DType::f32 ? 4 : dtype == DType::f16 ? 2 : 1;
}

// The row as the ops see it: float32, and for int8 scaled to unit length (see rank.hpp).
void copy_row_as_float(const Catalog& cat, std::int64_t row, float* out) {
  if (cat.dtype == DType::f32) {
    const float* src = static_cast<const float*>(cat.data) + row * cat.dim;
    std::copy(src, src + cat.dim, out);
  } else if (cat.dtype == DType::f16) {
    const std::uint16_t* src = static_cast<const std::uint16_t*>(cat.data) + row * cat.dim;
    for (std::int64_t j = 0; j < cat.dim; ++j) out[j] = half_to_float(src[j]);
  } else {
    const std::int8_t* src = static_cast<const std::int8_t*>(cat.data) + row * cat.dim;
    double squares = 0.0;
    for (std::int64_t j = 0; j < cat.dim; ++j) squares += static_cast<double>(src[j]) * src[j];
    const float scale = squares > 0.0 ? static_cast<float>(1.0 / std::sqrt(squares)) : 0.0f;
    for (std::int64_t j = 0; j < cat.dim; ++j) out[j] = static_cast<float>(src[j]) * scale;
  }
}

// With one interest the fused similarity is linear in the row:
// sim_weight * w * <q, row> + sum_e x_e <extra_e, row> = <sim_weight * w * q + sum_e x_e extra_e, row>,
// so the queries fold into one and each candidate costs one dot product instead of 1 + n_extra
// (the fusion ranker's usual request: the interest plus the short-term vector). Returns the
// fusion to score with; `folded` holds its query.
Fusion fold_linear_queries(const Fusion& fusion, std::int64_t dim, std::vector<float>& folded) {
  if (fusion.n_interests != 1 || fusion.n_extra == 0) return fusion;
  const float w = fusion.sim_weight * (fusion.interest_weights ? fusion.interest_weights[0] : 1.0f);
  folded.resize(static_cast<std::size_t>(dim));
  for (std::int64_t j = 0; j < dim; ++j) folded[j] = w * fusion.queries[j];
  for (std::int64_t x = 0; x < fusion.n_extra; ++x) {
    const float* extra = fusion.queries + (1 + x) * dim;
    for (std::int64_t j = 0; j < dim; ++j) folded[j] += fusion.extra_weights[x] * extra[j];
  }
  Fusion one = fusion;
  one.queries = folded.data();
  one.interest_weights = nullptr;
  one.sim_weight = 1.0f;
  one.n_extra = 0;
  one.extra_weights = nullptr;
  return one;
}

// values[i] += features[i] . weights for each of len candidates, the terms added in order;
// features (len, f). F > 0: f == F, known when compiled.
template <std::int64_t F>
void add_weighted_features(const float* features, std::int64_t f, const float* weights, std::int64_t len,
                           float* values) {
  const std::int64_t n_terms = F > 0 ? F : f;
  for (std::int64_t i = 0; i < len; ++i) {
    const float* row_features = features + i * n_terms;
    float value = values[i];
    for (std::int64_t t = 0; t < n_terms; ++t) value += row_features[t] * weights[t];
    values[i] = value;
  }
}

// The fused scores of one block of `len` candidates (see Fusion) into values (len,), from the
// kernel's scores s (n_interests + n_extra, len) and features (len, n_features) or nullptr.
// Term by term over the block, so that the loops vectorise and the heap sees finished scores;
// each candidate's terms are added in the order a per-candidate loop adds them (interests,
// extras, features), so the scores round the same.
void fuse_block(const Fusion& fusion, const float* s, const float* features, std::int64_t len,
                float* values) {
  const std::int64_t m = fusion.n_interests, f = fusion.n_features;
  std::fill(values, values + len, -std::numeric_limits<float>::infinity());
  for (std::int64_t j = 0; j < m; ++j) {
    const float w = fusion.interest_weights ? fusion.interest_weights[j] : 1.0f;
    const float* sj = s + j * len;
    for (std::int64_t i = 0; i < len; ++i) values[i] = std::max(values[i], w * sj[i]);
  }
  for (std::int64_t i = 0; i < len; ++i) values[i] = fusion.sim_weight * values[i];
  for (std::int64_t x = 0; x < fusion.n_extra; ++x) {
    const float w = fusion.extra_weights[x];
    const float* sx = s + (m + x) * len;
    for (std::int64_t i = 0; i < len; ++i) values[i] += w * sx[i];
  }
  if (!features) return;
  constexpr std::int64_t kGathered = kFeatureNames.size();  // unrolled for the gathered features' count
  if (f == kGathered) {
    add_weighted_features<kGathered>(features, f, fusion.feature_weights, len, values);
  } else {
    add_weighted_features<0>(features, f, fusion.feature_weights, len, values);
  }
}

}  // namespace

void check_rows(std::int64_t n_rows, const Candidates& cand) {
  if (!cand.rows) return;
  for (std::int64_t i = 0; i < cand.n; ++i) {
    const std::int64_t r = cand.rows[i];
    if (r < 0 || r >= n_rows) {
      throw std::out_of_range("rows[" + std::to_string(i) + "] = " + std::to_string(r) +
                              " is out of range for a matrix with " + std::to_string(n_rows) + " rows");
    }
  }
}

void check_finite(const float* values, std::int64_t n, const char* name) {
  // Branch-free scan of the magnitude bits (vectorises): above kMaxMagnitude's bits are larger
  // values, infinities and NaNs alike. The slow loop below only names the culprit.
  std::uint32_t limit;
  std::memcpy(&limit, &kMaxMagnitude, sizeof limit);
  std::uint32_t too_large = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    std::uint32_t bits;
    std::memcpy(&bits, values + i, sizeof bits);
    too_large |= static_cast<std::uint32_t>((bits & 0x7FFFFFFFu) > limit);
  }
  if (!too_large) return;
  for (std::int64_t i = 0; i < n; ++i) {
    if (!(std::fabs(values[i]) <= kMaxMagnitude)) {
      throw std::invalid_argument(std::string(name) + " must be finite with |value| <= 1e15, found " +
                                  std::to_string(values[i]) + " at flat index " + std::to_string(i));
    }
  }
}

void score(const Catalog& cat, const Candidates& cand, const float* queries, std::int64_t nq, int num_threads,
           float* out) {
  const std::int64_t n = cand.n;
  parallel_ranges(
      (n + kBlock - 1) / kBlock, num_threads, [&](std::int64_t block_begin, std::int64_t block_end, int) {
        for_each_block(cat, cand, queries, nq, block_begin * kBlock, std::min(block_end * kBlock, n),
                       [&](std::int64_t b, std::int64_t e, const float* s) {
                         for (std::int64_t q = 0; q < nq; ++q)
                           std::copy(s + q * (e - b), s + (q + 1) * (e - b), out + q * n + b);
                       });
      });
}

void topk(const Catalog& cat, const Candidates& cand, const float* queries, std::int64_t nq, std::int64_t k,
          int num_threads, std::int64_t* out_rows, float* out_scores) {
  select_parallel(cand.n, nq, k, num_threads, out_rows, out_scores,
                  [&](std::int64_t begin, std::int64_t end, std::vector<TopK>& heaps) {
                    for_each_block(cat, cand, queries, nq, begin, end,
                                   [&](std::int64_t b, std::int64_t e, const float* s) {
                                     for (std::int64_t q = 0; q < nq; ++q) {
                                       const float* sq = s + q * (e - b);
                                       for (std::int64_t i = b; i < e; ++i)
                                         heaps[q].push(sq[i - b], row_of(cand, i));
                                     }
                                   });
                  });
}

void fused_topk(const Catalog& cat, const Candidates& cand, const Fusion& given, std::int64_t k,
                int num_threads, Ties ties, std::int64_t* out_rows, float* out_scores) {
  std::vector<float> folded;
  const Fusion fusion = fold_linear_queries(given, cat.dim, folded);
  const std::int64_t m = fusion.n_interests, f = fusion.n_features;
  const bool by_position = ties == Ties::position && cand.rows;  // without rows, position is the row
  select_parallel(cand.n, 1, k, num_threads, out_rows, out_scores,
                  [&](std::int64_t begin, std::int64_t end, std::vector<TopK>& heaps) {
                    std::unique_ptr<float[]> block_features;  // gathered: one block's, not zeroed
                    if (fusion.gather) block_features.reset(new float[static_cast<std::size_t>(kBlock * f)]);
                    const std::unique_ptr<float[]> values(new float[kBlock]);  // one block's fused scores
                    for_each_block(cat, cand, fusion.queries, m + fusion.n_extra, begin, end,
                                   [&](std::int64_t b, std::int64_t e, const float* s) {
                                     const std::int64_t len = e - b;
                                     const float* features =
                                         fusion.features ? fusion.features + b * f : nullptr;
                                     if (fusion.gather) {  // this block's, while its scores are in L1
                                       fusion.gather->fill(b, e, block_features.get());
                                       check_finite(block_features.get(), len * f, "features");
                                       features = block_features.get();
                                     }
                                     fuse_block(fusion, s, features, len, values.get());
                                     for (std::int64_t i = b; i < e; ++i)
                                       heaps[0].push(values[i - b], by_position ? i : row_of(cand, i));
                                   });
                  });
  if (by_position) {
    for (std::int64_t j = 0, n_out = std::min(k, cand.n); j < n_out; ++j)
      out_rows[j] = cand.rows[out_rows[j]];
  }
}

void mmr(const Catalog& cat, const Candidates& cand, const float* relevance, std::int64_t k, float lambda,
         Ties ties, std::int64_t* out_rows, float* out_scores) {
  const std::int64_t n = cand.n, k_out = std::min(k, n);
  std::vector<float> max_sim(n, 0.0f), picked_vector(cat.dim);
  std::vector<char> taken(n, 0);
  for (std::int64_t t = 0; t < k_out; ++t) {
    Scored best{0.0f, -1};
    std::int64_t best_i = -1;
    for (std::int64_t i = 0; i < n; ++i) {
      if (taken[i]) continue;
      float value = lambda * relevance[i] - (1.0f - lambda) * max_sim[i];
      if (value != value) value = -std::numeric_limits<float>::infinity();
      const Scored s{value, ties == Ties::position ? i : row_of(cand, i)};
      if (best_i < 0 || ranks_before(s, best)) {
        best = s;
        best_i = i;
      }
    }
    taken[best_i] = 1;
    out_rows[t] = row_of(cand, best_i);
    out_scores[t] = best.score;
    if (t + 1 == k_out) break;
    copy_row_as_float(cat, out_rows[t], picked_vector.data());
    for_each_block(cat, cand, picked_vector.data(), 1, 0, n,
                   [&](std::int64_t b, std::int64_t e, const float* s) {
                     for (std::int64_t i = b; i < e; ++i) {
                       // The first pick sets the max outright: similarities may all be negative.
                       max_sim[i] = (t == 0) ? s[i - b] : std::max(max_sim[i], s[i - b]);
                     }
                   });
  }
}

std::uint64_t read_all(const Catalog& cat) {
  const std::size_t bytes = static_cast<std::size_t>(cat.n_rows * cat.dim) * element_size(cat.dtype);
  const unsigned char* p = static_cast<const unsigned char*>(cat.data);
  std::uint64_t acc[4] = {0, 0, 0, 0};
  std::size_t i = 0;
  for (; i + 32 <= bytes; i += 32) {
    for (int lane = 0; lane < 4; ++lane) {
      std::uint64_t word;
      std::memcpy(&word, p + i + 8 * lane, 8);
      acc[lane] += word;
    }
  }
  for (; i < bytes; ++i) acc[0] += p[i];
  return acc[0] + acc[1] + acc[2] + acc[3];
}

}  // namespace pyrerank
