package postgres

// EncodePerson lets tests write people rows in bulk.
var EncodePerson = encodePerson

// ProcessID returns the key of the store's process in the processes
// table and the participants' caller column.
func ProcessID(s *Store) int32 { return s.live.proc }
