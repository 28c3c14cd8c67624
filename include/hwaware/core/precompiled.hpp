#pragma once
// Header-only by default. A program that links the hwaware::precompiled CMake target gets
// HWAWARE_PRECOMPILED defined: the heaviest entry points (ZeroBN<>, the cached MLP predictor,
// the zoo's make_model, the Fashion-MNIST loader) are then compiled once into that library and its
// translation units see their declarations only, which cuts the compile of a program such as the
// README's from about a minute to a quarter of that (docs/decisions.md).
//
//   HWAWARE_ENTRY               `inline` when header-only; nothing when one library defines it
//   HWAWARE_ENTRY_DEFINITIONS   1 where the entry points' bodies are compiled: header-only use, or
//                               the library itself (which defines HWAWARE_BUILDING_PRECOMPILED);
//                               0 in a program linking the library, whose entry headers then
//                               declare their instantiations `extern template`
#if defined(HWAWARE_PRECOMPILED)
#define HWAWARE_ENTRY
#else
#define HWAWARE_ENTRY inline
#endif

#if !defined(HWAWARE_PRECOMPILED) || defined(HWAWARE_BUILDING_PRECOMPILED)
#define HWAWARE_ENTRY_DEFINITIONS 1
#else
#define HWAWARE_ENTRY_DEFINITIONS 0
#endif
