// The decay interest model's closed form (pyrerank.interest.decay.DecayInterest.replay): how
// much each of a user's events still pulls their state, so a cold user held as a few events is
// rebuilt in one pass instead of a Python loop of exp() calls.
#pragma once
#include <cstdint>

namespace pyrerank {

// For events i = 0..n-1, oldest first: latest_i = max(timestamps[0..i]) and
// pull_i = |weights[i]| * exp((latest_{n-1} - latest_i) * per_second + (n - 1 - i) * per_event),
// written to positive[i] where weights[i] > 0 (else 0) and to negative[i] otherwise (else 0).
// Returns latest_{n-1} (n > 0).
double decay_pulls(const double* weights, const double* timestamps, std::int64_t n, double per_second,
                   double per_event, float* positive, float* negative);

// The replayed state itself: pos[j] = sum_i positive[i] * vectors[i, j] and neg likewise, in float32
// over (n, d) float32 vectors, event by event (what a (2, n) @ (n, d) product gives, within
// float32 rounding). Returns latest_{n-1}.
double decay_replay(const float* vectors, std::int64_t n, std::int64_t d, const double* weights,
                    const double* timestamps, double per_second, double per_event, float* pos, float* neg);

}  // namespace pyrerank
