/* Forced first include (-include) of the project's own programs when GCC 12 compiles them for
   AVX-512 (SEQLM_ARCH=x86-64-v4 or native on such a CPU); see CMakeLists.txt. GCC 12's own
   <avx512fintrin.h> starts some intrinsics from a deliberately uninitialised register
   (__m512 __Y = __Y, as in _mm512_undefined_ps) and, once they are inlined into seqlm's
   kernels, reports its own lines as -Wuninitialized / -Wmaybe-uninitialized (fixed in GCC 13).
   Including the intrinsics first, with those two warnings off for the header's lines only,
   keeps them on for every line of seqlm and of the programs. Never installed, never applied to
   library users. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
