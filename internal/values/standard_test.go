package values_test

import (
	"testing"

	"github.com/flowkit/flowkit/internal/values"
	"github.com/flowkit/flowkit/store"
	"github.com/stretchr/testify/require"
)

// The engine's table of standard attributes is the store's: the same
// names and types, and each text accessor reads and writes the field
// store.Person.Get and Set do.
func TestStandardAttributesAreTheStores(t *testing.T) {
	names := []string{store.AttrExternalID, store.AttrFirstName, store.AttrLastName, store.AttrGender,
		store.AttrBirthDate, store.AttrCity, store.AttrCountry, store.AttrPreferredLanguage, store.AttrTimeZone}
	require.Len(t, values.StandardAttributes, len(names))
	for _, name := range names {
		want, ok := store.Schema(nil).TypeOf(name)
		require.True(t, ok, name)
		require.Equal(t, want, values.StandardAttributes[name], name)
		field, ok := values.StandardText(name)
		require.Equal(t, want == store.Text, ok, name)
		if !ok {
			continue
		}
		p := &store.Person{}
		*field(p) = "x-" + name
		got, _ := p.Get(name)
		require.Equal(t, "x-"+name, got, name)
		p.Set(name, "y-"+name)
		require.Equal(t, "y-"+name, *field(p), name)
	}
	_, ok := store.Schema(nil).TypeOf("shoeSize")
	require.False(t, ok)
	_, ok = values.StandardAttributes["shoeSize"]
	require.False(t, ok)
}
