// Built only by the ctest `not_posix_refused`, with the compiler's POSIX macros undefined, as
// on a system without POSIX: the build must stop at io/posix_file.hpp's clear #error.
#include <seqlm/seqlm.hpp>

int main() { return 0; }
