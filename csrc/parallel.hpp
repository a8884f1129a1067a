// Splits [0, n) into contiguous ranges, one per thread; the caller's thread takes the first.
// An exception thrown by any worker is rethrown on the caller's thread after all have joined.
#pragma once
#include <algorithm>
#include <cstdint>
#include <exception>
#include <thread>
#include <vector>

namespace pyrerank {

// work(begin, end, thread_index)
template <class Work>
void parallel_ranges(std::int64_t n, int num_threads, Work&& work) {
  const int threads = static_cast<int>(std::max<std::int64_t>(1, std::min<std::int64_t>(num_threads, n)));
  auto bound = [&](int t) { return n * t / threads; };
  if (threads == 1) {
    work(std::int64_t{0}, n, 0);
    return;
  }
  std::vector<std::exception_ptr> errors(threads);
  auto guarded = [&](int t) {
    try {
      work(bound(t), bound(t + 1), t);
    } catch (...) {
      errors[t] = std::current_exception();
    }
  };
  std::vector<std::thread> pool;
  pool.reserve(threads - 1);
  for (int t = 1; t < threads; ++t) pool.emplace_back(guarded, t);
  guarded(0);
  for (auto& th : pool) th.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

}  // namespace pyrerank
