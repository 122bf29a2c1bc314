package postgres

// EncodePerson lets tests write people rows in bulk.
var EncodePerson = encodePerson
