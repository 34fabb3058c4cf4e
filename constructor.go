package guard

// orDefault returns v, or def when v is the zero value: how constructors
// fill the zero fields of a config.
func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// must returns v, or panics with err: the Must constructors, for wiring in
// main and tests, where a config error is a programming error.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
