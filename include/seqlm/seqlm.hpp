// seqlm: neural sequence models in one header.
//
//   #include <seqlm/seqlm.hpp>
//
// pulls in every public part of the library. Each header below also compiles on its own.
#pragma once

#include "error.hpp"
#include "init.hpp"
#include "math/simd.hpp"
#include "parameter.hpp"
#include "random.hpp"
#include "tensor.hpp"
#include "version.hpp"
