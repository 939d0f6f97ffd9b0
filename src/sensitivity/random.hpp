#pragma once
// Internal: the counter-based random numbers of the sensitivity designs and bootstraps. Every
// number is Philox4x64-10 keyed by (seed, purpose) at a counter naming what is drawn, so a draw
// never depends on what else was drawn before it (or on which thread asks).

#include <Random123/philox.h>

#include <cstdint>

namespace nkscape::sensitivity::detail {

/// What a key draws for (its second word), so that no two uses share a stream.
enum Purpose : std::uint64_t {
    kSobolShift = 0x736f626f6cULL,   // "sobol"
    kLatin = 0x6c6873ULL,            // "lhs"
    kMorris = 0x6d6f72726973ULL,     // "morris"
    kBootstrap = 0x626f6f74ULL,      // "boot"
};

/// 64 random bits at counter (a, b, c) of stream (seed, purpose).
inline std::uint64_t word(std::uint64_t seed, std::uint64_t purpose, std::uint64_t a, std::uint64_t b, std::uint64_t c = 0) {
    const r123::Philox4x64::key_type key = {{seed, purpose}};
    const r123::Philox4x64::ctr_type ctr = {{a, b, c, 0}};
    return r123::Philox4x64()(ctr, key)[0];
}

/// A double in (0, 1) from 64 random bits.
inline double unit(std::uint64_t x) { return (static_cast<double>(x >> 11) + 0.5) * 0x1p-53; }

/// An integer in [0, n) from 64 random bits (n > 0; the modulo bias is below n / 2^64).
inline std::uint64_t below(std::uint64_t x, std::uint64_t n) { return x % n; }

}  // namespace nkscape::sensitivity::detail
