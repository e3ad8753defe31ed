package main

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The flag.Value types below check their range in Set, so a bad value is
// refused the same way whether it comes from a flag or from an environment
// variable, and the error can name its source.

// intValue is an integer flag of at least min and, unless max is 0, at
// most max.
type intValue[T int | int64] struct {
	p        *T
	min, max T
}

func (v intValue[T]) String() string {
	if v.p == nil {
		return "0"
	}
	return strconv.FormatInt(int64(*v.p), 10)
}

func (v intValue[T]) Set(s string) error {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	switch {
	case errors.Is(err, strconv.ErrRange) || err == nil && int64(T(n)) != n:
		return errors.New("out of range")
	case err != nil:
		return errors.New("not an integer")
	}
	switch {
	case v.max != 0 && (T(n) < v.min || T(n) > v.max):
		return fmt.Errorf("must be between %d and %d", v.min, v.max)
	case T(n) >= v.min:
		*v.p = T(n)
		return nil
	case v.min == 0:
		return errors.New("must not be negative")
	case v.min == 1:
		return errors.New("must be positive")
	}
	return fmt.Errorf("must be at least %d", v.min)
}

// sizeValue is a positive byte count, given as a number of bytes or with a
// KiB, MiB or GiB suffix.
type sizeValue[T int | int64] struct{ p *T }

var sizeUnits = []struct {
	suffix string
	n      int64
}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}

func (v sizeValue[T]) String() string {
	if v.p == nil {
		return "0"
	}
	n := int64(*v.p)
	for _, u := range sizeUnits[:3] {
		if n != 0 && n%u.n == 0 {
			return strconv.FormatInt(n/u.n, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

func (v sizeValue[T]) Set(s string) error {
	s = strings.TrimSpace(s)
	unit := int64(1)
	for _, u := range sizeUnits {
		if len(s) > len(u.suffix) && strings.EqualFold(s[len(s)-len(u.suffix):], u.suffix) {
			s, unit = strings.TrimSpace(s[:len(s)-len(u.suffix)]), u.n
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return errors.New("not a size such as 16384, 16KiB or 4MiB")
	}
	if n <= 0 {
		return errors.New("must be positive")
	}
	if n > math.MaxInt64/unit || int64(T(n*unit)) != n*unit {
		return errors.New("too large")
	}
	*v.p = T(n * unit)
	return nil
}

// floatValue is a positive, finite number.
type floatValue struct{ p *float64 }

func (v floatValue) String() string {
	if v.p == nil {
		return "0"
	}
	return strconv.FormatFloat(*v.p, 'g', -1, 64)
}

func (v floatValue) Set(s string) error {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return errors.New("not a finite number")
	}
	if f <= 0 {
		return errors.New("must be positive")
	}
	*v.p = f
	return nil
}

// durationValue is a duration of at least min, in Go's syntax (500ms, 10s).
type durationValue struct {
	p   *time.Duration
	min time.Duration
}

func (v durationValue) String() string {
	if v.p == nil {
		return "0s"
	}
	return v.p.String()
}

func (v durationValue) Set(s string) error {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return errors.New("not a duration such as 500ms, 10s or 1m")
	}
	if d < v.min {
		if v.min <= 1 {
			return errors.New("must be positive")
		}
		return fmt.Errorf("must be at least %v", v.min)
	}
	*v.p = d
	return nil
}

// stringValue is a string that check accepts; a nil check accepts any.
type stringValue struct {
	p     *string
	check func(string) error
}

func (v stringValue) String() string {
	if v.p == nil {
		return ""
	}
	return *v.p
}

func (v stringValue) Set(s string) error {
	if v.check != nil {
		if err := v.check(s); err != nil {
			return err
		}
	}
	*v.p = s
	return nil
}

// oneOf returns a check accepting only the given words.
func oneOf(words ...string) func(string) error {
	return func(s string) error {
		if !slices.Contains(words, s) {
			return fmt.Errorf("must be one of %s", strings.Join(words, ", "))
		}
		return nil
	}
}

// listValue is a comma-separated list; blanks around items and empty items
// are dropped.
type listValue struct{ p *[]string }

func (v listValue) String() string {
	if v.p == nil {
		return ""
	}
	return strings.Join(*v.p, ",")
}

func (v listValue) Set(s string) error {
	var items []string
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			items = append(items, item)
		}
	}
	*v.p = items
	return nil
}

// secretsValue is a comma-separated list of secrets. Set keeps empty items
// and never fails, because the flag package quotes a refused value in its
// error: the secrets are checked later, by errors that do not quote them.
type secretsValue struct{ p *[]string }

// String hides the secrets: it is what --help shows as the default.
func (v secretsValue) String() string {
	if v.p == nil || len(*v.p) == 0 {
		return ""
	}
	return fmt.Sprintf("(%d secrets)", len(*v.p))
}

func (v secretsValue) Set(s string) error {
	var items []string
	for item := range strings.SplitSeq(s, ",") {
		items = append(items, strings.TrimSpace(item))
	}
	*v.p = items
	return nil
}
