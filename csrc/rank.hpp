// Scoring, top-k, fused scoring and MMR over a float32, float16 or int8 catalog matrix.
// Plain C++17: raw pointers in, raw pointers out, no Python types. Callers allocate outputs.
// Bad input throws std::invalid_argument (bad value) or std::out_of_range (row number).
#pragma once
#include <cstdint>

namespace pyrerank {

class CandidateFeatures;

enum class DType { f32, f16, i8 };

// A C-contiguous (n_rows, dim) matrix of float32, IEEE half (stored as uint16) or int8.
// An int8 row holds a direction without its length: every op uses row / ||row|| (an all-zero
// row scores 0), so a unit vector quantised with any per-row scale needs no stored scale.
// row_scale: for int8, (n_rows,) float32 1 / ||row|| where the caller keeps them (scoring
// then skips the sums of squares), else nullptr.
struct Catalog {
  const void* data;
  DType dtype;
  std::int64_t n_rows;
  std::int64_t dim;
  const float* row_scale = nullptr;
};

// The candidates: n row numbers into the catalog, or (rows == nullptr) all its rows.
struct Candidates {
  const std::int64_t* rows;
  std::int64_t n;
};

// final = sim_weight * max_j(interest_weights[j] * <interest_j, row>)
//       + sum_e extra_weights[e] * <extra_e, row> + features[i] . feature_weights
// The interests and the extra queries are scored in the same pass over each row (one query when
// there is one interest: see fused_topk). The features are given, or computed block by block
// beside the scores (`gather`, see candidates.hpp).
struct Fusion {
  const float* queries;  // (n_interests + n_extra, dim): the interests, then the extras
  std::int64_t n_interests;
  const float* interest_weights;  // (n_interests,) or nullptr for all ones
  float sim_weight;
  std::int64_t n_extra;
  const float* extra_weights;  // (n_extra,)
  const float* features;       // (n, n_features) aligned with the candidates, or nullptr
  std::int64_t n_features;
  const float* feature_weights;               // (n_features,)
  const CandidateFeatures* gather = nullptr;  // instead of features (n_features = kFeatureNames.size())
};

// Throws unless every candidate row lies in [0, n_rows).
void check_rows(std::int64_t n_rows, const Candidates& cand);
// The largest |value| a query, weight, feature or score may hold: products and sums of such
// values stay far from float32's overflow at any supported width.
inline constexpr float kMaxMagnitude = 1e15f;
// Throws unless all n values are finite and at most kMaxMagnitude in magnitude; `name` is the
// parameter named in the message.
void check_finite(const float* values, std::int64_t n, const char* name);

// out (nq, n): dot products of each query with each candidate row.
void score(const Catalog& cat, const Candidates& cand, const float* queries, std::int64_t nq, int num_threads,
           float* out);

// Per query, the best min(k, n) candidates by dot product, best first, ties to the lower row
// number. out_rows / out_scores are (nq, min(k, n)). NaN scores rank as -inf.
void topk(const Catalog& cat, const Candidates& cand, const float* queries, std::int64_t nq, std::int64_t k,
          int num_threads, std::int64_t* out_rows, float* out_scores);

// How equal scores are ordered: by the lower row number (the ops' documented rule), or by the
// earlier position among the candidates (a reranker's rule: the recall stage's order decides).
enum class Ties { row, position };

// The best min(k, n) candidates by the fused score (see Fusion); out_rows are row numbers
// whichever way ties go.
void fused_topk(const Catalog& cat, const Candidates& cand, const Fusion& fusion, std::int64_t k,
                int num_threads, Ties ties, std::int64_t* out_rows, float* out_scores);

// Greedy maximal marginal relevance: repeatedly picks the candidate maximising
// lambda * relevance[i] - (1 - lambda) * max_{s picked} <row_i, row_s> (the max term is 0
// for the first pick; equal objectives go as `ties` says). out_scores holds that objective at
// pick time. O(k * n * dim) time, O(n) extra memory.
void mmr(const Catalog& cat, const Candidates& cand, const float* relevance, std::int64_t k, float lambda,
         Ties ties, std::int64_t* out_rows, float* out_scores);

// Reads every byte of the catalog once: the memory-bandwidth yardstick for benchmarks.
std::uint64_t read_all(const Catalog& cat);

}  // namespace pyrerank
