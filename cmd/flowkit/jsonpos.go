package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// jvalue is one JSON value of a document with where it sits in the bytes,
// so that a problem named by a path (elements[3].next.ocurred) can be
// shown at its line and column.
type jvalue struct {
	kind    byte // '{', '[', '"', '0' (number), 't', 'f', 'n'
	start   int  // offset of the value's first byte
	end     int  // offset after its last byte
	members []jmember
	items   []*jvalue
}

// jmember is one key of an object and its value.
type jmember struct {
	key    string
	keyPos int
	value  *jvalue
}

// syntaxError is a document that is not JSON, at a byte offset.
type syntaxError struct {
	offset int
	msg    string
}

func (e *syntaxError) Error() string { return e.msg }

// parseJSON reads one JSON document, keeping positions. Syntax errors are
// the ones encoding/json reports, at the offending byte: trailing commas,
// truncated input and data after the value included.
func parseJSON(data []byte) (*jvalue, error) {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			off := int(se.Offset)
			if se.Error() != "unexpected end of JSON input" && off > 0 {
				off-- // Offset counts the offending byte in.
			}
			off = min(off, len(data))
			if off < len(data) && (data[off] == ']' || data[off] == '}') {
				// A comma before the closing bracket: point at the comma.
				prev := off - 1
				for prev >= 0 && strings.IndexByte(" \t\r\n", data[prev]) >= 0 {
					prev--
				}
				if prev >= 0 && data[prev] == ',' {
					return nil, &syntaxError{offset: prev, msg: fmt.Sprintf("trailing comma before %q", data[off])}
				}
			}
			return nil, &syntaxError{offset: off, msg: strings.TrimPrefix(se.Error(), "json: ")}
		}
		return nil, &syntaxError{offset: 0, msg: err.Error()}
	}
	s := &scanner{data: data}
	s.space()
	return s.value(), nil
}

// scanner walks a document encoding/json has already accepted.
type scanner struct {
	data []byte
	pos  int
}

func (s *scanner) space() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

func (s *scanner) value() *jvalue {
	v := &jvalue{start: s.pos, kind: s.data[s.pos]}
	switch v.kind {
	case '{':
		s.pos++
		s.space()
		for s.data[s.pos] != '}' {
			keyPos := s.pos
			key := s.str()
			s.space()
			s.pos++ // ':'
			s.space()
			v.members = append(v.members, jmember{key: key, keyPos: keyPos, value: s.value()})
			s.space()
			if s.data[s.pos] == ',' {
				s.pos++
				s.space()
			}
		}
		s.pos++
	case '[':
		s.pos++
		s.space()
		for s.data[s.pos] != ']' {
			v.items = append(v.items, s.value())
			s.space()
			if s.data[s.pos] == ',' {
				s.pos++
				s.space()
			}
		}
		s.pos++
	case '"':
		s.str()
	default:
		if v.kind == '-' || ('0' <= v.kind && v.kind <= '9') {
			v.kind = '0'
		}
		for s.pos < len(s.data) && !strings.ContainsRune(" \t\r\n,]}", rune(s.data[s.pos])) {
			s.pos++
		}
	}
	v.end = s.pos
	return v
}

// str reads a string token and returns its value.
func (s *scanner) str() string {
	start := s.pos
	s.pos++
	for s.data[s.pos] != '"' {
		if s.data[s.pos] == '\\' {
			s.pos++
		}
		s.pos++
	}
	s.pos++
	var out string
	_ = json.Unmarshal(s.data[start:s.pos], &out)
	return out
}

// member returns the value of key in an object: the exact key, else one
// equal under case folding, as encoding/json matches struct fields.
func (v *jvalue) member(key string) (*jmember, bool) {
	if v == nil || v.kind != '{' {
		return nil, false
	}
	for i := range v.members {
		if v.members[i].key == key {
			return &v.members[i], true
		}
	}
	for i := range v.members {
		if strings.EqualFold(v.members[i].key, key) {
			return &v.members[i], true
		}
	}
	return nil, false
}

// raw returns the bytes of v.
func (v *jvalue) raw(data []byte) []byte { return data[v.start:v.end] }

