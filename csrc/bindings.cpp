// The only file that knows about Python: converts arrays to raw pointers, re-checks the
// contract that pyrerank.ops already enforced, allocates outputs, then releases the GIL.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "candidates.hpp"
#include "checksum.hpp"
#include "co_links.hpp"
#include "dispatch.hpp"
#include "dot_block.hpp"
#include "item_counts.hpp"
#include "pack_rows.hpp"
#include "prefetch.hpp"
#include "rank.hpp"
#include "replay.hpp"
#include "string_index.hpp"

namespace py = pybind11;
using pyrerank::Candidates;
using pyrerank::Catalog;

namespace {

std::string shape_of(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s += (i ? ", " : "") + std::to_string(a.shape(i));
  return s + (a.ndim() == 1 ? ",)" : ")");
}

// Borrows h as an ndarray without conversion (pybind's own py::array caster would run
// PyArray_FromAny on every call).
py::array as_array(py::handle h, const char* name) {
  if (!py::isinstance<py::array>(h))
    throw py::type_error(std::string(name) + " must be a numpy array, got " +
                         std::string(py::str(py::type::handle_of(h).attr("__name__"))));
  return py::reinterpret_borrow<py::array>(h);
}

// A (n,) numpy copy of `values`.
template <typename T>
py::array_t<T> column(const std::vector<T>& values) {
  py::array_t<T> out(static_cast<py::ssize_t>(values.size()));
  if (!values.empty()) std::memcpy(out.mutable_data(), values.data(), values.size() * sizeof(T));
  return out;
}

// The message is built only when the check fails: these checks run on every call.
#define PYRERANK_REQUIRE(ok, message)                \
  do {                                               \
    if (!(ok)) throw std::invalid_argument(message); \
  } while (0)

void require_c_contiguous(const py::array& a, const char* name) {
  PYRERANK_REQUIRE(a.flags() & py::array::c_style, std::string(name) + " must be C-contiguous");
}

Catalog as_catalog(py::handle matrix) {
  const py::array m = as_array(matrix, "matrix");
  PYRERANK_REQUIRE(m.ndim() == 2, "matrix must be 2-D (n_rows, dim), got shape " + shape_of(m));
  PYRERANK_REQUIRE(m.shape(0) > 0 && m.shape(1) > 0, "matrix must not be empty, got shape " + shape_of(m));
  require_c_contiguous(m, "matrix");
  pyrerank::DType dtype;
  if (m.dtype().is(py::dtype::of<float>())) {
    dtype = pyrerank::DType::f32;
  } else if (m.dtype().kind() == 'f' && m.dtype().itemsize() == 2) {
    dtype = pyrerank::DType::f16;
  } else if (m.dtype().is(py::dtype::of<std::int8_t>())) {
    dtype = pyrerank::DType::i8;
    PYRERANK_REQUIRE(m.shape(1) <= pyrerank::kMaxInt8Dim, "an int8 matrix may be at most " +
                                                              std::to_string(pyrerank::kMaxInt8Dim) +
                                                              " wide, got shape " + shape_of(m));
  } else {
    throw py::type_error("matrix must be float32, float16 or int8, got " + std::string(py::str(m.dtype())));
  }
  return {m.data(), dtype, m.shape(0), m.shape(1)};
}

// A float32, C-contiguous array with exactly `ndim` dimensions.
const float* f32_data(const py::array& a, const char* name, int ndim) {
  if (!a.dtype().is(py::dtype::of<float>()))
    throw py::type_error(std::string(name) + " must be float32, got " + std::string(py::str(a.dtype())));
  PYRERANK_REQUIRE(a.ndim() == ndim,
                   std::string(name) + " must be " + std::to_string(ndim) + "-D, got shape " + shape_of(a));
  require_c_contiguous(a, name);
  return static_cast<const float*>(a.data());
}

// A catalog with its int8 rows' inverse norms: row_scale None, or (n_rows,) float32 as the
// Python Catalog keeps them (trusted, not recomputed: the kernel then skips the sums of squares).
Catalog as_catalog(py::handle matrix, py::handle row_scale) {
  Catalog cat = as_catalog(matrix);
  if (row_scale.is_none()) return cat;
  PYRERANK_REQUIRE(cat.dtype == pyrerank::DType::i8, "row_scale goes with an int8 matrix only");
  const py::array scale = as_array(row_scale, "row_scale");
  cat.row_scale = f32_data(scale, "row_scale", 1);
  PYRERANK_REQUIRE(scale.shape(0) == cat.n_rows, "row_scale must hold one value per matrix row (" +
                                                     std::to_string(cat.n_rows) + "), got shape " +
                                                     shape_of(scale));
  return cat;
}

// A 1-D, C-contiguous int64 array (the internal entry points: Python builds these arrays).
const std::int64_t* i64_data(const py::array& a, const char* name) {
  if (!a.dtype().is(py::dtype::of<std::int64_t>()) || a.ndim() != 1 || !(a.flags() & py::array::c_style))
    throw py::type_error(std::string(name) + " must be a 1-D C-contiguous int64 array");
  return static_cast<const std::int64_t*>(a.data());
}

// i64_data of an optional array and its length; (nullptr, 0) for None. The array is borrowed
// (as_array), so the pointer lives as long as the caller's handle.
std::pair<const std::int64_t*, std::int64_t> optional_i64(py::handle h, const char* name) {
  if (h.is_none()) return {nullptr, 0};
  const py::array a = as_array(h, name);
  return {i64_data(a, name), a.shape(0)};
}

// Queries of shape (dim,) or (nq, dim), float32, C-contiguous and finite.
struct Queries {
  const float* data;
  std::int64_t n;
  bool single;  // a 1-D query: results are 1-D too
};

Queries as_queries(py::handle queries, const Catalog& cat, const char* name) {
  const py::array q = as_array(queries, name);
  PYRERANK_REQUIRE(q.ndim() == 1 || q.ndim() == 2,
                   std::string(name) + " must have shape (dim,) or (q, dim), got shape " + shape_of(q));
  const float* data = f32_data(q, name, static_cast<int>(q.ndim()));
  const Queries out{data, q.ndim() == 1 ? 1 : q.shape(0), q.ndim() == 1};
  PYRERANK_REQUIRE(out.n > 0, std::string(name) + " must hold at least one vector, got shape " + shape_of(q));
  const std::int64_t dim = q.shape(q.ndim() - 1);
  PYRERANK_REQUIRE(dim == cat.dim, std::string(name) + " has dimension " + std::to_string(dim) +
                                       " but matrix rows have dimension " + std::to_string(cat.dim));
  pyrerank::check_finite(data, out.n * dim, name);
  return out;
}

Candidates as_candidates(py::handle rows, const Catalog& cat) {
  if (rows.is_none()) return {nullptr, cat.n_rows};
  const py::array a = as_array(rows, "rows");
  if (!a.dtype().is(py::dtype::of<std::int64_t>()))
    throw py::type_error("rows must be int64, got " + std::string(py::str(a.dtype())));
  PYRERANK_REQUIRE(a.ndim() == 1, "rows must be 1-D, got shape " + shape_of(a));
  PYRERANK_REQUIRE(a.shape(0) > 0, "rows must not be empty");
  require_c_contiguous(a, "rows");
  const Candidates cand{static_cast<const std::int64_t*>(a.data()), a.shape(0)};
  pyrerank::check_rows(cat.n_rows, cand);
  return cand;
}

void check_k_threads(std::int64_t k, int num_threads) {
  PYRERANK_REQUIRE(k >= 1, "k must be >= 1, got " + std::to_string(k));
  PYRERANK_REQUIRE(num_threads >= 1, "num_threads must be >= 1, got " + std::to_string(num_threads));
}

// The UTF-8 bytes of a str (cached in the object), or nothing for another type or a str with
// no UTF-8 form (lone surrogates); no Python error is left set.
std::optional<std::string_view> utf8_view(PyObject* item) {
  if (PyUnicode_CheckExact(item) &&
      PyUnicode_IS_COMPACT_ASCII(item))  // most ids: the bytes follow the header
    return std::string_view(static_cast<const char*>(PyUnicode_DATA(item)),
                            static_cast<std::size_t>(PyUnicode_GET_LENGTH(item)));
  Py_ssize_t size = 0;
  const char* data = PyUnicode_Check(item) ? PyUnicode_AsUTF8AndSize(item, &size) : nullptr;
  if (!data) {
    PyErr_Clear();
    return std::nullopt;
  }
  return std::string_view(data, static_cast<std::size_t>(size));
}

std::string_view utf8_of(py::handle key, py::ssize_t i) {
  const std::optional<std::string_view> view = utf8_view(key.ptr());
  if (!view) throw py::type_error("keys[" + std::to_string(i) + "] must be a str encodable as UTF-8");
  return *view;
}

// The ids of a list or tuple as UTF-8 views (empty and marked not-a-str where an id is not a
// str or not encodable) into a copy of their bytes, which the GIL need not guard: no Python
// object is held, so another thread may change the list meanwhile. Copying ~10 bytes an id
// costs less than a reference to each (a tuple of them: an increment and a decrement on every
// str object, 9% of a cold str-id rerank).
struct StrKeys {
  // The ids' bytes one after another, copied with memcpy into a buffer not zeroed first
  // (std::string::append cost ~28 more instructions an id: 699,066 -> 728,444 a str rerank).
  std::unique_ptr<char[]> bytes;
  std::vector<std::string_view> keys;
  std::vector<char> is_str;

