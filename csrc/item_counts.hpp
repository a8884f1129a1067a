// The item statistics' counters (pyrerank.serving.item_stats.ItemStats.table), updated by
// positive events one at a time: one arithmetic for observe, for settling events into the
// settled table and for recounting items after a forget, so that each gives the same bits.
#pragma once
#include <cstdint>

namespace pyrerank {

// Each event (rows[i], weights[i], times[i]), in order, on the (n_rows, 4) float64 `table`:
// log1p(popularity) += weight; log1p(recent popularity) fades with half_life from the row's
// recent time, then += weight; recent time and last time become the latest. Rows are checked by
// the caller.
void count_events(double* table, const std::int64_t* rows, const double* weights, const double* times,
                  std::int64_t n, double half_life);

}  // namespace pyrerank
