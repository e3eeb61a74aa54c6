/// \file
/// Gradient clipping, applied to a ParameterList after backward() and before an optimizer step.
///
/// Three rules, as Keras's optimizer arguments (docs/optimizers.md):
/// ```text
///   clip_by_value(params, c)        g <- min(max(g, -c), c) elementwise        (Keras clipvalue)
///   clip_by_norm(params, c)         g <- g * c / ||g||  for each tensor whose
///                                   own L2 norm ||g|| exceeds c               (Keras clipnorm)
///   clip_by_global_norm(params, c)  G = sqrt(sum over tensors of ||g||^2);
///                                   every g <- g * c / G  when G > c          (Keras global_clipnorm,
///                                                                              tf.clip_by_global_norm)
/// ```
/// Each returns the global norm G of the gradients BEFORE clipping, for logging. Norms are
/// accumulated in double for both scalar types. A NaN or infinite gradient throws
/// numeric_error naming the parameter, before any gradient is modified.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <type_traits>
#include <vector>

#include "../error.hpp"
#include "../parameter.hpp"
#include "../tensor.hpp"

namespace seqlm {

/// The clipping an optimizer applies at the start of every step() (all unset: none).
/// At most one may be set, and a set threshold must be positive and finite (as in Keras 3).
struct ClipOptions {
  std::optional<double> clip_value;        ///< Keras clipvalue: elementwise to [-c, c]
  std::optional<double> clip_norm;         ///< Keras clipnorm: each tensor to L2 norm <= c
  std::optional<double> global_clip_norm;  ///< Keras global_clipnorm: all tensors together

