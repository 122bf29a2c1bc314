package store

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/flowkit/flowkit/internal/address"
	"github.com/flowkit/flowkit/internal/clone"
	"github.com/google/uuid"
)

// Person is one person's profile: standard attributes, typed custom
// attributes, contact information, tags and channel history.
type Person struct {
	ID         uuid.UUID `json:"id"`
	ExternalID string    `json:"externalId,omitempty"`

	// Standard attributes.
	FirstName         string    `json:"firstName,omitempty"`
	LastName          string    `json:"lastName,omitempty"`
	Gender            string    `json:"gender,omitempty"`
	BirthDate         time.Time `json:"birthDate,omitzero"` // a Date value; zero when unknown
	City              string    `json:"city,omitempty"`
	Country           string    `json:"country,omitempty"`
	PreferredLanguage string    `json:"preferredLanguage,omitempty"`
	TimeZone          string    `json:"timeZone,omitempty"` // IANA name, such as "Europe/Zagreb"

	// Attributes holds custom attributes by name, each in the Go form of its
	// Type (see the Type constants).
	Attributes map[string]any `json:"attributes,omitempty"`

	// Phones are MSISDNs in international form, such as "385911234567"
	// or "+385 91 123 4567", and Emails are email addresses. They are kept
	// as given; lookups by them are by their normalized forms (see
	// Person.Keys), so any spelling finds the person.
	Phones []string           `json:"phones,omitempty"`
	Emails []string           `json:"emails,omitempty"`
	Push   []PushRegistration `json:"push,omitempty"`

	Tags []string `json:"tags,omitempty"` // sorted, no duplicates
	// DoNotContact lists the person's phone numbers and email addresses that
	// must not be contacted on any channel.
	DoNotContact []string `json:"doNotContact,omitempty"`
	// LastContacted is when a message was last sent on each channel.
	LastContacted map[string]time.Time `json:"lastContacted,omitempty"`

	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// PushRegistration is one app installation that can receive push messages.
type PushRegistration struct {
	App   string `json:"app"`
	Token string `json:"token"`
}

// PersonRef names a person by any one of their keys. The first non-empty
// field in the order ID, ExternalID, Phone, Email is used. A phone or
// email finds the person in any spelling (see PersonRef.Key).
type PersonRef struct {
	ID         uuid.UUID `json:"id,omitzero"`
	ExternalID string    `json:"externalId,omitempty"`
	Phone      string    `json:"phone,omitempty"`
	Email      string    `json:"email,omitempty"`
}

// IsZero reports whether the reference names nobody.
func (r PersonRef) IsZero() bool {
	return r.ID == uuid.Nil && r.ExternalID == "" && r.Phone == "" && r.Email == ""
}

// The names of the standard attributes, as used in conditions, formulas and
// Update Person Profile. Each is of type Text but AttrBirthDate, a Date
// (see Schema.TypeOf); each is a field of Person.
const (
	AttrExternalID        = "externalId"
	AttrFirstName         = "firstName"
	AttrLastName          = "lastName"
	AttrGender            = "gender"
	AttrBirthDate         = "birthDate"
	AttrCity              = "city"
	AttrCountry           = "country"
	AttrPreferredLanguage = "preferredLanguage"
	AttrTimeZone          = "timeZone"
)

// standardTypes maps each standard attribute name to its type.
var standardTypes = func() map[string]Type {
	m := map[string]Type{AttrBirthDate: Date}
	for name := range standardText {
		m[name] = Text
	}
	return m
}()

// standardText holds the standard attributes of type text, each with its
// field of Person; birthDate, the one date, is the only other.
var standardText = map[string]func(*Person) *string{
	AttrExternalID:        func(p *Person) *string { return &p.ExternalID },
	AttrFirstName:         func(p *Person) *string { return &p.FirstName },
	AttrLastName:          func(p *Person) *string { return &p.LastName },
	AttrGender:            func(p *Person) *string { return &p.Gender },
	AttrCity:              func(p *Person) *string { return &p.City },
	AttrCountry:           func(p *Person) *string { return &p.Country },
	AttrPreferredLanguage: func(p *Person) *string { return &p.PreferredLanguage },
	AttrTimeZone:          func(p *Person) *string { return &p.TimeZone },
}

// Schema declares the custom attributes people may have, by name.
type Schema map[string]Type

// TypeOf returns the type of a standard or declared custom attribute.
func (s Schema) TypeOf(name string) (Type, bool) {
	if t, ok := standardTypes[name]; ok {
		return t, true
	}
	t, ok := s[name]
	return t, ok
}

// Get returns the value of a standard or custom attribute, and false when it
// is empty (an empty string, a zero date, or absent).
func (p *Person) Get(name string) (any, bool) {
	if f, ok := standardText[name]; ok {
		s := *f(p)
		return s, s != ""
	}
	if name == AttrBirthDate {
		if p.BirthDate.IsZero() {
			return nil, false
		}
		return p.BirthDate, true
	}
	v, ok := p.Attributes[name]
	return v, ok && v != nil
}

// Set sets a standard or custom attribute to v, already converted to the
// attribute's type; nil empties it.
func (p *Person) Set(name string, v any) {
	if f, ok := standardText[name]; ok {
		s, _ := v.(string)
		*f(p) = s
		return
	}
	if name == AttrBirthDate {
		t, _ := v.(time.Time)
		p.BirthDate = t
		return
	}
	if v == nil {
		delete(p.Attributes, name)
		return
	}
	if p.Attributes == nil {
		p.Attributes = map[string]any{}
	}
	p.Attributes[name] = v
}

// HasTag reports whether the person has the tag.
func (p *Person) HasTag(tag string) bool {
	_, ok := slices.BinarySearch(p.Tags, tag)
	return ok
}

// AddTag adds a tag and reports whether it was new.
func (p *Person) AddTag(tag string) bool {
	i, ok := slices.BinarySearch(p.Tags, tag)
	if ok {
		return false
	}
	p.Tags = slices.Insert(p.Tags, i, tag)
	return true
}

// RemoveTag removes a tag and reports whether the person had it.
func (p *Person) RemoveTag(tag string) bool {
	i, ok := slices.BinarySearch(p.Tags, tag)
	if ok {
		p.Tags = slices.Delete(p.Tags, i, i+1)
	}
	return ok
}

// Blocked reports whether an address (phone number or email) is on the
// person's Do Not Contact list, in any spelling: phone numbers compare by
// their lookup forms, email addresses case-insensitively (see Person.Keys).
func (p *Person) Blocked(addr string) bool {
	return address.Contains(p.DoNotContact, addr)
}

// Clone returns a deep copy of p.
func (p *Person) Clone() *Person {
	c := *p
	c.Attributes = clone.Map(p.Attributes)
	c.Phones = slices.Clone(p.Phones)
	c.Emails = slices.Clone(p.Emails)
	c.Push = slices.Clone(p.Push)
	c.Tags = slices.Clone(p.Tags)
	c.DoNotContact = slices.Clone(p.DoNotContact)
	c.LastContacted = maps.Clone(p.LastContacted)
	return &c
}

// Key is a lookup key of a person: an external id, a phone or an email.
// No two people share one. The zero Key names nobody.
type Key struct {
	Kind  KeyKind
	Value string
}

// KeyKind is what a Key holds.
type KeyKind uint8

// The key kinds.
const (
	ByExternalID KeyKind = iota
	ByPhone
	ByEmail
)

// String returns the key prefixed by its kind: "x:", "p:" or "e:".
func (k Key) String() string {
	switch k.Kind {
	case ByExternalID:
		return "x:" + k.Value
	case ByPhone:
		return "p:" + k.Value
	case ByEmail:
		return "e:" + k.Value
	}
	return fmt.Sprintf("kind%d:%s", k.Kind, k.Value)
}

// Keys returns the lookup keys of the person: the external id, and the
// phones and emails in their normalized forms, each once. A phone number
// is expected in international form, country code first: its lookup form
// is its digits without a leading "+" or "00", separators (spaces,
// hyphens, dots, slashes, parentheses) and a trunk prefix written "(0)"
// dropped, so "+385 91 234 5678" and "00385912345678" are one key; a
// national number is a different key, and one holding any other character
// (a letter) normalizes to nothing. An email address's lookup form is
// trimmed and lower-cased. A phone or email that normalizes to nothing
// has no key. The profile keeps the spellings it was given; only keys are
// normalized. The engine hands the store phone numbers in E.164 form
// ("+385911234567", national numbers read in flow.Config.PhoneRegion), so
// their keys are their digits whatever spelling the host used.
func (p *Person) Keys() []Key {
	keys := make([]Key, 0, 1+len(p.Phones)+len(p.Emails))
	if p.ExternalID != "" {
		keys = append(keys, Key{ByExternalID, p.ExternalID})
	}
	for _, ph := range p.Phones {
		keys = appendKey(keys, Key{ByPhone, address.Phone(ph)})
	}
	for _, e := range p.Emails {
		keys = appendKey(keys, Key{ByEmail, address.Email(e)})
	}
	return keys
}

// appendKey appends k unless it is empty or already there.
func appendKey(keys []Key, k Key) []Key {
	if k.Value == "" || slices.Contains(keys, k) {
		return keys
	}
	return append(keys, k)
}

// Key returns the lookup key of a reference by external id, phone or email
// (see Person.Keys), normalized as Person.Keys normalizes them, or the
// zero Key when it names the person by ID only, or names a phone or email
// that normalizes to nothing (such as a phone number with letters).
func (r PersonRef) Key() Key {
	switch {
	case r.ExternalID != "":
		return Key{ByExternalID, r.ExternalID}
	case r.Phone != "":
		if v := address.Phone(r.Phone); v != "" {
			return Key{ByPhone, v}
		}
	case r.Email != "":
		if v := address.Email(r.Email); v != "" {
			return Key{ByEmail, v}
		}
	}
	return Key{}
}
