package nursery_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/structured-go/nursery"
)

func TestMisusePanics(t *testing.T) {
	t.Parallel()
	var nilCtx context.Context // a variable, so vet does not flag a literal nil
	tests := []struct {
		name string
		f    func(t *testing.T)
	}{
		{"New nil ctx", func(*testing.T) { nursery.New(nilCtx) }},
		{"Run nil ctx", func(*testing.T) { _ = nursery.Run(nilCtx, func(*nursery.Nursery) error { return nil }) }},
		{"Gather nil ctx", func(*testing.T) { _, _ = nursery.Gather[int](nilCtx) }},
		{"Map nil ctx", func(*testing.T) {
			_, _ = nursery.Map(nilCtx, []int{1}, func(context.Context, int) (int, error) { return 0, nil })
		}},
		{"First nil ctx", func(*testing.T) {
			_, _ = nursery.First(nilCtx, func(context.Context) (int, error) { return 0, nil })
		}},
		{"FailAfter nil ctx", func(*testing.T) { _ = nursery.FailAfter(nilCtx, time.Second, noop) }},
		{"MoveOnAfter nil ctx", func(*testing.T) { _, _ = nursery.MoveOnAfter(nilCtx, time.Second, noop) }},
		{"Shield nil ctx", func(*testing.T) { _ = nursery.Shield(nilCtx, time.Second, noop) }},
		{"Run nil body", func(t *testing.T) { _ = nursery.Run(t.Context(), nil) }},
		{"Go nil fn", func(t *testing.T) {
			n := nursery.New(t.Context())
			defer func() { _ = n.Wait() }()
			n.Go(nil)
		}},
		{"Spawn nil fn", func(t *testing.T) {
			n := nursery.New(t.Context())
			defer func() { _ = n.Wait() }()
			nursery.Spawn[int](n, nil)
		}},
		{"Start nil fn", func(t *testing.T) {
			n := nursery.New(t.Context())
			defer func() { _ = n.Wait() }()
			_, _ = nursery.Start[int](n, nil)
		}},
		{"Map nil fn", func(t *testing.T) {
			_, _ = nursery.Map[int, int](t.Context(), []int{1}, nil)
		}},
		{"Gather nil fn", func(t *testing.T) {
			_, _ = nursery.Gather(t.Context(), func(context.Context) (int, error) { return 0, nil }, nil)
		}},
		{"First nil fn", func(t *testing.T) {
			_, _ = nursery.First(t.Context(), func(context.Context) (int, error) { return 0, nil }, nil)
		}},
		{"FailAfter nil fn", func(t *testing.T) { _ = nursery.FailAfter(t.Context(), time.Second, nil) }},
		{"MoveOnAfter nil fn", func(t *testing.T) { _, _ = nursery.MoveOnAfter(t.Context(), time.Second, nil) }},
		{"Shield nil fn", func(t *testing.T) { _ = nursery.Shield(t.Context(), time.Second, nil) }},
		{"Go after Wait", func(t *testing.T) {
			n := nursery.New(t.Context())
			require.NoError(t, n.Wait())
			n.Go(noop)
		}},
		{"Go after failed Wait", func(t *testing.T) {
			n := nursery.New(t.Context())
			n.Go(func(context.Context) error { return errBoom })
			require.Error(t, n.Wait())
			n.Go(noop)
		}},
		{"Spawn after Wait", func(t *testing.T) {
			n := nursery.New(t.Context())
			require.NoError(t, n.Wait())
			nursery.Spawn(n, func(context.Context) (int, error) { return 0, nil })
		}},
		{"Start after Wait", func(t *testing.T) {
			n := nursery.New(t.Context())
			require.NoError(t, n.Wait())
			_, _ = nursery.Start(n, func(_ context.Context, ready func(int)) error { ready(1); return nil })
		}},
		{"Go after Run returned", func(t *testing.T) {
			var leaked *nursery.Nursery
			require.NoError(t, nursery.Run(t.Context(), func(n *nursery.Nursery) error { leaked = n; return nil }))
			leaked.Go(noop)
		}},
		{"WithLimit negative", func(t *testing.T) { nursery.New(t.Context(), nursery.WithLimit(-1)) }},
		{"WithLimit zero", func(t *testing.T) { nursery.New(t.Context(), nursery.WithLimit(0)) }},
		{"WithExecutor nil", func(t *testing.T) { nursery.WithExecutor(nil) }},
		// Found by an attack: a nil *Pool panicked inside New with a nil
		// dereference rather than saying what was wrong.
		{"WithExecutor nil Pool", func(t *testing.T) { nursery.WithExecutor((*nursery.Pool)(nil)) }},
		{"Map WithLimit negative", func(t *testing.T) {
			_, _ = nursery.Map(t.Context(), []int{1}, func(context.Context, int) (int, error) { return 0, nil }, nursery.WithLimit(-3))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			requireMisuse(t, func() { tt.f(t) })
		})
	}
}

// A Nursery must not be copied, and go vet's copylocks check must say so:
// it flags values of struct types that contain, not through a pointer, a
// type whose pointer has Lock and Unlock methods (a sync.Mutex, a noCopy).
func TestNurseryIsVetNoCopy(t *testing.T) {
	t.Parallel()
	var hasLock func(typ reflect.Type, seen map[reflect.Type]bool) bool
	hasLock = func(typ reflect.Type, seen map[reflect.Type]bool) bool {
		if seen[typ] {
			return false
		}
		seen[typ] = true
		ptr := reflect.PointerTo(typ)
		if _, ok := ptr.MethodByName("Lock"); ok {
			if _, ok := ptr.MethodByName("Unlock"); ok {
				return true
			}
		}
		switch typ.Kind() {
		case reflect.Struct:
			for i := range typ.NumField() {
				if hasLock(typ.Field(i).Type, seen) {
					return true
				}
			}
		case reflect.Array:
			return typ.Len() > 0 && hasLock(typ.Elem(), seen)
		}
		return false
	}
	assert.True(t, hasLock(reflect.TypeFor[nursery.Nursery](), map[reflect.Type]bool{}),
		"go vet cannot flag a copied Nursery: it holds no lock or noCopy by value")
}
