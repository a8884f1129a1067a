#include "candidates.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "prefetch.hpp"

namespace pyrerank {

namespace {

inline std::size_t hash_row(std::int64_t row, std::size_t mask) {
  return static_cast<std::size_t>(static_cast<std::uint64_t>(row) * 0x9E3779B97F4A7C15ull >> 20) & mask;
}

// Which rows were seen earlier in this request: a private open-addressing set, so duplicate
// detection touches no catalog-sized memory.
class RowSet {
 public:
  explicit RowSet(std::int64_t n) {
    std::size_t cap = 16;
    while (cap < static_cast<std::size_t>(2 * n)) cap *= 2;
    mask_ = cap - 1;
    slots_.assign(cap, -1);
  }
  // True if `row` (>= 0) was already inserted.
  bool insert(std::int64_t row) {
    for (std::size_t h = hash_row(row, mask_);; h = (h + 1) & mask_) {
      if (slots_[h] == row) return true;
      if (slots_[h] < 0) {
        slots_[h] = row;
        return false;
      }
    }
  }

 private:
  std::size_t mask_;
  std::vector<std::int64_t> slots_;
};

// Σ f(values[i]) in double over four independent partial sums (one chain of dependent adds
// would take four times as long).
template <class F>
double sum4(const float* values, std::int64_t n, F f) {
  double part[4] = {0.0, 0.0, 0.0, 0.0};
  std::int64_t i = 0;
  for (; i + 4 <= n; i += 4)
    for (int u = 0; u < 4; ++u) part[u] += f(values[i + u]);
  for (; i < n; ++i) part[0] += f(values[i]);
  return (part[0] + part[1]) + (part[2] + part[3]);
}

}  // namespace

std::int64_t resolve_rows(const std::int64_t* table, std::int64_t table_len, std::int64_t n_rows,
                          const std::int64_t* keys, std::int64_t n, std::int64_t* rows) {
  // A branch-free gather first (its cache misses overlap), then duplicates on the rows alone.
  if (table_len == 0) {
    std::fill(rows, rows + n, -1);
    return n;
  }
  std::int64_t unknown = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t key = keys[i];
    const bool in_table = key >= 0 && key < table_len;
    std::int64_t row = table[in_table ? key : 0];
    row = (in_table && row >= 0 && row < n_rows) ? row : -1;
    unknown += row < 0;
    rows[i] = row;
  }
  return unknown + mark_duplicates(rows, n);
}

std::int64_t mark_duplicates(std::int64_t* rows, std::int64_t n) {
  RowSet seen(n);
  std::int64_t dropped = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    if (rows[i] >= 0 && seen.insert(rows[i])) {
      rows[i] = -2;
      ++dropped;
    }
  }
  return dropped;
}

KeptCandidates keep_candidates(const std::int64_t* rows, const float* upstream, std::int64_t n,
                               const std::int64_t* excluded, std::int64_t m, std::int64_t* rows_out,
                               float* upstream_out) {
  // A filter of >= 64 bits per excluded row, tested without a branch: a candidate's row is
  // looked up exactly (binary search) only when its bit is set, for the excluded rows and ~1.5%
  // of the others. A hash set's probe loop mispredicts on every new candidate list.
  std::size_t bits = 4096;
  while (bits < 64 * static_cast<std::size_t>(m)) bits *= 2;
  const std::size_t mask = bits - 1;
  std::vector<std::uint64_t> filter(bits / 64, 0);
  std::vector<std::int64_t> copy;  // only if `excluded` is not ascending already (a user's seen rows are)
  const std::int64_t* sorted = excluded;
  if (!std::is_sorted(excluded, excluded + m)) {
    copy.assign(excluded, excluded + m);
    std::sort(copy.begin(), copy.end());
    sorted = copy.data();
  }
  for (std::int64_t j = 0; j < m; ++j) {
    const std::int64_t row = sorted[j];
    const std::size_t h = hash_row(row, mask);
    filter[h >> 6] |= std::uint64_t{1} << (h & 63);
  }
  KeptCandidates out{0, 0, 0};
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t row = rows[i];
    if (row < 0) {
      out.unknown += row == -1;
      out.repeated += row != -1;
      continue;
    }
    const std::size_t h = hash_row(row, mask);
    if (((filter[h >> 6] >> (h & 63)) & 1) && std::binary_search(sorted, sorted + m, row)) continue;
    if (upstream) upstream_out[out.kept] = upstream[i];
    rows_out[out.kept++] = row;
  }
  return out;
}

CandidateFeatures::CandidateFeatures(const double* stats, const std::int64_t* rows, std::int64_t n,
                                     double now, double half_life, double recency_scale,
                                     const float* upstream, const CoScores* co)
    : stats_(stats),
      rows_(rows),
      upstream_(upstream),
      now_(now),
      ln2_per_second_(0.6931471805599453 / half_life),
      inv_scale_(1.0 / recency_scale),
      co_(co) {
  if (upstream && n > 1) {
    mean_ = sum4(upstream, n, [](double x) { return x; }) / static_cast<double>(n);
    const double mean = mean_;
    const double spread = std::sqrt(sum4(upstream, n, [mean](double x) { return (x - mean) * (x - mean); }) /
                                    static_cast<double>(n));
    inv_spread_ = spread > 0.0 ? 1.0 / spread : 0.0;
  }
}

CandidateFeatures::~CandidateFeatures() = default;

void CandidateFeatures::fill(std::int64_t begin, std::int64_t end, float* out) const {
  constexpr std::int64_t kCols = kFeatureNames.size();
  // The statistics are kept in log form, so no transcendental function runs per candidate
  // but log1p of the (rare) co-engagement scores.
  constexpr std::int64_t kAhead = 16;  // statistics rows requested this far ahead: more misses in flight
  for (std::int64_t i = begin; i < std::min(begin + kAhead, end); ++i) prefetch(stats_ + rows_[i] * 4);
  for (std::int64_t i = begin; i < end; ++i) {
    if (i + kAhead < end) prefetch(stats_ + rows_[i + kAhead] * 4);
    const double* s = stats_ + rows_[i] * 4;
    float* o = out + kCols * (i - begin);
    const double recent_age = std::max(0.0, now_ - s[2]);
    const double last_age = std::max(0.0, now_ - s[3]);  // never engaged: age inf -> recency 0
    o[0] = static_cast<float>(s[0]);
    o[1] = static_cast<float>(std::max(0.0, s[1] - ln2_per_second_ * recent_age));
    o[2] = static_cast<float>(1.0 / (1.0 + last_age * inv_scale_));
    o[3] = inv_spread_ > 0.0 ? static_cast<float>((upstream_[i] - mean_) * inv_spread_) : 0.0f;
    const float co = co_ ? co_->get(rows_[i]) : 0.0f;
    o[4] = co != 0.0f ? std::log1p(co) : 0.0f;  // most candidates have no co-engagement score
  }
}

}  // namespace pyrerank
