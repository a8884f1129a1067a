// Item-item co-engagement links in fixed-size arrays: for each item, up to K (neighbour row,
// count) slots in insertion order, so memory is bounded by items x K, not by events.
#pragma once
#include <cstdint>

#include "co_scores.hpp"

namespace pyrerank {

struct CoLinks {
  std::int32_t* neighbors;  // (n_rows, k)
  float* counts;            // (n_rows, k)
  std::int32_t* sizes;      // (n_rows,) slots in use
  std::int64_t* versions;   // (n_rows,) bumped whenever an item's links change
  std::int64_t n_rows;
  std::int64_t k;
};

// What co_bump did that the bump alone does not tell: a link it evicted (its slot, neighbour and
// count), or an addition lost to float32 rounding (slot -1). Enough to undo the bump exactly.
struct CoEviction {
  std::int32_t slot = -1;
  std::int32_t neighbor = -1;
  float count = 0;
};

// Adds `amount` to the link a -> b; a new link takes the next slot, or, when all k are used,
// replaces the weakest (the first of the smallest counts: the others keep their order) unless
// that one is stronger than `amount` (then nothing changes). True where it evicted a link or
// lost the addition to rounding, described in `*undo`.
bool co_bump(const CoLinks& links, std::int64_t a, std::int64_t b, float amount, CoEviction* undo);

// Undoes the latest bump a -> b of `amount` on links as co_bump left them: `undo` is what co_bump
// reported for it (nullptr where it reported nothing). False where the links cannot be the
// result of that bump (a record that does not match them): nothing is changed then.
bool co_unbump(const CoLinks& links, std::int64_t a, std::int64_t b, float amount, const CoEviction* undo);

// A user's co-engagement scores: sum over their recent rows j (newest last) of
// decay^(age of j) * count(j -> r), for every linked row r (each sum in that order).
CoScores co_user_scores(const CoLinks& links, const std::int64_t* recent, std::int64_t m, double decay);

}  // namespace pyrerank
