// Package uuidtext writes UUIDs as text without allocating.
package uuidtext

import "github.com/google/uuid"

// Append appends id in its canonical text form, as id.String() gives
// it, to b.
func Append(b []byte, id uuid.UUID) []byte {
	const digits = "0123456789abcdef"
	for i, x := range id {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b = append(b, '-')
		}
		b = append(b, digits[x>>4], digits[x&0xf])
	}
	return b
}