  explicit StrKeys(py::handle items) {
    PyObject* sequence = items.ptr();
    if (!PyList_Check(sequence) && !PyTuple_Check(sequence))
      throw py::type_error("str ids must be a list or tuple");
    const py::ssize_t n = PySequence_Fast_GET_SIZE(sequence);
    PyObject** objects = PySequence_Fast_ITEMS(sequence);  // no Python code runs below: the list stays
    std::vector<std::size_t> ends(static_cast<std::size_t>(n));
    is_str.resize(static_cast<std::size_t>(n));
    std::size_t capacity = static_cast<std::size_t>(n) * 16, used = 0;
    bytes.reset(new char[capacity]);
    for (py::ssize_t i = 0; i < n; ++i) {
      if (i + 16 < n) {  // the str objects of a list built long ago are cold
        const char* ahead = reinterpret_cast<const char*>(objects[i + 16]);
        pyrerank::prefetch(ahead);
        pyrerank::prefetch(ahead + 63);
      }
      const std::optional<std::string_view> view = utf8_view(objects[i]);
      is_str[i] = view.has_value();  // not a str, or not encodable: unknown
      if (view) {
        if (used + view->size() > capacity) {
          capacity = 2 * (used + view->size());
          std::unique_ptr<char[]> grown(new char[capacity]);
          std::memcpy(grown.get(), bytes.get(), used);
          bytes = std::move(grown);
        }
        std::memcpy(bytes.get() + used, view->data(), view->size());
        used += view->size();
      }
      ends[i] = used;
    }
    keys.resize(static_cast<std::size_t>(n));
    for (std::size_t i = 0, begin = 0; i < ends.size(); begin = ends[i++])
      keys[i] = std::string_view(bytes.get() + begin, ends[i] - begin);
  }
  std::int64_t size() const { return static_cast<std::int64_t>(keys.size()); }

  // out[i]: the row of keys[i] in `table` (taken with the GIL; nullptr: empty), -1 unknown or not
  // a str, -2 repeated. No Python object is touched: call it without the GIL.
  void resolve(const pyrerank::StringIndex::Table* table, std::int64_t* out) const {
    const std::int64_t n = size();
    if (table)
      pyrerank::StringIndex::find_many(*table, keys.data(), n, out);
    else
      std::fill(out, out + n, -1);
    for (std::int64_t i = 0; i < n; ++i)
      if (!is_str[i]) out[i] = -1;
    pyrerank::mark_duplicates(out, n);
  }
};

// (indices, scores) arrays of shape (k,) when n_queries == 0, else (n_queries, k).
pyrerank::Ties as_ties(const std::string& ties) {
  if (ties == "row") return pyrerank::Ties::row;
  if (ties == "position") return pyrerank::Ties::position;
  throw std::invalid_argument("ties must be 'row' or 'position', got '" + ties + "'");
}

// The co-engagement tables CoEngagement owns, checked (changed in place: never a converted copy).
template <typename T>
T* table_data(const py::array& a, const char* name, std::int64_t rows, std::int64_t cols) {
  const bool shape_ok = cols ? (a.ndim() == 2 && a.shape(1) == cols) : a.ndim() == 1;
  if (!a.dtype().is(py::dtype::of<T>()) || !(a.flags() & py::array::c_style) || !a.writeable() || !shape_ok ||
      a.shape(0) != rows)
    throw std::invalid_argument(std::string(name) +
                                " is not a writeable C-contiguous table of the right dtype and shape");
  return static_cast<T*>(const_cast<void*>(a.data()));
}

pyrerank::CoLinks as_co_links(const py::array& neighbors, const py::array& counts, const py::array& sizes,
                              const py::array& versions) {
  if (neighbors.ndim() != 2) throw std::invalid_argument("neighbors must be (n_rows, k)");
  const std::int64_t n = neighbors.shape(0), k = neighbors.shape(1);
  return {table_data<std::int32_t>(neighbors, "neighbors", n, k),
          table_data<float>(counts, "counts", n, k),
          table_data<std::int32_t>(sizes, "sizes", n, 0),
          table_data<std::int64_t>(versions, "versions", n, 0),
          n,
          k};
}

// co_link of one event: row linked with each of its `n` others both ways, bumping only rows
// where `only` is set (nullptr: every row) and calling report(bump, eviction) for each bump
// co_bump says it evicted or rounded.
template <typename Report>
void co_link_event(const pyrerank::CoLinks& links, std::int64_t row, const std::int64_t* others,
                   std::int64_t n, float amount, const std::uint8_t* only, Report report) {
  pyrerank::CoEviction e;
  for (std::int64_t i = 0; i < n; ++i) {
    if (others[i] == row) continue;
    if ((only == nullptr || only[row]) && pyrerank::co_bump(links, row, others[i], amount, &e))
      report(2 * i, e);
    if ((only == nullptr || only[others[i]]) && pyrerank::co_bump(links, others[i], row, amount, &e))
      report(2 * i + 1, e);
  }
}

// An optional (n_rows,) bool mask's bytes; nullptr for None.
const std::uint8_t* row_mask(py::handle h, std::int64_t n_rows) {
  if (h.is_none()) return nullptr;
  const py::array mask = as_array(h, "only");
  PYRERANK_REQUIRE(mask.dtype().is(py::dtype::of<bool>()) && mask.ndim() == 1 && mask.shape(0) == n_rows &&
                       (mask.flags() & py::array::c_style),
                   "only must be a 1-D bool array with one entry per row");
  return static_cast<const std::uint8_t*>(mask.data());
}

void check_item_row(std::int64_t row, std::int64_t n_rows) {
  if (row < 0 || row >= n_rows) throw std::out_of_range("item row " + std::to_string(row) + " out of range");
}

void check_co_row(std::int64_t row, std::int64_t n_rows) {
  if (row < 0 || row >= n_rows)
    throw std::out_of_range("co-engagement row " + std::to_string(row) + " out of range");
}

// Events as the co_*_events entry points take them: event i on rows[i], linked with
// others[ends[i-1]:ends[i]] (int64 each), checked against the co-engagement rows.
struct EventBatch {
  const std::int64_t* rows;
  const std::int64_t* ends;
  const std::int64_t* others;
  std::int64_t n;

