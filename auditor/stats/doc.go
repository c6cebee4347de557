// Package stats holds the statistics of gnaudit as pure functions and value
// types: normality tests (Shapiro–Wilk after Royston's AS R94, Jarque–Bera,
// D'Agostino–Pearson K², Anderson–Darling), moments for the Berry–Esseen
// bound, and tail-index estimators.
//
// The package does no I/O and keeps no mutable global state: apart from
// read-only tables (polynomial and quantile coefficients) the only
// package-level value is the memo behind [ShapiroWilkTest], a bounded cache of
// AS R94 coefficients whose presence is visible only in speed. Every function
// is safe for concurrent use; a [ShapiroWilk] is built once for a sample size
// n and then reused, from any number of goroutines, for millions of columns
// of that size.
//
// Inputs are validated rather than trusted: NaN or ±Inf values give errors
// wrapping [ErrNonFinite], sample sizes out of a test's range give errors
// wrapping [ErrSampleSize], and no input makes a function panic. Error
// messages name the test and the offending size or index; callers add the
// name of the column or tensor at fault.
//
// The reference implementations are R's shapiro.test (double precision AS
// R94) for Shapiro–Wilk and scipy 1.10 for the other normality tests;
// docs/statistics.md records the measured agreement and the commands that
// regenerate the committed fixtures under testdata/.
package stats
