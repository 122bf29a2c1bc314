package segment

// WhereLen returns the number of property conditions of w.
func WhereLen(w *Where) int { return w.count() }