  EventBatch(const py::array& rows_obj, const py::array& ends_obj, const py::array& others_obj,
             std::int64_t n_rows)
      : rows(i64_data(rows_obj, "rows")),
        ends(i64_data(ends_obj, "ends")),
        others(i64_data(others_obj, "others")),
        n(rows_obj.shape(0)) {
    const std::int64_t m = others_obj.shape(0);
    PYRERANK_REQUIRE(ends_obj.shape(0) == n, "ends must hold one entry per row");
    for (std::int64_t i = 0; i < n; ++i) {
      check_co_row(rows[i], n_rows);
      PYRERANK_REQUIRE(ends[i] >= start(i) && ends[i] <= m, "ends must rise within others");
    }
    for (std::int64_t j = 0; j < m; ++j) check_co_row(others[j], n_rows);
  }

  std::int64_t start(std::int64_t i) const { return i ? ends[i - 1] : 0; }
};

// candidate_features' inputs but the rows, checked: the item statistics and the user's
// co-engagement scores that one (user, candidate block) is scored with.
struct FeatureInputs {
  const double* stats;
  std::int64_t stats_rows;  // candidate rows must lie below it
  double now, half_life, recency_scale;
  const float* upstream;         // (n,) or nullptr
  const pyrerank::CoScores* co;  // or nullptr; the caller's Python object keeps it alive

  // The candidates' features, ready to fill any range of them; needs no GIL. `upstream` is
  // aligned with `cand` (the given one, or a compacted copy of it).
  std::unique_ptr<pyrerank::CandidateFeatures> of(const Candidates& cand,
                                                  const float* aligned_upstream) const {
    return std::make_unique<pyrerank::CandidateFeatures>(stats, cand.rows, cand.n, now, half_life,
                                                         recency_scale, aligned_upstream, co);
  }
};

// `n`: how many candidates the upstream scores (if any) are aligned with.
FeatureInputs as_feature_inputs(py::handle stats_obj, std::int64_t n, double now, double half_life,
                                double recency_scale, py::handle upstream_obj, py::handle co_obj) {
  const py::array stats = as_array(stats_obj, "stats");
  if (!stats.dtype().is(py::dtype::of<double>()) || stats.ndim() != 2 || stats.shape(1) != 4 ||
      !(stats.flags() & py::array::c_style))
    throw py::type_error("stats must be a C-contiguous (n_rows, 4) float64 array");
  if (!co_obj.is_none() && !py::isinstance<pyrerank::CoScores>(co_obj))
    throw py::type_error("co_scores must be a CoScores (co_user_scores) or None");
  FeatureInputs in{static_cast<const double*>(stats.data()),
                   stats.shape(0),
                   now,
                   half_life,
                   recency_scale,
                   nullptr,
                   co_obj.is_none() ? nullptr : co_obj.cast<const pyrerank::CoScores*>()};
  if (!upstream_obj.is_none()) {
    const py::array u = as_array(upstream_obj, "scores");
    in.upstream = f32_data(u, "scores", 1);
    PYRERANK_REQUIRE(u.shape(0) == n, "scores must have one value per candidate");
    pyrerank::check_finite(in.upstream, n, "scores");
  }
  PYRERANK_REQUIRE(half_life > 0 && recency_scale > 0, "half_life and recency_scale must be > 0");
  return in;
}

// fused_topk's scoring arguments but the candidates, checked (the GIL held). `fusion.queries`
// points into `queries` where there are extras: fill one in place, never copy it.
struct FusionArgs {
  pyrerank::Fusion fusion{};
  std::vector<float> queries;                // interests then extras, when there are extras
  std::optional<FeatureInputs> gather_from;  // the features, when they are gathered in the call