// locate returns the offset that a field path names inside v:
// "next.ocurred" is the key "ocurred" of the object "next",
// "set[0].formula" the key "formula" of the first item of "set". A path
// that goes further than the document (a missing field) stops at the
// deepest part that exists. Keys may hold dots ("variables.a.b"): the
// longest key that exists wins.
func (v *jvalue) locate(path string) int {
	pos := v.start
	segs := splitPath(path)
	for i := 0; i < len(segs); i++ {
		seg := segs[i]
		if seg.index >= 0 {
			if v.kind != '[' || seg.index >= len(v.items) {
				return pos
			}
			v = v.items[seg.index]
			pos = v.start
			continue
		}
		if v.kind == '[' {
			// A path without indexes (as encoding/json names fields):
			// the first item that has the key.
			for _, it := range v.items {
				if _, ok := it.member(seg.key); ok {
					v = it
					break
				}
			}
		}
		found := false
		// The longest run of key segments that names one key.
		for j := len(segs); j > i; j-- {
			if !allKeys(segs[i:j]) {
				continue
			}
			if m, ok := v.member(joinKeys(segs[i:j])); ok {
				v, pos, i, found = m.value, m.keyPos, j-1, true
				break
			}
		}
		if !found {
			return pos
		}
	}
	return pos
}

// find returns the position of the first key named key at any depth in v.
func (v *jvalue) find(key string) (int, bool) {
	if v == nil {
		return 0, false
	}
	for _, m := range v.members {
		if m.key == key {
			return m.keyPos, true
		}
	}
	for _, m := range v.members {
		if p, ok := m.value.find(key); ok {
			return p, true
		}
	}
	for _, it := range v.items {
		if p, ok := it.find(key); ok {
			return p, true
		}
	}
	return 0, false
}

type pathSeg struct {
	key   string
	index int // -1 for a key
}

// splitPath splits "a.b[2].c" into a, b, [2], c.
func splitPath(path string) []pathSeg {
	var out []pathSeg
	for _, part := range strings.Split(path, ".") {
		for part != "" {
			i := strings.IndexByte(part, '[')
			if i < 0 {
				out = append(out, pathSeg{key: part, index: -1})
				break
			}
			if i > 0 {
				out = append(out, pathSeg{key: part[:i], index: -1})
			}
			j := strings.IndexByte(part[i:], ']')
			if j < 0 {
				out = append(out, pathSeg{key: part[i:], index: -1})
				break
			}
			n, err := strconv.Atoi(part[i+1 : i+j])
			if err != nil {
				out = append(out, pathSeg{key: part[i : i+j+1], index: -1})
			} else {
				out = append(out, pathSeg{index: n})
			}
			part = part[i+j+1:]
		}
	}
	return out
}

func allKeys(segs []pathSeg) bool {
	for _, s := range segs {
		if s.index >= 0 {
			return false
		}
	}
	return true
}

func joinKeys(segs []pathSeg) string {
	keys := make([]string, len(segs))
	for i, s := range segs {
		keys[i] = s.key
	}
	return strings.Join(keys, ".")
}

// lineCol turns a byte offset into a 1-based line and a 1-based column
// counted in characters.
func lineCol(data []byte, off int) (line, col int) {
	off = min(max(off, 0), len(data))
	line, lineStart := 1, 0
	for i := 0; i < off; i++ {
		if data[i] == '\n' {
			line, lineStart = line+1, i+1
		}
	}
	return line, utf8.RuneCount(data[lineStart:off]) + 1
}

// describe names a JSON value's kind in words.
func (v *jvalue) describe() string {
	switch v.kind {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case '0':
		return "a number"
	case 't', 'f':
		return "a boolean"
	}
	return "null"
}

// findValue returns the path (as locate reads it) and offset of the
// first string value in v, depth first, that reads as text (the JSON
// string's content, unquoted).
func (v *jvalue) findValue(data []byte, text string) (string, int, bool) {
	if v == nil {
		return "", 0, false
	}
	switch v.kind {
	case '"':
		var s string
		if json.Unmarshal(v.raw(data), &s) == nil && s == text {
			return "", v.start, true
		}
	case '{':
		for _, m := range v.members {
			if p, pos, ok := m.value.findValue(data, text); ok {
				if p != "" && p[0] != '[' {
					p = "." + p
				}
				return m.key + p, pos, true
			}
		}
	case '[':
		for i, it := range v.items {
			if p, pos, ok := it.findValue(data, text); ok {
				if p != "" && p[0] != '[' {
					p = "." + p
				}
				return fmt.Sprintf("[%d]", i) + p, pos, true
			}
		}
	}
	return "", 0, false
}
