#include "co_links.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>  // SSE2 (with SSE): the x86-64 baseline
#endif

namespace pyrerank {

namespace {

constexpr std::int32_t kChunk = 16;  // slots compared per step, with no branch inside

// Whether one of the kChunk slots from `slots` holds `b`: four SSE2 compares (the x86-64
// baseline) where the compiler has them; it does not vectorise the plain loop here.
bool chunk_holds(const std::int32_t* slots, std::int32_t b) {
#if defined(__SSE2__)
  const __m128i key = _mm_set1_epi32(b);
  __m128i hit = _mm_setzero_si128();
  for (std::int32_t j = 0; j < kChunk; j += 4)
    hit =
        _mm_or_si128(hit, _mm_cmpeq_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(slots + j)), key));
  return _mm_movemask_epi8(hit) != 0;
#else
  int hit = 0;
  for (std::int32_t j = 0; j < kChunk; ++j) hit |= slots[j] == b;
  return hit != 0;
#endif
}

// The slot holding `b` among the first `size`, or -1. At 256 slots (full) a scalar loop with an
// exit per slot was most of an event's cost.
std::int32_t find_slot(const std::int32_t* neighbors, std::int32_t size, std::int32_t b) {
  std::int32_t i = 0;
  while (i + kChunk <= size && !chunk_holds(neighbors + i, b)) i += kChunk;
  for (; i < size; ++i)
    if (neighbors[i] == b) return i;
  return -1;
}

// The first slot of the smallest count among the first `size` (> 0): the minimum over kChunk
// independent lanes (SSE2 where the compiler has it), then where it first occurs.
std::int32_t weakest_slot(const float* counts, std::int32_t size) {
  std::int32_t i = 0;
  float smallest = counts[0];
#if defined(__SSE2__)
  __m128 lane[kChunk / 4];
  for (__m128& l : lane) l = _mm_set1_ps(counts[0]);
  for (; i + kChunk <= size; i += kChunk)
    for (std::int32_t j = 0; j < kChunk / 4; ++j)
      lane[j] = _mm_min_ps(lane[j], _mm_loadu_ps(counts + i + 4 * j));
  float parts[kChunk];
  for (std::int32_t j = 0; j < kChunk / 4; ++j) _mm_storeu_ps(parts + 4 * j, lane[j]);
  smallest = *std::min_element(parts, parts + kChunk);
#endif
  for (; i < size; ++i) smallest = std::min(smallest, counts[i]);
  return static_cast<std::int32_t>(std::find(counts, counts + size, smallest) - counts);
}

}  // namespace

bool co_bump(const CoLinks& links, std::int64_t a, std::int64_t b, float amount, CoEviction* undo) {
  std::int32_t* neighbors = links.neighbors + a * links.k;
  float* counts = links.counts + a * links.k;
  std::int32_t size = links.sizes[a];
  const std::int32_t found = find_slot(neighbors, size, static_cast<std::int32_t>(b));
  if (found >= 0) {
    const float before = counts[found];
    counts[found] += amount;
    ++links.versions[a];
    if (counts[found] - amount == before) return false;
    *undo = {-1, -1, before};  // rounded: undone by restoring the count
    return true;
  }
  bool evicted = false;
  if (size >= links.k) {
    const std::int32_t weakest = weakest_slot(counts, size);
    if (counts[weakest] > amount) return false;
    *undo = {weakest, neighbors[weakest], counts[weakest]};
    evicted = true;
    std::size_t tail = static_cast<std::size_t>(size - weakest - 1);
    std::memmove(neighbors + weakest, neighbors + weakest + 1, tail * sizeof(std::int32_t));
    std::memmove(counts + weakest, counts + weakest + 1, tail * sizeof(float));
    --size;
  }
  neighbors[size] = static_cast<std::int32_t>(b);
  counts[size] = amount;
  links.sizes[a] = size + 1;
  ++links.versions[a];
  return evicted;
}

bool co_unbump(const CoLinks& links, std::int64_t a, std::int64_t b, float amount, const CoEviction* undo) {
  std::int32_t* neighbors = links.neighbors + a * links.k;
  float* counts = links.counts + a * links.k;
  const std::int32_t size = links.sizes[a];
  const std::int32_t at = find_slot(neighbors, size, static_cast<std::int32_t>(b));
  if (at < 0) return undo == nullptr;       // the bump changed nothing: a full row's links were all stronger
  if (undo != nullptr && undo->slot < 0) {  // the addition rounded
    counts[at] = undo->count;
    ++links.versions[a];
    return true;
  }
  const bool appended = at == size - 1 && counts[at] == amount;  // a count it added to is larger
  if (undo == nullptr && !appended) {
    counts[at] -= amount;
  } else if (!appended || (undo != nullptr && undo->slot >= size)) {
    return false;
  } else if (undo == nullptr) {
    links.sizes[a] = size - 1;
  } else {  // the evicted link back in its slot, the later ones after it
    const auto tail = static_cast<std::size_t>(size - 1 - undo->slot);
    std::memmove(neighbors + undo->slot + 1, neighbors + undo->slot, tail * sizeof(std::int32_t));
    std::memmove(counts + undo->slot + 1, counts + undo->slot, tail * sizeof(float));
    neighbors[undo->slot] = undo->neighbor;
    counts[undo->slot] = undo->count;
  }
  ++links.versions[a];
  return true;
}

CoScores co_user_scores(const CoLinks& links, const std::int64_t* recent, std::int64_t m, double decay) {
  std::int64_t bound = 0;  // distinct rows at most: every link of every recent row
  for (std::int64_t j = 0; j < m; ++j) bound += links.sizes[recent[j]];
  CoScores scores(bound);
  for (std::int64_t j = 0; j < m; ++j) {
    const std::int64_t row = recent[j];
    const float weight = static_cast<float>(std::pow(decay, static_cast<double>(m - 1 - j)));
    const std::int32_t* neighbors = links.neighbors + row * links.k;
    const float* counts = links.counts + row * links.k;
    for (std::int32_t i = 0; i < links.sizes[row]; ++i) scores.add(neighbors[i], counts[i] * weight);
  }
  scores.fit();
  return scores;
}

}  // namespace pyrerank