  // `n`: the number of candidates (features and upstream scores are aligned with them);
  // `listed`: whether they are listed (rows or keys), which features as a tuple need.
  void parse(const Catalog& cat, std::int64_t n, bool listed, py::handle query, py::handle features,
             py::handle weights, float sim_weight, py::handle interest_weights, py::handle extra,
             py::handle extra_weights) {
    const Queries q = as_queries(query, cat, "query");
    PYRERANK_REQUIRE(std::fabs(sim_weight) <= pyrerank::kMaxMagnitude,
                     "sim_weight must be finite with |value| <= 1e15");
    fusion = pyrerank::Fusion{q.data, q.n, nullptr, sim_weight, 0, nullptr, nullptr, 0, nullptr};
    if (!interest_weights.is_none()) {
      const py::array w = as_array(interest_weights, "interest_weights");
      fusion.interest_weights = f32_data(w, "interest_weights", 1);
      PYRERANK_REQUIRE(w.shape(0) == fusion.n_interests,
                       "interest_weights has shape " + shape_of(w) + " but there are " +
                           std::to_string(fusion.n_interests) + " interests");
      pyrerank::check_finite(fusion.interest_weights, w.shape(0), "interest_weights");
    }
    PYRERANK_REQUIRE(extra.is_none() == extra_weights.is_none(),
                     "extra and extra_weights must be given together");
    if (!extra.is_none()) {
      const Queries e = as_queries(extra, cat, "extra");
      const py::array ew = as_array(extra_weights, "extra_weights");
      fusion.extra_weights = f32_data(ew, "extra_weights", 1);
      PYRERANK_REQUIRE(ew.shape(0) == e.n, "extra_weights has shape " + shape_of(ew) + " but there are " +
                                               std::to_string(e.n) + " extra queries");
      pyrerank::check_finite(fusion.extra_weights, e.n, "extra_weights");
      queries.assign(q.data, q.data + q.n * cat.dim);
      queries.insert(queries.end(), e.data, e.data + e.n * cat.dim);
      fusion.queries = queries.data();
      fusion.n_extra = e.n;
    }
    PYRERANK_REQUIRE(features.is_none() == weights.is_none(), "features and weights must be given together");
    if (py::isinstance<py::tuple>(features)) {
      const py::tuple f = py::reinterpret_borrow<py::tuple>(features);
      PYRERANK_REQUIRE(f.size() == 6 && listed,
                       "features as a tuple are candidate_features' arguments but rows (6), with rows");
      gather_from = as_feature_inputs(f[0], n, f[1].cast<double>(), f[2].cast<double>(), f[3].cast<double>(),
                                      f[4], f[5]);
      const py::array wa = as_array(weights, "weights");
      fusion.feature_weights = f32_data(wa, "weights", 1);
      fusion.n_features = static_cast<std::int64_t>(pyrerank::kFeatureNames.size());
      PYRERANK_REQUIRE(wa.shape(0) == fusion.n_features, "weights has shape " + shape_of(wa) +
                                                             " but there are " +
                                                             std::to_string(fusion.n_features) + " features");
      pyrerank::check_finite(fusion.feature_weights, wa.shape(0), "weights");
    } else if (!features.is_none()) {
      const py::array fa = as_array(features, "features"), wa = as_array(weights, "weights");
      fusion.features = f32_data(fa, "features", 2);
      fusion.feature_weights = f32_data(wa, "weights", 1);
      fusion.n_features = fa.shape(1);
      PYRERANK_REQUIRE(fa.shape(0) == n, "features has shape " + shape_of(fa) + " but there are " +
                                             std::to_string(n) + " candidates");
      PYRERANK_REQUIRE(wa.shape(0) == fa.shape(1), "weights has shape " + shape_of(wa) +
                                                       " but features has " + std::to_string(fa.shape(1)) +
                                                       " columns");
      pyrerank::check_finite(fusion.features, fa.shape(0) * fa.shape(1), "features");
      pyrerank::check_finite(fusion.feature_weights, wa.shape(0), "weights");
    }
  }
};

py::tuple topk_outputs(std::int64_t n_queries, std::int64_t k, std::int64_t** out_rows, float** out_scores) {
  std::vector<py::ssize_t> shape{k};
  if (n_queries) shape.insert(shape.begin(), n_queries);
  py::array_t<std::int64_t> r(shape);
  py::array_t<float> s(shape);
  *out_rows = r.mutable_data();
  *out_scores = s.mutable_data();
  return py::make_tuple(r, s);
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "pyrerank's C++ scoring kernel. Use pyrerank.ops, which validates input first.";
  m.attr("MAX_INT8_DIM") = pyrerank::kMaxInt8Dim;
  m.attr("FEATURE_NAMES") = py::tuple(
      py::cast(std::vector<std::string>(pyrerank::kFeatureNames.begin(), pyrerank::kFeatureNames.end())));

  m.def(
      "isa", [] { return std::string(pyrerank::best_kernels().isa); },
      "Instruction set of the dot-product kernels in use.");
  m.def("runnable_isas", &pyrerank::runnable_isas,
        "Instruction sets this build and CPU can run, best first.");
  m.def("use_isa", &pyrerank::use_isa, py::arg("name"), "Force one of runnable_isas() for every later call.");

  // Every op takes the arguments of its pyrerank.ops function, by the same names and in the
  // same order (keyword-only where ops' are); num_threads is explicit here (ops picks one).
  m.def(
      "score",
      [](py::handle matrix, py::handle query, py::handle rows, int num_threads) {
        const Catalog cat = as_catalog(matrix);
        const Queries q = as_queries(query, cat, "query");
        const Candidates cand = as_candidates(rows, cat);
        check_k_threads(1, num_threads);
        py::array_t<float> out = q.single ? py::array_t<float>(cand.n) : py::array_t<float>({q.n, cand.n});
        float* out_data = out.mutable_data();
        py::gil_scoped_release release;
        pyrerank::score(cat, cand, q.data, q.n, num_threads, out_data);
        return out;
      },
      py::arg("matrix"), py::arg("query"), py::arg("rows") = py::none(), py::kw_only(),
      py::arg("num_threads") = 1);

  m.def(
      "topk",
      [](py::handle matrix, py::handle query, std::int64_t k, py::handle rows, int num_threads) {
        const Catalog cat = as_catalog(matrix);
        const Queries q = as_queries(query, cat, "query");
        const Candidates cand = as_candidates(rows, cat);
        check_k_threads(k, num_threads);
        std::int64_t* out_rows;
        float* out_scores;
        py::tuple out = topk_outputs(q.single ? 0 : q.n, std::min(k, cand.n), &out_rows, &out_scores);
        py::gil_scoped_release release;
        pyrerank::topk(cat, cand, q.data, q.n, k, num_threads, out_rows, out_scores);
        return out;
      },
      py::arg("matrix"), py::arg("query"), py::arg("k"), py::arg("rows") = py::none(), py::kw_only(),
      py::arg("num_threads") = 1);

  m.def(
      "fused_topk",
      [](py::handle matrix, py::handle query, py::handle features, py::handle weights, std::int64_t k,
         float sim_weight, py::handle interest_weights, py::handle extra, py::handle extra_weights,
         py::handle rows, int num_threads, const std::string& ties) {
        const Catalog cat = as_catalog(matrix);
        const Candidates cand = as_candidates(rows, cat);
        check_k_threads(k, num_threads);
        const pyrerank::Ties tie_rule = as_ties(ties);
        FusionArgs args;
        args.parse(cat, cand.n, cand.rows != nullptr, query, features, weights, sim_weight, interest_weights,
                   extra, extra_weights);
        if (args.gather_from) pyrerank::check_rows(args.gather_from->stats_rows, cand);
        std::int64_t* out_rows;
        float* out_scores;
        py::tuple out = topk_outputs(0, std::min(k, cand.n), &out_rows, &out_scores);
        py::gil_scoped_release release;
        std::unique_ptr<pyrerank::CandidateFeatures> gathered;  // filled block by block in the kernel
        if (args.gather_from) {
          gathered = args.gather_from->of(cand, args.gather_from->upstream);
          args.fusion.gather = gathered.get();
        }
        pyrerank::fused_topk(cat, cand, args.fusion, k, num_threads, tie_rule, out_rows, out_scores);
        return out;
      },
      py::arg("matrix"), py::arg("query"), py::arg("features"), py::arg("weights"), py::arg("k"),
      py::kw_only(), py::arg("sim_weight") = 1.0f, py::arg("interest_weights") = py::none(),
      py::arg("extra") = py::none(), py::arg("extra_weights") = py::none(), py::arg("rows") = py::none(),
      py::arg("num_threads") = 1, py::arg("ties") = "row");

  m.def(
      "fused_topk_keys",
      [](py::handle matrix, py::handle row_scale, py::handle keys_obj, py::handle table_obj,
         std::int64_t n_rows, py::handle seen_obj, py::handle features, std::int64_t k, py::handle query,
         py::handle interest_weights, float sim_weight, py::handle extra, py::handle extra_weights,
         py::handle weights) {
        const Catalog cat = as_catalog(matrix, row_scale);
        // keys: int ids and their id table, str ids (a list or tuple) and the str index, or rows.
        std::optional<StrKeys> str_keys;
        std::shared_ptr<const pyrerank::StringIndex::Table> str_table;
        py::array keys;
        const std::int64_t* key_data = nullptr;
        const std::int64_t* table = nullptr;
        std::int64_t table_len = 0, n = 0;
        if (py::isinstance<pyrerank::StringIndex>(table_obj)) {
          str_keys.emplace(keys_obj);
          str_table = table_obj.cast<const pyrerank::StringIndex&>().table();
          n = str_keys->size();
        } else {
          keys = as_array(keys_obj, "keys");
          key_data = i64_data(keys, "keys");
          std::tie(table, table_len) = optional_i64(table_obj, "table");
          n = keys.shape(0);
        }
        const auto [seen, m] = optional_i64(seen_obj, "seen");
        check_k_threads(k, 1);
        PYRERANK_REQUIRE(n > 0, "keys must not be empty");
        PYRERANK_REQUIRE(
            n_rows >= 0 && n_rows <= cat.n_rows,
            "n_rows must lie in [0, " + std::to_string(cat.n_rows) + "], got " + std::to_string(n_rows));
        FusionArgs args;
        args.parse(cat, n, true, query, features, weights, sim_weight, interest_weights, extra,
                   extra_weights);
        PYRERANK_REQUIRE(!args.fusion.features,
                         "features must be candidate_features' arguments (a tuple) here");
        if (args.gather_from)
          PYRERANK_REQUIRE(n_rows <= args.gather_from->stats_rows,
                           "stats must have a row for each of n_rows");
        py::array_t<std::int64_t> result_rows(std::min(k, n));
        py::array_t<float> result_scores(std::min(k, n));
        std::int64_t* out_rows = result_rows.mutable_data();
        float* out_scores = result_scores.mutable_data();
        pyrerank::KeptCandidates kept;
        {
          py::gil_scoped_release release;
          // Written before they are read: not zeroed (8 KB and 4 KB per 1,000 candidates).
          const std::unique_ptr<std::int64_t[]> rows(new std::int64_t[static_cast<std::size_t>(n)]);
          const float* upstream = args.gather_from ? args.gather_from->upstream : nullptr;
          const std::unique_ptr<float[]> upstream_kept(upstream ? new float[static_cast<std::size_t>(n)]
                                                                : nullptr);
          if (table) {
            pyrerank::resolve_rows(table, table_len, n_rows, key_data, n, rows.get());
          } else {  // rows resolved (here for str ids): any but -2 (repeated) outside [0, n_rows) is unknown
            if (str_keys) str_keys->resolve(str_table.get(), rows.get());
            const std::int64_t* resolved = str_keys ? rows.get() : key_data;
            for (std::int64_t i = 0; i < n; ++i) {
              const std::int64_t row = resolved[i];
              rows[i] = (row >= 0 && row < n_rows) || row == -2 ? row : -1;
            }
          }
          kept = pyrerank::keep_candidates(rows.get(), upstream, n, seen, m, rows.get(), upstream_kept.get());
          if (kept.kept > 0) {
            const Candidates cand{rows.get(), kept.kept};
            std::unique_ptr<pyrerank::CandidateFeatures> gathered;
            if (args.gather_from) {
              gathered = args.gather_from->of(cand, upstream_kept.get());
              args.fusion.gather = gathered.get();
            }
            pyrerank::fused_topk(cat, cand, args.fusion, k, 1, pyrerank::Ties::position, out_rows,
                                 out_scores);
          }
        }
        result_rows.resize({std::min(k, kept.kept)});  // in place: arrays no one else holds yet
        result_scores.resize({std::min(k, kept.kept)});
        return py::make_tuple(result_rows, result_scores, kept.kept, kept.unknown, kept.repeated);
      },
      py::arg("matrix"), py::arg("row_scale"), py::arg("keys"), py::arg("table"), py::arg("n_rows"),
      py::arg("seen"), py::arg("features"), py::arg("k"), py::arg("query"), py::arg("interest_weights"),
      py::arg("sim_weight"), py::arg("extra"), py::arg("extra_weights"), py::arg("weights"),
      "fused_topk over candidates in one call: row_scale is None or, for an int8 matrix, its rows' "
      "1 / ||row|| (the catalog's: the kernel trusts them); int ids `keys` looked up in `table` "
      "(id -> row, as candidate_rows), or with table None rows already resolved (-1 unknown, -2 "
      "repeated); unknown, repeated and `seen` ones left out, then scored with ties to the earlier "
      "candidate. features (candidate_features' arguments but rows, or None) carries the upstream "
      "scores aligned with `keys`; the arguments after k are a pyrerank.interfaces.FusedScoring's "
      "fields, in order. Returns (rows, scores, how many were kept, how many unknown, how many "
      "repeated).");

  m.def(
      "mmr",
      [](py::handle matrix, py::handle relevance_obj, std::int64_t k, float lambda, py::handle rows,
         const std::string& ties) {
        const Catalog cat = as_catalog(matrix);
        const Candidates cand = as_candidates(rows, cat);
        check_k_threads(k, 1);
        const pyrerank::Ties tie_rule = as_ties(ties);
        const py::array relevance = as_array(relevance_obj, "relevance");
        const float* rel = f32_data(relevance, "relevance", 1);
        PYRERANK_REQUIRE(relevance.shape(0) == cand.n, "relevance has shape " + shape_of(relevance) +
                                                           " but there are " + std::to_string(cand.n) +
                                                           " candidates");
        pyrerank::check_finite(rel, cand.n, "relevance");
        PYRERANK_REQUIRE(lambda >= 0.0f && lambda <= 1.0f,
                         "lambda_ must lie in [0, 1], got " + std::to_string(lambda));
        std::int64_t* out_rows;
        float* out_scores;
        py::tuple out = topk_outputs(0, std::min(k, cand.n), &out_rows, &out_scores);
        py::gil_scoped_release release;
        pyrerank::mmr(cat, cand, rel, k, lambda, tie_rule, out_rows, out_scores);
        return out;
      },
      py::arg("matrix"), py::arg("relevance"), py::arg("k"), py::kw_only(), py::arg("lambda_") = 0.5f,
      py::arg("rows") = py::none(), py::arg("ties") = "row");

  m.def(
      "candidate_rows",
      [](py::handle rows_obj, py::handle seen_obj, py::handle upstream_obj, py::handle table_obj,
         std::int64_t n_rows) -> py::tuple {
        const py::array in = as_array(rows_obj, table_obj.is_none() ? "rows" : "keys");
        const std::int64_t* in_data = i64_data(in, table_obj.is_none() ? "rows" : "keys");
        const std::int64_t n = in.shape(0);
        const auto [table, table_len] = optional_i64(table_obj, "table");
        const auto [seen, m] = optional_i64(seen_obj, "seen");
        const float* upstream = nullptr;
        std::optional<py::array_t<float>> upstream_out;
        float* upstream_out_data = nullptr;
        if (!upstream_obj.is_none()) {
          const py::array u = as_array(upstream_obj, "scores");
          upstream = f32_data(u, "scores", 1);
          PYRERANK_REQUIRE(u.shape(0) == n, "scores must have one value per candidate");
          upstream_out_data = upstream_out.emplace(n).mutable_data();
        }
        py::array_t<std::int64_t> rows(n);
        std::int64_t* out = rows.mutable_data();
        pyrerank::KeptCandidates kept;
        {
          py::gil_scoped_release release;
          if (table) {
            pyrerank::resolve_rows(table, table_len, n_rows, in_data, n, out);
            in_data = out;
          }
          kept = pyrerank::keep_candidates(in_data, upstream, n, seen, m, out, upstream_out_data);
        }
        rows.resize({kept.kept});  // in place: shrinking an array no one else holds
        py::object upstream_kept = py::none();
        if (upstream_out) {
          upstream_out->resize({kept.kept});
          upstream_kept = std::move(*upstream_out);
        }
        return py::make_tuple(rows, upstream_kept, kept.unknown, kept.repeated);
      },
      py::arg("rows"), py::arg("seen") = py::none(), py::arg("upstream") = py::none(), py::kw_only(),
      py::arg("table") = py::none(), py::arg("n_rows") = 0,
      "The candidates' rows in order, without the unknown (-1), repeated (-2) and `seen` ones, and "
      "`upstream` beside them; with `table`, `rows` are int ids looked up in it first. Returns "
      "(rows, upstream or None, how many unknown, how many repeated).");

  m.def(
      "resolve_rows",
      [](py::handle table, std::int64_t n_rows, py::handle keys) {
        const py::array t = as_array(table, "table"), k = as_array(keys, "keys");
        const std::int64_t* table_data = i64_data(t, "table");
        const std::int64_t* key_data = i64_data(k, "keys");
        py::array_t<std::int64_t> rows(k.shape(0));
        std::int64_t* out = rows.mutable_data();
        std::int64_t dropped;
        {
          py::gil_scoped_release release;
          dropped = pyrerank::resolve_rows(table_data, t.shape(0), n_rows, key_data, k.shape(0), out);
        }
        return py::make_tuple(rows, dropped);
      },
      py::arg("table"), py::arg("n_rows"), py::arg("keys"),
      "Catalog rows of int ids: -1 unknown, -2 repeated; and how many are negative.");

  m.def(
      "mark_duplicates",
      [](py::handle rows_obj) {
        py::array rows = as_array(rows_obj, "rows");
        i64_data(rows, "rows");
        if (!rows.writeable()) throw py::type_error("rows must be writeable (marked in place)");
        return pyrerank::mark_duplicates(static_cast<std::int64_t*>(rows.mutable_data()), rows.shape(0));
      },
      py::arg("rows"), "Set repeated rows (>= 0) to -2 in place; returns how many.");

  m.def(
      "named_pairs",
      [](py::handle cls, py::handle ids, py::handle rows_obj, py::handle scores_obj) {
        // Each pair made as tuple.__new__(cls, ...) makes a tuple subclass's instance (tp_alloc,
        // then the items): ~0.7 us for ten results, against ~2.2 through map, zip and tuple.__new__.
        if (!PyType_Check(cls.ptr()) ||
            !PyType_IsSubtype(reinterpret_cast<PyTypeObject*>(cls.ptr()), &PyTuple_Type))
          throw py::type_error("cls must be a tuple subclass (a NamedTuple of two fields)");
        if (!PyList_Check(ids.ptr())) throw py::type_error("ids must be a list");
        using Rows = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>;
        const Rows rows = Rows::ensure(rows_obj);
        py::array scores = py::array::ensure(scores_obj);
        if (!rows || !scores) throw py::type_error("rows and scores must be arrays");
        const bool f32 = scores.dtype().is(py::dtype::of<float>()) && (scores.flags() & py::array::c_style);
        if (!f32) scores = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(scores);
        PYRERANK_REQUIRE(rows.ndim() == 1 && scores.ndim() == 1 && rows.shape(0) == scores.shape(0),
                         "rows and scores must be 1-D of one length, got shapes " + shape_of(rows) + " and " +
                             shape_of(scores));
        auto* type = reinterpret_cast<PyTypeObject*>(cls.ptr());
        const std::int64_t n = rows.shape(0), n_ids = PyList_GET_SIZE(ids.ptr());
        const std::int64_t* row = rows.data();
        pyrerank::check_rows(n_ids, Candidates{row, n});
        py::list out(n);
        for (std::int64_t i = 0; i < n; ++i) {
          const double score = f32 ? static_cast<const float*>(scores.data())[i]
                                   : static_cast<const double*>(scores.data())[i];
          py::object value = py::reinterpret_steal<py::object>(PyFloat_FromDouble(score));
          py::object pair = py::reinterpret_steal<py::object>(type->tp_alloc(type, 2));
          if (!value || !pair) throw py::error_already_set();
          PyObject* item = PyList_GET_ITEM(ids.ptr(), row[i]);
          Py_INCREF(item);
          PyTuple_SET_ITEM(pair.ptr(), 0, item);
          PyTuple_SET_ITEM(pair.ptr(), 1, value.release().ptr());
          PyList_SET_ITEM(out.ptr(), i, pair.release().ptr());
        }
        return out;
      },
      py::arg("cls"), py::arg("ids"), py::arg("rows"), py::arg("scores"),
      "[cls(ids[rows[i]], float(scores[i])) for each i], each built as tuple.__new__(cls, pair) builds it "
      "(no Python call per pair): cls a tuple subclass of two fields (pyrerank.Ranked), ids a list.");

  m.def(
      "crc32c",
      [](py::buffer data, std::uint32_t crc) {
        const py::buffer_info info = data.request();
        PYRERANK_REQUIRE(info.ndim == 0 || info.strides.back() == info.itemsize,
                         "data must be C-contiguous (a numpy array or bytes)");
        const std::size_t bytes = static_cast<std::size_t>(info.size * info.itemsize);
        py::gil_scoped_release release;
        return pyrerank::crc32c(info.ptr, bytes, crc);
      },
      py::arg("data"), py::arg("crc") = 0,
      "CRC-32C of a C-contiguous buffer's bytes, continuing from `crc`.");

  m.def(
      "pack_rows",
      [](py::handle rows_obj) {
        // 1-D (one row) or 2-D: the layout is the same, the caller keeps the shape.
        const py::array rows = as_array(rows_obj, "rows");
        const float* data = f32_data(rows, "rows", rows.ndim() == 1 ? 1 : 2);
        const std::int64_t d = rows.shape(rows.ndim() - 1), m = rows.ndim() == 1 ? 1 : rows.shape(0);
        std::string packed(static_cast<std::size_t>(m * (4 + d)), '\0');
        float* peaks = reinterpret_cast<float*>(packed.data());
        pyrerank::pack_rows(data, m, d, peaks, reinterpret_cast<std::int8_t*>(packed.data() + 4 * m));
        return py::bytes(packed);
      },
      py::arg("rows"),
      "(m, d) or (d,) float32 rows as bytes: m float32 max|row|, then (m, d) int8 steps of max|row| / 127.");

  m.def(
      "unpack_rows",
      [](const py::bytes& packed_obj, const std::vector<py::ssize_t>& shape) {
        const std::string_view packed = packed_obj;
        PYRERANK_REQUIRE(shape.size() == 1 || shape.size() == 2, "shape must be (d,) or (m, d)");
        const std::int64_t d = shape.back(), m = shape.size() == 1 ? 1 : shape[0];
        PYRERANK_REQUIRE(m >= 0 && d >= 0 && packed.size() == static_cast<std::size_t>(m * (4 + d)),
                         "packed must hold m * (4 + d) bytes for shape (m, d)");
        py::array_t<float> out(shape);
        pyrerank::unpack_rows(reinterpret_cast<const float*>(packed.data()),
                              reinterpret_cast<const std::int8_t*>(packed.data() + 4 * m), m, d,
                              out.mutable_data());
        return out;
      },
      py::arg("packed"), py::arg("shape"), "The float32 rows of pack_rows' bytes, in `shape`.");

  m.def(
      "scaled_rows",
      [](const py::array_t<std::int8_t, py::array::c_style>& matrix, py::handle rows_obj,
         const py::array_t<float, py::array::c_style>& scale) {
        PYRERANK_REQUIRE(matrix.ndim() == 2, "matrix must be 2-D");
        PYRERANK_REQUIRE(scale.ndim() == 1 && scale.shape(0) >= matrix.shape(0),
                         "scale must be 1-D with a value for each of matrix's rows");
        const py::array rows = as_array(rows_obj, "rows");
        const std::int64_t* row_data = i64_data(rows, "rows");
        const std::int64_t n = rows.shape(0), d = matrix.shape(1);
        pyrerank::check_rows(matrix.shape(0), Candidates{row_data, n});
        py::array_t<float> out({n, d});
        pyrerank::scaled_rows(matrix.data(), d, row_data, n, scale.data(), out.mutable_data());
        return out;
      },
      py::arg("matrix"), py::arg("rows"), py::arg("scale"),
      "(n, d) float32 matrix[rows] * scale[rows][:, None] of an int8 matrix.");

  m.def(
      "decay_replay",
      [](const py::array_t<float, py::array::c_style | py::array::forcecast>& vectors,
         const py::array_t<double, py::array::c_style | py::array::forcecast>& weights,
         const py::array_t<double, py::array::c_style | py::array::forcecast>& timestamps, double per_second,
         double per_event) {
        const std::int64_t n = weights.size();
        PYRERANK_REQUIRE(weights.ndim() == 1 && timestamps.ndim() == 1 && timestamps.size() == n && n > 0,
                         "weights and timestamps must be 1-D, of one length > 0");
        PYRERANK_REQUIRE(vectors.ndim() == 2 && vectors.shape(0) == n,
                         "vectors must be (n, dim) for n = " + std::to_string(n) + " events");
        const std::int64_t d = vectors.shape(1);
        py::array_t<float> pos(d), neg(d);
        const double latest =
            pyrerank::decay_replay(vectors.data(), n, d, weights.data(), timestamps.data(), per_second,
                                   per_event, pos.mutable_data(), neg.mutable_data());
        return py::make_tuple(pos, neg, latest);
      },
      py::arg("vectors"), py::arg("weights"), py::arg("timestamps"), py::arg("per_second"),
      py::arg("per_event"),
      "(pos, neg, latest timestamp): a decay model's state after these events, oldest first.");

  m.def(
      "candidate_features",
      [](py::handle stats, py::handle rows_obj, double now, double half_life, double recency_scale,
         py::handle upstream, py::handle co_scores) {
        const py::array rows = as_array(rows_obj, "rows");
        const Candidates cand{i64_data(rows, "rows"), rows.shape(0)};
        const FeatureInputs in =
            as_feature_inputs(stats, cand.n, now, half_life, recency_scale, upstream, co_scores);
        pyrerank::check_rows(in.stats_rows, cand);
        py::array_t<float> out(
            {static_cast<py::ssize_t>(cand.n), static_cast<py::ssize_t>(pyrerank::kFeatureNames.size())});
        float* o = out.mutable_data();
        py::gil_scoped_release release;
        in.of(cand, in.upstream)->fill(0, cand.n, o);
        return out;
      },
      py::arg("stats"), py::arg("rows"), py::arg("now"), py::arg("half_life"), py::arg("recency_scale"),
      py::arg("upstream"), py::arg("co_scores"),
      "(n, len(FEATURE_NAMES)) float32 fusion features of candidate rows (see csrc/candidates.hpp).");

  py::class_<pyrerank::StringIndex>(m, "StringIndex", "str item id -> catalog row.")
      .def(py::init<>())
      .def(
          "add",
          [](pyrerank::StringIndex& index, const py::list& keys, std::int64_t first_row) {
            // keys[i] -> first_row + i; every key must be a str (the Catalog checks this first).
            for (py::ssize_t i = 0; i < static_cast<py::ssize_t>(keys.size()); ++i)
              index.insert(utf8_of(keys[i], i), first_row + i);
          },
          py::arg("keys"), py::arg("first_row"))
      .def(
          "rows",
          [](const pyrerank::StringIndex& index, py::handle items) {
            // Rows of a list or tuple of ids: -1 unknown (or not a str), -2 repeated; and how many.
            // Looked up without the GIL, so other threads run meanwhile (see string_index.hpp).
            const StrKeys keys(items);
            py::array_t<std::int64_t> rows(keys.size());
            std::int64_t* out = rows.mutable_data();
            const auto table = index.table();
            std::int64_t dropped = 0;
            {
              py::gil_scoped_release release;
              keys.resolve(table.get(), out);
              for (std::int64_t i = 0; i < keys.size(); ++i) dropped += out[i] < 0;
            }
            return py::make_tuple(rows, dropped);
          },
          py::arg("items"))
      .def("__len__", &pyrerank::StringIndex::size);

  m.def(
      "co_link",
      [](const py::array& neighbors, const py::array& counts, const py::array& sizes,
         const py::array& versions, std::int64_t row, const std::vector<std::int64_t>& others, float amount) {
        const pyrerank::CoLinks links = as_co_links(neighbors, counts, sizes, versions);
        check_co_row(row, links.n_rows);
        for (std::int64_t other : others) check_co_row(other, links.n_rows);
        py::list undo;  // almost always empty
        co_link_event(links, row, others.data(), static_cast<std::int64_t>(others.size()), amount, nullptr,
                      [&undo](std::int64_t bump, const pyrerank::CoEviction& e) {
                        undo.append(py::make_tuple(bump, e.slot, e.neighbor, e.count));
                      });
        return undo;
      },
      py::arg("neighbors"), py::arg("counts"), py::arg("sizes"), py::arg("versions"), py::arg("row"),
      py::arg("others"), py::arg("amount"),
      "Add `amount` to the links row -> other and other -> row for each of `others`, in place. "
      "[(bump, slot, neighbor, count)] for the bumps (2 * i: row -> others[i], 2 * i + 1: back) that evicted "
      "a link (slot >= 0, the link evicted) or lost the addition to rounding (slot -1, count the one "
      "before).");

  m.def(
      "co_link_events",
      [](const py::array& neighbors, const py::array& counts, const py::array& sizes,
         const py::array& versions, const py::array& rows_obj, const py::array& ends_obj,
         const py::array& others_obj, py::handle only_obj, float amount) {
        const pyrerank::CoLinks links = as_co_links(neighbors, counts, sizes, versions);
        const EventBatch events(rows_obj, ends_obj, others_obj, links.n_rows);
        const std::uint8_t* only = row_mask(only_obj, links.n_rows);
        std::vector<std::int64_t> event, bump;
        std::vector<std::int32_t> slot, neighbor;
        std::vector<float> count;
        for (std::int64_t i = 0; i < events.n; ++i) {
          const std::int64_t start = events.start(i);
          co_link_event(links, events.rows[i], events.others + start, events.ends[i] - start, amount, only,
                        [&, i](std::int64_t b, const pyrerank::CoEviction& e) {
                          event.push_back(i);
                          bump.push_back(b);
                          slot.push_back(static_cast<std::int32_t>(e.slot));
                          neighbor.push_back(static_cast<std::int32_t>(e.neighbor));
                          count.push_back(e.count);
                        });
        }
        return py::make_tuple(column(event), column(bump), column(slot), column(neighbor), column(count));
      },
      py::arg("neighbors"), py::arg("counts"), py::arg("sizes"), py::arg("versions"), py::arg("rows"),
      py::arg("ends"), py::arg("others"), py::arg("only"), py::arg("amount"),
      "co_link(row, others[ends[i-1]:ends[i]]) for each event i of rows, in order, bumping only rows "
      "where `only` is set (None: any); the bumps co_link reports as (m,) columns: event int64, bump "
      "int64, slot int32, neighbor int32, count float32 (many once links are full: a column each, not "
      "a tuple each).");

  m.def(
      "co_unlink_events",
      [](const py::array& neighbors, const py::array& counts, const py::array& sizes,
         const py::array& versions, const py::array& positions_obj, const py::array& rows_obj,
         const py::array& ends_obj, const py::array& others_obj, py::handle only_obj,
         const py::array& rec_event_obj, const py::array& rec_bump_obj,
         const py::array_t<std::int32_t, py::array::c_style | py::array::forcecast>& rec_slot,
         const py::array_t<std::int32_t, py::array::c_style | py::array::forcecast>& rec_neighbor,
         const py::array_t<float, py::array::c_style | py::array::forcecast>& rec_count, float amount) {
        const pyrerank::CoLinks links = as_co_links(neighbors, counts, sizes, versions);
        const EventBatch events(rows_obj, ends_obj, others_obj, links.n_rows);
        const std::int64_t* positions = i64_data(positions_obj, "positions");
        PYRERANK_REQUIRE(positions_obj.shape(0) == events.n, "positions must hold one entry per row");
        const std::int64_t *rows = events.rows, *ends = events.ends, *others = events.others;
        const std::uint8_t* only = row_mask(only_obj, links.n_rows);
        const std::int64_t* rec_event = i64_data(rec_event_obj, "record events");
        const std::int64_t* rec_bump = i64_data(rec_bump_obj, "record bumps");
        std::int64_t r = rec_event_obj.shape(0) - 1;  // records sorted by (event, bump): read from the end
        PYRERANK_REQUIRE(rec_bump_obj.shape(0) == r + 1 && rec_slot.size() == r + 1 &&
                             rec_neighbor.size() == r + 1 && rec_count.size() == r + 1,
                         "the records' columns must be of one length");
        for (std::int64_t i = events.n - 1; i >= 0; --i) {
          const std::int64_t start = events.start(i), p = positions[i];
          for (std::int64_t t = ends[i] - start - 1; t >= 0; --t) {
            const std::int64_t other = others[start + t];
            if (other == rows[i]) continue;
            for (std::int64_t bump = 2 * t + 1; bump >= 2 * t; --bump) {  // back, then forward
              const std::int64_t a = bump % 2 ? other : rows[i], b = bump % 2 ? rows[i] : other;
              while (r >= 0 && (rec_event[r] > p || (rec_event[r] == p && rec_bump[r] > bump))) --r;
              pyrerank::CoEviction found;
              const bool recorded = r >= 0 && rec_event[r] == p && rec_bump[r] == bump;
              if (recorded) {
                found = {rec_slot.data()[r], rec_neighbor.data()[r], rec_count.data()[r]};
                --r;
              }
              if (only != nullptr && !only[a]) continue;
              if (!pyrerank::co_unbump(links, a, b, amount, recorded ? &found : nullptr))
                throw std::invalid_argument("the undo log does not match item row " + std::to_string(a) +
                                            "'s links");
            }
          }
        }
      },
      py::arg("neighbors"), py::arg("counts"), py::arg("sizes"), py::arg("versions"), py::arg("positions"),
      py::arg("rows"), py::arg("ends"), py::arg("others"), py::arg("only"), py::arg("record_events"),
      py::arg("record_bumps"), py::arg("record_slots"), py::arg("record_neighbors"), py::arg("record_counts"),
      py::arg("amount"),
      "Undo co_link_events, newest first: every bump of the events (at `positions`, on `rows`, linked with "
      "others[ends[i-1]:ends[i]]) on a row where `only` is set (None: any), with the records co_link "
      "reported "
      "(sorted by event, then bump). ValueError where they do not match the links.");

  m.def(
      "count_events",
      [](const py::array& table, const py::array& rows, const py::array& weights, const py::array& times,
         double half_life) {
        PYRERANK_REQUIRE(table.ndim() == 2, "table must be (n_rows, 4)");
        const std::int64_t n_rows = table.shape(0);
        double* t = table_data<double>(table, "table", n_rows, 4);
        const std::int64_t* r = i64_data(rows, "rows");
        const std::int64_t n = rows.shape(0);
        const auto column = [n](const py::array& a, const char* name) {
          if (!a.dtype().is(py::dtype::of<double>()) || a.ndim() != 1 || a.shape(0) != n ||
              !(a.flags() & py::array::c_style))
            throw py::type_error(std::string(name) +
                                 " must be a 1-D C-contiguous float64 array as long as rows");
          return static_cast<const double*>(a.data());
        };
        const double* w = column(weights, "weights");
        const double* ts = column(times, "times");
        for (std::int64_t i = 0; i < n; ++i) check_item_row(r[i], n_rows);
        pyrerank::count_events(t, r, w, ts, n, half_life);
      },
      py::arg("table"), py::arg("rows"), py::arg("weights"), py::arg("times"), py::arg("half_life"),
      "Count positive events (rows, weights, times: (n,) each, in order) into the (n_rows, 4) float64 item "
      "statistics table, in place (see csrc/item_counts.hpp).");

  m.def(
      "count_event",
      [](const py::array& table, std::int64_t row, double weight, double time, double half_life) {
        PYRERANK_REQUIRE(table.ndim() == 2, "table must be (n_rows, 4)");
        double* t = table_data<double>(table, "table", table.shape(0), 4);
        check_item_row(row, table.shape(0));
        pyrerank::count_events(t, &row, &weight, &time, 1, half_life);
      },
      py::arg("table"), py::arg("row"), py::arg("weight"), py::arg("time"), py::arg("half_life"),
      "count_events of one event.");

  py::class_<pyrerank::CoScores>(m, "CoScores",
                                 "A user's co-engagement scores, row -> score, as the kernels look them up.")
      .def(py::init([](const py::array& rows_obj, const py::array& values_obj) {
             const py::array rows = as_array(rows_obj, "rows");
             const py::array values = as_array(values_obj, "values");
             const std::int64_t* r = i64_data(rows, "rows");
             const float* v = f32_data(values, "values", 1);
             PYRERANK_REQUIRE(rows.ndim() == 1 && values.shape(0) == rows.shape(0),
                              "rows and values must be 1-D and of one length");
             pyrerank::check_finite(v, values.shape(0), "values");
             const auto [low, high] = std::minmax_element(r, r + rows.shape(0));
             PYRERANK_REQUIRE(rows.shape(0) == 0 || (*low >= 0 && *high <= INT32_MAX),
                              "rows must lie in [0, 2**31)");
             pyrerank::CoScores scores(rows.shape(0));
             for (py::ssize_t i = 0; i < rows.shape(0); ++i) scores.add(r[i], v[i]);
             PYRERANK_REQUIRE(scores.size() == rows.shape(0), "rows must be distinct");  // repeats merge
             return scores;
           }),
           py::arg("rows"), py::arg("values"))
      .def("__len__", &pyrerank::CoScores::size)
      .def_property_readonly("nbytes", &pyrerank::CoScores::nbytes, "Bytes its table holds.")
      .def(
          "arrays",
          [](const pyrerank::CoScores& scores) {
            py::array_t<std::int64_t> rows(scores.size());
            py::array_t<float> values(scores.size());
            scores.sorted(rows.mutable_data(), values.mutable_data());
            return py::make_tuple(rows, values);
          },
          "(p,) int64 rows, ascending, and (p,) float32 their scores.");

  m.def(
      "co_user_scores",
      [](const py::array& neighbors, const py::array& counts, const py::array& sizes,
         const py::array& versions, const std::vector<std::int64_t>& recent, double decay) {
        const pyrerank::CoLinks links = as_co_links(neighbors, counts, sizes, versions);
        for (std::int64_t row : recent) check_co_row(row, links.n_rows);
        PYRERANK_REQUIRE(decay > 0 && decay <= 1, "decay must be in (0, 1]");
        py::gil_scoped_release release;
        return pyrerank::co_user_scores(links, recent.data(), static_cast<std::int64_t>(recent.size()),
                                        decay);
      },
      py::arg("neighbors"), py::arg("counts"), py::arg("sizes"), py::arg("versions"), py::arg("recent"),
      py::arg("decay"), "A user's co-engagement scores over their recent rows (newest last), as a CoScores.");

  m.def(
      "co_version_sum",
      [](const py::array& versions, py::buffer rows_obj) {
        const std::int64_t* v = table_data<std::int64_t>(versions, "versions", versions.shape(0), 0);
        const py::buffer_info rows = rows_obj.request();
        PYRERANK_REQUIRE(rows.ndim == 1 && rows.itemsize == 4 &&
                             rows.format == py::format_descriptor<std::int32_t>::format(),
                         "rows must be a 1-D buffer of int32 (array.array('i'))");
        const auto* r = static_cast<const std::int32_t*>(rows.ptr);
        std::int64_t sum = 0;
        for (py::ssize_t i = 0; i < rows.size; ++i) {
          check_co_row(r[i], versions.shape(0));
          sum += v[r[i]];
        }
        return sum;
      },
      py::arg("versions"), py::arg("rows"),
      "Σ versions[rows] for int32 `rows` (array.array('i')): a user's co-engagement scores' cache key, "
      "in one call where a numpy gather and sum took ~4 µs.");

  m.def(
      "read_all",
      [](py::handle matrix) {
        const Catalog cat = as_catalog(matrix);
        py::gil_scoped_release release;
        return pyrerank::read_all(cat);
      },
      py::arg("matrix"), "Read every byte of matrix once (memory-bandwidth yardstick).");
}
