// String item id -> catalogue row, for resolving str candidate ids without a Python dict
// lookup per candidate: open addressing over FNV-1a hashes, keys owned here.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace pyrerank {

class StringIndex {
 public:
  // Maps key to row; a key already present keeps its first row (rows never move).
  void insert(std::string_view key, std::int64_t row);
  // The row of key, or -1.
  std::int64_t find(std::string_view key) const;
  std::size_t size() const { return keys_.size(); }

 private:
  static std::uint64_t hash(std::string_view key);
  void grow();

  std::vector<std::string> keys_;
  std::vector<std::int64_t> rows_;
  std::vector<std::int64_t> slots_;  // index into keys_, -1 empty
  std::vector<std::uint64_t> hashes_;
};

}  // namespace pyrerank
