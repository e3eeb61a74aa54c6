// Tests of gradient clipping: by value, per-tensor norm, global norm, the norms they return,
// non-finite gradients and argument checks.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <seqlm/optim/clip.hpp>
#include <string>

namespace clip_tests {

using namespace seqlm;

namespace {

// Two gradient tensors with hand-checkable norms: ||a|| = 5 (3, 4), ||b|| = 12 (12 and 0s),
// global norm sqrt(25 + 144) = 13.
template <class Scalar>
struct TwoTensors {
  Matrix<Scalar> a{2, 1}, b{1, 3}, da{2, 1}, db{1, 3};

  TwoTensors() {
    a.setZero();
    b.setZero();
    da << 3, -4;
    db << 0, -12, 0;
  }

  ParameterList<Scalar> parameters() { return {{"kernel", &a, &da}, {"bias", &b, &db}}; }
};

}  // namespace

TEST_CASE_TEMPLATE("gradient_norms and global_norm", Scalar, float, double) {
  TwoTensors<Scalar> t;
  const std::vector<double> norms = gradient_norms(t.parameters());
  REQUIRE(norms.size() == 2);
  CHECK(norms[0] == 5.0);
  CHECK(norms[1] == 12.0);
  CHECK(global_norm(t.parameters()) == 13.0);
  CHECK(global_norm(ParameterList<Scalar>{}) == 0.0);
}

TEST_CASE_TEMPLATE("clip_by_value clamps every entry to [-c, c] and returns the norm before", Scalar, float,
                   double) {
  TwoTensors<Scalar> t;
  CHECK(clip_by_value(t.parameters(), 3.5) == 13.0);
  CHECK(t.da(0, 0) == Scalar(3));
  CHECK(t.da(1, 0) == Scalar(-3.5));
  CHECK(t.db(0, 0) == Scalar(0));
  CHECK(t.db(0, 1) == Scalar(-3.5));
  CHECK(t.a.isZero());  // values are never touched
}

TEST_CASE_TEMPLATE("clip_by_norm scales each tensor above c to norm c and leaves the others", Scalar, float,
                   double) {
  TwoTensors<Scalar> t;
  CHECK(clip_by_norm(t.parameters(), 6.0) == 13.0);
  // ||a|| = 5 <= 6: unchanged, bit for bit.
  CHECK(t.da(0, 0) == Scalar(3));
  CHECK(t.da(1, 0) == Scalar(-4));
  // ||b|| = 12 > 6: halved.
  CHECK(t.db(0, 1) == Scalar(-6));
  CHECK(gradient_norms(t.parameters())[1] == doctest::Approx(6.0).epsilon(1e-7));

  TwoTensors<Scalar> u;
  clip_by_norm(u.parameters(), 2.0);
  const std::vector<double> norms = gradient_norms(u.parameters());
  CHECK(norms[0] == doctest::Approx(2.0).epsilon(1e-7));
  CHECK(norms[1] == doctest::Approx(2.0).epsilon(1e-7));
  // Direction kept: (3, -4) / 5 * 2.
  CHECK(u.da(0, 0) == doctest::Approx(1.2).epsilon(1e-7));
  CHECK(u.da(1, 0) == doctest::Approx(-1.6).epsilon(1e-7));
}

TEST_CASE_TEMPLATE("clip_by_global_norm scales all tensors by c / max(G, c)", Scalar, float, double) {
  TwoTensors<Scalar> t;
  CHECK(clip_by_global_norm(t.parameters(), 6.5) == 13.0);  // scale 6.5 / 13 = 0.5
  CHECK(t.da(0, 0) == Scalar(1.5));
  CHECK(t.da(1, 0) == Scalar(-2));
  CHECK(t.db(0, 1) == Scalar(-6));
  CHECK(global_norm(t.parameters()) == doctest::Approx(6.5).epsilon(1e-7));

  TwoTensors<Scalar> u;
  CHECK(clip_by_global_norm(u.parameters(), 13.0) == 13.0);  // G <= c: nothing changes
  CHECK(u.da(1, 0) == Scalar(-4));
  CHECK(u.db(0, 1) == Scalar(-12));
}

TEST_CASE("clip_gradients applies the one rule set, or nothing") {
  TwoTensors<double> t;
  CHECK(!clip_gradients(t.parameters(), ClipOptions{}).has_value());
  CHECK(t.db(0, 1) == -12);

  ClipOptions by_norm;
  by_norm.clip_norm = 6.0;
  CHECK(clip_gradients(t.parameters(), by_norm).value() == 13.0);
  CHECK(t.da(1, 0) == -4);
  CHECK(t.db(0, 1) == -6);

  ClipOptions two;
  two.clip_norm = 1.0;
  two.global_clip_norm = 1.0;
  CHECK_THROWS_AS(clip_gradients(t.parameters(), two), value_error);
}

TEST_CASE("non-finite gradients throw numeric_error naming the parameter, before any change") {
  TwoTensors<float> t;
  t.db(0, 2) = std::numeric_limits<float>::infinity();
  for (int rule = 0; rule < 3; ++rule) {
    try {
      if (rule == 0) clip_by_value(t.parameters(), 1.0);
      if (rule == 1) clip_by_norm(t.parameters(), 1.0);
      if (rule == 2) clip_by_global_norm(t.parameters(), 1.0);
      FAIL("expected numeric_error");
    } catch (const numeric_error& e) {
      CHECK(std::string(e.what()).find("parameter 1 'bias' is inf at (0, 2)") != std::string::npos);
    }
    CHECK(t.da(0, 0) == 3.0f);  // the finite tensor before it was not clipped either
  }
  CHECK_THROWS_AS(check_finite(t.parameters()), numeric_error);
  CHECK_THROWS_AS(global_norm(t.parameters()), numeric_error);
  t.db(0, 2) = std::nanf("");
  CHECK_THROWS_AS(gradient_norms(t.parameters()), numeric_error);
  t.db(0, 2) = 0;
  CHECK_NOTHROW(check_finite(t.parameters()));
}

TEST_CASE("huge but finite gradients are not mistaken for non-finite ones") {
  // 1e200^2 overflows double; the norm must still come out right and clip correctly.
  TwoTensors<double> t;
  t.da << 3e200, -4e200;
  CHECK_NOTHROW(check_finite(t.parameters()));
  CHECK(gradient_norms(t.parameters())[0] == doctest::Approx(5e200));
  clip_by_norm(t.parameters(), 1.0);
  CHECK(t.da(0, 0) == doctest::Approx(0.6));
  CHECK(t.da(1, 0) == doctest::Approx(-0.8));
}

TEST_CASE("bad thresholds and malformed parameter lists are rejected") {
  TwoTensors<double> t;
  CHECK_THROWS_AS(clip_by_value(t.parameters(), 0.0), value_error);
  CHECK_THROWS_AS(clip_by_norm(t.parameters(), -1.0), value_error);
  CHECK_THROWS_AS(clip_by_global_norm(t.parameters(), std::nan("")), value_error);
  CHECK_THROWS_AS(clip_by_global_norm(t.parameters(), std::numeric_limits<double>::infinity()), value_error);

  ParameterList<double> mismatched = t.parameters();
  mismatched[0].gradient = &t.db;
  try {
    clip_by_norm(mismatched, 1.0);
    FAIL("expected shape_error");
  } catch (const shape_error& e) {
    CHECK(std::string(e.what()).find("gradient of parameter 0 'kernel' has shape 1x3, expected 2x1") !=
          std::string::npos);
  }
  ParameterList<double> missing = t.parameters();
  missing[1].gradient = nullptr;
  CHECK_THROWS_AS(check_finite(missing), value_error);
}

}  // namespace clip_tests
