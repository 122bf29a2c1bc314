package element

// Redact is Run.redact, for the tests of redaction.
func Redact(r *Run, text string) string { return r.redact(text) }
