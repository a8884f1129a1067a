#include "string_index.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <stdexcept>

#include "prefetch.hpp"

namespace pyrerank {

// Eight bytes a step (a multiply and a shift), then splitmix64's finaliser, so the low bits that
// pick a slot depend on every byte. FNV-1a's byte-at-a-time chain of multiplies cost ~3 ns more
// on a 10-byte id (1,000 lookups: 23.3-24.5 us, now 20.4-20.9).
std::uint64_t StringIndex::hash(std::string_view key) {
  constexpr std::uint64_t kOdd = 0x9E3779B97F4A7C15ull;
  std::uint64_t h = (key.size() + 1) * kOdd;
  const char* p = key.data();
  std::size_t left = key.size();
  for (; left >= 8; p += 8, left -= 8) {
    std::uint64_t word;
    std::memcpy(&word, p, 8);
    h = (h ^ word) * kOdd;
    h ^= h >> 31;
  }
  std::uint64_t tail = 0;  // the last 0-7 bytes: independent shifts, no chain of multiplies
  for (std::size_t i = 0; i < left; ++i) tail |= std::uint64_t{static_cast<unsigned char>(p[i])} << (8 * i);
  h = (h ^ tail) * kOdd;
  h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9ull;
  h = (h ^ (h >> 27)) * 0x94D049BB133111EBull;
  return h ^ (h >> 31);
}

namespace {

inline std::int32_t row_of(const StringIndex::Slot& slot) {
  return slot.row.load(std::memory_order_acquire);
}

inline const char* key_bytes(const StringIndex::Slot& slot) {
  return slot.length <= StringIndex::kInline ? slot.bytes : slot.where;
}

template <class Word>
inline Word load(const char* p) {
  Word w;
  std::memcpy(&w, p, sizeof w);
  return w;
}

// Whether a key of `n` bytes at `a` equals `slot`'s (of the same length). Keys of up to kInline
// bytes are compared as two overlapping words that stay inside both keys: libc's memcmp loads
// 32 bytes, which from a slot's inline bytes reach into the table's next cache line (a miss of
// its own on half of the lookups: 12% of a cold str-id rerank).
inline bool same_key(const StringIndex::Slot& slot, const char* a, std::size_t n) {
  const char* b = key_bytes(slot);
  if (n > StringIndex::kInline) return std::memcmp(a, b, n) == 0;
  if (n >= 8)
    return ((load<std::uint64_t>(a) ^ load<std::uint64_t>(b)) |
            (load<std::uint64_t>(a + n - 8) ^ load<std::uint64_t>(b + n - 8))) == 0;
  if (n >= 4)
    return ((load<std::uint32_t>(a) ^ load<std::uint32_t>(b)) |
            (load<std::uint32_t>(a + n - 4) ^ load<std::uint32_t>(b + n - 4))) == 0;
  bool same = true;
  for (std::size_t i = 0; i < n; ++i) same &= a[i] == b[i];
  return same;
}

}  // namespace

void StringIndex::place(Table& table, std::uint64_t h, std::int32_t row, std::uint32_t length,
                        const Slot& key) {
  const std::size_t mask = table.size() - 1;
  std::size_t s = h & mask;
  while (row_of(table[s]) >= 0) s = (s + 1) & mask;
  Slot& slot = table[s];
  slot.hash = h;
  slot.length = length;
  std::memcpy(slot.bytes, key.bytes, kInline);  // the inline bytes, or the arena pointer among them
  slot.row.store(row, std::memory_order_release);
}

void StringIndex::grow() {
  auto bigger = std::make_shared<Table>(table_ ? 2 * table_->size() : 1024);
  if (table_)
    for (const Slot& slot : *table_)
      if (const std::int32_t row = row_of(slot); row >= 0) place(*bigger, slot.hash, row, slot.length, slot);
  table_ = std::move(bigger);  // readers that took the old table keep it until they are done
}

const char* StringIndex::keep(std::string_view key) {
  if (key.size() > arena_left_) {
    const std::size_t size = std::max<std::size_t>(std::size_t{1} << 20, key.size());
    arena_.emplace_back(new char[size]);
    arena_next_ = arena_.back().get();
    arena_left_ = size;
  }
  char* at = arena_next_;
  std::memcpy(at, key.data(), key.size());
  arena_next_ += key.size();
  arena_left_ -= key.size();
  return at;
}

void StringIndex::insert(std::string_view key, std::int64_t row) {
  const std::uint64_t h = hash(key);
  if (table_ && find(*table_, key, h) >= 0) return;
  if (row < 0 || row > std::numeric_limits<std::int32_t>::max())
    throw std::length_error("a catalog of str ids holds < 2^31 items");
  if (key.size() > std::numeric_limits<std::uint32_t>::max())
    throw std::length_error("a str item id exceeds 4 GiB");
  if (!table_ || 2 * (size_ + 1) > table_->size()) grow();
  Slot bytes;
  if (key.size() <= kInline)
    std::memcpy(bytes.bytes, key.data(), key.size());
  else
    bytes.where = keep(key);
  place(*table_, h, static_cast<std::int32_t>(row), static_cast<std::uint32_t>(key.size()), bytes);
  ++size_;
}

std::int64_t StringIndex::find(const Table& table, std::string_view key, std::uint64_t h) {
  const std::size_t mask = table.size() - 1;
  for (std::size_t s = h & mask;; s = (s + 1) & mask) {
    const Slot& slot = table[s];
    const std::int32_t row = row_of(slot);
    if (row < 0) return -1;
    if (slot.hash == h && slot.length == key.size() && same_key(slot, key.data(), key.size())) return row;
  }
}

void StringIndex::find_many(const Table& table, const std::string_view* keys, std::int64_t n,
                            std::int64_t* out) {
  // One pipelined pass: key i is hashed (and its home slot fetched) kAhead keys before it is
  // probed (and a long key's bytes fetched), and probed kAhead keys before its bytes are
  // compared, so about 2 * kAhead cache misses are in flight at any time.
  constexpr std::int64_t kAhead = 16;
  const std::size_t mask = table.size() - 1;
  std::vector<std::uint64_t> hashes(static_cast<std::size_t>(n));
  std::vector<const Slot*> match(static_cast<std::size_t>(n));
  std::vector<std::int32_t> rows(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n + 2 * kAhead; ++i) {
    if (i < n) {
      hashes[i] = hash(keys[i]);
      prefetch(&table[hashes[i] & mask]);
    }
    if (const std::int64_t p = i - kAhead; p >= 0 && p < n) {
      std::size_t s = hashes[p] & mask;
      while ((rows[p] = row_of(table[s])) >= 0 && table[s].hash != hashes[p]) s = (s + 1) & mask;
      match[p] = rows[p] >= 0 ? &table[s] : nullptr;
      if (match[p] && match[p]->length > kInline) prefetch(match[p]->where);
    }
    if (const std::int64_t c = i - 2 * kAhead; c >= 0) {
      const Slot* slot = match[c];
      const bool same =
          slot && slot->length == keys[c].size() && same_key(*slot, keys[c].data(), keys[c].size());
      out[c] = same ? rows[c] : (slot ? find(table, keys[c], hashes[c]) : -1);  // find: a 64-bit collision
    }
  }
}

}  // namespace pyrerank
