// Per-request work on candidate rows that is too slow as a chain of numpy calls: id -> row
// resolution with duplicate detection, and gathering per-item statistics as feature columns.
#pragma once
#include <array>
#include <cstdint>

#include "co_scores.hpp"

namespace pyrerank {

// The columns candidate_features writes, in order; Python reads them as _core.FEATURE_NAMES.
inline constexpr std::array<const char*, 5> kFeatureNames{"popularity", "recent_popularity", "recency",
                                                          "upstream", "co_engagement"};

// rows[i] = the catalog row of keys[i], or -1 if unknown, or -2 if an earlier key had the
// same row. table (table_len,) maps id -> row, -1 for ids not in the catalog; a row outside
// [0, n_rows) counts as unknown. Returns the number of rows that are not >= 0.
std::int64_t resolve_rows(const std::int64_t* table, std::int64_t table_len, std::int64_t n_rows,
                          const std::int64_t* keys, std::int64_t n, std::int64_t* rows);

// For rows already resolved (string ids, in Python; -1 for unknown): sets rows[i] = -2 where
// an earlier entry had the same row. Returns how many it set.
std::int64_t mark_duplicates(std::int64_t* rows, std::int64_t n);

// What keep_candidates kept and dropped.
struct KeptCandidates {
  std::int64_t kept, unknown, repeated;
};

// Copies to rows_out (and upstream_out, where upstream is given) in order the candidates that
// are >= 0 and not among the m `excluded` rows (a user's seen items); rows marked -1 (unknown)
// and -2 (repeated) by resolve_rows or mark_duplicates are counted and left out. The excluded
// rows go through a small bit filter (never a catalog-sized mask, no data-dependent branch for
// most rows). rows_out and upstream_out may be rows and upstream.
KeptCandidates keep_candidates(const std::int64_t* rows, const float* upstream, std::int64_t n,
                               const std::int64_t* excluded, std::int64_t m, std::int64_t* rows_out,
                               float* upstream_out);

// The fusion features of a list of n candidates, out (n, kFeatureNames.size()) float32 with columns
//   0 log1p(popularity)
//   1 max(0, log1p(recent) - ln2 * (now - recent_time) / half_life)   (fades by half-lives)
//   2 1 / (1 + (now - last_time) / recency_scale)                     (0 if never engaged)
//   3 upstream standardised over the candidates (0 without upstream or with no spread)
//   4 log1p(co-engagement): the row's value in the user's co-engagement scores, 0 if absent
// stats (n_rows, 4) float64 = [log1p(popularity), log1p(recent as of recent_time), recent_time,
// last_time]; upstream (n,) or nullptr; co the user's co-engagement scores or nullptr (it must
// outlive this object).
// Ages below 0 count as 0. Built once per list (the upstream's mean and spread, the
// co-engagement scores' lookup); `fill` then writes any range of candidates, so that a kernel
// computes each block's features beside its scores (no (n, 5) buffer per request).
class CandidateFeatures {
 public:
  CandidateFeatures(const double* stats, const std::int64_t* rows, std::int64_t n, double now,
                    double half_life, double recency_scale, const float* upstream, const CoScores* co);
  ~CandidateFeatures();
  CandidateFeatures(const CandidateFeatures&) = delete;
  CandidateFeatures& operator=(const CandidateFeatures&) = delete;

  // out (end - begin, kFeatureNames.size()): the features of candidates [begin, end).
  void fill(std::int64_t begin, std::int64_t end, float* out) const;

 private:
  const double* stats_;
  const std::int64_t* rows_;
  const float* upstream_;
  double now_, ln2_per_second_, inv_scale_, mean_ = 0.0, inv_spread_ = 0.0;
  const CoScores* co_;  // nullptr when the user has none
};

}  // namespace pyrerank