  bool any() const { return clip_value || clip_norm || global_clip_norm; }
};

namespace detail {

// Every parameter needs a value and a gradient of the same shape.
template <class Scalar>
void check_parameter_list(const char* where, const ParameterList<Scalar>& parameters) {
  static_assert(std::is_floating_point_v<Scalar>, "seqlm optimizers work on float or double");
  for (size_t k = 0; k < parameters.size(); ++k) {
    const Parameter<Scalar>& p = parameters[k];
    if (p.value == nullptr || p.gradient == nullptr) {
      throw value_error(make_message(where, ": parameter ", k, " '", p.name, "' has no ",
                                     p.value == nullptr ? "value" : "gradient", " tensor"));
    }
    if (p.value->rows() != p.gradient->rows() || p.value->cols() != p.gradient->cols()) {
      throw shape_error(make_message(where, ": gradient of parameter ", k, " '", p.name, "' has shape ",
                                     p.gradient->rows(), "x", p.gradient->cols(), ", expected ",
                                     p.value->rows(), "x", p.value->cols()));
    }
  }
}

inline void check_threshold(const char* where, const char* what, double threshold) {
  if (!(threshold > 0) || !std::isfinite(threshold)) {
    throw value_error(make_message(where, ": ", what, " must be positive and finite, got ", threshold));
  }
}

// Throws numeric_error if gradient k holds a NaN or infinity, naming the first such entry.
template <class Scalar>
void check_finite_gradient(const char* where, const ParameterList<Scalar>& parameters, size_t k) {
  const Matrix<Scalar>& g = *parameters[k].gradient;
  if (g.allFinite()) return;
  for (Index c = 0; c < g.cols(); ++c) {
    for (Index r = 0; r < g.rows(); ++r) {
      if (!std::isfinite(g(r, c))) {
        throw numeric_error(make_message(where, ": gradient of parameter ", k, " '", parameters[k].name,
                                         "' is ", g(r, c), " at (", r, ", ", c, ")"));
      }
    }
  }
}

// ||g|| of gradient k, accumulated in double; throws numeric_error for a NaN or infinite entry.
template <class Scalar>
double gradient_norm(const char* where, const ParameterList<Scalar>& parameters, size_t k) {
  const Matrix<Scalar>& g = *parameters[k].gradient;
  const double squared = g.template cast<double>().squaredNorm();
  if (std::isfinite(squared)) return std::sqrt(squared);
  check_finite_gradient(where, parameters, k);  // a NaN or infinity: throws
  // Finite entries whose squares overflow (|g| > 1e154 in double): the overflow-safe norm.
  return g.template cast<double>().stableNorm();
}

// The norm of every gradient, after checking the list; `where` names the caller in errors.
template <class Scalar>
std::vector<double> gradient_norms(const char* where, const ParameterList<Scalar>& parameters) {
  check_parameter_list(where, parameters);
  std::vector<double> norms(parameters.size());
  for (size_t k = 0; k < parameters.size(); ++k) norms[k] = gradient_norm(where, parameters, k);
  return norms;
}

// sqrt(sum_k norms[k]^2), rescaled by the largest norm when the plain sum overflows.
inline double combined_norm(const std::vector<double>& norms) {
  double squared = 0, largest = 0;
  for (double norm : norms) {
    squared += norm * norm;
    largest = std::max(largest, norm);
  }
  if (std::isfinite(squared) || !std::isfinite(largest)) return std::sqrt(squared);
  double scaled = 0;
  for (double norm : norms) scaled += (norm / largest) * (norm / largest);
  return largest * std::sqrt(scaled);
}

}  // namespace detail

/// Throws numeric_error naming the first parameter (index and name) whose gradient holds a
/// NaN or infinity, and the position of the bad entry.
template <class Scalar>
void check_finite(const ParameterList<Scalar>& parameters) {
  detail::check_parameter_list("check_finite", parameters);
  for (size_t k = 0; k < parameters.size(); ++k) detail::check_finite_gradient("check_finite", parameters, k);
}

/// The L2 norm of each gradient tensor, in parameter order. Throws numeric_error on NaN/inf.
template <class Scalar>
std::vector<double> gradient_norms(const ParameterList<Scalar>& parameters) {
  return detail::gradient_norms("gradient_norms", parameters);
}

/// G = sqrt(sum_k ||g_k||^2), the norm of all gradients seen as one vector. Throws
/// numeric_error on NaN/inf.
template <class Scalar>
double global_norm(const ParameterList<Scalar>& parameters) {
  return detail::combined_norm(detail::gradient_norms("global_norm", parameters));
}

/// g <- min(max(g, -c), c) for every gradient entry. Returns the global norm before clipping.
template <class Scalar>
double clip_by_value(const ParameterList<Scalar>& parameters, double clip_value) {
  detail::check_threshold("clip_by_value", "clip value", clip_value);
  const double norm = detail::combined_norm(detail::gradient_norms("clip_by_value", parameters));
  const Scalar c = static_cast<Scalar>(clip_value);
  for (const Parameter<Scalar>& p : parameters) {
    p.gradient->array() = p.gradient->array().max(-c).min(c);
  }
  return norm;
}

/// Each gradient tensor whose own L2 norm exceeds c is scaled to norm c; the others are left
/// untouched (Keras clipnorm). Returns the global norm before clipping.
template <class Scalar>
double clip_by_norm(const ParameterList<Scalar>& parameters, double clip_norm) {
  detail::check_threshold("clip_by_norm", "clip norm", clip_norm);
  const std::vector<double> norms = detail::gradient_norms("clip_by_norm", parameters);  // checks first
  for (size_t k = 0; k < parameters.size(); ++k) {
    if (norms[k] > clip_norm) *parameters[k].gradient *= static_cast<Scalar>(clip_norm / norms[k]);
  }
  return detail::combined_norm(norms);
}

/// When the global norm G exceeds c, every gradient is scaled by c / G, so that the global
/// norm becomes c and the direction of the whole update is kept. Returns G before clipping.
template <class Scalar>
double clip_by_global_norm(const ParameterList<Scalar>& parameters, double clip_norm) {
  detail::check_threshold("clip_by_global_norm", "clip norm", clip_norm);
  const double norm = detail::combined_norm(detail::gradient_norms("clip_by_global_norm", parameters));
  if (norm > clip_norm) {
    const Scalar scale = static_cast<Scalar>(clip_norm / norm);
    for (const Parameter<Scalar>& p : parameters) *p.gradient *= scale;
  }
  return norm;
}

/// Throws value_error unless at most one threshold is set and it is positive and finite.
inline void validate(const ClipOptions& options, const char* where) {
  const int set = int(options.clip_value.has_value()) + int(options.clip_norm.has_value()) +
                  int(options.global_clip_norm.has_value());
  if (set > 1) {
    throw value_error(detail::make_message(
        where, ": only one of clip_value, clip_norm and global_clip_norm can be set, got ", set));
  }
  if (options.clip_value) detail::check_threshold(where, "clip_value", *options.clip_value);
  if (options.clip_norm) detail::check_threshold(where, "clip_norm", *options.clip_norm);
  if (options.global_clip_norm) detail::check_threshold(where, "global_clip_norm", *options.global_clip_norm);
}

/// Applies the one clipping rule that `options` sets. Returns the global norm before
/// clipping, or nothing when no rule is set (then the gradients are not even read).
template <class Scalar>
std::optional<double> clip_gradients(const ParameterList<Scalar>& parameters, const ClipOptions& options) {
  validate(options, "clip_gradients");
  if (options.clip_norm) return clip_by_norm(parameters, *options.clip_norm);
  if (options.global_clip_norm) return clip_by_global_norm(parameters, *options.global_clip_norm);
  if (options.clip_value) return clip_by_value(parameters, *options.clip_value);
  return std::nullopt;
}

}  // namespace seqlm
