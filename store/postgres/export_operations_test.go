package postgres

import "strings"

// SchemaVersionBefore returns the schema version just before the
// migration that creates table: a schema set back to it is brought up
// to date from that migration on.
func SchemaVersionBefore(table string) int {
	for i, m := range migrations {
		if strings.Contains(m, "CREATE TABLE IF NOT EXISTS {{s}}."+table+" ") {
			return i
		}
	}
	return -1
}
