// Bounded selection of the k best (score, row) pairs: a binary heap with the worst kept on top.
#pragma once
#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

namespace pyrerank {

struct Scored {
  float score;
  std::int64_t row;  // what ties are broken by: a row number, or a candidate's position
};

// Higher score first; among equal scores the lower `row` first. A function object, not a
// function pointer, so the std heap algorithms inline it.
struct RanksBefore {
  bool operator()(const Scored& a, const Scored& b) const {
    return a.score > b.score || (a.score == b.score && a.row < b.row);
  }
};
constexpr RanksBefore ranks_before{};

class TopK {
 public:
  explicit TopK(std::int64_t k) : k_(static_cast<std::size_t>(k)) { heap_.reserve(k_); }

  void push(float score, std::int64_t row) {
    if (score != score) score = -std::numeric_limits<float>::infinity();  // NaN ranks last
    const Scored s{score, row};
    if (heap_.size() < k_) {
      heap_.push_back(s);
      std::push_heap(heap_.begin(), heap_.end(), ranks_before);
    } else if (ranks_before(s, heap_.front())) {
      replace_worst(s);
    }
  }

  void merge(const TopK& other) {
    for (const Scored& s : other.heap_) push(s.score, s.row);
  }

  // Writes the kept pairs best first; leaves the heap unusable for further pushes.
  void write_sorted(std::int64_t* rows, float* scores) {
    std::sort_heap(heap_.begin(), heap_.end(), ranks_before);
    for (std::size_t i = 0; i < heap_.size(); ++i) {
      rows[i] = heap_[i].row;
      scores[i] = heap_[i].score;
    }
  }

 private:
  // Puts s in place of the worst pair (the root) and sifts it down.
  void replace_worst(const Scored& s) {
    const std::size_t n = heap_.size();
    std::size_t i = 0;
    for (std::size_t child = 1; child < n; child = 2 * i + 1) {
      if (child + 1 < n && ranks_before(heap_[child], heap_[child + 1])) ++child;  // worse child
      if (!ranks_before(s, heap_[child])) break;
      heap_[i] = heap_[child];
      i = child;
    }
    heap_[i] = s;
  }

  std::size_t k_;
  std::vector<Scored> heap_;
};

}  // namespace pyrerank
