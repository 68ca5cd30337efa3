// Package sql holds Recap's Postgres migrations, embedded in the binary so
// `api migrate` and start-up apply exactly what was built.
package sql

import "embed"

// Migrations are the numbered *.sql files, applied in lexical order.
//
//go:embed *.sql
var Migrations embed.FS
