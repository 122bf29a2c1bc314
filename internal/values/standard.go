package values

import "github.com/flowkit/flowkit/store"

// StandardAttributes maps each standard attribute of a person (the
// store.Attr names) to its type, as store.Schema.TypeOf gives it.
var StandardAttributes = func() map[string]store.Type {
	m := map[string]store.Type{store.AttrBirthDate: store.Date}
	for name := range standardText {
		m[name] = store.Text
	}
	return m
}()

// standardText holds the standard attributes of type text, each with its
// field of store.Person; birthDate, the one date, is the only other.
var standardText = map[string]func(*store.Person) *string{
	store.AttrExternalID:        func(p *store.Person) *string { return &p.ExternalID },
	store.AttrFirstName:         func(p *store.Person) *string { return &p.FirstName },
	store.AttrLastName:          func(p *store.Person) *string { return &p.LastName },
	store.AttrGender:            func(p *store.Person) *string { return &p.Gender },
	store.AttrCity:              func(p *store.Person) *string { return &p.City },
	store.AttrCountry:           func(p *store.Person) *string { return &p.Country },
	store.AttrPreferredLanguage: func(p *store.Person) *string { return &p.PreferredLanguage },
	store.AttrTimeZone:          func(p *store.Person) *string { return &p.TimeZone },
}

// StandardText returns the accessor of a standard text attribute's field
// of store.Person, and false for a name that is not one: for readers that
// must not allocate, as store.Person.Get does for a value.
func StandardText(name string) (field func(*store.Person) *string, ok bool) {
	field, ok = standardText[name]
	return field, ok
}
