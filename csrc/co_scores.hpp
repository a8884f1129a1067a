// A user's co-engagement scores, row -> score, as an open-addressing table: built once per user
// profile (co_user_scores) and probed by every rerank of that profile, so a request pays no
// build; a candidate without a score (most of them) costs a probe or two of adjacent slots.
#pragma once
#include <cstdint>
#include <vector>

namespace pyrerank {

class CoScores {
 public:
  // Room for at most `capacity` rows.
  explicit CoScores(std::int64_t capacity);

  // Adds `value` to the score of `row` (in [0, 2^31)), which then has one; at most `capacity`
  // distinct rows.
  void add(std::int64_t row, float value) {
    std::size_t h = slot_of(row);
    while (slots_[h].row != row && slots_[h].row >= 0) h = (h + 1) & mask_;
    if (slots_[h].row < 0) {
      slots_[h].row = static_cast<std::int32_t>(row);
      ++size_;
    }
    slots_[h].value += value;
  }
  // The row's score, 0 if it has none.
  float get(std::int64_t row) const {
    for (std::size_t h = slot_of(row);; h = (h + 1) & mask_) {
      const Slot& slot = slots_[h];
      if (slot.row == row) return slot.value;
      if (slot.row < 0) return 0.0f;
    }
  }
  std::int64_t size() const { return size_; }
  std::int64_t nbytes() const { return static_cast<std::int64_t>(slots_.size() * sizeof(Slot)); }
  // Moves the scores into the smallest table for them, if smaller than this one (a table built
  // for an upper bound on its rows may be mostly empty, and a user holds it for every rerank).
  void fit();
  // Writes the rows, ascending, and their scores (for inspection, not a rerank's path).
  void sorted(std::int64_t* rows, float* values) const;

 private:
  struct Slot {
    std::int32_t row;  // -1: empty
    float value;
  };
  static int bits_for(std::int64_t capacity);
  std::size_t slot_of(std::int64_t row) const {
    return static_cast<std::size_t>(static_cast<std::uint64_t>(row) * 0x9E3779B97F4A7C15ull >> shift_);
  }
  std::vector<Slot> slots_;  // a power of two, at most 3/4 full once `capacity` rows are held
  std::size_t mask_ = 0;
  int shift_ = 64;
  std::int64_t size_ = 0;
};

}  // namespace pyrerank
